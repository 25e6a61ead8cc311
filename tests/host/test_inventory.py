"""vfiocompat.host.inventory: devices as values, their JSON form, loading it back, and which can receive."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

import jsonschema
import pytest

from vfiocompat._json_forms import reason_form
from vfiocompat._verdict import Reason, RuleRef
from vfiocompat.errors import DeviceFactMissing, LimitError, UsageError
from vfiocompat.host import inventory as inv
from vfiocompat.host.inventory import (
    HostDevice,
    Inventory,
    InventoryDevice,
    inventory_form,
    inventory_from_form,
    load_inventories,
    reason_from_form,
    targets,
)
from vfiocompat.host.probe import probe
from vfiocompat.host.sysfs import SysfsEscape, SysfsRoot

from . import sysfs_fixtures as fx

UUID = "4b20d080-1b54-4048-85b3-a6a62d165c01"


def _entry(kind: str = "pci", version: Any = "0xfffd:1:model=a;fw=1", can_migrate: Any = True,
           instances: Any = None, **ids: Any) -> InventoryDevice:
    if kind == "pci":
        device = HostDevice("pci", address=ids.get("address", "0000:01:00.0"), vendor="0xfffd", device="0x0001")
    elif kind == "mdev":
        device = HostDevice("mdev", uuid=UUID, parent="0000:00:02.0", mdev_type="t")
    else:
        device = HostDevice("mdev_type", parent="0000:00:02.0", mdev_type=ids.get("type", "t"),
                            available_instances=instances)
    return InventoryDevice(device, version, "testvendor", can_migrate)


def test_device_ids() -> None:
    assert HostDevice("pci", address="0000:3b:00.1").id == "pci:0000:3b:00.1"
    assert HostDevice("mdev", uuid=UUID).id == f"mdev:{UUID}"
    assert HostDevice("mdev_type", parent="0000:00:02.0", mdev_type="i915-GVTg_V5_4").id == \
        "mdev_type:0000:00:02.0/i915-GVTg_V5_4"


def test_targets_excludes_what_cannot_receive() -> None:
    usable = [_entry(address="0000:01:00.0"), _entry(can_migrate=None, address="0000:01:00.1"),
              _entry("mdev_type", instances=3, can_migrate=None)]
    unusable = [_entry(version=None, address="0000:01:00.2"), _entry(can_migrate=False, address="0000:01:00.3"),
                _entry("mdev_type", instances=0, type="full"), _entry("mdev_type", instances=None, type="unknown")]
    got, excluded = targets(Inventory("h", tuple(usable + unusable)))
    assert [t.device for t in got] == usable
    assert [t.capacity for t in got] == [1, 1, 3], "an mdev type offers its available instances"
    assert excluded == unusable


def _reason_with_rule() -> Reason:
    return Reason("TV_FW_ERRATA", "table", "fw 2.5 is broken", "fw", "2.0", "2.5", "update",
                  RuleRef("testvendor", "testvendor", "fw-2-5-broken", "deny", "https://example.com/e"), "testvendor")


def test_reason_round_trips_through_its_form() -> None:
    for reason in (_reason_with_rule(), Reason("VC601", "host", "bound to vfio-pci")):
        assert reason_from_form(json.loads(json.dumps(reason_form(reason)))) == reason


def test_hand_built_inventory_round_trips_and_matches_schema() -> None:
    entries = (
        InventoryDevice(HostDevice("pci", address="0000:3b:00.2", vendor="0x8086", device="0x4941",
                                   driver="vfio-pci", iommu_group="7", path="devices/x"),
                        None, None, False, "qat_vfio_pci", (Reason("VC601", "host", "plain vfio-pci"),)),
        InventoryDevice(HostDevice("mdev_type", parent="0000:00:02.0", mdev_type="t", mdev_type_name="T",
                                   device_api="vfio-pci", available_instances=2), fx.dv("w", "1"), "testvendor",
                        None, None, (_reason_with_rule(),)),
    )
    inventory = Inventory("node-1", entries, (Reason("VC603", "host", "escape"),), "/sys")
    form = inventory_form(inventory)
    jsonschema.Draft202012Validator(fx.load_schema("inventory")).validate(form)
    assert [d["id"] for d in form["devices"]] == ["pci:0000:3b:00.2", "mdev_type:0000:00:02.0/t"]
    assert form["schema_version"] == inv.SCHEMA_VERSION == 1
    assert inventory_from_form(json.loads(json.dumps(form))) == inventory


def test_inventory_json_matches_schema_and_round_trips(tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci("0000:3b:00.1", "0xfffd", "0x0001", attrs={"tv_model": "w1", "tv_fw": "1.2"})
    fs.add_pci("0000:3b:00.2", "0x8086", "0x4941")
    fs.add_mdev_parent("0000:00:02.0", "0xfffd", "0x0002", {"tv-w2": ("W2 slice", 3, {"tv_model": "w2",
                                                                                       "tv_fw": "2.0"})})
    fs.add_mdev("0000:00:02.0", UUID, "tv-w2")
    inventory = probe(str(fs.root), fx.registry(tmp_path), host="h1")
    form = inventory_form(inventory)
    jsonschema.Draft202012Validator(fx.load_schema("inventory")).validate(form)
    again = inventory_from_form(json.loads(json.dumps(form)))
    assert inventory_form(again) == form
    form["devices"][0]["kind"] = "usb"
    with pytest.raises(UsageError, match="not an inventory document"):
        inventory_from_form(form, "x.json")


@pytest.mark.parametrize(("change", "where"), [
    (lambda f: f.pop("host"), "(top level)"),
    (lambda f: f.update(schema_version=2), "schema_version"),
    (lambda f: f["devices"][0].update(vendor="8086"), "devices/0/vendor"),
    (lambda f: f["devices"][0].update(extra=1), "devices/0"),
    (lambda f: f["devices"][0].update(available_instances=-1), "devices/0/available_instances"),
])
def test_invalid_documents_say_where(change: Any, where: str) -> None:
    form = inventory_form(Inventory("h", (_entry(),)))
    change(form)
    with pytest.raises(UsageError) as caught:
        inventory_from_form(form, "fleet.json")
    assert caught.value.message.startswith(f"fleet.json: not an inventory document: at {where}:")


@pytest.mark.parametrize("data", [None, [], "text", 1])
def test_non_objects_are_not_inventories(data: Any) -> None:
    with pytest.raises(UsageError, match="not an inventory document"):
        inventory_from_form(data)


def _write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_load_inventories_reads_documents_and_arrays(tmp_path: Path) -> None:
    a = Inventory("a", (_entry(),))
    b = Inventory("b", ())
    c = Inventory("c", (_entry("mdev"),))
    single = _write(tmp_path / "a.json", inventory_form(a))
    fleet = _write(tmp_path / "fleet.json", [inventory_form(b), inventory_form(c)])
    assert load_inventories([single, fleet]) == [a, b, c]
    assert load_inventories([]) == []


def test_load_inventories_names_the_array_index(tmp_path: Path) -> None:
    bad: Dict[str, Any] = inventory_form(Inventory("b", ()))
    bad["host"] = ""
    path = _write(tmp_path / "fleet.json", [inventory_form(Inventory("a", ())), bad])
    with pytest.raises(UsageError, match=r"fleet\.json\[1\]: not an inventory document: at host"):
        load_inventories([path])


def test_load_inventories_refuses_unreadable_and_non_json(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read inventory"):
        load_inventories([str(tmp_path / "missing.json")])
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UsageError, match="not a JSON inventory"):
        load_inventories([str(tmp_path / "bad.json")])
    (tmp_path / "latin.json").write_bytes(b'{"host": "\xe9"}')
    with pytest.raises(UsageError, match="not a JSON inventory"):
        load_inventories([str(tmp_path / "latin.json")])


def test_load_inventories_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "big.json", inventory_form(Inventory("a", (_entry(),))))
    monkeypatch.setattr(inv, "MAX_INVENTORY_BYTES", os.path.getsize(path) - 1)
    with pytest.raises(LimitError, match="larger than") as caught:
        load_inventories([path])
    assert caught.value.code == "VC507"
    monkeypatch.setattr(inv, "MAX_INVENTORY_BYTES", os.path.getsize(path))
    assert len(load_inventories([path])) == 1


# -- HostDevice.read_attribute ----------------------------------------------------------------------


@pytest.fixture()
def device(tmp_path: Path) -> HostDevice:
    root = tmp_path / "sys"
    (root / "devices" / "dev0" / "sub").mkdir(parents=True)
    (root / "devices" / "dev0" / "tv_fw").write_text("1.2\n")
    (root / "devices" / "dev0" / "sub" / "x").write_text("deep\n")
    (tmp_path / "secret").write_text("s3cret\n")
    os.symlink(tmp_path / "secret", root / "devices" / "dev0" / "leak")
    return HostDevice("pci", address="0000:01:00.0", path="devices/dev0", _sysfs=SysfsRoot(str(root)))


def test_read_attribute_reads_inside_the_device_folder(device: HostDevice) -> None:
    assert device.read_attribute("tv_fw") == "1.2"
    assert device.read_attribute("sub/x") == "deep"
    assert device.read_attribute("absent") is None
    with pytest.raises(SysfsEscape):
        device.read_attribute("leak")


@pytest.mark.parametrize("name", ["", "/etc/passwd", "../dev1/vendor", "sub/../../x", "./tv_fw", "sub//x", "a\0b",
                                  "sub/"])
def test_read_attribute_refuses_names_that_are_not_plain(name: str, device: HostDevice) -> None:
    with pytest.raises(UsageError, match="must be a plain path"):
        device.read_attribute(name)


def test_loaded_device_has_no_sysfs_but_still_checks_names() -> None:
    loaded = inventory_from_form(inventory_form(Inventory("h", (_entry(),)))).devices[0].device
    assert loaded.read_attribute("vendor") is None
    with pytest.raises(UsageError):
        loaded.read_attribute("../vendor")


def test_sysfs_handle_is_not_part_of_equality(device: HostDevice) -> None:
    twin = HostDevice("pci", address="0000:01:00.0", path="devices/dev0")
    assert twin == device and hash(twin) == hash(device)
    assert "_sysfs" not in repr(device)


# -- the fields real hosts add (schema_version stays 1: they are optional) ----------------------------


def test_sriov_and_module_fields_round_trip_and_match_schema() -> None:
    device = HostDevice("pci", address="0000:3b:00.2", vendor="0x15b3", device="0x101e", revision="0x00",
                        pci_class="0x020000", physfn="0000:3b:00.0", vf_index=0, driver="mlx5_vfio_pci",
                        driver_module="mlx5_vfio_pci")
    form = inventory_form(Inventory("h", (InventoryDevice(device, None, None, True),)))
    jsonschema.Draft202012Validator(fx.load_schema("inventory")).validate(form)
    item = form["devices"][0]
    assert (item["revision"], item["pci_class"], item["physfn"], item["vf_index"], item["driver_module"]) == (
        "0x00", "0x020000", "0000:3b:00.0", 0, "mlx5_vfio_pci")
    assert inventory_from_form(json.loads(json.dumps(form))).devices[0].device == device


def test_documents_from_before_the_new_fields_still_load() -> None:
    form = inventory_form(Inventory("h", (_entry(),)))
    for key in ("revision", "pci_class", "physfn", "vf_index", "driver_module"):
        del form["devices"][0][key]
    loaded = inventory_from_form(form).devices[0].device
    assert (loaded.revision, loaded.pci_class, loaded.physfn, loaded.vf_index, loaded.driver_module) == (None,) * 5


@pytest.mark.parametrize(("key", "value"), [("revision", "0x1"), ("revision", "1"), ("pci_class", "0x0200"),
                                            ("vf_index", -1), ("vf_index", 65536), ("vf_index", "3")])
def test_new_fields_are_validated(key: str, value: Any) -> None:
    form = inventory_form(Inventory("h", (_entry(),)))
    form["devices"][0][key] = value
    with pytest.raises(UsageError, match=f"at devices/0/{key}:"):
        inventory_from_form(form, "x.json")


def test_facts_are_not_part_of_equality_nor_of_the_form() -> None:
    plain = HostDevice("pci", address="0000:01:00.0")
    with_facts = HostDevice("pci", address="0000:01:00.0", facts={"fw": "1"})
    assert plain == with_facts and with_facts.fact("fw") == "1" and plain.fact("fw") is None
    assert "facts" not in inventory_form(Inventory("h", (InventoryDevice(with_facts, None),)))["devices"][0]


def test_list_attribute_and_link_name_stay_inside(device: HostDevice, tmp_path: Path) -> None:
    root = tmp_path / "sys"
    (root / "devices" / "pf").mkdir()
    (root / "devices" / "pf" / "device").write_text("0x101d\n")
    os.symlink("../pf", root / "devices" / "dev0" / "physfn")
    assert device.list_attribute("sub") == ["x"] and device.list_attribute("absent") == []
    assert device.link_name("physfn") == "pf" and device.link_name("tv_fw") is None
    assert device.read_attribute("physfn/device") == "0x101d"
    with pytest.raises(SysfsEscape):
        device.link_name("leak")


# -- read_fact_file: a file an operator's fact names ------------------------------------------------


def _named(path: Any) -> HostDevice:
    return HostDevice("pci", address="0000:3b:00.2", facts={"saved_json": str(path)})


def test_read_fact_file_reads_the_named_file_and_none_without_the_fact(tmp_path: Path) -> None:
    saved = tmp_path / "ports.json"
    saved.write_bytes('{"port": "é"}\n'.encode())
    assert _named(saved).read_fact_file("saved_json", 64) == '{"port": "é"}\n'
    assert HostDevice("pci", address="0000:3b:00.2").read_fact_file("saved_json", 64) is None
    saved.write_bytes(b"x" * 64)
    assert _named(saved).read_fact_file("saved_json", 64) == "x" * 64, "exactly the bound is read"


def _fifo(tmp_path: Path) -> Path:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return fifo


@pytest.mark.parametrize(("make", "why"), [
    (lambda tmp: tmp / "absent.json", "No such file or directory"),
    (lambda tmp: tmp, "not a regular file"),  # a directory opens read-only; fstat tells
    (_fifo, "not a regular file"),  # opened without blocking, then refused: no writer is waited for
    (lambda tmp: Path("/dev/zero"), "not a regular file"),
    (lambda tmp: (tmp / "big.json").write_bytes(b"x" * 65) and tmp / "big.json", "larger than 64 bytes"),
    (lambda tmp: (tmp / "latin1.json").write_bytes(b"caf\xe9") and tmp / "latin1.json", "not UTF-8 text (byte 3)"),
], ids=["missing", "directory", "fifo", "device", "too-large", "not-utf8"])
def test_read_fact_file_refuses_what_it_cannot_use_as_a_missing_fact(tmp_path: Path, make: Any, why: str) -> None:
    path = make(tmp_path)
    with pytest.raises(DeviceFactMissing) as raised:
        _named(path).read_fact_file("saved_json", 64, fact="migratable", hint="save `devlink -j port show`")
    assert raised.value.fact == "migratable" and raised.value.hint == "save `devlink -j port show`"
    assert str(raised.value) == f"pci:0000:3b:00.2: cannot use saved_json {str(path)!r}: {why}"


def test_read_fact_file_defaults_to_the_fact_it_reads(tmp_path: Path) -> None:
    with pytest.raises(DeviceFactMissing) as raised:
        _named(tmp_path / "absent").read_fact_file("saved_json", 64)
    assert raised.value.fact == "saved_json"
    assert raised.value.hint is not None and '[facts."pci:0000:3b:00.2"] saved_json' in raised.value.hint
