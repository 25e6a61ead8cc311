"""Find the host's VFIO devices in sysfs and ask the plugins for each one's device_version.

Four kinds of PCI-side devices are found, as real hosts have them: PCI functions bound to
``vfio-pci`` or a vfio-pci variant driver (``*_vfio_pci``, ``*-vfio-pci``), NVIDIA vGPU 17+
SR-IOV VFs (a function with an ``nvidia/current_vgpu_type`` file, whatever its driver; NVIDIA
vGPU user guide for KVM), existing mdevs (``bus/mdev/devices`` and under their parents), and
the mdev types each parent can still create (``mdev_supported_types``, parents from
``class/mdev_bus`` or any PCI function that has the folder). Nothing outside the sysfs root is
read (see :mod:`vfiocompat.host.sysfs`); what is refused or unreadable is listed in the
inventory's ``issues``, one line each.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, TypeVar

from .._device_version import parse
from .._plugins import HookFailed, call_plugin, failure_code
from .._verdict import Reason
from ..errors import DeviceFactMissing, DeviceVersionError, UsageError
from .inventory import HostDevice, Inventory, InventoryDevice
from .sysfs import SysfsDir, SysfsEscape, SysfsRoot
from .variant_drivers import is_vfio_driver, migration_support

__all__ = ["HostDevice", "Inventory", "InventoryDevice", "probe", "device_version_of", "parse_count"]

# fullmatch everywhere: '$' would let a name end in a newline, which then forges output lines.
_PCI_ADDRESS = re.compile(r"[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ID = re.compile(r"0x[0-9a-f]{4}")
_REVISION = re.compile(r"0x[0-9a-f]{2}")
_CLASS = re.compile(r"0x[0-9a-f]{6}")
_TYPE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}")
_VIRTFN = re.compile(r"virtfn([0-9]{1,5})")
_ASCII_DIGITS = frozenset("0123456789")
#: Most digits a count read from sysfs may have (an mdev type's available_instances is an int).
MAX_COUNT_DIGITS = 9
#: The file whose presence marks an NVIDIA vGPU 17+ SR-IOV VF (NVIDIA vGPU user guide, KVM).
NVIDIA_VGPU_TYPE_FILE = "nvidia/current_vgpu_type"
NVIDIA_VGPU_GUIDE = "https://docs.nvidia.com/vgpu/latest/grid-vgpu-user-guide/index.html"

ProbeHook = Callable[[Any], Optional[str]]
Facts = Mapping[str, Mapping[str, str]]


def probe(sysfs_root: str, registry: Any, *, host: str = "localhost", facts: Optional[Facts] = None) -> Inventory:
    """The VFIO devices under ``sysfs_root`` with their device_versions from ``registry.probe_hooks``.

    ``facts`` are the operator's facts by probe device id (``{"pci:0000:3b:00.1": {"fw_version":
    "22.39.1002"}}``, the host config's ``[facts]``); each device carries its own, for plugins'
    ``device.fact(name)``.
    """
    known = _check_facts(facts)
    sysfs = SysfsRoot(sysfs_root)
    finder = _Finder(sysfs, known)
    found = finder.find()
    hooks: Mapping[str, ProbeHook] = getattr(registry, "probe_hooks", {}) or {}
    # Each plugin is handed every device at once: one queue of calls per plugin, not a hand-off per device.
    answers = {name: _ask_each(hooks[name], found) for name in sorted(hooks)}
    devices = tuple(_inventory_device(device, {name: answers[name][index] for name in answers})
                    for index, device in enumerate(found))
    return Inventory(host, devices, tuple(finder.issues), sysfs.root)


Outcome = Tuple[bool, Any]


def _ask_each(hook: ProbeHook, devices: Sequence[HostDevice]) -> List[Outcome]:
    each = getattr(hook, "each", None)
    if each is not None:
        return list(each(devices))
    outcomes: List[Outcome] = []
    for device in devices:
        try:
            outcomes.append((True, call_plugin(hook, device)))
        except HookFailed as error:
            outcomes.append((False, error))
    return outcomes


def _check_facts(facts: Optional[Facts]) -> Dict[str, Dict[str, str]]:
    """A plain copy of ``facts``; anything but text keyed by text is refused in one line."""
    if facts is None:
        return {}
    if not isinstance(facts, Mapping):
        raise UsageError(f"facts must map device ids to tables of facts, not {type(facts).__name__}")
    known: Dict[str, Dict[str, str]] = {}
    for device_id, table in facts.items():
        if not isinstance(device_id, str) or not isinstance(table, Mapping):
            raise UsageError(f"facts for {device_id!r}: expected a table of name = \"text\" facts")
        for name, value in table.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise UsageError(f"fact {name!r} of {device_id}: facts are text (name = \"value\"), not"
                                 f" {type(value).__name__}")
        known[device_id] = dict(table)
    return known


def parse_count(text: Optional[str], digits: int = MAX_COUNT_DIGITS) -> Optional[int]:
    """A small non-negative integer from sysfs text (ASCII digits only, at most ``digits``), else None.

    ``int()`` alone would accept ``²``-like digits (raising later), signs, ``_`` and unbounded
    lengths; a count in sysfs is plain decimal.
    """
    if text is None:
        return None
    text = text.strip(" \t\n")
    if not text or len(text) > digits or not _ASCII_DIGITS.issuperset(text):
        return None
    return int(text)


def device_version_of(device: HostDevice, hooks: Mapping[str, ProbeHook]) -> Tuple[Optional[str], Optional[str],
                                                                                    List[Reason]]:
    """Ask each plugin, in isolation, for ``device``'s device_version: (text, plugin, problems)."""
    return _decide(device, {name: _ask_each(hooks[name], [device])[0] for name in sorted(hooks)})


