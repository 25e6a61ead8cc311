"""The installed vfiocompat-mlx5 plugin: its table, and probing the mlx5 sysfs fixture end to end."""

from __future__ import annotations

import dataclasses
import json
import shutil
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

DISTRIBUTION = "vfiocompat-mlx5"
PLUGIN = "mlx5"
TABLE_ID = "mlx5-vf"
HERE = Path(__file__).resolve().parent
TREE_PACKAGE = HERE.parent / "vfiocompat_mlx5"
FIXTURE = HERE.parents[2] / "examples" / "sysfs" / "mlx5"
VF0, VF1, PLAIN = "pci:0000:3b:00.2", "pci:0000:3b:00.3", "pci:0000:3b:00.4"
#: What the fixture's adapter gives a VF once its migratable attribute is known.
ENABLED = "0x15b3:1:mlx5=vf;dev=101e;psid=MT_0000000838;fw=28.41.1000;migratable=enable"

pytestmark = requires_plugin(PLUGIN)


def mlx5(**keys: str) -> str:
    """A device_version of the fixture's adapter with ``keys`` replaced."""
    values = {"dev": "101e", "psid": "MT_0000000838", "fw": "28.41.1000", "migratable": "enable", **keys}
    return "0x15b3:1:mlx5=vf;" + ";".join(f"{k}={v}" for k, v in values.items())


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return load_registry(PLUGIN)


@pytest.fixture(scope="module")
def inventory(registry: vfiocompat.Registry) -> Inventory:
    return probe_fixture(registry, FIXTURE)


def vf(inventory: Inventory, device_id: str) -> HostDevice:
    return inventory_entry(inventory, device_id).device


def version_of(device: HostDevice) -> Any:
    import vfiocompat_mlx5

    return vfiocompat_mlx5.vfiocompat_device_version(device)


# -- installation and table -------------------------------------------------------------------------


def test_entry_point_names_the_package_installed_as_in_the_tree() -> None:
    assert_installed_from_tree(PLUGIN, TREE_PACKAGE, distribution=DISTRIBUTION)


def test_examples_pass_and_decide_every_rule(registry: vfiocompat.Registry) -> None:
    outcomes = assert_examples_pass(registry, table=TABLE_ID)
    assert {o.example.compatible for o in outcomes} == {True, False}
    assert_examples_decide_every_rule(registry, table=TABLE_ID)
    table = next(t for t in registry.tables if t.id == TABLE_ID)
    assert all(rule.source_url and rule.source_url.startswith("https://") for rule in table.rules)


@pytest.mark.parametrize(
    ("source", "target", "code"),
    [
        (mlx5(fw="28.41.1000"), mlx5(fw="28.42.1000"), "MLX5_FW_MISMATCH"),
        (mlx5(fw="28.42.1000"), mlx5(fw="28.41.1000"), "MLX5_FW_MISMATCH"),
        (mlx5(), mlx5(psid="MT_0000000891"), "MLX5_PSID_MISMATCH"),
        (mlx5(migratable="disable"), mlx5(), "MLX5_VF_NOT_MIGRATABLE"),
        (mlx5(), mlx5(migratable="disable"), "MLX5_VF_NOT_MIGRATABLE"),
        (mlx5(fw="28.40.1000"), mlx5(fw="28.40.1000"), "MLX5_FW_TOO_OLD"),
    ],
    ids=["fw-older-to-newer", "fw-newer-to-older", "psid", "source-not-migratable", "target-not-migratable",
         "below-documented-minimum"],
)
def test_refusals(registry: vfiocompat.Registry, source: str, target: str, code: str) -> None:
    verdict = assert_refused(registry, source, target, code=code)
    assert verdict.reasons[0].plugin == PLUGIN


def test_documented_minimum_is_admitted(registry: vfiocompat.Registry) -> None:
    assert_compatible(registry, mlx5(fw="28.41.1000"), mlx5(fw="28.41.1000"), rule="mlx5-vf-same-card-same-firmware")
    assert_compatible(registry, mlx5(fw="32.41.1000", psid="MT_0000000884"),
                      mlx5(fw="32.41.1000", psid="MT_0000000884"))


