"""An NVIDIA vGPU's device_version from what the host exposes in sysfs (mdev types, mdevs, vGPU 17+ VFs).

Every field is read, never guessed: the vGPU type name (the mdev type's ``name``, or the VF's
``nvidia/current_vgpu_type`` id looked up in ``nvidia/creatable_vgpu_types``), the physical GPU's PCI
device and subsystem ids, and the Virtual GPU Manager version (``/sys/module/nvidia/version``).
What sysfs does not hold raises :class:`vfiocompat.DeviceFactMissing`; see the plugin's README.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from typing import Any, Dict, List, Optional, Tuple

from vfiocompat import DeviceFactMissing

__all__ = ["NVIDIA_VENDOR", "MAX_SIBLING_VFS", "device_version", "parse_creatable_vgpu_types", "type_key"]

NVIDIA_VENDOR = "0x10de"
#: Most sibling VFs whose ``creatable_vgpu_types`` are read to name a VF's type (SR-IOV GPUs have a few dozen).
MAX_SIBLING_VFS = 256

_MDEV_TYPE_ID = re.compile(r"nvidia-[0-9]{1,6}")
_VIRTFN = re.compile(r"virtfn[0-9]{1,5}")
_TYPE_ID = re.compile(r"[0-9]{1,10}")
_DOTTED = re.compile(r"[0-9]{1,6}(\.[0-9]{1,6}){1,3}")
_PCI_ID = re.compile(r"0x[0-9a-f]{4}")
# fullmatch throughout: '$' would let a value end in a newline. A type name may not hold ';' or '='.
_TYPE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+()/-]{0,95}")
_HOST_OS = re.compile(r"[a-z][a-z0-9]{0,15}-[0-9]{1,4}(\.[0-9]{1,4}){0,2}")
_FACTS_HINT = 'in the host config file: [facts."{id}"] {fact} = "{example}"'


def type_key(name: str) -> str:
    """A vGPU type name as the table's ``type`` field writes it: each run of spaces becomes ``_``."""
    return "_".join(name.split())


def parse_creatable_vgpu_types(text: str) -> Dict[str, str]:
    """``nvidia/creatable_vgpu_types`` as {type id: type name}; the ``ID : vGPU Name`` header is skipped."""
    types: Dict[str, str] = {}
    for line in text.splitlines():
        head, sep, name = line.partition(":")
        head, name = head.strip(), name.strip()
        if sep and _TYPE_ID.fullmatch(head) and name:
            types.setdefault(head, name)
    return types


def device_version(device: Any) -> Optional[str]:
    """The device_version of an NVIDIA vGPU (mdev, mdev type or vGPU 17+ VF), or None if not one."""
    if device.vendor != NVIDIA_VENDOR:
        return None
    if device.kind in ("mdev", "mdev_type"):
        if not device.mdev_type or not _MDEV_TYPE_ID.fullmatch(device.mdev_type):
            return None
        return _mdev_version(device)
    if device.kind == "pci" and device.read_attribute("nvidia/current_vgpu_type") is not None:
        return _vf_version(device)
    return None


def _mdev_version(device: Any) -> str:
    name = device.mdev_type_name
    if not name:
        raise DeviceFactMissing(
            f"mdev type {device.mdev_type} of {device.parent} has no readable 'name' file",
            fact="vgpu_type_name", hint=f"check mdev_supported_types/{device.mdev_type}/name on the host",
        )
    # An mdev's folder is its parent's child, a type's is parent/mdev_supported_types/TYPE (mdev_core.c).
    levels = 1 if device.kind == "mdev" else 2
    parent_path = device.path
    for _ in range(levels):
        parent_path = posixpath.dirname(parent_path) if parent_path else None
    parent = None
    if parent_path and posixpath.basename(parent_path) == device.parent:
        parent = dataclasses.replace(device, path=parent_path)
    board = _board(device, device.device, device.subsystem_vendor, device.subsystem_device)
    return _assemble(device, name, board, _host_driver(device, [(parent, "")]))


def _vf_version(device: Any) -> str:
    current = (device.read_attribute("nvidia/current_vgpu_type") or "").strip()
    if not _TYPE_ID.fullmatch(current):
        raise DeviceFactMissing(
            f"nvidia/current_vgpu_type of {device.address} reads {current[:40]!r}, not a vGPU type id",
            fact="vgpu_type", hint="the file holds a decimal vGPU type id; check the Virtual GPU Manager",
        )
    if int(current) == 0:
        raise DeviceFactMissing(
            f"no vGPU type is assigned to {device.address} (nvidia/current_vgpu_type is 0)",
            fact="vgpu_type",
            hint="assign one: echo ID > /sys/bus/pci/devices/"
                 f"{device.address}/nvidia/current_vgpu_type (ids in nvidia/creatable_vgpu_types)",
        )
    name = _vf_type_name(device, current)
    # The board is the physical GPU's, read through the VF's physfn link (drivers/pci/iov.c).
    ids = [_pci_id(device.read_attribute(f"physfn/{attr}"))
           for attr in ("device", "subsystem_vendor", "subsystem_device")]
    host_drv = _host_driver(device, [(device, ""), (device, "physfn/")])
    return _assemble(device, name, _board(device, *ids), host_drv)


