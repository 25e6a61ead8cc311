"""The installed vfiocompat-pds plugin: its table, and probing the pds sysfs fixture end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest

import vfiocompat
from vfiocompat.host.inventory import HostDevice, Inventory
from vfiocompat.testing import (
    assert_compatible,
    assert_examples_decide_every_rule,
    assert_examples_pass,
    assert_fixture_probes_as_expected,
    assert_installed_from_tree,
    assert_refused,
    copy_fixture,
    device_versions,
    inventory_entry,
    load_registry,
    probe_fixture,
    requires_plugin,
    with_facts,
)

DISTRIBUTION = "vfiocompat-pds"
PLUGIN = "pds"
TABLE_ID = "pds-vf"
HERE = Path(__file__).resolve().parent
TREE_PACKAGE = HERE.parent / "vfiocompat_pds"
FIXTURE = HERE.parents[2] / "examples" / "sysfs" / "pds"
VF0, VF1, PLAIN = "pci:0000:b5:00.1", "pci:0000:b5:00.2", "pci:0000:b5:00.3"
FACTS = {"fw_version": "1.60.0-73", "asic_id": "0x0", "asic_rev": "0x0"}
#: What the fixture gives a VF once the PF's devlink info is known.
KNOWN = "0x1dd8:1:pds=vf;dev=1003;ssvid=1dd8;ssdev=5008;pfdev=100c;pfrev=0x00;asic=0x0;asicrev=0x0;fw=1.60.0-73"

pytestmark = requires_plugin(PLUGIN)


def pds(**keys: str) -> str:
    """KNOWN with ``keys`` replaced."""
    values = dict(item.split("=", 1) for item in KNOWN.split(":", 2)[2].split(";")[1:])
    values.update(keys)
    return "0x1dd8:1:pds=vf;" + ";".join(f"{k}={v}" for k, v in values.items())


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return load_registry(PLUGIN)


@pytest.fixture(scope="module")
def inventory(registry: vfiocompat.Registry) -> Inventory:
    return probe_fixture(registry, FIXTURE)


def vf(inventory: Inventory, device_id: str) -> HostDevice:
    return inventory_entry(inventory, device_id).device


def version_of(device: HostDevice) -> Any:
    import vfiocompat_pds

    return vfiocompat_pds.vfiocompat_device_version(device)


def devlink_info(fw: Any = "1.60.0-73", driver: str = "pds_core") -> Dict[str, Any]:
    """`devlink -j dev info` as iproute2 prints it for the fixture's PF."""
    running: Dict[str, Any] = {} if fw is None else {"fw": fw}
    return {"info": {"pci/0000:b5:00.0": {
        "driver": driver, "serial_number": "FLM00000000",
        "versions": {"fixed": {"asic.id": "0x0", "asic.rev": "0x0"}, "running": running,
                     "stored": {"fw.goldfw": "1.51.0-57", "fw.mainfwa": "1.60.0-73", "fw.mainfwb": "1.59.0-12"}}}}}


# -- installation and table -------------------------------------------------------------------------


def test_entry_point_names_the_package_installed_as_in_the_tree() -> None:
    assert_installed_from_tree(PLUGIN, TREE_PACKAGE, distribution=DISTRIBUTION)


def test_examples_pass_and_decide_every_rule(registry: vfiocompat.Registry) -> None:
    outcomes = assert_examples_pass(registry, table=TABLE_ID)
    assert {o.example.compatible for o in outcomes} == {True, False}
    assert_examples_decide_every_rule(registry, table=TABLE_ID)


@pytest.mark.parametrize(
    ("source", "target", "code"),
    [
        (pds(), pds(fw="1.68.0-58"), "PDS_FW_MISMATCH"),
        (pds(fw="1.68.0-58"), pds(), "PDS_FW_MISMATCH"),
        (pds(), pds(ssdev="500a"), "PDS_BOARD_MISMATCH"),
        (pds(), pds(asic="0x1"), "PDS_ASIC_MISMATCH"),
        (pds(), pds(pfrev="0x01"), "PDS_ASIC_MISMATCH"),
        (pds(pfdev="1002"), pds(pfdev="1002"), "PDS_PF_NOT_CORE"),
    ],
    ids=["fw-older-to-newer", "fw-newer-to-older", "board", "asic", "pf-revision", "ionic-pf"],
)
def test_only_identical_devices_are_admitted(registry: vfiocompat.Registry, source: str, target: str,
                                             code: str) -> None:
    verdict = assert_refused(registry, source, target, code=code)
    assert verdict.reasons[0].plugin == PLUGIN


# -- the sysfs fixture ------------------------------------------------------------------------------


