"""The hisi-acc plugin on a probed host: examples/sysfs/hisi-acc, with and without the operator's facts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import vfiocompat
from vfiocompat.host.inventory import HostDevice, Inventory
from vfiocompat.host.probe import device_version_of
from vfiocompat.testing import (
    assert_compatible,
    assert_fixture_probes_as_expected,
    assert_refused,
    copy_fixture,
    fixture_expectation,
    fixture_facts,
    inventory_entry,
    load_registry,
    probe_fixture,
    requires_plugin,
    with_facts,
)

host_device = pytest.importorskip("vfiocompat_hisi_acc.host_device", reason="install plugins/vfiocompat-hisi-acc")

PLUGIN = "hisi-acc"
FIXTURE = Path(__file__).resolve().parents[3] / "examples" / "sysfs" / "hisi-acc"
V1 = "0xcdcdcdcdfeedaacc"
V2 = "0xaaccfeeddecadede"
MIGRATABLE = ("pci:0000:75:00.1", "pci:0000:75:00.2")
VF1 = MIGRATABLE[0]

pytestmark = requires_plugin(PLUGIN)


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return load_registry(PLUGIN)


@pytest.fixture(scope="module")
def bare(registry: vfiocompat.Registry) -> Inventory:
    return probe_fixture(registry, FIXTURE)


@pytest.fixture(scope="module")
def vf1(bare: Inventory) -> HostDevice:
    return inventory_entry(bare, VF1).device


def _ask(registry: vfiocompat.Registry, device: HostDevice) -> Any:
    return device_version_of(device, registry.probe_hooks)


def test_probe_without_facts_gives_exactly_expected_json_and_its_pairs(registry: vfiocompat.Registry) -> None:
    inventory = assert_fixture_probes_as_expected(registry, FIXTURE)
    assert {e.device.id for e in inventory.devices} == {*MIGRATABLE, "pci:0000:75:00.3", "pci:0000:79:00.1"}
    assert fixture_expectation(FIXTURE).pairs, "expected.json states pairs"


@pytest.mark.parametrize("device_id", MIGRATABLE)
def test_migratable_vf_without_facts_is_refused_with_vc608(bare: Inventory, device_id: str) -> None:
    entry = inventory_entry(bare, device_id)
    mine = [r for r in entry.reasons if r.plugin == PLUGIN]
    assert [(r.code, r.layer, r.field) for r in mine] == [("VC608", "host", "acc_magic")]
    for fact in ("acc_magic", "qp_num", "que_iso_cfg"):
        assert fact in mine[0].message
    assert mine[0].hint is not None and f'[facts."{device_id}"]' in mine[0].hint


def test_plain_vfio_pci_vf_and_old_qm_vf_get_no_device_version_and_no_plugin_reason(bare: Inventory) -> None:
    plain = inventory_entry(bare, "pci:0000:75:00.3")
    assert plain.can_migrate is False and plain.reasons[0].code == "VC601"
    old_qm = inventory_entry(bare, "pci:0000:79:00.1")
    assert old_qm.device.driver == "hisi_acc_vfio_pci"
    assert old_qm.device.read_attribute("physfn/revision") == "0x21"
    assert [r.code for r in old_qm.reasons] == ["VC602"]
    assert not any(r.plugin == PLUGIN for e in (plain, old_qm) for r in e.reasons)


def test_probe_with_the_fixture_config_gives_expected_config_json(registry: vfiocompat.Registry) -> None:
    inventory = assert_fixture_probes_as_expected(registry, FIXTURE, config=True)
    assert {e.device.id: e.version_plugin for e in inventory.devices if e.device_version} == dict.fromkeys(
        MIGRATABLE, PLUGIN)


def test_every_fixture_device_version_is_compatible_with_itself(registry: vfiocompat.Registry) -> None:
    versions = set(fixture_expectation(FIXTURE, config=True).devices.values())
    versions |= {side for p in fixture_expectation(FIXTURE).pairs for side in (p.source, p.target)}
    for version in sorted(versions):
        assert_compatible(registry, version, version)


def test_old_driver_to_new_driver_migrates_and_not_back(registry: vfiocompat.Registry, bare: Inventory,
                                                        vf1: HostDevice) -> None:
    facts = dict(fixture_facts(FIXTURE)[VF1])
    new, _, _ = _ask(registry, with_facts(vf1, facts))
    old_facts = {k: v for k, v in facts.items() if k != "major_ver"}
    old_facts["acc_magic"] = V1
    old, _, _ = _ask(registry, with_facts(inventory_entry(bare, "pci:0000:75:00.2").device, old_facts))
    assert old is not None and new is not None and "major_ver" not in old
    assert_compatible(registry, old, new, rule="v1-stream")
    assert_refused(registry, new, old, code="HISI_ACC_DEV_MAGIC")


def test_dev_id_comes_from_sysfs_not_from_facts(registry: vfiocompat.Registry, vf1: HostDevice) -> None:
    version, _, _ = _ask(registry, with_facts(vf1, fixture_facts(FIXTURE)[VF1], dev_id="0xa256"))
    assert version is not None and ";dev_id=0xa251;" in version


@pytest.mark.parametrize("missing", ["acc_magic", "major_ver", "qp_num", "que_iso_cfg"])
def test_a_missing_fact_is_refused_with_vc608_naming_it(
    registry: vfiocompat.Registry, vf1: HostDevice, missing: str
) -> None:
    facts = {k: v for k, v in fixture_facts(FIXTURE)[VF1].items() if k != missing}
    version, plugin, reasons = _ask(registry, with_facts(vf1, facts))
    assert (version, plugin) == (None, None)
    assert [(r.code, r.field, r.plugin) for r in reasons] == [("VC608", missing, PLUGIN)]


@pytest.mark.parametrize(("fact", "value"), [
    ("acc_magic", "0x1234"),            # not a magic any driver writes
    ("acc_magic", "cdcdcdcdfeedaacc"),  # hex without 0x
    ("major_ver", "-1"),
    ("major_ver", "65536"),
    ("qp_num", "0"),                    # the VFT count is at least 1
    ("qp_num", "1025"),                 # and at most 1024
    ("qp_num", "0x40"),                 # decimal only
    ("que_iso_cfg", "0x100000000"),     # a 32-bit register
    ("que_iso_cfg", "1"),
])
def test_a_malformed_fact_is_refused_with_vc608_naming_it(
    registry: vfiocompat.Registry, vf1: HostDevice, fact: str, value: str
) -> None:
    version, _, reasons = _ask(registry, with_facts(vf1, fixture_facts(FIXTURE)[VF1], **{fact: value}))
    assert version is None
    assert [(r.code, r.field) for r in reasons] == [("VC608", fact)]
    assert repr(value) in reasons[0].message


def test_a_v1_driver_with_a_major_version_is_refused(registry: vfiocompat.Registry, vf1: HostDevice) -> None:
    version, _, reasons = _ask(registry, with_facts(vf1, fixture_facts(FIXTURE)[VF1], acc_magic=V1))
    assert version is None and [(r.code, r.field) for r in reasons] == [("VC608", "major_ver")]


def test_facts_are_canonicalised(registry: vfiocompat.Registry, vf1: HostDevice) -> None:
    facts = {"acc_magic": " 0xAACCFEEDDECADEDE ", "major_ver": "1", "qp_num": "064", "que_iso_cfg": "0x00000001"}
    version, _, _ = _ask(registry, with_facts(vf1, facts))
    assert version == f"0x19e5:1:acc_magic={V2};major_ver=1;dev_id=0xa251;qp_num=64;que_iso_cfg=0x1"


def _copy(tmp_path: Path) -> Path:
    """The sysfs root of a copy of the fixture."""
    return copy_fixture(FIXTURE, tmp_path) / "sys"


def _probe_one(registry: vfiocompat.Registry, root: Path, device_id: str) -> Any:
    """What probe of the copy ``root`` says of ``device_id`` given the fixture's config facts."""
    device = inventory_entry(probe_fixture(registry, root.parent), device_id).device
    return _ask(registry, with_facts(device, fixture_facts(FIXTURE)[device_id]))


