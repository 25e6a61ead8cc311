"""vfiocompat plugin for HiSilicon ACC VFs (vendor 0x19e5): the match checks hisi_acc_vfio_pci makes on resume."""

from __future__ import annotations

from importlib import resources
from typing import Any, List, Optional

from vfiocompat import hookimpl

from .host_device import device_version

__all__ = ["TABLE_FILE", "vfiocompat_device_version", "vfiocompat_tables"]

#: The table shipped as package data.
TABLE_FILE = "hisi_acc.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The HiSilicon ACC VF table, shipped inside this package."""
    return [resources.files(__name__).joinpath(TABLE_FILE)]


@hookimpl
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """A probed ZIP/SEC/HPRE VF's device_version (see :mod:`vfiocompat_hisi_acc.host_device`), or None."""
    return device_version(device)
