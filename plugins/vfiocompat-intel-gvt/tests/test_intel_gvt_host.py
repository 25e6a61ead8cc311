"""The intel-gvt plugin on a probed host: examples/sysfs/intel-gvt, with and without the operator's fact."""

from __future__ import annotations

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
    device_versions,
    fixture_expectation,
    inventory_entry,
    load_registry,
    probe_fixture,
    requires_plugin,
    with_facts,
)

host = pytest.importorskip("vfiocompat_intel_gvt.host", reason="install plugins/vfiocompat-intel-gvt")

PLUGIN = "intel-gvt"
FIXTURE = Path(__file__).resolve().parents[3] / "examples" / "sysfs" / "intel-gvt"
SYS = FIXTURE / "sys"
UUID = "4f3b2a10-6c5d-4e7f-9a81-2b3c4d5e6f70"
MDEV = f"mdev:{UUID}"

pytestmark = requires_plugin(PLUGIN)


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return load_registry(PLUGIN)


@pytest.fixture(scope="module")
def bare(registry: vfiocompat.Registry) -> Inventory:
    return probe_fixture(registry, FIXTURE)


@pytest.fixture(scope="module")
def mdev(bare: Inventory) -> HostDevice:
    return inventory_entry(bare, MDEV).device


def _ask(registry: vfiocompat.Registry, device: HostDevice, **facts: str) -> Any:
    return device_version_of(with_facts(device, facts), registry.probe_hooks)


def test_probe_without_the_fact_gives_exactly_expected_json_and_its_pairs(registry: vfiocompat.Registry) -> None:
    inventory = assert_fixture_probes_as_expected(registry, FIXTURE)
    assert device_versions(inventory) == {}


def test_every_gvt_device_names_the_missing_software_version(bare: Inventory) -> None:
    ids = sorted(e.device.id for e in bare.devices)
    assert ids == sorted([MDEV, "mdev_type:0000:00:02.0/i915-GVTg_V5_4", "mdev_type:0000:00:02.0/i915-GVTg_V5_8"])
    for entry in bare.devices:
        assert [(r.code, r.layer, r.field, r.plugin) for r in entry.reasons] == [
            ("VC608", "host", "gvt_swver", PLUGIN)]
        assert "never merged" in entry.reasons[0].message
        assert f'[facts."{entry.device.id}"] gvt_swver' in (entry.reasons[0].hint or "")


def test_probe_with_the_fixture_config_gives_expected_config_json(registry: vfiocompat.Registry) -> None:
    inventory = assert_fixture_probes_as_expected(registry, FIXTURE, config=True)
    assert [(e.version_plugin, e.reasons) for e in inventory.devices] == [(PLUGIN, ())] * 3


def test_string_is_the_proposal_format_from_sysfs_values(registry: vfiocompat.Registry, mdev: HostDevice) -> None:
    # "%04x-%04x-%s-%08x": the iGPU's vendor and device, the type's name file, the software version.
    version, _, _ = _ask(registry, mdev, gvt_swver="0x2a")
    assert version == "0x8086:1:8086-3e92-GVTg_V5_4-0000002a"


def test_expected_pairs_are_allowed_by_the_allow_rule(registry: vfiocompat.Registry) -> None:
    # How each pair is decided is checked with the probe above; here: which rule allows.
    allowed = [p for p in fixture_expectation(FIXTURE).pairs if p.compatible]
    assert allowed
    for pair in allowed:
        assert_compatible(registry, pair.source, pair.target, rule="gvt-same-device-type-version")


def test_every_probed_version_is_compatible_with_itself_by_the_allow_rule(registry: vfiocompat.Registry) -> None:
    for version in fixture_expectation(FIXTURE, config=True).devices.values():
        assert_compatible(registry, version, version, rule="gvt-same-device-type-version")


def test_software_version_skew_is_refused_both_ways(registry: vfiocompat.Registry, mdev: HostDevice) -> None:
    old, _, _ = _ask(registry, mdev, gvt_swver="1")
    new, _, _ = _ask(registry, mdev, gvt_swver="2")
    assert_refused(registry, old, new, code="GVT_SOFTWARE_VERSION_MISMATCH")
    assert_refused(registry, new, old, code="GVT_SOFTWARE_VERSION_MISMATCH")


@pytest.mark.parametrize("value", ["", "v1", "123456789", "0x", "1.0"])
def test_a_malformed_software_version_fact_is_still_missing(registry: vfiocompat.Registry, mdev: HostDevice,
                                                            value: str) -> None:
    version, _, reasons = _ask(registry, mdev, gvt_swver=value)
    assert version is None and [(r.code, r.field) for r in reasons] == [("VC608", "gvt_swver")]


def test_unreadable_type_name_is_a_missing_fact(registry: vfiocompat.Registry, tmp_path: Path) -> None:
    copy = copy_fixture(FIXTURE, tmp_path)
    (copy / "sys/devices/pci0000:00/0000:00:02.0/mdev_supported_types/i915-GVTg_V5_4/name").unlink()
    device = inventory_entry(probe_fixture(registry, copy), MDEV).device
    version, _, reasons = _ask(registry, device, gvt_swver="1")
    assert version is None and [(r.code, r.field) for r in reasons] == [("VC608", "mdev_type_name")]


def test_module_i915_has_no_version_file() -> None:
    # The reason the software version cannot be read: i915 declares no MODULE_VERSION.
    assert (SYS / "module" / "i915").is_dir() and not (SYS / "module" / "i915" / "version").exists()


@pytest.mark.parametrize("device", [
    HostDevice("pci", address="0000:00:02.0", vendor="0x8086", device="0x3e92", driver="vfio-pci"),
    HostDevice("mdev_type", parent="0000:3b:00.0", mdev_type="nvidia-474", mdev_type_name="NVIDIA A100-4C",
               vendor="0x10de", device="0x20f1"),
    HostDevice("mdev", uuid=UUID, parent="0000:00:02.0", mdev_type="i915-other", vendor="0x8086", device="0x3e92"),
    HostDevice("pci", address="0000:6b:00.1", vendor="0x8086", device="0x4941", driver="qat_vfio_pci"),
])
def test_devices_that_are_not_gvt_vgpus_get_none(device: HostDevice) -> None:
    from vfiocompat_intel_gvt import vfiocompat_device_version

    assert vfiocompat_device_version(device) is None
