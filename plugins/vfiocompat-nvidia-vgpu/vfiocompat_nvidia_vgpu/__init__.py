"""vfiocompat plugin for NVIDIA vGPU (vendor 0x10de): live-migration rules from public NVIDIA and Red Hat docs."""

from __future__ import annotations

from importlib import resources
from typing import Any, List, Optional

from vfiocompat import hookimpl

from . import host

__all__ = ["TABLE_FILE", "vfiocompat_tables", "vfiocompat_device_version"]

#: The table shipped as package data.
TABLE_FILE = "nvidia_vgpu.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The NVIDIA vGPU table, shipped inside this package."""
    return [resources.files(__name__).joinpath(TABLE_FILE)]


@hookimpl
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """The device_version of an NVIDIA vGPU mdev, mdev type or vGPU 17+ VF (see host.py); None for others."""
    return host.device_version(device)
