"""vfiocompat plugin for Intel GVT-g vGPUs: ships the table for the proposed ``migration_version`` string."""

from __future__ import annotations

from importlib import resources
from typing import Any, List

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "vfiocompat_tables"]

#: The table's file name inside this package.
TABLE_FILE = "intel_gvt.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The GVT-g table, shipped inside this package."""
    return [resources.files(__name__).joinpath(TABLE_FILE)]
