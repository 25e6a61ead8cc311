"""The device_version of an Intel Xe SR-IOV VF, read from what the host's kernel exposes (see README).

Sysfs gives the PF's PCI ids and, on 7.0+ kernels, the VF's VRAM quota; the PF's debugfs (under
``<sysfs root>/kernel/debug``, where the kernel mounts it) gives the VF's GGTT, context and
doorbell quotas and the GuC firmware version. The migration packet version is a constant
compiled into the kernel and exposed nowhere: it is an operator fact, or the VF has no
device_version (:class:`vfiocompat.DeviceFactMissing`).
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from vfiocompat import DeviceFactMissing

__all__ = ["FAMILIES", "DISCRETE", "VF_DRIVERS", "PF_DRIVER", "FACTS", "family_of", "device_version"]

_PCIIDS = "https://github.com/torvalds/linux/blob/master/include/drm/intel/pciids.h"

#: The ids xe_vfio_pci_table binds (INTEL_PTL_IDS, INTEL_WCL_IDS, INTEL_BMG_IDS of pciids.h).
FAMILIES: Dict[str, Tuple[str, ...]] = {
    "bmg": ("0xe202", "0xe209", "0xe20b", "0xe20c", "0xe20d", "0xe210", "0xe211", "0xe212", "0xe216",
            "0xe220", "0xe221", "0xe222", "0xe223"),
    "ptl": ("0xb080", "0xb081", "0xb082", "0xb083", "0xb084", "0xb085", "0xb086", "0xb087", "0xb08f",
            "0xb090", "0xb0a0", "0xb0b0"),
    "wcl": ("0xfd80", "0xfd81"),
}
#: Families with VRAM (IS_DGFX): only their VFs have a VRAM quota.
DISCRETE = frozenset({"bmg"})
#: ``pci_driver.name`` of drivers/vfio/pci/xe/main.c, and plain vfio-pci (probe reports it cannot migrate).
VF_DRIVERS = ("xe-vfio-pci", "vfio-pci")
PF_DRIVER = "xe"

#: Operator facts (host config ``[facts."pci:ADDR"]``) this plugin reads, and what each stands for.
FACTS: Dict[str, str] = {
    "xe_packet_version": "XE_SRIOV_PACKET_SUPPORTED_VERSION of the running kernel"
                         " (drivers/gpu/drm/xe/xe_sriov_packet.c; 1 in every mainline release so far)",
    "guc_version": "GuC firmware release version of the PF's GT0, e.g. 70.54.0",
    "ggtt_quota": "the VF's GGTT quota in bytes (PF debugfs sriov/vfN/tile0/ggtt_quota)",
    "vram_quota": "the VF's VRAM quota in bytes (sriov_admin/vfN/profile/vram_quota)",
    "contexts_quota": "the VF's GuC context quota per GT, '/'-joined in GT order (e.g. 1024/1024)",
    "doorbells_quota": "the VF's GuC doorbell quota per GT, '/'-joined in GT order (e.g. 64/64)",
}

_PCI_ADDRESS = re.compile(r"[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")
_GT = re.compile(r"^gt([0-9]{1,2})$")
_UINT = re.compile(r"^[0-9]{1,20}$")
_ID = re.compile(r"^0x[0-9a-f]{2,4}$")
# xe_uc_fw_print(): "\tfound release version %u.%u.%u" (a fourth ".%u" when the build is set).
_GUC_RELEASE = re.compile(r"^\s*found release version ([0-9]{1,5}\.[0-9]{1,5}\.[0-9]{1,5})(?:\.[0-9]{1,10})?\s*$")
_FACT_VALUE = {
    "xe_packet_version": _UINT,
    "guc_version": re.compile(r"^[0-9]{1,5}\.[0-9]{1,5}\.[0-9]{1,5}$"),
    "ggtt_quota": _UINT,
    "vram_quota": _UINT,
    "contexts_quota": re.compile(r"^[0-9]{1,10}(/[0-9]{1,10}){0,7}$"),
    "doorbells_quota": re.compile(r"^[0-9]{1,10}(/[0-9]{1,10}){0,7}$"),
}


def family_of(device_id: Optional[str]) -> Optional[str]:
    """The xe_vfio_pci family ("bmg", "ptl", "wcl") of a PCI device id ("0xe20b"), or None."""
    for family, ids in FAMILIES.items():
        if device_id in ids:
            return family
    return None


def device_version(device: Any) -> Optional[str]:
    """``0x8086:1:xe=FAMILY;dev=..;rev=..;pkt=..;guc=..;ggtt=..;vram=..;ctxs=..;dbs=..`` or None if not ours."""
    if getattr(device, "kind", None) != "pci" or device.vendor != "0x8086" or device.driver not in VF_DRIVERS:
        return None
    family = family_of(device.device)
    pf = device.link_name("physfn")
    # The PF's address names its debugfs folder: only a PCI address may become part of that path.
    if family is None or pf is None or not _PCI_ADDRESS.fullmatch(pf) or device.link_name("physfn/driver") != PF_DRIVER:
        return None
    dev = _pci_id(device, "physfn/device")
    rev = _pci_id(device, "physfn/revision")
    # The PF's 1-based number of this VF: virtfnK + 1 (main.c: ``pci_iov_vf_id(pdev) + 1``).
    vf = device.vf_index + 1 if device.vf_index is not None else None
    missing: List[str] = []
    values = {
        "pkt": _fact(device, "xe_packet_version", missing),
        "guc": _guc_version(device, pf, missing),
        "ggtt": _quota(device, [f"sriov/vf{vf}/tile0/ggtt_quota"] if vf else [], pf, "ggtt_quota", missing),
        "vram": _vram(device, family, vf, pf, missing),
        "ctxs": _per_gt(device, vf, pf, "contexts_quota", missing),
        "dbs": _per_gt(device, vf, pf, "doorbells_quota", missing),
    }
    if dev is None or rev is None:
        missing.insert(0, "PF device/revision")
    if missing:
        first = missing[0]
        raise DeviceFactMissing(
            f"Intel Xe VF of PF {pf}: {', '.join(missing)} not exposed by this host"
            + ("" if vf else " (the PF has no virtfnN link to this VF)"),
            fact=first,
            hint=f"set [facts.\"{device.id}\"] {first} = \"...\": {FACTS.get(first, 'see the plugin README')}",
        )
    fields = ";".join(f"{key}={value}" for key, value in values.items())
    return f"0x8086:1:xe={family};dev={dev};rev={rev};{fields}"


def _pci_id(device: Any, name: str) -> Optional[str]:
    text = device.read_attribute(name)
    text = text.strip().lower() if text is not None else None
    return text if text is not None and _ID.match(text) else None


def _debugfs(device: Any, pf: str, relative: str) -> Optional[str]:
    """A PF debugfs file ``dri/<PF BDF>/<relative>``, read inside the probed sysfs root only.

    debugfs is mounted at /sys/kernel/debug; reading it through the probe's confined reader
    (``HostDevice.read_host_attribute``) keeps a fixture's probe from touching the real host's.
    """
    text = device.read_host_attribute(f"kernel/debug/dri/{pf}/{relative}")
    return text if isinstance(text, str) else None


def _debugfs_list(device: Any, pf: str, relative: str) -> List[str]:
    return list(device.list_host_attribute(f"kernel/debug/dri/{pf}/{relative}"))


def _fact(device: Any, name: str, missing: List[str]) -> Optional[str]:
    value = device.fact(name)
    if isinstance(value, str) and _FACT_VALUE[name].match(value.strip()):
        return value.strip()
    missing.append(name)
    return None


def _uint(text: Optional[str]) -> Optional[str]:
    return text.strip() if text is not None and _UINT.match(text.strip()) else None


def _quota(device: Any, paths: List[str], pf: str, fact: str, missing: List[str]) -> Optional[str]:
    for path in paths:
        value = _uint(_debugfs(device, pf, path))
        if value is not None:
            return value
    return _fact(device, fact, missing)


def _vram(device: Any, family: str, vf: Optional[int], pf: str, missing: List[str]) -> Optional[str]:
    if family not in DISCRETE:
        return "0"  # no VRAM: pf_migration_vram_size() is 0, no lmem_quota/vram_quota file exists
    if vf:
        value = _uint(device.read_attribute(f"physfn/sriov_admin/vf{vf}/profile/vram_quota"))
        if value is not None:
            return value
    return _quota(device, [f"sriov/vf{vf}/tile0/vram_quota"] if vf else [], pf, "vram_quota", missing)


def _per_gt(device: Any, vf: Optional[int], pf: str, name: str, missing: List[str]) -> Optional[str]:
    if vf:
        gts = sorted((int(m.group(1)), m.group(0)) for m in
                     (_GT.match(e) for e in _debugfs_list(device, pf, f"sriov/vf{vf}/tile0")) if m)
        values = [_uint(_debugfs(device, pf, f"sriov/vf{vf}/tile0/{gt}/{name}")) for _, gt in gts]
        if values and all(v is not None for v in values):
            return "/".join(v for v in values if v is not None)
    return _fact(device, name, missing)


def _guc_version(device: Any, pf: str, missing: List[str]) -> Optional[str]:
    text = _debugfs(device, pf, "tile0/gt0/uc/guc_info")
    for line in (text or "").splitlines()[:64]:
        found = _GUC_RELEASE.match(line)
        if found:
            return found.group(1)
    return _fact(device, "guc_version", missing)
