"""The nvidia-vgpu plugin on probed hosts: examples/sysfs/nvidia-vgpu-mdev (before vGPU 17) and -sriov (17+)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Dict, Mapping

import pytest

import vfiocompat
from vfiocompat.host.inventory import HostDevice, Inventory
from vfiocompat.host.probe import device_version_of, probe
from vfiocompat.testing import assert_compatible, assert_refused, load_registry, requires_plugin

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9 and 3.10
    import tomli as tomllib

host = pytest.importorskip("vfiocompat_nvidia_vgpu.host", reason="install plugins/vfiocompat-nvidia-vgpu")

PLUGIN = "nvidia-vgpu"
SYSFS = Path(__file__).resolve().parents[3] / "examples" / "sysfs"
MDEV = SYSFS / "nvidia-vgpu-mdev"
SRIOV = SYSFS / "nvidia-vgpu-sriov"
UUID = "6ff81a2c-9b4e-4f5a-8c53-1b0e2a4d7c11"
VF = "pci:0000:3d:00.4"

pytestmark = requires_plugin(PLUGIN)


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return load_registry(PLUGIN)


def _json(fixture: Path, name: str) -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads((fixture / name).read_text())
    return data


def _versions(inventory: Inventory) -> Dict[str, str]:
    return {e.device.id: e.device_version for e in inventory.devices if e.device_version is not None}


def _device(inventory: Inventory, device_id: str) -> HostDevice:
    return next(e.device for e in inventory.devices if e.device.id == device_id)


def _ask(registry: vfiocompat.Registry, device: HostDevice, **facts: str) -> Any:
    return device_version_of(dataclasses.replace(device, facts=facts), registry.probe_hooks)


def _copy(fixture: Path, tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    shutil.copytree(fixture / "sys", root, symlinks=True)
    return root


@pytest.mark.parametrize("fixture", [MDEV, SRIOV], ids=["mdev", "sriov"])
def test_probe_gives_exactly_expected_json(registry: vfiocompat.Registry, fixture: Path) -> None:
    inventory = probe(str(fixture / "sys"), registry)
    assert _versions(inventory) == _json(fixture, "expected.json")["devices"]
    assert inventory.issues == ()


def test_probe_with_the_fixture_config_gives_expected_config_json(registry: vfiocompat.Registry) -> None:
    bare = probe(str(MDEV / "sys"), registry)
    facts: Mapping[str, Mapping[str, str]] = tomllib.loads((MDEV / "config.toml").read_text())["facts"]
    versions = {}
    for entry in bare.devices:
        version, plugin, reasons = _ask(registry, entry.device, **facts.get(entry.device.id, {}))
        assert (plugin, reasons) == (PLUGIN, []), reasons
        versions[entry.device.id] = version
    assert versions == _json(MDEV, "expected-config.json")["devices"]


@pytest.mark.parametrize("fixture", [MDEV, SRIOV], ids=["mdev", "sriov"])
def test_expected_pairs_are_decided_as_stated(registry: vfiocompat.Registry, fixture: Path) -> None:
    for pair in _json(fixture, "expected.json")["pairs"]:
        if pair["compatible"]:
            assert_compatible(registry, pair["source"], pair["target"])
        else:
            assert_refused(registry, pair["source"], pair["target"], code=pair["code"])


def test_every_fixture_device_version_is_compatible_with_itself(registry: vfiocompat.Registry) -> None:
    versions = set(_json(MDEV, "expected-config.json")["devices"].values())
    for fixture in (MDEV, SRIOV):
        versions |= set(_json(fixture, "expected.json")["devices"].values())
    for version in versions:
        assert_compatible(registry, version, version, rule="same-type-same-host-driver")


def test_existing_mdev_goes_to_its_own_type_but_not_the_other(registry: vfiocompat.Registry) -> None:
    versions = _versions(probe(str(MDEV / "sys"), registry))
    mdev = versions[f"mdev:{UUID}"]
    assert_compatible(registry, mdev, versions["mdev_type:0000:3b:00.0/nvidia-474"])
    assert_refused(registry, mdev, versions["mdev_type:0000:3b:00.0/nvidia-475"], code="NV_GPU_VGPU_TYPE")


def test_host_driver_upgrade_and_downgrade_between_the_fixtures_hosts_are_both_refused(
    registry: vfiocompat.Registry,
) -> None:
    older = _versions(probe(str(MDEV / "sys"), registry))[f"mdev:{UUID}"]
    newer = older.replace("host_drv=535.154.02", "host_drv=550.54.10")
    assert_refused(registry, older, newer, code="NV_HOST_DRIVER")
    assert_refused(registry, newer, older, code="NV_HOST_DRIVER")
    # Two branches (R535, R550): a powered-off VM cannot be sent either, its guest driver's branch being unknown.
    assert registry.check(older, newer, mode="cold").codes == ("NV_GUEST_DRIVER_BRANCH",)
    assert registry.check(newer, older, mode="cold").codes == ("NV_GUEST_DRIVER_BRANCH",)


def test_the_sriov_vf_moves_cold_to_a_host_of_its_branch(registry: vfiocompat.Registry) -> None:
    vf = _versions(probe(str(SRIOV / "sys"), registry))[VF]
    other = vf.replace("host_drv=550.54.10", "host_drv=550.54.16")
    assert_refused(registry, vf, other, code=["VC403", "NV_HOST_DRIVER"])
    assert registry.check(vf, other, mode="cold").compatible
    assert registry.check(other, vf, mode="cold").compatible


def test_vf_type_name_comes_from_a_sibling_creatable_list(registry: vfiocompat.Registry) -> None:
    inventory = probe(str(SRIOV / "sys"), registry)
    # The assigned VF's own list is only the header; 1155 is named in 3d:00.5's list.
    assert host.parse_creatable_vgpu_types("ID    : vGPU Name\n") == {}
    assert _versions(inventory)[VF].startswith("0x10de:1:type=NVIDIA_L40S-24Q;dev=26b9;subsys=10de-1851;")


def test_unassigned_vfs_are_refused_with_vc608(registry: vfiocompat.Registry) -> None:
    inventory = probe(str(SRIOV / "sys"), registry)
    for address in ("0000:3d:00.5", "0000:3d:00.6"):
        entry = next(e for e in inventory.devices if e.device.id == f"pci:{address}")
        assert entry.device_version is None
        assert [(r.code, r.layer, r.field, r.plugin) for r in entry.reasons] == [("VC608", "host", "vgpu_type", PLUGIN)]
        assert "current_vgpu_type is 0" in entry.reasons[0].message


def test_unnamed_vf_type_is_a_missing_fact_that_the_operator_can_supply(registry: vfiocompat.Registry,
                                                                        tmp_path: Path) -> None:
    root = _copy(SRIOV, tmp_path)
    for fn in ("5", "6"):
        (root / "devices" / "pci0000:3d" / f"0000:3d:00.{fn}" / "nvidia" / "creatable_vgpu_types").write_text(
            "ID    : vGPU Name\n")
    device = _device(probe(str(root), registry), VF)
    version, _, reasons = _ask(registry, device)
    assert version is None
    assert [(r.code, r.field) for r in reasons] == [("VC608", "vgpu_type_name")]
    assert "nvidia-smi vgpu" in (reasons[0].hint or "")
    version, _, reasons = _ask(registry, device, vgpu_type_name="NVIDIA L40S-24Q")
    assert (version, reasons) == (_json(SRIOV, "expected.json")["devices"][VF], [])


def test_missing_module_version_is_a_missing_fact(registry: vfiocompat.Registry, tmp_path: Path) -> None:
    root = _copy(MDEV, tmp_path)
    os.unlink(root / "module" / "nvidia" / "version")
    device = _device(probe(str(root), registry), f"mdev:{UUID}")
    version, _, reasons = _ask(registry, device)
    assert version is None and [(r.code, r.field) for r in reasons] == [("VC608", "host_drv")]
    version, _, reasons = _ask(registry, device, host_drv="535.154.02")
    assert version == _json(MDEV, "expected.json")["devices"][f"mdev:{UUID}"] and reasons == []


def test_a_gpu_on_another_driver_gives_no_host_driver_version(registry: vfiocompat.Registry, tmp_path: Path) -> None:
    root = _copy(SRIOV, tmp_path)
    (root / "bus" / "pci" / "drivers" / "nvidia" / "module").unlink()
    (root / "module" / "nouveau").mkdir()
    (root / "module" / "nouveau" / "version").write_text("1.0\n")
    (root / "bus" / "pci" / "drivers" / "nvidia" / "module").symlink_to("../../../../module/nouveau")
    version, _, reasons = _ask(registry, _device(probe(str(root), registry), VF))
    assert version is None and [(r.code, r.field) for r in reasons] == [("VC608", "host_drv")]


@pytest.mark.parametrize(("fact", "value"), [("ecc", "maybe"), ("host_os", "RHEL 9"), ("host_drv", "r550")])
def test_malformed_operator_facts_are_refused(registry: vfiocompat.Registry, tmp_path: Path, fact: str,
                                             value: str) -> None:
    root = _copy(MDEV, tmp_path)
    os.unlink(root / "module" / "nvidia" / "version")  # so host_drv must come from the fact
    device = _device(probe(str(root), registry), f"mdev:{UUID}")
    facts = {"host_drv": "535.154.02", fact: value}
    version, _, reasons = _ask(registry, device, **facts)
    assert version is None and [(r.code, r.field) for r in reasons] == [("VC608", fact)]


def test_type_key_replaces_runs_of_spaces() -> None:
    assert host.type_key("GRID  T4-2Q") == "GRID_T4-2Q"
    assert host.type_key("NVIDIA A100-4C") == "NVIDIA_A100-4C"


@pytest.mark.parametrize("device", [
    HostDevice("pci", address="0000:3b:00.1", vendor="0x8086", device="0x4941", driver="qat_vfio_pci"),
    HostDevice("pci", address="0000:3b:00.0", vendor="0x10de", device="0x20f1", driver="vfio-pci"),
    HostDevice("mdev_type", parent="0000:00:02.0", mdev_type="i915-GVTg_V5_4", mdev_type_name="GVTg_V5_4",
               vendor="0x8086", device="0x3e92"),
    HostDevice("mdev_type", parent="0000:3b:00.0", mdev_type="other-1", mdev_type_name="x",
               vendor="0x10de", device="0x20f1"),
])
def test_devices_that_are_not_nvidia_vgpus_get_none(device: HostDevice) -> None:
    from vfiocompat_nvidia_vgpu import vfiocompat_device_version

    assert vfiocompat_device_version(device) is None