def test_vf_whose_pf_driver_is_unbound_has_no_migration(registry: vfiocompat.Registry, tmp_path: Path) -> None:
    root = _copy(tmp_path)
    os.unlink(root / "devices" / "pci0000:75" / "0000:75:00.0" / "driver")
    version, _, reasons = _probe_one(registry, root, "pci:0000:75:00.1")
    assert version is None and [r.code for r in reasons] == ["VC602"]


def test_unreadable_pf_revision_is_a_missing_fact(registry: vfiocompat.Registry, tmp_path: Path) -> None:
    root = _copy(tmp_path)
    os.unlink(root / "devices" / "pci0000:75" / "0000:75:00.0" / "revision")
    version, _, reasons = _probe_one(registry, root, "pci:0000:75:00.1")
    assert version is None and [(r.code, r.field) for r in reasons] == [("VC608", "physfn/revision")]


def test_qm_v3_revision_is_the_threshold(registry: vfiocompat.Registry, tmp_path: Path) -> None:
    root = _copy(tmp_path)
    (root / "devices" / "pci0000:75" / "0000:75:00.0" / "revision").write_text("0x2f\n")
    assert _probe_one(registry, root, "pci:0000:75:00.1")[0] is None
    (root / "devices" / "pci0000:75" / "0000:75:00.0" / "revision").write_text("0x50\n")  # QM_HW_V4
    assert _probe_one(registry, root, "pci:0000:75:00.1")[0] is not None


@pytest.mark.parametrize("device", [
    HostDevice("pci", address="0000:3b:00.1", vendor="0x8086", device="0x4941", driver="qat_vfio_pci"),
    HostDevice("pci", address="0000:75:00.0", vendor="0x19e5", device="0xa250", driver="hisi_zip"),
    HostDevice("pci", address="0000:75:00.3", vendor="0x19e5", device="0xa251", driver="vfio-pci"),
    HostDevice("mdev", uuid="c5d8f3a0-0000-4000-8000-000000000001", parent="0000:75:00.1",
               vendor="0x19e5", device="0xa251"),
    HostDevice("mdev_type", parent="0000:75:00.1", mdev_type="x-1", vendor="0x19e5", device="0xa251"),
])
def test_devices_that_are_not_ours_get_none(device: HostDevice) -> None:
    facts = {"acc_magic": V2, "major_ver": "1", "qp_num": "8", "que_iso_cfg": "0x0"}
    assert host_device.device_version(with_facts(device, facts)) is None
