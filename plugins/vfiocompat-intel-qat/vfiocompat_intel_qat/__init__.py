"""vfiocompat plugin for Intel QAT GEN4 VFs under qat_vfio_pci: ships the table of the driver's checks."""

from __future__ import annotations

from importlib import resources
from typing import Any, List

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "vfiocompat_tables"]

#: The table's file name inside this package.
TABLE_FILE = "intel_qat_gen4.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The QAT GEN4 VF table, shipped inside this package."""
    return [resources.files(__name__).joinpath(TABLE_FILE)]