def _decide(device: HostDevice, outcomes: Mapping[str, Outcome]) -> Tuple[Optional[str], Optional[str],
                                                                           List[Reason]]:
    answers: Dict[str, str] = {}
    problems: List[Reason] = []
    for name in sorted(outcomes):
        ok, result = outcomes[name]
        if not ok:
            error = result
            if isinstance(error.error, DeviceFactMissing):
                missing = error.error
                problems.append(Reason(missing.code, "host", f"plugin {name!r} cannot give {device.id} a"
                                       f" device_version: {missing.message}", field=missing.fact,
                                       hint=missing.hint, plugin=name))
                continue
            code = failure_code(error)
            what = {"VC302": f"raised in vfiocompat_device_version for {device.id}: {error}",
                    "VC303": f"{error.error} (for {device.id})",
                    "VC306": f"did not answer vfiocompat_device_version for {device.id}: {error}"}[code]
            problems.append(Reason(code, "plugin", f"plugin {name!r} {what}",
                                   hint="report this to the plugin's vendor", plugin=name))
            continue
        if result is None:
            continue
        if not isinstance(result, str):
            problems.append(Reason("VC303", "plugin", f"plugin {name!r} returned {type(result).__name__} from"
                                   f" vfiocompat_device_version for {device.id}, not a string",
                                   hint="report this to the plugin's vendor", plugin=name))
            continue
        try:
            answers[name] = str(parse(result))
        except DeviceVersionError as error:
            problems.append(Reason(error.code, "plugin", f"plugin {name!r} gave {device.id} the device_version"
                                   f" {result[:100]!r}, which is malformed: {error.message}",
                                   hint="report this to the plugin's vendor", plugin=name))
    distinct = sorted(set(answers.values()))
    if len(distinct) > 1:
        names = ", ".join(repr(n) for n in sorted(answers))
        problems.append(Reason("VC602", "host", f"plugins {names} give {device.id} different device_versions;"
                               " vfiocompat will not guess", hint="disable one of these plugins"))
        return None, None, problems
    if not distinct:
        if not problems:
            problems.append(Reason("VC602", "host", f"no plugin gives {device.id} a device_version",
                                   hint="install the vfiocompat plugin of this device's vendor"))
        return None, None, problems
    return distinct[0], sorted(answers)[0], problems


def _inventory_device(device: HostDevice, outcomes: Mapping[str, Outcome]) -> InventoryDevice:
    version, plugin, reasons = _decide(device, outcomes)
    can_migrate: Optional[bool] = None
    driver_needed: Optional[str] = None
    if device.kind == "pci":
        can_migrate, row, why = migration_support(device.driver, device.vendor, device.device)
        driver_needed = row.driver if row is not None else None
        if why is not None:
            reasons.insert(0, why)
    return InventoryDevice(device, version, plugin, can_migrate, driver_needed, tuple(reasons))


T = TypeVar("T")


class _PciInfo(NamedTuple):
    """What a PCI function's folder says of it; mdevs and types carry their parent's."""

    vendor: Optional[str] = None
    device: Optional[str] = None
    subsystem_vendor: Optional[str] = None
    subsystem_device: Optional[str] = None
    revision: Optional[str] = None
    pci_class: Optional[str] = None
    physfn: Optional[str] = None
    vf_index: Optional[int] = None


