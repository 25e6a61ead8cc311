"""vfiocompat_intel_qat.host_device: device_versions of probed QAT VFs, from the sysfs fixtures and operator facts."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any, Dict, List, Mapping

import pytest

import vfiocompat
from vfiocompat.host.config import HostConfig, load_host_config
from vfiocompat.host.inventory import HostDevice, Inventory
from vfiocompat.host.probe import probe
from vfiocompat.testing import (
    assert_compatible,
    assert_examples_decide_every_rule,
    assert_refused,
    load_registry,
    requires_plugin,
)

PLUGIN = "intel-qat"
TABLE_ID = "intel-qat-gen4-vf"
FIXTURES = Path(__file__).resolve().parents[3] / "examples" / "sysfs"
QAT_FIXTURES = ("qat-4xxx", "qat-402xx-rl")
#: What the plugin builds for each fixture VF once the facts of the fixture's config.toml are applied.
WITH_FACTS: Dict[str, Dict[str, str]] = {
    "qat-4xxx": {
        "pci:0000:6b:00.1": "0x8086:1:qat=gen4;dev=4941;mstate=1;gencap=0x3c1f;extdc=0x1;svc=asym,sym;sla=;cir=;pir=",
        "pci:0000:6b:00.2": "0x8086:1:qat=gen4;dev=4941;mstate=1;gencap=0x3c1f;extdc=0x1;svc=asym,sym;sla=;cir=;pir=",
    },
    "qat-402xx-rl": {
        "pci:0000:e8:00.1": "0x8086:1:qat=gen4;dev=4945;mstate=1;gencap=0x20c0;extdc=0x1;svc=dc;sla=dc/0x3,dc/0xc;"
                            "cir=dc/0x3:500,dc/0xc:200;pir=dc/0x3:1000,dc/0xc:400",
        "pci:0000:e8:00.2": "0x8086:1:qat=gen4;dev=4945;mstate=1;gencap=0x20c0;extdc=0x1;svc=dc;sla=;cir=;pir=",
    },
}
FACTS = {"qat_mstate_version": "1", "qat_gencap": "0x3c1f", "qat_extdc": "0x1"}

pytestmark = requires_plugin(PLUGIN)


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return vfiocompat.Registry(entry_points=True)


@pytest.fixture(scope="module")
def qat_only() -> vfiocompat.Registry:
    return load_registry(PLUGIN)


def _expected(name: str, document: str = "expected.json") -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads((FIXTURES / name / document).read_text())
    return data


def _config(name: str) -> HostConfig:
    """The fixture's host config file, read as the host commands read it (no environment)."""
    return load_host_config(str(FIXTURES / name / "config.toml"), environ={})


def _hook() -> Any:
    from vfiocompat_intel_qat import vfiocompat_device_version

    return vfiocompat_device_version


def _reasons(inventory: Inventory, device_id: str) -> List[str]:
    entry = next(e for e in inventory.devices if e.device.id == device_id)
    return [r.code for r in entry.reasons]


# -- the fixtures as probe sees them ------------------------------------------------------------


@pytest.mark.parametrize("name", QAT_FIXTURES)
def test_probe_gives_exactly_the_expected_devices(registry: vfiocompat.Registry, name: str) -> None:
    inventory = probe(str(FIXTURES / name / "sys"), registry)
    found = {e.device.id: e.device_version for e in inventory.devices if e.device_version is not None}
    assert found == _expected(name)["devices"]
    assert inventory.issues == ()


@pytest.mark.parametrize("name", QAT_FIXTURES)
def test_without_facts_every_vf_is_refused_with_vc608_naming_the_plugin(registry: vfiocompat.Registry,
                                                                        name: str) -> None:
    inventory = probe(str(FIXTURES / name / "sys"), registry)
    vfs = [e for e in inventory.devices if e.device.device in ("0x4941", "0x4945")]
    assert len(vfs) >= 2
    for entry in vfs:
        missing = [r for r in entry.reasons if r.code == "VC608"]
        assert len(missing) == 1, entry.reasons
        assert missing[0].layer == "host" and missing[0].plugin == PLUGIN
        assert missing[0].field == "qat_mstate_version"
        assert "qat_gencap" in missing[0].message and "qat_extdc" in missing[0].message
        assert missing[0].hint is not None and f'[facts."{entry.device.id}"]' in missing[0].hint


