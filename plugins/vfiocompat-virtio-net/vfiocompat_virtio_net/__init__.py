"""vfiocompat plugin for virtio-net VFs under virtio_vfio_pci: identical device facts, admin virtqueue on the PF.

Every field of the device_version is read from sysfs: the VF's and its PF's PCI ids, the VF's BAR0
(``resource``) and the PF's negotiated virtio features (``virtioN/features``). No host fact is needed;
an unreadable attribute raises DeviceFactMissing rather than a guess.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "VENDOR", "DRIVER", "PF_DRIVER", "INTERFACE", "VIRTIO_F_ADMIN_VQ", "vfiocompat_tables",
           "vfiocompat_device_version"]

#: The table's file name inside this package.
TABLE_FILE = "virtio_net_vf.toml"
VENDOR = "0x1af4"
DRIVER = "virtio_vfio_pci"
#: The PF's driver: virtio_pci_vf_get_pf_dev() looks the PF up through virtio_pci_driver.
PF_DRIVER = "virtio-pci"
#: The record framing of drivers/vfio/pci/virtio/migrate.c.
INTERFACE = "1"
#: include/uapi/linux/virtio_config.h
VIRTIO_F_ADMIN_VQ = 41


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The virtio-net VF table, shipped inside this package."""
    return [Path(__file__).with_name(TABLE_FILE)]


@hookimpl
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """``0x1af4:1:virtio=net;dev=...;...;adminvq=N;bar0=N`` for a VF bound to virtio_vfio_pci."""
    # Imported on first use: a check needs only the table, and the probe code cost it 0.1 to 0.5 ms.
    from . import host

    return host.device_version(device)
