"""A GVT-g vGPU's device_version in the proposed ``migration_version`` form, from what the host exposes.

The proposal (never merged) prints ``"%04x-%04x-%s-%08x"``: the iGPU's PCI vendor and device id,
the vGPU type name and GVT's migration software version. The first three are in sysfs (the
parent's ``vendor``/``device``, the mdev type's ``name``); the software version is exposed nowhere
(i915 declares no MODULE_VERSION and mainline has no such constant), so it must come from the
operator's fact ``gvt_swver`` or the device has no device_version (DeviceFactMissing).
"""

from __future__ import annotations

import re
from typing import Any, Optional

from vfiocompat import DeviceFactMissing

__all__ = ["INTEL_VENDOR", "SWVER_FACT", "device_version"]

INTEL_VENDOR = "0x8086"
#: The operator fact holding GVT's migration software version (hex, at most 8 digits).
SWVER_FACT = "gvt_swver"

# The mdev core names a type's folder "<parent driver>-<sysfs_name>"; GVT's sysfs_name is GVTg_Vx_y.
_TYPE_FOLDER = re.compile(r"i915-GVTg_V[0-9]+_[0-9]+")
_TYPE_NAME = re.compile(r"[A-Za-z0-9_]{1,16}")  # VGPU_TYPE_LEN is 16 in the proposal
_PCI_ID = re.compile(r"0x[0-9a-f]{4}")
_HEX = re.compile(r"[0-9a-fA-F]{1,8}")
_PROPOSAL = "https://lore.kernel.org/all/20200413055436.27261-1-yan.y.zhao@intel.com/"


def device_version(device: Any) -> Optional[str]:
    """``0x8086:1:VVVV-DDDD-TYPE-SSSSSSSS`` for a GVT-g mdev or mdev type; None for other devices."""
    if device.kind not in ("mdev", "mdev_type") or device.vendor != INTEL_VENDOR:
        return None
    if not device.mdev_type or not _TYPE_FOLDER.fullmatch(device.mdev_type):
        return None
    if device.device is None or not _PCI_ID.fullmatch(device.device):
        raise DeviceFactMissing(f"the PCI device id of {device.parent}, the parent of {device.id}, is not readable",
                                fact="device", hint=f"check /sys/bus/pci/devices/{device.parent}/device")
    name = (device.mdev_type_name or "").strip()
    if not _TYPE_NAME.fullmatch(name):
        raise DeviceFactMissing(f"mdev type {device.mdev_type} of {device.parent} has no usable 'name' ({name[:40]!r})",
                                fact="mdev_type_name",
                                hint=f"check mdev_supported_types/{device.mdev_type}/name under {device.parent}")
    value = _swver(device.fact(SWVER_FACT))
    if value is None:
        raise DeviceFactMissing(
            f"GVT's migration software version for {device.id} is not exposed by the host: the proposed"
            " migration_version attribute was never merged and i915 declares no MODULE_VERSION",
            fact=SWVER_FACT,
            hint=f'supply it in the host config file: [facts."{device.id}"] {SWVER_FACT} = "00000001"'
                 f" (hex; the value the source and target GVT builds agree on, see {_PROPOSAL})",
        )
    return f"0x8086:1:{device.vendor[2:]}-{device.device[2:]}-{name}-{value:08x}"


def _swver(text: Optional[str]) -> Optional[int]:
    """The fact's hex software version (``1``, ``00000001``, ``0x1``), or None when absent or not hex."""
    if text is None:
        return None
    digits = text.strip().lower().removeprefix("0x")
    return int(digits, 16) if _HEX.fullmatch(digits) else None