def test_probe_gives_exactly_the_fixture_expectation_and_its_pairs(registry: vfiocompat.Registry) -> None:
    inventory = assert_fixture_probes_as_expected(registry, FIXTURE)
    assert [e.device.id for e in inventory.devices] == [VF0, VF1, PLAIN]


def test_without_devlink_facts_probe_refuses_with_vc608(inventory: Inventory) -> None:
    for device_id in (VF0, VF1):
        found = inventory_entry(inventory, device_id)
        assert found.device_version is None and found.can_migrate is True
        missing = [r for r in found.reasons if r.code == "VC608"]
        assert len(missing) == 1 and missing[0].layer == "host" and missing[0].plugin == PLUGIN
        assert missing[0].field == "fw_version"
        assert missing[0].hint is not None and "devlink_info_json" in missing[0].hint


def test_vf_on_plain_vfio_pci_is_not_served(inventory: Inventory) -> None:
    plain = inventory_entry(inventory, PLAIN)
    assert version_of(plain.device) is None
    assert [r.code for r in plain.reasons] == ["VC601", "VC602"]


def test_facts_complete_the_device_version(inventory: Inventory, registry: vfiocompat.Registry) -> None:
    versions = [version_of(with_facts(vf(inventory, d), FACTS)) for d in (VF0, VF1)]
    assert versions == [KNOWN, KNOWN]
    assert_compatible(registry, versions[0], versions[1], rule="pds-vf-identical-device")


def test_devlink_info_json_file(inventory: Inventory, registry: vfiocompat.Registry, tmp_path: Path) -> None:
    saved = tmp_path / "info.json"
    saved.write_text(json.dumps(devlink_info()))
    assert version_of(with_facts(vf(inventory, VF0), devlink_info_json=str(saved))) == KNOWN
    newer = version_of(with_facts(vf(inventory, VF1), devlink_info_json=str(saved), fw_version="1.68.0-58"))
    assert newer == pds(fw="1.68.0-58")
    assert_refused(registry, KNOWN, newer, code="PDS_FW_MISMATCH")


@pytest.mark.parametrize(
    ("content", "fact"),
    [
        (json.dumps(devlink_info(fw=None)), "fw_version"),
        (json.dumps(devlink_info(fw=7)), "devlink_info_json"),
        (json.dumps(devlink_info(driver="ionic")), "devlink_info_json"),
        (json.dumps({"info": {"pci/0000:c1:00.0": {}}}), "devlink_info_json"),
        ("[1, 2", "devlink_info_json"),
        (json.dumps(devlink_info(fw="1.60.0 73")), "fw_version"),
    ],
    ids=["no-running-fw", "fw-not-text", "other-driver", "pf-not-listed", "not-json", "fw-with-space"],
)
def test_unusable_devlink_output_fails_closed(inventory: Inventory, tmp_path: Path, content: str, fact: str) -> None:
    saved = tmp_path / "info.json"
    saved.write_text(content)
    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        version_of(with_facts(vf(inventory, VF0), devlink_info_json=str(saved)))
    assert raised.value.fact == fact


@pytest.mark.parametrize(("name", "says"), [("absent.json", "No such file"), (".", "not a regular file")])
def test_unusable_devlink_file_fails_closed(inventory: Inventory, tmp_path: Path, name: str, says: str) -> None:
    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        version_of(with_facts(vf(inventory, VF0), devlink_info_json=str(tmp_path / name)))
    assert raised.value.fact == "devlink_info_json" and "cannot use devlink_info_json" in raised.value.message
    assert says in raised.value.message and raised.value.hint is not None and "devlink" in raised.value.hint


def test_pf_not_on_pds_core_is_refused(registry: vfiocompat.Registry, tmp_path: Path) -> None:
    copy = copy_fixture(FIXTURE, tmp_path)
    (copy / "sys/devices/pci0000:b4/0000:b4:01.0/0000:b5:00.0/driver").unlink()
    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        version_of(with_facts(vf(probe_fixture(registry, copy), VF0), FACTS))
    assert raised.value.fact == "pf_driver"


def test_devices_of_others_are_not_served() -> None:
    assert version_of(HostDevice("pci", address="0000:3b:00.2", vendor="0x15b3", device="0x101e",
                                 driver="mlx5_vfio_pci")) is None
    assert version_of(HostDevice("pci", address="0000:b5:00.1", vendor="0x1dd8", device="0x1003",
                                 driver="ionic")) is None


def test_probe_with_the_fixture_config_facts(registry: vfiocompat.Registry) -> None:
    inventory = assert_fixture_probes_as_expected(registry, FIXTURE, config=True)
    assert device_versions(inventory) == {VF0: KNOWN, VF1: KNOWN}
