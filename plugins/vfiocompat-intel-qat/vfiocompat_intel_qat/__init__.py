"""vfiocompat plugin for Intel QAT VFs under qat_vfio_pci: the table of the driver's checks, and their host values."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "vfiocompat_tables", "vfiocompat_device_version"]

#: The table's file name inside this package.
TABLE_FILE = "intel_qat_gen4.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The QAT GEN4-migration VF table, shipped inside this package."""
    return [Path(__file__).with_name(TABLE_FILE)]


@hookimpl
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """A probed QAT VF's device_version from sysfs and operator facts; None for devices that are not QAT VFs."""
    # Imported on first use: a check needs only the table, and the probe code cost it 0.1 to 0.5 ms.
    from .host_device import qat_device_version

    return qat_device_version(device)
