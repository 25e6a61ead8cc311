"""vfiocompat plugin for NVIDIA ConnectX mlx5Gen VFs under mlx5_vfio_pci: NVIDIA's migration requirements.

The device_version of a VF is built from its PF's RDMA device in sysfs (PSID and running firmware)
and the VF's devlink ``migratable`` attribute, which only devlink shows: the operator supplies it
as a host fact (see README.md). Nothing is guessed: a missing fact raises DeviceFactMissing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "VENDOR", "DRIVER", "INTERFACE", "vfiocompat_tables", "vfiocompat_device_version"]

#: The table's file name inside this package.
TABLE_FILE = "mlx5_vf.toml"
VENDOR = "0x15b3"
DRIVER = "mlx5_vfio_pci"
#: The kernel stream protocol of Linux >= 6.7 (see the table's notes); sysfs cannot show it.
INTERFACE = "1"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The mlx5 VF table, shipped inside this package."""
    return [Path(__file__).with_name(TABLE_FILE)]


@hookimpl
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """``0x15b3:1:mlx5=vf;dev=...;psid=...;fw=...;migratable=...`` for a VF bound to mlx5_vfio_pci."""
    # Imported on first use: a check needs only the table, and the probe code cost it 0.1 to 0.5 ms.
    from . import host

    return host.device_version(device)
