"""vfiocompat plugin for HiSilicon ACC VFs (vendor 0x19e5): the match checks hisi_acc_vfio_pci makes on resume."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "vfiocompat_device_version", "vfiocompat_tables"]

#: The table shipped as package data.
TABLE_FILE = "hisi_acc.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The HiSilicon ACC VF table, shipped inside this package."""
    return [Path(__file__).with_name(TABLE_FILE)]


@hookimpl
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """A probed ZIP/SEC/HPRE VF's device_version (see :mod:`vfiocompat_hisi_acc.host_device`), or None."""
    # Imported on first use: a check needs only the table, and the probe code cost it 0.1 to 0.5 ms.
    from .host_device import device_version

    return device_version(device)