_FORMATS = (("vendor", _ID, "0x%04x"), ("device", _ID, "0x%04x"), ("subsystem_vendor", _ID, "0x%04x"),
            ("subsystem_device", _ID, "0x%04x"), ("revision", _REVISION, "0x%02x"), ("class", _CLASS, "0x%06x"))


class _Finder:
    """One walk over a sysfs tree; refusals are collected rather than raised."""

    def __init__(self, sysfs: SysfsRoot, facts: Mapping[str, Mapping[str, str]]) -> None:
        self.sysfs = sysfs
        self.facts = facts
        self.issues: List[Reason] = []
        self._infos: Dict[str, _PciInfo] = {}
        self._virtfns: Dict[str, Dict[str, int]] = {}
        self._modules: Dict[Tuple[str, str], Optional[str]] = {}

    def _refuse(self, error: SysfsEscape) -> None:
        self.issues.append(Reason(error.code, "host", error.message,
                                  hint="a sysfs tree has no links leaving it; check the --sysfs-root copy"))

    def _odd(self, where: str, name: str, text: str, expected: str) -> None:
        shown = text if len(text) <= 40 else text[:40] + "..."
        self.issues.append(Reason("VC613", "host", f"sysfs {where}/{name} holds {shown!r}, not {expected};"
                                  " taken as unknown", field=name,
                                  hint="a kernel writes this attribute in that form; check the --sysfs-root copy"))

    def _guarded(self, default: T, read: Callable[..., T], *args: Any) -> T:
        # A path that leaves the root is recorded as an issue, and the walk goes on without it.
        try:
            return read(*args)
        except SysfsEscape as error:
            self._refuse(error)
            return default

    def _resolve(self, relative: str) -> Optional[str]:
        return self._guarded(None, self.sysfs.physical, relative)

    def _open(self, relative: str) -> Optional[SysfsDir]:
        return self._guarded(None, self.sysfs.open_dir, relative)

    def _read(self, folder: SysfsDir, name: str) -> Optional[str]:
        return self._guarded(None, folder.read, name)

    def _link(self, folder: SysfsDir, name: str) -> Optional[str]:
        return self._guarded(None, folder.link_name, name)

    def _is_dir(self, folder: SysfsDir, name: str) -> bool:
        return self._guarded(False, folder.is_dir, name)

    def _list(self, relative: str) -> List[str]:
        return self._guarded([], self.sysfs.list_dir, relative)

    def _formatted(self, folder: SysfsDir, name: str, pattern: Any, form: str) -> Optional[str]:
        text = self._read(folder, name)
        if text is None:
            return None
        value = text.strip()
        if pattern.fullmatch(value):
            return value
        self._odd(folder.path, name, text, f"a {form} number")
        return None

    def _info(self, folder: SysfsDir) -> _PciInfo:
        known = self._infos.get(folder.path)
        if known is not None:
            return known
        ids = [self._formatted(folder, name, pattern, form) for name, pattern, form in _FORMATS]
        pf_path = self._guarded(None, self.sysfs.link_target, "physfn", folder)
        physfn = pf_path.rsplit("/", 1)[-1] if pf_path is not None else None
        vf_index = None
        if physfn is not None and not _PCI_ADDRESS.fullmatch(physfn):
            self._odd(folder.path, "physfn", physfn, "a link to a PCI address")
            physfn = None
        if physfn is not None and pf_path is not None:
            vf_index = self._vf_indexes(pf_path).get(folder.names[-1] if folder.names else "")
        info = _PciInfo(ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], physfn, vf_index)
        self._infos[folder.path] = info
        return info

    def _vf_indexes(self, pf_path: str) -> Dict[str, int]:
        """The PF's ``virtfnN`` links as {VF address: N}, read once per PF (a PF may have hundreds)."""
        known = self._virtfns.get(pf_path)
        if known is not None:
            return known
        indexes: Dict[str, int] = {}
        pf = self._open(pf_path)
        if pf is not None:
            with pf:
                for entry in pf.list_dir():
                    match = _VIRTFN.fullmatch(entry)
                    if match is None:
                        continue
                    vf = self._link(pf, entry)
                    if vf is not None and _PCI_ADDRESS.fullmatch(vf):
                        indexes.setdefault(vf, int(match.group(1)))
        self._virtfns[pf_path] = indexes
        return indexes

    def _driver(self, folder: SysfsDir, bus: str) -> Tuple[Optional[str], Optional[str]]:
        driver = self._link(folder, "driver")
        if driver is None:
            return None, None
        # One driver folder per (bus, name) (bus/*/drivers/NAME): its module is read once.
        if (bus, driver) not in self._modules:
            self._modules[bus, driver] = self._link(folder, "driver/module")
        return driver, self._modules[bus, driver]

    def _device(self, kind: str, path: str, info: _PciInfo, **fields: Any) -> HostDevice:
        device = HostDevice(kind, path=path, _sysfs=self.sysfs, **info._asdict(), **fields)
        facts = self.facts.get(device.id)
        return replace(device, facts=facts) if facts else device

    def find(self) -> List[HostDevice]:
        devices: List[HostDevice] = []
        parents: Dict[str, str] = {}  # resolved path -> parent name
        for address in self._list("bus/pci/devices"):
            if not _PCI_ADDRESS.fullmatch(address):
                continue
            path = self._resolve(f"bus/pci/devices/{address}")
            folder = self._open(path) if path is not None else None
            if path is None or folder is None:
                continue
            with folder:
                if self._is_dir(folder, "mdev_supported_types"):
                    parents.setdefault(path, address)
                driver, module = self._driver(folder, "pci")
                if not is_vfio_driver(driver) and self._read(folder, NVIDIA_VGPU_TYPE_FILE) is None:
                    continue
                devices.append(self._device(
                    "pci", path, self._info(folder), address=address, driver=driver, driver_module=module,
                    iommu_group=self._link(folder, "iommu_group"),
                ))
        for name in self._list("class/mdev_bus"):
            path = self._resolve(f"class/mdev_bus/{name}")
            if path is not None:
                parents.setdefault(path, name)
        mdevs: Dict[str, HostDevice] = {}
        for path, parent in sorted(parents.items(), key=lambda item: item[1]):
            folder = self._open(path)
            if folder is None:
                continue
            with folder:
                info = self._info(folder)
                devices.extend(self._types(folder, parent, info))
                for entry in folder.list_dir():
                    if _UUID.fullmatch(entry) and entry not in mdevs:
                        mdev = self._mdev(f"{path}/{entry}", entry, parent, info)
                        if mdev is not None:
                            mdevs[entry] = mdev
        for entry in self._list("bus/mdev/devices"):
            if entry in mdevs or not _UUID.fullmatch(entry):
                continue
            path = self._resolve(f"bus/mdev/devices/{entry}")
            if path is None:
                continue
            parent_path = path.rsplit("/", 1)[0] if "/" in path else "."
            parent = parents.get(parent_path, parent_path.rsplit("/", 1)[-1])
            parent_folder = self._open(parent_path)
            info = _PciInfo()
            if parent_folder is not None:
                with parent_folder:
                    info = self._info(parent_folder)
            mdev = self._mdev(path, entry, parent, info)
            if mdev is not None:
                mdevs[entry] = mdev
        devices.extend(mdevs[uuid] for uuid in sorted(mdevs))
        return devices

    def _types(self, parent_folder: SysfsDir, parent: str, info: _PciInfo) -> List[HostDevice]:
        found = []
        for type_id in parent_folder.list_dir("mdev_supported_types"):
            if not _TYPE_ID.fullmatch(type_id):
                continue
            path = self._resolve(f"{parent_folder.path}/mdev_supported_types/{type_id}")
            folder = self._open(path) if path is not None else None
            if path is None or folder is None:
                continue
            with folder:
                available = self._read(folder, "available_instances")
                instances = parse_count(available)
                if available is not None and instances is None:
                    self._odd(path, "available_instances", available, f"a count of at most {MAX_COUNT_DIGITS}"
                              " ASCII digits")
                found.append(self._device(
                    "mdev_type", path, info, parent=parent, mdev_type=type_id,
                    mdev_type_name=self._read(folder, "name"), device_api=self._read(folder, "device_api"),
                    available_instances=instances,
                ))
        return found

    def _mdev(self, relative: str, uuid: str, parent: str, info: _PciInfo) -> Optional[HostDevice]:
        path = self._resolve(relative)
        folder = self._open(path) if path is not None else None
        if path is None or folder is None:
            return None
        with folder:
            type_id = self._link(folder, "mdev_type")
            if type_id is None:
                return None
            driver, module = self._driver(folder, "mdev")
            return self._device(
                "mdev", path, info, uuid=uuid, parent=parent, driver=driver, driver_module=module,
                iommu_group=self._link(folder, "iommu_group"), mdev_type=type_id,
                mdev_type_name=self._read(folder, "mdev_type/name"),
                device_api=self._read(folder, "mdev_type/device_api"),
            )
