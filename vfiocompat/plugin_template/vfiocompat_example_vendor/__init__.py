"""vfiocompat plugin for Example Vendor devices: ships their live-migration compatibility table."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

from vfiocompat import hookimpl

__all__ = ["TABLE", "vfiocompat_tables"]

#: The table file, shipped inside this package (see package-data in pyproject.toml).
TABLE = "devices.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The compatibility tables this plugin ships: read from the installed package, never from the CWD."""
    return [Path(__file__).with_name(TABLE)]