def test_probe_lists_the_vfs_but_not_the_pf(registry: vfiocompat.Registry) -> None:
    inventory = probe(str(FIXTURES / "qat-4xxx" / "sys"), registry)
    assert [(e.device.id, e.device.driver, e.can_migrate) for e in inventory.devices] == [
        ("pci:0000:6b:00.1", "qat_vfio_pci", True),
        ("pci:0000:6b:00.2", "qat_vfio_pci", True),
        ("pci:0000:6b:00.3", "vfio-pci", False),
    ]
    assert _reasons(inventory, "pci:0000:6b:00.3") == ["VC601", "VC608"]


@pytest.mark.parametrize("name", QAT_FIXTURES)
def test_with_the_fixture_config_each_vf_gets_its_device_version(registry: vfiocompat.Registry, name: str) -> None:
    config = _config(name)
    assert config.path == str(FIXTURES / name / "config.toml") and set(config.facts) == set(WITH_FACTS[name])
    inventory = probe(str(FIXTURES / name / "sys"), registry, facts=config.facts)
    built = {e.device.id: e.device_version for e in inventory.devices if e.device_version is not None}
    assert built == WITH_FACTS[name] == _expected(name, "expected-config.json")["devices"]
    assert all(e.version_plugin == PLUGIN for e in inventory.devices if e.device_version is not None)
    for version in built.values():
        assert str(vfiocompat.parse(version)) == version
        assert_compatible(registry, version, version, rule="qat-gen4-vf-load-checks")


def test_with_the_config_the_vfio_pci_vf_without_facts_is_still_refused(registry: vfiocompat.Registry) -> None:
    inventory = probe(str(FIXTURES / "qat-4xxx" / "sys"), registry, facts=_config("qat-4xxx").facts)
    entry = next(e for e in inventory.devices if e.device.id == "pci:0000:6b:00.3")
    assert entry.device_version is None and [r.code for r in entry.reasons] == ["VC601", "VC608"]


@pytest.mark.parametrize("document", ["expected.json", "expected-config.json"])
@pytest.mark.parametrize("name", QAT_FIXTURES)
def test_expected_pairs_are_decided_as_listed(registry: vfiocompat.Registry, name: str, document: str) -> None:
    pairs = _expected(name, document)["pairs"]
    assert pairs
    for pair in pairs:
        verdict = registry.check(pair["source"], pair["target"])
        assert verdict.compatible == pair["compatible"], (pair, verdict.reasons)
        if "code" in pair:
            assert pair["code"] in verdict.codes


def test_sla_direction_between_the_fixture_vfs(registry: vfiocompat.Registry) -> None:
    with_sla, without = WITH_FACTS["qat-402xx-rl"]["pci:0000:e8:00.1"], WITH_FACTS["qat-402xx-rl"]["pci:0000:e8:00.2"]
    assert_compatible(registry, without, with_sla)
    assert_refused(registry, with_sla, without, "QAT_SLA_SRC_MISMATCH")


def _rl_vf(registry: vfiocompat.Registry, sla: str) -> str:
    """The device_version the plugin builds for the rate-limited fixture's VF 0 with ``qat_sla`` = ``sla``."""
    facts = {**_config("qat-402xx-rl").facts["pci:0000:e8:00.1"], "qat_sla": sla}
    version: str = _hook()(_first_vf(FIXTURES / "qat-402xx-rl" / "sys", registry, facts))
    return version


def test_sla_checks_per_key_between_built_device_versions(registry: vfiocompat.Registry) -> None:
    # Two SLAs of different rates on VF 0, as config.toml gives them; each variant changes one thing.
    source = _rl_vf(registry, "dc:0x3:500:1000,dc:0xc:200:400")
    assert source == WITH_FACTS["qat-402xx-rl"]["pci:0000:e8:00.1"]
    missing_one = _rl_vf(registry, "dc:0x3:500:1000")
    # The driver logs only the SRC mismatch; the map tests on cir and pir fail on the missing key too.
    assert registry.check(source, missing_one).codes == ("QAT_SLA_SRC_MISMATCH", "QAT_SLA_DST_MISMATCH",
                                                         "QAT_SLA_DST_MISMATCH")
    lower_cir = _rl_vf(registry, "dc:0x3:500:1000,dc:0xc:199:400")
    assert registry.check(source, lower_cir).codes == ("QAT_SLA_DST_MISMATCH",)
    lower_pir = _rl_vf(registry, "dc:0x3:500:999,dc:0xc:200:400")
    assert [r.field for r in registry.check(source, lower_pir).reasons] == ["pir"]
    assert_compatible(registry, source, _rl_vf(registry, "dc:0x3:500:1000,dc:0xc:201:400"))
    assert_compatible(registry, source, _rl_vf(registry, "dc:0x3:900:1000,dc:0xc:200:4000,dc:0x30:1:1"))
    assert_compatible(registry, missing_one, source)  # the target's extra SLA is never looked at
    assert_compatible(registry, lower_cir, source)  # higher rates on the target: the other direction loads


