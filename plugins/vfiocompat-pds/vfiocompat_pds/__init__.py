"""vfiocompat plugin for AMD/Pensando DSC Ethernet VFs under pds_vfio_pci: identical device facts only.

The device_version of a VF is built from sysfs (the VF's and its PF's PCI ids) and from the PF's
devlink info (firmware, ASIC), which only devlink shows: the operator supplies it as host facts
(see README.md). Nothing is guessed: a missing fact raises DeviceFactMissing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "VENDOR", "DRIVER", "PF_DRIVER", "INTERFACE", "vfiocompat_tables",
           "vfiocompat_device_version"]

#: The table's file name inside this package.
TABLE_FILE = "pds_vf.toml"
VENDOR = "0x1dd8"
DRIVER = "pds_vfio_pci"
PF_DRIVER = "pds_core"
#: pds_vfio_pci's headerless stream; no host shows a version for it.
INTERFACE = "1"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The pds VF table, shipped inside this package."""
    return [Path(__file__).with_name(TABLE_FILE)]


@hookimpl
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """``0x1dd8:1:pds=vf;dev=...;...;fw=...`` for a VF bound to pds_vfio_pci."""
    # Imported on first use: a check needs only the table, and the probe code cost it 0.1 to 0.5 ms.
    from . import host

    return host.device_version(device)
