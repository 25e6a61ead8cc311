"""vfiocompat plugin for Intel GVT-g vGPUs: the proposed mdev migration_version check, and its host values."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "vfiocompat_tables", "vfiocompat_device_version"]

#: The table shipped as package data.
TABLE_FILE = "intel_gvt.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The GVT-g table, shipped inside this package."""
    return [Path(__file__).with_name(TABLE_FILE)]


@hookimpl
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """The device_version of a GVT-g mdev or mdev type (see host.py); None for every other device."""
    # Imported on first use: a check needs only the table, and the probe code cost it 0.1 to 0.5 ms.
    from . import host

    return host.device_version(device)