# -- the sysfs fixture ------------------------------------------------------------------------------


def test_probe_gives_exactly_the_fixture_expectation_and_its_pairs(registry: vfiocompat.Registry) -> None:
    inventory = assert_fixture_probes_as_expected(registry, FIXTURE)
    assert [e.device.id for e in inventory.devices] == [VF0, VF1, PLAIN]


def test_without_the_migratable_fact_probe_refuses_with_vc608(inventory: Inventory) -> None:
    for device_id in (VF0, VF1):
        found = inventory_entry(inventory, device_id)
        assert found.device_version is None and found.can_migrate is True
        missing = [r for r in found.reasons if r.code == "VC608"]
        assert len(missing) == 1 and missing[0].layer == "host" and missing[0].plugin == PLUGIN
        assert missing[0].field == "migratable"
        assert missing[0].hint is not None and f'[facts."{device_id}"] migratable' in missing[0].hint


def test_vf_on_plain_vfio_pci_is_not_served(inventory: Inventory) -> None:
    plain = inventory_entry(inventory, PLAIN)
    assert version_of(plain.device) is None
    assert [r.code for r in plain.reasons] == ["VC601", "VC602"]


def test_migratable_fact_completes_the_device_version(inventory: Inventory, registry: vfiocompat.Registry) -> None:
    versions = [version_of(with_facts(vf(inventory, d), migratable="enable")) for d in (VF0, VF1)]
    assert versions == [ENABLED, ENABLED]
    assert_compatible(registry, versions[0], versions[0])
    assert_compatible(registry, versions[0], versions[1])
    disabled = version_of(with_facts(vf(inventory, VF1), migratable="disable"))
    assert disabled == ENABLED.replace("migratable=enable", "migratable=disable")
    assert_refused(registry, versions[0], disabled, code="MLX5_VF_NOT_MIGRATABLE")


def devlink_ports(vf0: str, vf1: Any) -> Dict[str, Any]:
    """`devlink -j port show` as iproute2 prints it for the fixture's PF in switchdev mode."""
    function1: Dict[str, Any] = {"hw_addr": "00:00:00:00:00:00"}
    if vf1 is not None:
        function1["migratable"] = vf1
    return {"port": {
        "pci/0000:3b:00.0/65535": {"type": "eth", "netdev": "p0", "flavour": "physical", "port": 0},
        "pci/0000:3b:00.0/1": {"type": "eth", "netdev": "pf0vf0", "flavour": "pcivf", "controller": 0, "pfnum": 0,
                               "vfnum": 0, "external": False, "splittable": False,
                               "function": {"hw_addr": "00:00:00:00:00:00", "roce": "enable", "migratable": vf0}},
        "pci/0000:3b:00.0/2": {"type": "eth", "netdev": "pf0vf1", "flavour": "pcivf", "controller": 0, "pfnum": 0,
                               "vfnum": 1, "external": False, "splittable": False, "function": function1},
        "pci/0000:3b:00.0/3": {"type": "eth", "flavour": "pcivf", "controller": 1, "pfnum": 0, "vfnum": 0,
                               "external": True, "function": {"migratable": "disable"}},
    }}


def test_devlink_port_json_file_gives_each_vf_its_own_attribute(inventory: Inventory, tmp_path: Path) -> None:
    saved = tmp_path / "ports.json"
    saved.write_text(json.dumps(devlink_ports("enable", "disable")))
    assert version_of(with_facts(vf(inventory, VF0), devlink_port_json=str(saved))) == ENABLED
    assert version_of(with_facts(vf(inventory, VF1), devlink_port_json=str(saved))).endswith(";migratable=disable")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (json.dumps(devlink_ports("enable", None)), "shows no migratable attribute for VF 1"),
        ("{not json", "not JSON"),
        (json.dumps({"dev": {}}), "no top-level 'port' object"),
        (json.dumps(devlink_ports("enable", "maybe")), "not 'enable' or 'disable'"),
    ],
    ids=["attribute-absent", "not-json", "not-port-show", "bad-value"],
)
def test_unusable_devlink_output_fails_closed(inventory: Inventory, tmp_path: Path, content: str, says: str) -> None:
    saved = tmp_path / "ports.json"
    saved.write_text(content)
    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        version_of(with_facts(vf(inventory, VF1), devlink_port_json=str(saved)))
    assert raised.value.fact == "migratable" and says in raised.value.message


