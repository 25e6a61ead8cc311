"""vfiocompat plugin for Intel GVT-g vGPUs: the proposed mdev migration_version check, and its host values."""

from __future__ import annotations

from importlib import resources
from typing import Any, List, Optional

from vfiocompat import hookimpl

from . import host

__all__ = ["TABLE_FILE", "vfiocompat_tables", "vfiocompat_device_version"]

#: The table shipped as package data.
TABLE_FILE = "intel_gvt.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The GVT-g table, shipped inside this package."""
    return [resources.files(__name__).joinpath(TABLE_FILE)]


@hookimpl
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """The device_version of a GVT-g mdev or mdev type (see host.py); None for every other device."""
    return host.device_version(device)