def _vf_type_name(device: Any, type_id: str) -> str:
    # The VF's own list first, then its siblings': type ids name the same type across one GPU's VFs.
    found = parse_creatable_vgpu_types(device.read_attribute("nvidia/creatable_vgpu_types") or "").get(type_id)
    if found is None:
        siblings: List[str] = [e for e in device.list_attribute("physfn") if _VIRTFN.fullmatch(e)]
        for entry in siblings[:MAX_SIBLING_VFS]:
            text = device.read_attribute(f"physfn/{entry}/nvidia/creatable_vgpu_types")
            found = parse_creatable_vgpu_types(text or "").get(type_id)
            if found is not None:
                break
    if found is None:
        found = device.fact("vgpu_type_name")
    if found is None:
        raise DeviceFactMissing(
            f"vGPU type id {type_id} of {device.address} is not listed in any creatable_vgpu_types of its GPU",
            fact="vgpu_type_name",
            hint="read the name of type id " + type_id + " from nvidia-smi vgpu -s -v and supply it "
                 + _FACTS_HINT.format(id=device.id, fact="vgpu_type_name", example="NVIDIA L40S-24Q"),
        )
    return found


def _pci_id(text: Optional[str]) -> Optional[str]:
    value = (text or "").strip().lower()
    return value if _PCI_ID.fullmatch(value) else None


def _board(device: Any, dev: Optional[str], sub_vendor: Optional[str], sub_device: Optional[str]) -> str:
    if dev is None or sub_vendor is None or sub_device is None:
        raise DeviceFactMissing(
            f"the PCI device and subsystem ids of the physical GPU of {device.id} are not readable",
            fact="board", hint="the GPU's device, subsystem_vendor and subsystem_device files must be readable",
        )
    return f"dev={dev[2:]};subsys={sub_vendor[2:]}-{sub_device[2:]}"


def _host_driver(device: Any, holders: List[Tuple[Any, str]]) -> str:
    # nvidia.ko declares MODULE_VERSION(NV_VERSION_STRING): /sys/module/nvidia/version, via driver/module.
    for holder, prefix in holders:
        if holder is None or holder.link_name(f"{prefix}driver/module") != "nvidia":
            continue
        text = (holder.read_attribute(f"{prefix}driver/module/version") or "").strip()
        if _DOTTED.fullmatch(text):
            return text
    fact: str = (device.fact("host_drv") or "").strip()
    if _DOTTED.fullmatch(fact):
        return fact
    raise DeviceFactMissing(
        f"the Virtual GPU Manager version of {device.id} is not readable (/sys/module/nvidia/version"
        " through the GPU's driver link)",
        fact="host_drv",
        hint="check that the GPU is bound to nvidia, or supply the output of cat /sys/module/nvidia/version "
             + _FACTS_HINT.format(id=device.id, fact="host_drv", example="550.54.10"),
    )


def _optional_facts(device: Any) -> str:
    extra = ""
    ecc = device.fact("ecc")
    if ecc is not None:
        if ecc not in ("on", "off"):
            raise DeviceFactMissing(f"fact ecc of {device.id} is {ecc[:20]!r}, not on or off", fact="ecc",
                                    hint=_FACTS_HINT.format(id=device.id, fact="ecc", example="on"))
        extra += f";ecc={ecc}"
    host_os = device.fact("host_os")
    if host_os is not None:
        if not _HOST_OS.fullmatch(host_os):
            raise DeviceFactMissing(f"fact host_os of {device.id} is {host_os[:20]!r}, not NAME-VERSION",
                                    fact="host_os",
                                    hint=_FACTS_HINT.format(id=device.id, fact="host_os", example="rhel-9.6"))
        extra += f";host_os={host_os}"
    return extra


def _assemble(device: Any, name: str, board: str, host_drv: str) -> str:
    if not _TYPE_NAME.fullmatch(name.strip()):
        raise DeviceFactMissing(f"vGPU type name {name[:40]!r} of {device.id} cannot be written in a device_version",
                                fact="vgpu_type_name", hint="report this type name to the plugin's maintainers")
    return f"0x10de:1:type={type_key(name)};{board};host_drv={host_drv}{_optional_facts(device)}"