def test_older_state_version_goes_to_a_newer_host_only(registry: vfiocompat.Registry) -> None:
    inventory = probe(str(FIXTURES / "qat-4xxx" / "sys"), registry)
    device = inventory.devices[0].device
    old = _hook()(dataclasses.replace(device, facts=FACTS))
    new = _hook()(dataclasses.replace(device, facts={**FACTS, "qat_mstate_version": "2"}))
    assert "mstate=2;" in new
    assert_compatible(registry, old, new)
    assert_refused(registry, new, old, "QAT_STATE_VERSION")


def test_fixture_services_differ_so_4xxx_and_402xx_vfs_do_not_mix(registry: vfiocompat.Registry) -> None:
    a = WITH_FACTS["qat-4xxx"]["pci:0000:6b:00.1"]
    b = WITH_FACTS["qat-402xx-rl"]["pci:0000:e8:00.2"]
    assert "QAT_SVCMAP" in registry.check(a, b).codes
    assert "QAT_SVCMAP" in registry.check(b, a).codes


def test_table_examples_decide_every_rule(qat_only: vfiocompat.Registry) -> None:
    assert_examples_decide_every_rule(qat_only, table=TABLE_ID)


# -- what the plugin reads, changed one thing at a time (copies of the fixtures) ----------------


def _copy(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURES / name / "sys", root, symlinks=True)
    return root


def _first_vf(root: Path, registry: vfiocompat.Registry, facts: Mapping[str, str]) -> HostDevice:
    inventory = probe(str(root), registry)
    return dataclasses.replace(inventory.devices[0].device, facts=dict(facts))


def _refusal(device: HostDevice) -> vfiocompat.DeviceFactMissing:
    with pytest.raises(vfiocompat.DeviceFactMissing) as caught:
        _hook()(device)
    return caught.value


def test_services_are_read_from_the_pf_and_sorted(tmp_path: Path, registry: vfiocompat.Registry) -> None:
    root = _copy(tmp_path, "qat-4xxx")
    (root / "devices/pci0000:6b/0000:6b:00.0/qat/cfg_services").write_text("dc;sym\n")
    assert ";svc=dc,sym;" in _hook()(_first_vf(root, registry, FACTS))


def test_a_pf_without_qat_sysfs_is_refused(tmp_path: Path, registry: vfiocompat.Registry) -> None:
    root = _copy(tmp_path, "qat-4xxx")
    shutil.rmtree(root / "devices/pci0000:6b/0000:6b:00.0/qat")
    error = _refusal(_first_vf(root, registry, FACTS))
    assert error.code == "VC608" and error.fact == "cfg_services"
    assert "0000:6b:00.0 has no qat/cfg_services" in error.message


def test_a_down_pf_is_refused(tmp_path: Path, registry: vfiocompat.Registry) -> None:
    root = _copy(tmp_path, "qat-4xxx")
    (root / "devices/pci0000:6b/0000:6b:00.0/qat/state").write_text("down\n")
    error = _refusal(_first_vf(root, registry, FACTS))
    assert error.fact == "state" and "'down'" in error.message


def test_a_vf_without_physfn_is_refused(tmp_path: Path, registry: vfiocompat.Registry) -> None:
    root = _copy(tmp_path, "qat-4xxx")
    (root / "devices/pci0000:6b/0000:6b:00.1/physfn").unlink()
    assert _refusal(_first_vf(root, registry, FACTS)).fact == "physfn"


def test_rate_limiting_on_needs_the_sla_fact(registry: vfiocompat.Registry) -> None:
    device = _first_vf(FIXTURES / "qat-402xx-rl" / "sys", registry, FACTS)
    error = _refusal(device)
    assert error.fact == "qat_sla" and "qat_rl/" in error.message
    assert error.hint is not None and "sla_op" in error.hint
    assert ";sla=;cir=;pir=" in _hook()(dataclasses.replace(device, facts={**FACTS, "qat_sla": "none"}))


