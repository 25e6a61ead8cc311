"""Find the host's VFIO devices in sysfs and ask the plugins for each one's device_version.

Three kinds are found: PCI functions bound to ``vfio-pci`` or a ``*_vfio_pci`` variant driver
(``bus/pci/devices``), existing mdevs (``bus/mdev/devices`` and under their parents), and the
mdev types each parent can still create (``mdev_supported_types``, parents from
``class/mdev_bus`` or any PCI function that has the folder). Nothing outside the sysfs root is
read (see :mod:`vfiocompat.host.sysfs`); what is refused is listed in the inventory's ``issues``.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple, TypeVar

from ..device_version import parse
from ..errors import DeviceFactMissing, DeviceVersionError
from ..plugins import HookFailed, call_plugin
from ..verdict import Reason
from .inventory import HostDevice, Inventory, InventoryDevice
from .sysfs import SysfsEscape, SysfsRoot
from .variant_drivers import is_vfio_driver, migration_support

__all__ = ["HostDevice", "Inventory", "InventoryDevice", "probe", "device_version_of"]

_PCI_ADDRESS = re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_ID = re.compile(r"^0x[0-9a-f]{4}$")
_TYPE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")

ProbeHook = Callable[[Any], Optional[str]]


def probe(sysfs_root: str, registry: Any, *, host: str = "localhost") -> Inventory:
    """The VFIO devices under ``sysfs_root`` with their device_versions from ``registry.probe_hooks``."""
    sysfs = SysfsRoot(sysfs_root)
    finder = _Finder(sysfs)
    found = finder.find()
    hooks: Mapping[str, ProbeHook] = getattr(registry, "probe_hooks", {}) or {}
    devices = tuple(_inventory_device(device, hooks) for device in found)
    return Inventory(host, devices, tuple(finder.issues), sysfs.root)


def device_version_of(device: HostDevice, hooks: Mapping[str, ProbeHook]) -> Tuple[Optional[str], Optional[str],
                                                                                    List[Reason]]:
    """Ask each plugin, in isolation, for ``device``'s device_version: (text, plugin, problems)."""
    answers: Dict[str, str] = {}
    problems: List[Reason] = []
    for name in sorted(hooks):
        try:
            result = call_plugin(hooks[name], device)
        except HookFailed as error:
            if isinstance(error.error, DeviceFactMissing):
                missing = error.error
                problems.append(Reason(missing.code, "host", f"plugin {name!r} cannot give {device.id} a"
                                       f" device_version: {missing.message}", field=missing.fact,
                                       hint=missing.hint, plugin=name))
                continue
            problems.append(Reason("VC302", "plugin", f"plugin {name!r} raised in vfiocompat_device_version for"
                                   f" {device.id}: {error}",
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


def _inventory_device(device: HostDevice, hooks: Mapping[str, ProbeHook]) -> InventoryDevice:
    version, plugin, reasons = device_version_of(device, hooks)
    can_migrate: Optional[bool] = None
    driver_needed: Optional[str] = None
    if device.kind == "pci":
        can_migrate, row, why = migration_support(device.driver, device.vendor, device.device)
        driver_needed = row.driver if row is not None else None
        if why is not None:
            reasons.insert(0, why)
    return InventoryDevice(device, version, plugin, can_migrate, driver_needed, tuple(reasons))


T = TypeVar("T")


class _Ids(NamedTuple):
    vendor: Optional[str]
    device: Optional[str]
    subsystem_vendor: Optional[str]
    subsystem_device: Optional[str]


class _Finder:
    """One walk over a sysfs tree; refusals are collected rather than raised."""

    def __init__(self, sysfs: SysfsRoot) -> None:
        self.sysfs = sysfs
        self.issues: List[Reason] = []

    def _refuse(self, error: SysfsEscape) -> None:
        self.issues.append(Reason(error.code, "host", error.message,
                                  hint="a sysfs tree has no links leaving it; check the --sysfs-root copy"))

    def _guarded(self, default: T, read: Callable[[str], T], relative: str) -> T:
        # A path that leaves the root is recorded as an issue, and the walk goes on without it.
        try:
            return read(relative)
        except SysfsEscape as error:
            self._refuse(error)
            return default

    def _resolve(self, relative: str) -> Optional[str]:
        return self._guarded(None, lambda path: self.sysfs.relative(self.sysfs.resolve(path)), relative)

    def _read(self, relative: str) -> Optional[str]:
        return self._guarded(None, self.sysfs.read, relative)

    def _link(self, relative: str) -> Optional[str]:
        return self._guarded(None, self.sysfs.link_name, relative)

    def _is_dir(self, relative: str) -> bool:
        return self._guarded(False, self.sysfs.is_dir, relative)

    def _list(self, relative: str) -> List[str]:
        return self._guarded([], self.sysfs.list_dir, relative)

    def _id(self, relative: str) -> Optional[str]:
        text = self._read(relative)
        if text is None:
            return None
        text = text.strip().lower()
        return text if _ID.match(text) else None

    def _ids(self, path: str) -> _Ids:
        return _Ids(*(self._id(f"{path}/{name}") for name in ("vendor", "device", "subsystem_vendor",
                                                               "subsystem_device")))

    def find(self) -> List[HostDevice]:
        devices: List[HostDevice] = []
        parents: Dict[str, str] = {}  # resolved path -> parent name
        for address in self._list("bus/pci/devices"):
            path = self._resolve(f"bus/pci/devices/{address}")
            if path is None:
                continue
            if not _PCI_ADDRESS.match(address):
                continue
            if self._is_dir(f"{path}/mdev_supported_types"):
                parents.setdefault(path, address)
            driver = self._link(f"{path}/driver")
            if not is_vfio_driver(driver):
                continue
            devices.append(HostDevice(
                "pci", address=address, driver=driver, iommu_group=self._link(f"{path}/iommu_group"),
                path=path, _sysfs=self.sysfs, **self._ids(path)._asdict(),
            ))
        for name in self._list("class/mdev_bus"):
            path = self._resolve(f"class/mdev_bus/{name}")
            if path is not None:
                parents.setdefault(path, name)
        mdevs: Dict[str, HostDevice] = {}
        for path, parent in sorted(parents.items(), key=lambda item: item[1]):
            ids = self._ids(path)
            devices.extend(self._types(path, parent, ids))
            for entry in self._list(path):
                if _UUID.match(entry):
                    mdev = self._mdev(f"{path}/{entry}", entry, parent, ids)
                    if mdev is not None:
                        mdevs.setdefault(entry, mdev)
        for entry in self._list("bus/mdev/devices"):
            if entry in mdevs or not _UUID.match(entry):
                continue
            path = self._resolve(f"bus/mdev/devices/{entry}")
            if path is None:
                continue
            parent_path = path.rsplit("/", 1)[0] if "/" in path else "."
            parent = parents.get(parent_path, parent_path.rsplit("/", 1)[-1])
            mdev = self._mdev(path, entry, parent, self._ids(parent_path))
            if mdev is not None:
                mdevs[entry] = mdev
        devices.extend(mdevs[uuid] for uuid in sorted(mdevs))
        return devices

    def _types(self, path: str, parent: str, ids: _Ids) -> List[HostDevice]:
        found = []
        for type_id in self._list(f"{path}/mdev_supported_types"):
            folder = self._resolve(f"{path}/mdev_supported_types/{type_id}")
            if folder is None or not _TYPE_ID.match(type_id):
                continue
            available = self._read(f"{folder}/available_instances")
            instances = int(available.strip()) if available is not None and available.strip().isdigit() else None
            found.append(HostDevice(
                "mdev_type", parent=parent, mdev_type=type_id, mdev_type_name=self._read(f"{folder}/name"),
                device_api=self._read(f"{folder}/device_api"), available_instances=instances,
                path=folder, _sysfs=self.sysfs, **ids._asdict(),
            ))
        return found

    def _mdev(self, relative: str, uuid: str, parent: str, ids: _Ids) -> Optional[HostDevice]:
        path = self._resolve(relative)
        if path is None:
            return None
        type_id = self._link(f"{path}/mdev_type")
        if type_id is None:
            return None
        type_path = self._resolve(f"{path}/mdev_type")
        return HostDevice(
            "mdev", uuid=uuid, parent=parent, driver=self._link(f"{path}/driver"),
            iommu_group=self._link(f"{path}/iommu_group"), mdev_type=type_id,
            mdev_type_name=self._read(f"{type_path}/name") if type_path else None,
            device_api=self._read(f"{type_path}/device_api") if type_path else None,
            path=path, _sysfs=self.sysfs, **ids._asdict(),
        )
