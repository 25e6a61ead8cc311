"""vfiocompat plugin for Intel Xe SR-IOV VFs under xe-vfio-pci: the table of the PF's restore checks, and probe."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "vfiocompat_tables", "vfiocompat_device_version"]

#: The table's file name inside this package.
TABLE_FILE = "intel_xe_sriov.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The Intel Xe SR-IOV VF table, shipped inside this package."""
    return [Path(__file__).with_name(TABLE_FILE)]


@hookimpl
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """The device_version of an Xe VF bound to xe-vfio-pci (or vfio-pci), from sysfs and the PF's debugfs."""
    # Imported on first use: a check needs only the table, and the probe code cost it 0.1 to 0.5 ms.
    from . import host

    return host.device_version(device)
