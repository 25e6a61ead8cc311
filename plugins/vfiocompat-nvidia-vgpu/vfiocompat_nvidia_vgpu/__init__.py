"""vfiocompat plugin for NVIDIA vGPU (vendor 0x10de): live-migration rules from public NVIDIA and Red Hat docs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "vfiocompat_tables", "vfiocompat_device_version"]

#: The table shipped as package data.
TABLE_FILE = "nvidia_vgpu.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The NVIDIA vGPU table, shipped inside this package."""
    return [Path(__file__).with_name(TABLE_FILE)]


@hookimpl
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """The device_version of an NVIDIA vGPU mdev, mdev type or vGPU 17+ VF (see host.py); None for others."""
    # Imported on first use: a check needs only the table, and the probe code cost it 0.1 to 0.5 ms.
    from . import host

    return host.device_version(device)
