"""The probe side of the plugin: a device's device_version from sysfs and the operator's facts.

Imported on the first probe, not by a check (see ``vfiocompat_device_version`` in the package).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional

from vfiocompat import DeviceFactMissing

from . import DRIVER, INTERFACE, PF_DRIVER, VENDOR
from .devlink import MAX_JSON_BYTES, DevlinkFormatError, pf_info

_PCI_ID = re.compile(r"^0x[0-9a-f]{4}$")
_REVISION = re.compile(r"^0x[0-9a-f]{2}$")
_ASIC = re.compile(r"^0x[0-9a-f]{1,8}$")
# dev_info.fw_version is a 32-byte string such as "1.60.0-73".
_FW = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$")
#: fact name -> (key in pf_info(), expected form, what devlink calls it)
_DEVLINK_FACTS = {
    "fw_version": ("fw", _FW, "running fw"),
    "asic_id": ("asic_id", _ASIC, "fixed asic.id"),
    "asic_rev": ("asic_rev", _ASIC, "fixed asic.rev"),
}


def device_version(device: Any) -> Optional[str]:
    """``0x1dd8:1:pds=vf;dev=...;...;fw=...`` for a VF bound to pds_vfio_pci."""
    if device.kind != "pci" or device.vendor != VENDOR or device.driver != DRIVER:
        return None
    pf = device.link_name("physfn")
    if pf is None:
        raise DeviceFactMissing(
            f"{device.id} has no physfn link: pds_vfio_pci migrates SR-IOV VFs only", fact="physfn",
            hint="create the VF with sriov_numvfs on a PF bound to pds_core and bind the VF to pds_vfio_pci")
    pf_driver = device.link_name("physfn/driver")
    if pf_driver != PF_DRIVER:
        raise DeviceFactMissing(
            f"{device.id}: its PF {pf} is bound to {pf_driver or 'no driver'}, not pds_core, whose adminq carries"
            " the migration commands", fact="pf_driver", hint=f"bind {pf} to pds_core")
    ids = {
        "dev": _sysfs(device, device.device, "device", _PCI_ID),
        "ssvid": _sysfs(device, device.subsystem_vendor, "subsystem_vendor", _PCI_ID),
        "ssdev": _sysfs(device, device.subsystem_device, "subsystem_device", _PCI_ID),
        "pfdev": _sysfs(device, device.read_attribute("physfn/device"), "physfn/device", _PCI_ID),
    }
    pfrev = _sysfs(device, device.read_attribute("physfn/revision"), "physfn/revision", _REVISION)
    facts = _devlink_facts(device, pf)
    parts = [f"{key}={value[2:]}" for key, value in ids.items()]
    parts += [f"pfrev={pfrev}", f"asic={facts['asic_id']}", f"asicrev={facts['asic_rev']}",
              f"fw={facts['fw_version']}"]
    return f"{VENDOR}:{INTERFACE}:pds=vf;" + ";".join(parts)


def _sysfs(device: Any, value: Optional[str], name: str, pattern: re.Pattern[str]) -> str:
    text = (value or "").strip().lower()
    if not pattern.match(text):
        raise DeviceFactMissing(f"{device.id}: sysfs {name} is missing or not in the kernel's format", fact=name,
                                hint="probe a complete sysfs tree (a copy must keep the attribute files)")
    return text


def _devlink_facts(device: Any, pf: str) -> Dict[str, str]:
    """fw_version, asic_id, asic_rev: each a fact, or read from a saved ``devlink -j dev info``."""
    how = (f'set [facts."{device.id}"] devlink_info_json = "<file with `devlink -j dev info pci/{pf}` output>",'
           ' or fw_version, asic_id and asic_rev as that command prints them')
    saved: Optional[Dict[str, Optional[str]]] = None
    path = device.fact("devlink_info_json")
    if path is not None:
        try:
            saved = pf_info(device.read_fact_file("devlink_info_json", MAX_JSON_BYTES, hint=how), pf)
        except DevlinkFormatError as error:
            raise DeviceFactMissing(f"{device.id}: cannot use devlink_info_json {path[:200]!r}: {error}",
                                    fact="devlink_info_json", hint=how) from None
        if saved is None:
            raise DeviceFactMissing(f"{device.id}: {path[:200]!r} does not list pci/{pf}", fact="devlink_info_json",
                                    hint=how)
        if saved.get("driver") not in (None, PF_DRIVER):
            raise DeviceFactMissing(f"{device.id}: {path[:200]!r} shows pci/{pf} driven by {saved['driver']!r}",
                                    fact="devlink_info_json", hint=how)
    found: Dict[str, str] = {}
    for fact, (key, pattern, called) in _DEVLINK_FACTS.items():
        value = device.fact(fact)
        if value is None and saved is not None:
            value = saved.get(key)
        if value is None:
            raise DeviceFactMissing(f"{device.id}: the PF's devlink {called} is not in sysfs and was not supplied",
                                    fact=fact, hint=how)
        if not pattern.match(value):
            raise DeviceFactMissing(f"{device.id}: {fact} = {value[:80]!r} is not in devlink's form", fact=fact,
                                    hint=how)
        found[fact] = value
    return found