@pytest.mark.parametrize(
    ("sla", "expected"),
    [
        ("sym:0xF:500:1000", "sla=sym/0xf;cir=sym/0xf:500;pir=sym/0xf:1000"),
        ("sym:0x0f:500:1000, asym:0xf0:500:1000", "sla=asym/0xf0,sym/0xf;cir=asym/0xf0:500,sym/0xf:500;"
                                                  "pir=asym/0xf0:1000,sym/0xf:1000"),
        ("sym:0xf:500:1000,asym:0xf0:800:900", "sla=asym/0xf0,sym/0xf;cir=asym/0xf0:800,sym/0xf:500;"
                                               "pir=asym/0xf0:900,sym/0xf:1000"),
        ("", "sla=;cir=;pir="),
    ],
    ids=["one", "two-same-rates-sorted", "two-different-rates", "empty"],
)
def test_sla_fact_forms(registry: vfiocompat.Registry, sla: str, expected: str) -> None:
    device = _first_vf(FIXTURES / "qat-402xx-rl" / "sys", registry, {**FACTS, "qat_sla": sla})
    assert _hook()(device).endswith(";" + expected)


@pytest.mark.parametrize(
    "sla",
    ["sym:0xf:500", "zip:0xf:500:1000", "sym:0x0:500:1000", "sym:f:500:1000", "sym:0xf:-1:1000",
     "sym:0xf:500:1000,sym:0xf:800:1000", "sym:0x3:1:1,asym:0x6:1:1",
     ",".join(f"sym:{hex(1 << n)}:1:1" for n in range(5)), "sym:0xf:4294967296:1"],
    ids=["three-parts", "unknown-service", "empty-mask", "mask-without-0x", "negative", "same-key-twice",
         "ring-pair-in-two-slas", "too-many", "rate-over-u32"],
)
def test_bad_sla_facts_are_refused(registry: vfiocompat.Registry, sla: str) -> None:
    device = _first_vf(FIXTURES / "qat-402xx-rl" / "sys", registry, {**FACTS, "qat_sla": sla})
    assert _refusal(device).fact == "qat_sla"


def test_an_sla_fact_without_rate_limiting_is_refused(registry: vfiocompat.Registry) -> None:
    device = _first_vf(FIXTURES / "qat-4xxx" / "sys", registry, {**FACTS, "qat_sla": "sym:0xf:500:1000"})
    error = _refusal(device)
    assert error.fact == "qat_sla" and "has no qat_rl/" in error.message


@pytest.mark.parametrize(
    ("facts", "fact"),
    [
        ({"qat_gencap": "0x1", "qat_extdc": "0x1"}, "qat_mstate_version"),
        ({**FACTS, "qat_mstate_version": "one"}, "qat_mstate_version"),
        ({**FACTS, "qat_gencap": "3c1f"}, "qat_gencap"),
        ({**FACTS, "qat_extdc": "0x" + "f" * 17}, "qat_extdc"),
    ],
    ids=["missing-version", "version-not-decimal", "mask-without-0x", "mask-over-64-bits"],
)
def test_missing_or_bad_facts_are_refused(registry: vfiocompat.Registry, facts: Dict[str, str], fact: str) -> None:
    assert _refusal(_first_vf(FIXTURES / "qat-4xxx" / "sys", registry, facts)).fact == fact


# -- devices that are not this plugin's ---------------------------------------------------------


@pytest.mark.parametrize(
    "device",
    [
        HostDevice("pci", address="0000:3b:00.1", vendor="0x15b3", device="0x101e", driver="mlx5_vfio_pci"),
        HostDevice("pci", address="0000:6b:00.0", vendor="0x8086", device="0x4940", driver="4xxx"),
        HostDevice("pci", address="0000:6b:00.1", vendor="0x8086", device="0x4947", driver="vfio-pci"),
        HostDevice("mdev", uuid="0c2e3a7c-8a1b-4e1f-9a43-7f9d2a1b3c4d", parent="0000:00:02.0", vendor="0x8086",
                   device="0x4941", mdev_type="i915-GVTg_V5_4"),
    ],
    ids=["mellanox-vf", "qat-pf", "qat-420xx-vf", "mdev"],
)
def test_devices_that_are_not_qat_vfs_get_none(device: HostDevice) -> None:
    assert _hook()(device) is None
