"""vfiocompat plugin for NVIDIA vGPU (vendor 0x10de): live-migration rules from public NVIDIA and Red Hat docs."""

from __future__ import annotations

from importlib import resources
from typing import Any, List

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "vfiocompat_tables"]

#: The table shipped as package data.
TABLE_FILE = "nvidia_vgpu.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The NVIDIA vGPU table, shipped inside this package."""
    return [resources.files(__name__).joinpath(TABLE_FILE)]
