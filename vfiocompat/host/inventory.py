"""A host's VFIO devices as values, their JSON form (schemas/inventory.schema.json), and loading it back.

The same document is what ``vfiocompat probe --json`` prints and what ``place`` and ``labels``
read, so a fleet's inventories can be collected once and judged anywhere.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .._verdict import Reason, RuleRef
from ..errors import DeviceFactMissing, LimitError, UsageError
from .sysfs import SysfsRoot

__all__ = [
    "SCHEMA_VERSION",
    "KINDS",
    "MAX_INVENTORY_BYTES",
    "HostDevice",
    "InventoryDevice",
    "Inventory",
    "Target",
    "targets",
    "inventory_form",
    "inventory_from_form",
    "load_inventories",
    "reason_from_form",
]

SCHEMA_VERSION = 1
KINDS = ("pci", "mdev", "mdev_type")
#: Largest inventory file read (a host with thousands of functions stays far below).
MAX_INVENTORY_BYTES = 64 << 20


@dataclass(frozen=True)
class HostDevice:
    """A VFIO device of the host: a PCI function, an mdev, or an mdev type a parent can still create.

    ``address`` is the PCI address (for mdevs and types: None; see ``parent``). The PCI fields are
    the kernel's own text (drivers/pci/pci-sysfs.c): ids ``0x%04x``, ``revision`` ``0x%02x``,
    ``pci_class`` ``0x%06x``; for mdevs and types they are the parent's, as are ``physfn`` (the
    PF's address, from the ``physfn`` link of an SR-IOV VF, drivers/pci/iov.c) and ``vf_index``
    (N of the PF's ``virtfnN`` link back to the VF). ``driver_module`` is the basename of
    ``driver/module``.
    """

    kind: str
    address: Optional[str] = None
    uuid: Optional[str] = None
    parent: Optional[str] = None
    vendor: Optional[str] = None
    device: Optional[str] = None
    subsystem_vendor: Optional[str] = None
    subsystem_device: Optional[str] = None
    driver: Optional[str] = None
    iommu_group: Optional[str] = None
    mdev_type: Optional[str] = None
    mdev_type_name: Optional[str] = None
    device_api: Optional[str] = None
    available_instances: Optional[int] = None
    path: Optional[str] = None
    revision: Optional[str] = None
    pci_class: Optional[str] = None
    physfn: Optional[str] = None
    vf_index: Optional[int] = None
    driver_module: Optional[str] = None
    #: Operator-supplied facts for this device (host config ``[facts."<id>"]``), read by plugins.
    facts: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    _sysfs: Optional[SysfsRoot] = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        """A stable name within the host: ``pci:ADDR``, ``mdev:UUID`` or ``mdev_type:PARENT/TYPE``."""
        if self.kind == "pci":
            return f"pci:{self.address}"
        if self.kind == "mdev":
            return f"mdev:{self.uuid}"
        return f"mdev_type:{self.parent}/{self.mdev_type}"

    def read_attribute(self, name: str) -> Optional[str]:
        """Another sysfs attribute of this device (``name`` relative to its folder), or ``None``.

        ``name`` may not be absolute nor climb with ``..``; symlinks it crosses (``physfn/``,
        ``driver/module/``) must stay inside the probed root (else
        :class:`vfiocompat.errors.SysfsEscape`). ``None`` too for a device loaded from an
        inventory document, which has no sysfs behind it.
        """
        path = self._attribute_path(name)
        return None if path is None or self._sysfs is None else self._sysfs.read(path)

    def list_attribute(self, name: str) -> List[str]:
        """The sorted entries of a folder of this device (``nvidia``, ``physfn/infiniband``); empty if absent."""
        path = self._attribute_path(name)
        return [] if path is None or self._sysfs is None else self._sysfs.list_dir(path)

    def link_name(self, name: str) -> Optional[str]:
        """The basename of the symlink ``name`` of this device points to (``driver``, ``driver/module``)."""
        path = self._attribute_path(name)
        return None if path is None or self._sysfs is None else self._sysfs.link_name(path)

    def fact(self, name: str) -> Optional[str]:
        """A fact the operator supplied for this device in the host config's ``[facts]`` (see docs), or ``None``."""
        return self.facts.get(name)

    def read_fact_file(self, name: str, max_bytes: int, *, fact: Optional[str] = None,
                       hint: Optional[str] = None) -> Optional[str]:
        """The UTF-8 text of the file the operator's fact ``name`` names (saved tool output), or ``None`` if unset.

        Only a regular file of at most ``max_bytes`` bytes is read; anything else raises
        :class:`vfiocompat.DeviceFactMissing` for ``fact`` (default ``name``), one line naming the file.
        """
        path = self.fact(name)
        if path is None:
            return None
        try:
            return _read_regular_file(path, max_bytes)
        except OSError as error:
            why = error.strerror or str(error)
        except UnicodeDecodeError as error:
            why = f"not UTF-8 text (byte {error.start})"
        except ValueError as error:
            why = str(error)
        raise DeviceFactMissing(f"{self.id}: cannot use {name} {path[:200]!r}: {why}", fact=fact or name,
                                hint=hint or f'set [facts."{self.id}"] {name} to the path of a readable file')

    def read_host_attribute(self, path: str) -> Optional[str]:
        """A file of the probed tree outside the device's folder, ``path`` relative to its root, or ``None``.

        For what a driver publishes elsewhere: the PF's debugfs (``kernel/debug/dri/0000:03:00.0/...``),
        ``module/NAME/parameters/...``. The same confinement as :meth:`read_attribute`.
        """
        checked = self._host_path(path)
        return None if checked is None or self._sysfs is None else self._sysfs.read(checked)

    def list_host_attribute(self, path: str) -> List[str]:
        """The sorted entries of a folder of the probed tree, ``path`` relative to its root; empty if absent."""
        checked = self._host_path(path)
        return [] if checked is None or self._sysfs is None else self._sysfs.list_dir(checked)

    def _attribute_path(self, name: str) -> Optional[str]:
        _check_relative(name)
        if self._sysfs is None or self.path is None:
            return None
        return os.path.join(self.path, name)

    def _host_path(self, path: str) -> Optional[str]:
        _check_relative(path)
        return None if self._sysfs is None else path


def _read_regular_file(path: str, max_bytes: int) -> str:
    # O_NONBLOCK: opening a FIFO someone named must not wait for a writer; it is then refused.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ValueError("not a regular file")
        with open(descriptor, "rb", closefd=False) as handle:
            raw = handle.read(max_bytes + 1)
    finally:
        os.close(descriptor)
    if len(raw) > max_bytes:
        raise ValueError(f"larger than {max_bytes} bytes")
    return raw.decode("utf-8")


def _check_relative(name: str) -> None:
    parts = name.split("/")
    if not name or os.path.isabs(name) or any(p in ("", ".", "..") for p in parts) or "\0" in name:
        raise UsageError(f"attribute name {name!r} must be a plain path inside the probed tree,"
                         " relative to the device's folder or the root")


@dataclass(frozen=True)
class InventoryDevice:
    """A probed device, its device_version (from which plugin) and whether its driver can migrate.

    ``can_migrate`` is None when unknown (mdevs; variant drivers not in the table).
    ``migration_driver`` names the variant driver that migrates this function, when known.
    """

    device: HostDevice
    device_version: Optional[str]
    version_plugin: Optional[str] = None
    can_migrate: Optional[bool] = None
    migration_driver: Optional[str] = None
    reasons: Tuple[Reason, ...] = ()


@dataclass(frozen=True)
class Inventory:
    """One host's VFIO devices, and what could not be probed (``issues``)."""

    host: str
    devices: Tuple[InventoryDevice, ...]
    issues: Tuple[Reason, ...] = ()
    sysfs_root: Optional[str] = None


@dataclass(frozen=True)
class Target:
    """A device that may receive a migrated VM device, and how many it can receive."""

    device: InventoryDevice
    capacity: int


def targets(inventory: Inventory) -> Tuple[List[Target], List[InventoryDevice]]:
    """The devices that can receive a migration, and those that cannot (each with its reasons).

    A device cannot when it has no device_version, its driver cannot migrate, or it is an mdev
    type with no instance left.
    """
    usable: List[Target] = []
    excluded: List[InventoryDevice] = []
    for entry in inventory.devices:
        capacity = 1
        if entry.device.kind == "mdev_type":
            capacity = entry.device.available_instances or 0
        if entry.device_version is None or entry.can_migrate is False or capacity <= 0:
            excluded.append(entry)
        else:
            usable.append(Target(entry, capacity))
    return usable, excluded


# -- JSON ------------------------------------------------------------------------------------

_DEVICE_KEYS = ("kind", "address", "uuid", "parent", "vendor", "device", "subsystem_vendor", "subsystem_device",
                "driver", "iommu_group", "mdev_type", "mdev_type_name", "device_api", "available_instances", "path",
                "revision", "pci_class", "physfn", "vf_index", "driver_module")


def inventory_form(inventory: Inventory) -> Dict[str, Any]:
    """``vfiocompat probe --json`` (schemas/inventory.schema.json)."""
    from .._json_forms import reason_form

    devices = []
    for entry in inventory.devices:
        item: Dict[str, Any] = {"id": entry.device.id}
        item.update({key: getattr(entry.device, key) for key in _DEVICE_KEYS})
        item.update({
            "device_version": entry.device_version,
            "version_plugin": entry.version_plugin,
            "can_migrate": entry.can_migrate,
            "migration_driver": entry.migration_driver,
            "reasons": [reason_form(r) for r in entry.reasons],
        })
        devices.append(item)
    return {
        "schema_version": SCHEMA_VERSION,
        "host": inventory.host,
        "sysfs_root": inventory.sysfs_root,
        "devices": devices,
        "issues": [reason_form(r) for r in inventory.issues],
    }


def reason_from_form(data: Dict[str, Any]) -> Reason:
    """A :class:`Reason` from its JSON form (see :func:`vfiocompat._json_forms.reason_form`)."""
    rule = data.get("rule")
    ref = None
    if isinstance(rule, dict):
        ref = RuleRef(rule["plugin"], rule["table"], rule["rule"], rule["effect"], rule.get("source_url"))
    return Reason(data["code"], data["layer"], data["message"], data.get("field"), data.get("source_value"),
                  data.get("target_value"), data.get("hint"), ref, data.get("plugin"))


_validator: Any = None


def inventory_from_form(data: Any, origin: str = "<inventory>") -> Inventory:
    """An :class:`Inventory` from its JSON form, validated against the inventory schema first."""
    global _validator
    if _validator is None:
        from jsonschema import Draft202012Validator

        from .._schema import schema

        _validator = Draft202012Validator(schema("inventory"))
    error = next(iter(_validator.iter_errors(data)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise UsageError(f"{origin}: not an inventory document: at {where}: {error.message}")
    devices = []
    for item in data["devices"]:
        device = HostDevice(**{key: item.get(key) for key in _DEVICE_KEYS})
        devices.append(InventoryDevice(
            device, item.get("device_version"), item.get("version_plugin"), item.get("can_migrate"),
            item.get("migration_driver"), tuple(reason_from_form(r) for r in item.get("reasons", ())),
        ))
    issues = tuple(reason_from_form(r) for r in data.get("issues", ()))
    return Inventory(data["host"], tuple(devices), issues, data.get("sysfs_root"))


def load_inventories(paths: Sequence[str]) -> List[Inventory]:
    """Read inventory files: each holds one inventory document or a JSON array of them.

    Each host must have a host name (see :func:`vfiocompat.host.labels.host_name_problem`) and
    appear once: a second document for the same host (names compared ignoring case, as DNS does)
    is refused with both places named, never merged or silently preferred.
    """
    from .labels import host_name_problem

    inventories: List[Inventory] = []
    seen: Dict[str, str] = {}
    for path in paths:
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_INVENTORY_BYTES + 1)
        except OSError as error:
            raise UsageError(f"{path}: cannot read inventory: {error.strerror or error}") from None
        if len(raw) > MAX_INVENTORY_BYTES:
            raise LimitError(f"{path}: inventory file larger than {MAX_INVENTORY_BYTES} bytes")
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as error:
            raise UsageError(f"{path}: not a JSON inventory: {error}") from None
        documents = data if isinstance(data, list) else [data]
        for index, document in enumerate(documents):
            origin = path if not isinstance(data, list) else f"{path}[{index}]"
            inventory = inventory_from_form(document, origin)
            problem = host_name_problem(inventory.host)
            if problem is not None:
                raise UsageError(f"{origin}: host name {inventory.host!r} {problem}")
            first = seen.get(inventory.host.lower())
            if first is not None:
                raise UsageError(f"host {inventory.host!r} has two inventories: {first} and {origin}; give each"
                                 " host once")
            seen[inventory.host.lower()] = origin
            inventories.append(inventory)
    return inventories
