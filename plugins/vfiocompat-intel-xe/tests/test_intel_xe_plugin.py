"""The installed vfiocompat-intel-xe plugin: its table's verdicts and the device_version it reads from a host."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Dict, List, Mapping, Optional

import pytest

import vfiocompat
from vfiocompat.host.inventory import HostDevice
from vfiocompat.host.probe import device_version_of
from vfiocompat.testing import (
    assert_compatible,
    assert_examples_decide_every_rule,
    assert_examples_pass,
    assert_fixture_probes_as_expected,
    assert_installed_from_tree,
    assert_refused,
    copy_fixture,
    device_versions,
    fixture_facts,
    inventory_entry,
    load_registry,
    probe_fixture,
    requires_plugin,
    run_cli,
    with_facts,
)

DISTRIBUTION = "vfiocompat-intel-xe"
PLUGIN = "intel-xe"
TABLE_ID = "intel-xe-sriov-vf"
HERE = Path(__file__).resolve().parent
TREE_PACKAGE = HERE.parent / "vfiocompat_intel_xe"
FIXTURE = HERE.parent.parent.parent / "examples" / "sysfs" / "intel-xe"
PARENT = "devices/pci0000:00/0000:00:01.0"
GVT = "0x8086:1:8086-193b-i915-GVTg_V5_4-00000001"
BASE: Dict[str, str] = {
    "dev": "0xe20b", "rev": "0x00", "pkt": "1", "guc": "70.54.0", "ggtt": "4194304", "vram": "4294967296",
    "ctxs": "1024/1024", "dbs": "32/32",
}
#: The device_versions the fixture's VFs have once the operator supplies the packet version.
VF1 = "0x8086:1:xe=bmg;dev=0xe20b;rev=0x00;pkt=1;guc=70.54.0;ggtt=4194304;vram=4294967296;ctxs=1024/1024;dbs=32/32"
VF2 = VF1.replace("ggtt=4194304", "ggtt=8388608")

pytestmark = requires_plugin(PLUGIN)


def xe(family: str = "bmg", interface: str = "1", **keys: str) -> str:
    """An Xe device_version: BASE with ``keys`` replaced."""
    values = {**BASE, **keys}
    return f"0x8086:{interface}:xe={family};" + ";".join(f"{k}={v}" for k, v in values.items())


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return load_registry(PLUGIN)


def vf(fixture: Path, n: int, facts: Optional[Mapping[str, str]] = None) -> HostDevice:
    """VF ``0000:03:00.n`` of the fixture (or a copy) as probe describes it (no plugins), with ``facts``."""
    return with_facts(inventory_entry(probe_fixture(vfiocompat.Registry(), fixture), f"pci:0000:03:00.{n}").device,
                      facts)


PKT = {"xe_packet_version": "1"}


# -- installation and table ---------------------------------------------------------------------


def test_entry_point_names_the_package_installed_as_in_the_tree() -> None:
    assert_installed_from_tree(PLUGIN, TREE_PACKAGE, distribution=DISTRIBUTION)


def test_table_examples_pass_and_decide_every_rule(registry: vfiocompat.Registry) -> None:
    outcomes = assert_examples_pass(registry, table=TABLE_ID)
    assert len(outcomes) >= 17
    assert_examples_decide_every_rule(registry, table=TABLE_ID)
    record = next(r for r in registry.plugins if r.name == PLUGIN)
    assert [(t.id, t.vendor_id, t.prefixes) for t in record.tables] == [(TABLE_ID, 0x8086, ("xe=",))]
    assert all(rule.source_url and rule.source_url.startswith("https://") for rule in record.tables[0].rules)


# -- verdicts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target", "codes"),
    [
        (xe(pkt="2"), xe(pkt="1"), ["XE_PACKET_VERSION"]),
        (xe(pkt="1"), xe(pkt="2"), ["XE_PACKET_VERSION"]),
        (xe(), xe(dev="0xe20c"), ["XE_DEVID_MISMATCH"]),
        (xe(), xe(rev="0x01"), ["XE_REVID_MISMATCH"]),
        (xe(guc="70.53.9"), xe(guc="70.53.9"), ["XE_GUC_MIGRATION_DISABLED"]),
        (xe(guc="70.54.0"), xe(guc="70.55.0"), ["XE_GUC_VERSION_UNVERIFIED"]),
        (xe(guc="70.55.0"), xe(guc="70.54.0"), ["XE_GUC_VERSION_UNVERIFIED"]),
        (xe(ggtt="8388608"), xe(ggtt="4194304"), ["XE_GGTT_QUOTA"]),
        (xe(ggtt="4194304"), xe(ggtt="8388608"), ["XE_GGTT_QUOTA"]),
        (xe(vram="8589934592"), xe(vram="4294967296"), ["XE_VRAM_QUOTA", "XE_VRAM_REASSIGNED"]),
        (xe(vram="4294967296"), xe(vram="8589934592"), ["XE_VRAM_REASSIGNED"]),
        (xe(ctxs="1024/1024"), xe(ctxs="1024/512"), ["XE_CTXS_REASSIGNED"]),
        (xe(dbs="32/32"), xe(dbs="64/64"), ["XE_DBS_REASSIGNED"]),
        (xe(family="lnl"), xe(family="lnl"), ["XE_VF_NOT_SUPPORTED"]),
    ],
    ids=["pkt-down", "pkt-up", "devid", "revid", "guc-too-old", "guc-up", "guc-down", "ggtt-less", "ggtt-more",
         "vram-less", "vram-more", "ctxs", "dbs", "lnl"],
)
def test_each_check(registry: vfiocompat.Registry, source: str, target: str, codes: List[str]) -> None:
    verdict = assert_refused(registry, source, target, codes, rule="xe-vf-restore-checks")
    assert sorted(verdict.codes) == sorted(codes)
    assert all(r.plugin == PLUGIN for r in verdict.reasons)


def test_vram_smaller_target_names_the_pf_message(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(xe(vram="8589934592"), xe(vram="4294967296"))
    by_code = {r.code: r for r in verdict.reasons}
    assert by_code["XE_VRAM_QUOTA"].message.startswith("Failed to restore VF VRAM data")
    assert (by_code["XE_VRAM_QUOTA"].source_value, by_code["XE_VRAM_QUOTA"].target_value) == ("8589934592",
                                                                                              "4294967296")


def test_integrated_and_discrete_families_do_not_mix(registry: vfiocompat.Registry) -> None:
    ptl = xe(family="ptl", dev="0xb080", vram="0")
    assert_compatible(registry, ptl, ptl, rule="xe-vf-restore-checks")
    assert "XE_DEVID_MISMATCH" in registry.check(ptl, xe()).codes


def test_wrong_format_and_interface(registry: vfiocompat.Registry) -> None:
    assert registry.check(xe() + ";fw=1", xe()).codes == ("VC111",)
    assert registry.check(xe(interface="2"), xe()).codes == ("VC202",)


@requires_plugin("intel-gvt")
def test_xe_to_gvt_is_refused_as_different_tables() -> None:
    verdict = load_registry(PLUGIN, "intel-gvt").check(xe(), GVT)
    assert verdict.codes == ("VC205",)


def test_cli_check_exit_codes() -> None:
    assert run_cli("check", xe(), xe()).returncode == 0
    refused = run_cli("check", "--json", xe(), xe(rev="0x01"))
    assert refused.returncode == 1
    assert [r["code"] for r in json.loads(refused.stdout)["reasons"]] == ["XE_REVID_MISMATCH"]


# -- the host: the fixture ----------------------------------------------------------------------


def test_fixture_vfs_give_their_device_versions_with_the_packet_fact() -> None:
    import vfiocompat_intel_xe as plugin

    assert plugin.vfiocompat_device_version(vf(FIXTURE, 1, facts=PKT)) == VF1
    assert plugin.vfiocompat_device_version(vf(FIXTURE, 2, facts=PKT)) == VF2


def test_packet_version_missing_is_vc608_naming_the_fact() -> None:
    import vfiocompat_intel_xe as plugin

    version, name, reasons = device_version_of(vf(FIXTURE, 1), {PLUGIN: plugin.vfiocompat_device_version})
    assert (version, name) == (None, None)
    assert [(r.code, r.layer, r.field, r.plugin) for r in reasons] == [("VC608", "host", "xe_packet_version",
                                                                        PLUGIN)]
    assert 'xe_packet_version = "..."' in (reasons[0].hint or "")


def test_malformed_fact_is_not_used() -> None:
    import vfiocompat_intel_xe as plugin

    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        plugin.vfiocompat_device_version(vf(FIXTURE, 1, facts={"xe_packet_version": "1;pkt=2"}))
    assert raised.value.fact == "xe_packet_version"


def test_without_debugfs_the_quotas_are_facts(tmp_path: Path) -> None:
    import vfiocompat_intel_xe as plugin

    copy = copy_fixture(FIXTURE, tmp_path)
    shutil.rmtree(copy / "sys" / "kernel" / "debug" / "dri")
    with pytest.raises(vfiocompat.DeviceFactMissing) as raised:
        plugin.vfiocompat_device_version(vf(copy, 1, facts=PKT))
    assert raised.value.fact == "guc_version"
    assert "ggtt_quota" in str(raised.value) and "vram_quota" not in str(raised.value)  # vram is in sysfs
    facts = {**PKT, "guc_version": "70.54.0", "ggtt_quota": "4194304", "contexts_quota": "1024/1024",
             "doorbells_quota": "32/32"}
    assert plugin.vfiocompat_device_version(vf(copy, 1, facts=facts)) == VF1


def test_quota_read_from_debugfs_follows_the_pf(tmp_path: Path) -> None:
    import vfiocompat_intel_xe as plugin

    copy = copy_fixture(FIXTURE, tmp_path)
    (copy / "sys/kernel/debug/dri/0000:03:00.0/sriov/vf1/tile0/gt1/contexts_quota").write_text("512\n")
    assert plugin.vfiocompat_device_version(vf(copy, 1, facts=PKT)) == VF1.replace("ctxs=1024/1024",
                                                                                  "ctxs=1024/512")


def test_devices_not_ours_get_none() -> None:
    import vfiocompat_intel_xe as plugin

    pf = dataclasses.replace(vf(FIXTURE, 1), address="0000:03:00.0", driver="xe", path=f"{PARENT}/0000:03:00.0")
    other_vendor = dataclasses.replace(vf(FIXTURE, 1), vendor="0x15b3")
    lunar_lake = dataclasses.replace(vf(FIXTURE, 1), device="0x64a0")
    mdev = HostDevice("mdev", uuid="00000000-0000-0000-0000-000000000001", vendor="0x8086", device="0xe20b")
    for device in (pf, other_vendor, lunar_lake, mdev):
        assert plugin.vfiocompat_device_version(device) is None


def test_probe_of_the_fixture_matches_expected_json_and_its_pairs(registry: vfiocompat.Registry) -> None:
    inventory = assert_fixture_probes_as_expected(registry, FIXTURE)
    listed = {e.device.id: [r.code for r in e.reasons] for e in inventory.devices}
    assert listed["pci:0000:03:00.1"] == ["VC608"] and listed["pci:0000:03:00.2"] == ["VC608"]
    assert listed["pci:0000:03:00.3"][0] == "VC601"


def test_probe_lists_the_vfio_pci_vf_with_vc601(registry: vfiocompat.Registry) -> None:
    inventory = probe_fixture(registry, FIXTURE)
    entry = inventory_entry(inventory, "pci:0000:03:00.3")
    assert entry.can_migrate is False and entry.device_version is None
    assert [r.code for r in entry.reasons] == ["VC601", "VC608"]
    assert inventory.issues == ()


def test_probe_with_the_fixture_config_matches_expected_config_json(registry: vfiocompat.Registry) -> None:
    assert {k: dict(v) for k, v in fixture_facts(FIXTURE).items()} == {"pci:0000:03:00.1": PKT,
                                                                       "pci:0000:03:00.2": PKT}
    inventory = assert_fixture_probes_as_expected(registry, FIXTURE, config=True)
    assert device_versions(inventory) == {"pci:0000:03:00.1": VF1, "pci:0000:03:00.2": VF2}
    assert {e.device.id: e.version_plugin for e in inventory.devices if e.device_version} == {
        "pci:0000:03:00.1": PLUGIN, "pci:0000:03:00.2": PLUGIN}
    left_out = inventory_entry(inventory, "pci:0000:03:00.3")
    assert [r.code for r in left_out.reasons] == ["VC601", "VC608"], "the vfio-pci VF has no fact in config.toml"


def test_debugfs_is_read_under_the_probed_root_only(tmp_path: Path) -> None:
    import vfiocompat_intel_xe as plugin

    copy = copy_fixture(FIXTURE, tmp_path)
    (copy / "sys/kernel/debug/dri/0000:03:00.0/sriov/vf1/tile0/ggtt_quota").write_text("16777216\n")
    assert ";ggtt=16777216;" in plugin.vfiocompat_device_version(vf(copy, 1, facts=PKT))
    assert plugin.vfiocompat_device_version(vf(FIXTURE, 1, facts=PKT)) == VF1, "the original fixture is not read"


def test_a_device_without_a_sysfs_tree_reads_no_debugfs() -> None:
    import vfiocompat_intel_xe as plugin

    # As loaded from an inventory document: the fields, no tree behind them.
    bare = HostDevice("pci", address="0000:03:00.1", vendor="0x8086", device="0xe20b", driver="xe-vfio-pci",
                      facts=PKT)
    assert bare.read_host_attribute("kernel/debug/dri/0000:03:00.0/tile0/gt0/uc/guc_info") is None
    assert plugin.vfiocompat_device_version(bare) is None, "no physfn link: not a VF this plugin can place"


def test_a_pf_whose_name_is_not_a_pci_address_is_not_read(tmp_path: Path) -> None:
    import vfiocompat_intel_xe as plugin

    copy = copy_fixture(FIXTURE, tmp_path)
    parent = copy / "sys" / PARENT
    shutil.copytree(parent / "0000:03:00.0", parent / "xe-pf", symlinks=True)
    (parent / "0000:03:00.1" / "physfn").unlink()
    (parent / "0000:03:00.1" / "physfn").symlink_to("../xe-pf")
    device = vf(copy, 1, facts=PKT)
    assert (device.link_name("physfn"), device.link_name("physfn/driver")) == ("xe-pf", "xe")
    assert plugin.vfiocompat_device_version(device) is None
