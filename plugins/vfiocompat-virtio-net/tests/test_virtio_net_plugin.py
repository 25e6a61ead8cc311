"""The installed vfiocompat-virtio-net plugin: its table, and probing the virtio-net sysfs fixture end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
)

DISTRIBUTION = "vfiocompat-virtio-net"
PLUGIN = "virtio-net"
TABLE_ID = "virtio-net-vf"
HERE = Path(__file__).resolve().parent
TREE_PACKAGE = HERE.parent / "vfiocompat_virtio_net"
FIXTURE = HERE.parents[2] / "examples" / "sysfs" / "virtio-net"
PF_DIR = "devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0"
VF0, VF1, PLAIN = "pci:0000:5e:00.1", "pci:0000:5e:00.2", "pci:0000:5e:00.3"
KNOWN = "0x1af4:1:virtio=net;dev=1041;ssvid=1af4;ssdev=1100;rev=0x01;pfdev=1041;pfrev=0x01;adminvq=1;bar0=0"

pytestmark = requires_plugin(PLUGIN)


def virtio(**keys: str) -> str:
    """KNOWN with ``keys`` replaced."""
    values = dict(item.split("=", 1) for item in KNOWN.split(":", 2)[2].split(";")[1:])
    values.update(keys)
    return "0x1af4:1:virtio=net;" + ";".join(f"{k}={v}" for k, v in values.items())


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return load_registry(PLUGIN)


@pytest.fixture(scope="module")
def inventory(registry: vfiocompat.Registry) -> Inventory:
    return probe_fixture(registry, FIXTURE)


def version_of(device: HostDevice) -> Any:
    import vfiocompat_virtio_net

    return vfiocompat_virtio_net.vfiocompat_device_version(device)


def modified_copy(tmp_path: Path, registry: vfiocompat.Registry, relative: str, text: str) -> Inventory:
    """Probe a copy of the fixture in which the file ``relative`` holds ``text`` (or is removed if empty)."""
    copy = copy_fixture(FIXTURE, tmp_path)
    target = copy / "sys" / relative
    if text:
        target.write_text(text)
    else:
        target.unlink()
    return probe_fixture(registry, copy)


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
        (virtio(), virtio(rev="0x02"), "VIRTIO_DEVICE_MISMATCH"),
        (virtio(rev="0x02"), virtio(), "VIRTIO_DEVICE_MISMATCH"),
        (virtio(), virtio(pfrev="0x02"), "VIRTIO_DEVICE_MISMATCH"),
        (virtio(), virtio(ssvid="15b3"), "VIRTIO_DEVICE_MISMATCH"),
        (virtio(adminvq="0"), virtio(), "VIRTIO_NO_ADMIN_VQ"),
        (virtio(bar0="1"), virtio(), "VIRTIO_BAR0_MISMATCH"),
    ],
    ids=["rev-older-to-newer", "rev-newer-to-older", "pf-revision", "subsystem-vendor", "no-admin-vq", "bar0"],
)
def test_only_identical_devices_are_admitted(registry: vfiocompat.Registry, source: str, target: str,
                                             code: str) -> None:
    verdict = assert_refused(registry, source, target, code=code)
    assert verdict.reasons[0].plugin == PLUGIN


# -- the sysfs fixture ------------------------------------------------------------------------------


def test_probe_gives_exactly_the_fixture_expectation_and_its_pairs(registry: vfiocompat.Registry) -> None:
    inventory = assert_fixture_probes_as_expected(registry, FIXTURE)
    assert device_versions(inventory) == {VF0: KNOWN, VF1: KNOWN}
    assert [e.device.id for e in inventory.devices] == [VF0, VF1, PLAIN]
    assert all(e.version_plugin == PLUGIN for e in inventory.devices if e.device_version)


def test_fixture_devices_are_compatible_with_themselves_and_each_other(inventory: Inventory,
                                                                       registry: vfiocompat.Registry) -> None:
    first, second = (inventory_entry(inventory, d).device_version for d in (VF0, VF1))
    assert first is not None and second is not None
    assert_compatible(registry, first, first, rule="virtio-net-vf-identical-device")
    assert_compatible(registry, first, second)
    assert_compatible(registry, second, first)


def test_vf_on_plain_vfio_pci_is_not_served(inventory: Inventory) -> None:
    plain = inventory_entry(inventory, PLAIN)
    assert version_of(plain.device) is None
    assert [r.code for r in plain.reasons] == ["VC601", "VC602"]


def test_pf_without_admin_vq_gives_adminvq_0(tmp_path: Path, registry: vfiocompat.Registry) -> None:
    features = (FIXTURE / "sys" / PF_DIR / "virtio0/features").read_text().strip()
    cleared = features[:41] + "0" + features[42:]
    copy = modified_copy(tmp_path, registry, f"{PF_DIR}/virtio0/features", cleared + "\n")
    version = inventory_entry(copy, VF0).device_version
    assert version == virtio(adminvq="0")
    assert_refused(registry, KNOWN, version, code="VIRTIO_NO_ADMIN_VQ")


def test_128_bit_feature_strings_are_read(tmp_path: Path, registry: vfiocompat.Registry) -> None:
    features = (FIXTURE / "sys" / PF_DIR / "virtio0/features").read_text().strip()
    copy = modified_copy(tmp_path, registry, f"{PF_DIR}/virtio0/features", features + "0" * 64 + "\n")
    assert inventory_entry(copy, VF0).device_version == KNOWN


def test_vf_with_bar0(tmp_path: Path, registry: vfiocompat.Registry) -> None:
    vf_resource = FIXTURE / "sys" / "devices/pci0000:5d/0000:5d:00.0/0000:5e:00.1/resource"
    lines = vf_resource.read_text().splitlines()
    lines[0] = "0x0000000000001000 0x000000000000101f 0x0000000000040101"
    copy = modified_copy(tmp_path, registry, "devices/pci0000:5d/0000:5d:00.0/0000:5e:00.1/resource",
                         "\n".join(lines) + "\n")
    assert inventory_entry(copy, VF0).device_version == virtio(bar0="1")
    assert_refused(registry, inventory_entry(copy, VF1).device_version, virtio(bar0="1"), code="VIRTIO_BAR0_MISMATCH")


@pytest.mark.parametrize(
    ("relative", "text", "fact"),
    [
        (f"{PF_DIR}/virtio0/features", "", "pf_features"),
        (f"{PF_DIR}/virtio0/features", "0101\n", "pf_features"),
        ("devices/pci0000:5d/0000:5d:00.0/0000:5e:00.1/resource", "", "resource"),
        ("devices/pci0000:5d/0000:5d:00.0/0000:5e:00.1/revision", "", "revision"),
        (f"{PF_DIR}/driver", "", "pf_driver"),
    ],
    ids=["no-features", "short-features", "no-resource", "no-revision", "pf-unbound"],
)
def test_unreadable_sysfs_is_refused_with_vc608(tmp_path: Path, registry: vfiocompat.Registry, relative: str,
                                                text: str, fact: str) -> None:
    copy = modified_copy(tmp_path, registry, relative, text)
    found = inventory_entry(copy, VF0)
    assert found.device_version is None
    missing = [r for r in found.reasons if r.code == "VC608"]
    assert len(missing) == 1 and missing[0].field == fact and missing[0].plugin == PLUGIN


def test_devices_of_others_are_not_served() -> None:
    assert version_of(HostDevice("pci", address="0000:3b:00.2", vendor="0x15b3", device="0x101e",
                                 driver="mlx5_vfio_pci")) is None
    assert version_of(HostDevice("pci", address="0000:5e:00.1", vendor="0x1af4", device="0x1041",
                                 driver="virtio-pci")) is None