def test_devlink_file_needs_the_vfs_virtfn_index(inventory: Inventory, tmp_path: Path) -> None:
    saved = tmp_path / "ports.json"
    saved.write_text(json.dumps(devlink_ports("enable", "enable")))
    assert vf(inventory, VF1).vf_index == 1, "probe read the PF's virtfn1 link"
    unlinked = dataclasses.replace(with_facts(vf(inventory, VF1), devlink_port_json=str(saved)), vf_index=None)
    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        version_of(unlinked)
    assert raised.value.fact == "migratable" and "no virtfnN link of PF 0000:3b:00.0" in raised.value.message


@pytest.mark.parametrize(("name", "says"), [("absent.json", "No such file"), (".", "not a regular file")])
def test_unusable_devlink_file_fails_closed(inventory: Inventory, tmp_path: Path, name: str, says: str) -> None:
    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        version_of(with_facts(vf(inventory, VF1), devlink_port_json=str(tmp_path / name)))
    assert raised.value.fact == "migratable" and "cannot use devlink_port_json" in raised.value.message
    assert says in raised.value.message and raised.value.hint is not None and "devlink" in raised.value.hint


def test_bad_migratable_fact_is_refused(inventory: Inventory) -> None:
    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        version_of(with_facts(vf(inventory, VF0), migratable="yes"))
    assert raised.value.fact == "migratable"


def test_without_mlx5_ib_the_firmware_comes_from_facts(registry: vfiocompat.Registry, tmp_path: Path) -> None:
    root = copy_fixture(FIXTURE, tmp_path) / "sys"
    shutil.rmtree(root / "devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/infiniband")
    (root / "class/infiniband/mlx5_0").unlink()
    copy = vf(probe_fixture(registry, root.parent), VF0)
    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        version_of(with_facts(copy, migratable="enable"))
    assert raised.value.fact == "psid"
    facts = {"migratable": "enable", "psid": "MT_0000000838", "fw_version": "28.41.1000"}
    assert version_of(with_facts(copy, facts)) == ENABLED
    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        version_of(with_facts(copy, facts, fw_version="28.41"))
    assert raised.value.fact == "fw_version"


def test_devices_of_others_are_not_served() -> None:
    assert version_of(HostDevice("pci", address="0000:00:02.0", vendor="0x8086", device="0x4941",
                                 driver="qat_vfio_pci")) is None
    assert version_of(HostDevice("mdev_type", parent="0000:3b:00.0", vendor="0x15b3", device="0x1021",
                                 mdev_type="x")) is None
    assert version_of(HostDevice("pci", address="0000:3b:00.2", vendor="0x15b3", device="0x101e",
                                 driver="mlx5_core")) is None


def test_a_function_without_physfn_is_refused(inventory: Inventory) -> None:
    vf0 = vf(inventory, VF0)
    assert vf0.path is not None
    pf_path = vf0.path.rsplit("/", 1)[0] + "/0000:3b:00.0"
    pf_like = dataclasses.replace(with_facts(vf0, migratable="enable"), path=pf_path)
    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        version_of(pf_like)
    assert raised.value.fact == "physfn"


def test_probe_with_the_fixture_config_facts(registry: vfiocompat.Registry) -> None:
    inventory = assert_fixture_probes_as_expected(registry, FIXTURE, config=True)
    assert device_versions(inventory) == {VF0: ENABLED, VF1: ENABLED}
