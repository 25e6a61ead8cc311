"""The probe side of the plugin: a device's device_version from sysfs and the operator's facts.

Imported on the first probe, not by a check (see ``vfiocompat_device_version`` in the package).
"""

from __future__ import annotations

import re
from typing import Any, Optional

from vfiocompat import DeviceFactMissing

from . import DRIVER, INTERFACE, PF_DRIVER, VENDOR, VIRTIO_F_ADMIN_VQ

_PCI_ID = re.compile(r"^0x[0-9a-f]{4}$")
_REVISION = re.compile(r"^0x[0-9a-f]{2}$")
# features_show() prints one '0'/'1' per bit: 64 characters, 128 since VIRTIO_FEATURES_MAX grew.
_FEATURES = re.compile(r"^[01]{42,1024}$")
# resource_show(): "0x%016llx 0x%016llx 0x%016llx" (start, end, flags) per resource, BAR0 first.
_RESOURCE_LINE = re.compile(r"^0x[0-9a-f]{16} 0x[0-9a-f]{16} (0x[0-9a-f]{16})$")
_VIRTIO_DEVICE = re.compile(r"^virtio[0-9]{1,6}$")


def device_version(device: Any) -> Optional[str]:
    """``0x1af4:1:virtio=net;dev=...;...;adminvq=N;bar0=N`` for a VF bound to virtio_vfio_pci."""
    if device.kind != "pci" or device.vendor != VENDOR or device.driver != DRIVER:
        return None
    pf = device.link_name("physfn")
    if pf is None:
        raise DeviceFactMissing(
            f"{device.id} has no physfn link: virtio_vfio_pci migrates SR-IOV VFs only (pdev->is_virtfn)",
            fact="physfn", hint="create the VF with sriov_numvfs on a virtio-net PF bound to virtio-pci")
    pf_driver = device.link_name("physfn/driver")
    if pf_driver != PF_DRIVER:
        raise DeviceFactMissing(
            f"{device.id}: its PF {pf} is bound to {pf_driver or 'no driver'}, not virtio-pci, whose admin virtqueue"
            " carries the migration commands", fact="pf_driver", hint=f"bind {pf} to virtio-pci")
    parts = [
        f"dev={_sysfs(device, device.device, 'device', _PCI_ID)[2:]}",
        f"ssvid={_sysfs(device, device.subsystem_vendor, 'subsystem_vendor', _PCI_ID)[2:]}",
        f"ssdev={_sysfs(device, device.subsystem_device, 'subsystem_device', _PCI_ID)[2:]}",
        f"rev={_sysfs(device, device.read_attribute('revision'), 'revision', _REVISION)}",
        f"pfdev={_sysfs(device, device.read_attribute('physfn/device'), 'physfn/device', _PCI_ID)[2:]}",
        f"pfrev={_sysfs(device, device.read_attribute('physfn/revision'), 'physfn/revision', _REVISION)}",
        f"adminvq={_admin_vq(device, pf)}",
        f"bar0={_bar0(device)}",
    ]
    return f"{VENDOR}:{INTERFACE}:virtio=net;" + ";".join(parts)


def _sysfs(device: Any, value: Optional[str], name: str, pattern: re.Pattern[str]) -> str:
    text = (value or "").strip().lower()
    if not pattern.match(text):
        raise DeviceFactMissing(f"{device.id}: sysfs {name} is missing or not in the kernel's format", fact=name,
                                hint="probe a complete sysfs tree (a copy must keep the attribute files)")
    return text


def _admin_vq(device: Any, pf: str) -> int:
    """1 when the PF's virtio device negotiated VIRTIO_F_ADMIN_VQ, else 0."""
    children = [name for name in device.list_attribute("physfn") if _VIRTIO_DEVICE.match(name)]
    if len(children) != 1:
        raise DeviceFactMissing(
            f"{device.id}: PF {pf} has {len(children)} virtio devices in sysfs, not one", fact="pf_features",
            hint=f"bind {pf} to virtio-pci and let its virtio driver probe (its virtioN/features is read)")
    features = (device.read_attribute(f"physfn/{children[0]}/features") or "").strip()
    if not _FEATURES.match(features):
        raise DeviceFactMissing(f"{device.id}: {pf}/{children[0]}/features is missing or not a feature bitstring",
                                fact="pf_features", hint="probe a complete sysfs tree")
    return 1 if features[VIRTIO_F_ADMIN_VQ] == "1" else 0


def _bar0(device: Any) -> int:
    """1 when the VF has a BAR0 (its flags are non-zero, as virtiovf_bar0_exists() tests), else 0."""
    text = device.read_attribute("resource") or ""
    first = text.split("\n", 1)[0].strip()
    match = _RESOURCE_LINE.match(first)
    if match is None:
        raise DeviceFactMissing(f"{device.id}: sysfs resource is missing or not in the kernel's format",
                                fact="resource", hint="probe a complete sysfs tree")
    return 0 if int(match.group(1), 16) == 0 else 1
