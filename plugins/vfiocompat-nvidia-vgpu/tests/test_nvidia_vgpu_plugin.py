"""The installed nvidia-vgpu plugin, loaded through its entry point, gives the documented verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vfiocompat
from vfiocompat.testing import assert_examples_pass, requires_plugin

PLUGIN = "nvidia-vgpu"
TABLE = "nvidia-vgpu"


pytestmark = requires_plugin(PLUGIN)


def dv(type_: str = "NVIDIA_A100-4C", dev: str = "20f1", subsys: str = "10de-145f", host_drv: str = "550.54.14",
       **extra: str) -> str:
    """A device_version in this plugin's format; extra keys (ecc, host_os) are appended in order."""
    pairs = [f"type={type_}", f"dev={dev}", f"subsys={subsys}", f"host_drv={host_drv}"]
    pairs += [f"{key}={value}" for key, value in extra.items()]
    return "0x10de:1:" + ";".join(pairs)


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return vfiocompat.Registry(entry_points=True)


def test_entry_point_loads_one_table_without_failure(registry: vfiocompat.Registry) -> None:
    record = next(r for r in registry.plugins if r.name == PLUGIN)
    assert record.ok, record.failures
    assert record.distribution == "vfiocompat-nvidia-vgpu"
    assert [t.id for t in record.tables] == [TABLE]
    table = record.tables[0]
    assert table.vendor_id == 0x10DE
    assert table.prefixes == ("type=",)
    assert table.plugin == PLUGIN


def test_every_rule_cites_a_public_source(registry: vfiocompat.Registry) -> None:
    table = next(t for t in registry.tables if t.id == TABLE)
    assert table.rules
    for rule in table.rules:
        assert rule.source_url is not None and rule.source_url.startswith("https://"), rule.id


def test_every_table_example_gets_its_stated_verdict(registry: vfiocompat.Registry) -> None:
    assert len(assert_examples_pass(registry, table=TABLE)) >= 20


def test_examples_cover_every_rule_at_its_level(registry: vfiocompat.Registry) -> None:
    # testing.assert_examples_decide_every_rule judges live only, where a cold rule never decides a pair.
    table = next(t for t in registry.tables if t.id == TABLE)
    decided = {registry.check(e.source, e.target, mode=mode).decided_by
               for e in table.examples for mode in ("live", "cold")}
    assert {r.id for r in table.rules} == {ref.rule for ref in decided if ref is not None}
    cold_only = [e for e in table.examples if registry.check(e.source, e.target).codes[:1] == ("VC403",)]
    assert cold_only and all(registry.check(e.source, e.target, mode="cold").compatible for e in cold_only)


def test_validate_installed_cli_passes_this_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vfiocompat", "validate", "--installed", "--json"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # 1 would be another plugin's failing example
    report = json.loads(done.stdout)
    mine: List[Dict[str, Any]] = [f for f in report["files"] if f["table"] == TABLE]
    assert len(mine) == 1
    assert mine[0]["valid"] is True
    assert mine[0]["errors"] == []
    assert all(example["passed"] for example in mine[0]["examples"])


def test_same_type_same_host_driver_is_compatible_and_cites_red_hat(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(dv(), dv())
    assert verdict.compatible
    assert verdict.decided_by is not None
    assert verdict.decided_by.rule == "same-type-same-host-driver"
    assert verdict.decided_by.plugin == PLUGIN
    assert verdict.decided_by.source_url is not None and "redhat.com" in verdict.decided_by.source_url


@pytest.mark.parametrize(("source", "target"), [("550.54.14", "550.54.15"), ("550.54.15", "550.54.14"),
                                                ("535.104.05", "550.54.14"), ("550.54.14", "535.104.05")])
def test_host_driver_must_be_identical_in_both_directions_for_live(
    registry: vfiocompat.Registry, source: str, target: str
) -> None:
    verdict = registry.check(dv(host_drv=source), dv(host_drv=target))
    assert not verdict.compatible
    reason = next(r for r in verdict.reasons if r.code == "NV_HOST_DRIVER")
    assert reason.field == "host_drv"
    assert (reason.source_value, reason.target_value) == (source, target)
    assert "differs on the source and destination hosts" in reason.message


def test_host_driver_versions_compare_numerically(registry: vfiocompat.Registry) -> None:
    assert registry.check(dv(host_drv="535.104.05"), dv(host_drv="535.104.5")).compatible


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(st.integers(0, 999), st.integers(0, 999), st.integers(0, 99)),
    st.tuples(st.integers(0, 999), st.integers(0, 999), st.integers(0, 99)),
)
def test_live_is_host_driver_equality_and_cold_is_branch_equality(source: Any, target: Any) -> None:
    registry = vfiocompat.Registry(entry_points=True)
    s = ".".join(map(str, source))
    t = ".".join(map(str, target))
    live = registry.check(dv(host_drv=s), dv(host_drv=t))
    cold = registry.check(dv(host_drv=s), dv(host_drv=t), mode="cold")
    same_branch = source[0] == target[0]
    assert live.compatible is (source == target)
    assert cold.compatible is same_branch
    assert live.levels == (("live", "cold") if source == target else ("cold",) if same_branch else ())
    if source != target:
        assert live.codes == (("VC403", "NV_HOST_DRIVER") if same_branch else ("NV_HOST_DRIVER",))
    if not same_branch:
        assert cold.codes == ("NV_GUEST_DRIVER_BRANCH",)


COLD_ONLY = (dv(host_drv="535.154.02"), dv(host_drv="535.104.05"))  # one branch (R535), two releases


def test_same_branch_pair_is_refused_live_with_vc403_saying_cold_is_allowed() -> None:
    verdict = vfiocompat.check(*COLD_ONLY)
    assert not verdict.compatible
    assert verdict.codes == ("VC403", "NV_HOST_DRIVER")
    assert "cold migration only" in verdict.reasons[0].message
    assert "cold-same-type-same-branch" in verdict.reasons[0].message
    assert verdict.levels == ("cold",)


@pytest.mark.parametrize("pair", [COLD_ONLY, COLD_ONLY[::-1]], ids=["downgrade", "upgrade"])
def test_same_branch_pair_is_admitted_cold_either_way_citing_nvidia(pair: Any) -> None:
    source, target = pair
    verdict = vfiocompat.check(source, target, mode="cold")
    assert verdict.compatible
    assert verdict.mode == "cold"
    assert verdict.decided_by is not None and verdict.decided_by.rule == "cold-same-type-same-branch"
    assert verdict.decided_by.source_url is not None and verdict.decided_by.source_url.startswith(
        "https://docs.nvidia.com/")


def test_identical_pair_is_admitted_at_both_levels(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(dv(), dv())
    assert verdict.levels == ("live", "cold")
    assert registry.check(dv(), dv(), mode="cold").compatible


def test_cold_across_branches_is_refused_for_the_unknown_guest_driver(registry: vfiocompat.Registry) -> None:
    pair = (dv(host_drv="535.154.02"), dv(host_drv="550.54.14"))
    live, cold = registry.check(*pair), registry.check(*pair, mode="cold")
    assert live.codes == ("NV_HOST_DRIVER",) and cold.codes == ("NV_GUEST_DRIVER_BRANCH",)
    assert cold.reasons[0].field == "host_drv"
    assert (cold.reasons[0].source_value, cold.reasons[0].target_value) == ("535.154.02", "550.54.14")


def test_cold_still_needs_the_same_vgpu_type(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(dv(type_="NVIDIA_A100-4C"), dv(type_="NVIDIA_A100-8C", host_drv="550.54.15"),
                             mode="cold")
    assert not verdict.compatible
    assert verdict.codes == ("NV_GPU_VGPU_TYPE",)


@pytest.mark.parametrize(("source", "target", "code"), [
    (dv("NVIDIA_H100-4C", "2331", "10de-1626", host_drv="550.54.10"),
     dv("NVIDIA_H100-4C", "2321", "10de-1839", host_drv="550.54.15"), "NV_GPU_BOARD_VARIANT"),
    (dv("NVIDIA_H100-4C", "2330", "10de-16c0"), dv("NVIDIA_H100-4C", "2324", "10de-17a6"), "NV_GPU_BOARD_FAMILY"),
    (dv(host_os="rhel-10.0"), dv(host_os="rhel-9.4", host_drv="550.54.15"), "NV_OTHER_HOST_OS"),
    (dv(ecc="on"), dv(ecc="off"), "NV_GPU_ECC"),
])
def test_deny_rules_also_refuse_a_cold_move(registry: vfiocompat.Registry, source: str, target: str,
                                            code: str) -> None:
    verdict = registry.check(source, target, mode="cold")
    assert not verdict.compatible
    assert verdict.codes == (code,)
    assert verdict.levels == ()


def test_vgpu_type_must_match(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(dv(type_="NVIDIA_A100-4C"), dv(type_="NVIDIA_A100-8C"))
    assert not verdict.compatible
    assert verdict.codes == ("NV_GPU_VGPU_TYPE",)
    assert verdict.reasons[0].source_value == "NVIDIA_A100-4C"


def test_type_and_driver_mismatch_report_both_groups(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(dv(type_="GRID_T4-2Q"), dv(type_="GRID_T4-4Q", host_drv="550.90.07"))
    assert set(verdict.codes) == {"NV_GPU_VGPU_TYPE", "NV_HOST_DRIVER"}


H100_PCIE, H100_NVL = ("2331", "10de-1626"), ("2321", "10de-1839")
# PCI device ids per product, from NVIDIA's open-gpu-kernel-modules README (the table's notes).
PRODUCTS = {"H100": ("2321", "2330", "2331", "2339"), "H800": ("2322", "2324", "233a"), "H200": ("2335", "233b")}


@pytest.mark.parametrize(("source", "target"), [(H100_PCIE, H100_NVL), (H100_NVL, H100_PCIE)])
def test_pcie_80gb_and_nvl_94gb_deny_wins_over_allow(registry: vfiocompat.Registry, source: Any, target: Any) -> None:
    pair = (dv("NVIDIA_H100-4C", *source), dv("NVIDIA_H100-4C", *target))
    verdict = registry.check(*pair)
    assert not verdict.compatible
    assert verdict.codes == ("NV_GPU_BOARD_VARIANT",)
    assert verdict.decided_by is not None
    assert (verdict.decided_by.rule, verdict.decided_by.effect) == ("no-pcie-80gb-nvl-94gb", "deny")
    # The allow rule holds for this very pair: the deny is what refuses it.
    trials = {trial.rule.rule: trial for trial in registry.explain(*pair).trials}
    assert trials["same-type-same-host-driver"].holds
    assert trials["no-pcie-80gb-nvl-94gb"].holds


def test_other_board_variants_are_not_denied(registry: vfiocompat.Registry) -> None:
    assert registry.check(dv("NVIDIA_H100-4C", *H100_NVL), dv("NVIDIA_H100-4C", *H100_NVL))
    assert registry.check(dv("NVIDIA_H100-4C", *H100_PCIE), dv("NVIDIA_H100-4C", *H100_PCIE))
    assert registry.check(dv("NVIDIA_H100-4C", "2330", "10de-16c0"), dv("NVIDIA_H100-4C", *H100_PCIE))


@pytest.mark.parametrize("source", sorted(PRODUCTS))
@pytest.mark.parametrize("target", sorted(PRODUCTS))
def test_h100_h800_h200_only_migrate_to_themselves(registry: vfiocompat.Registry, source: str, target: str) -> None:
    for source_dev in PRODUCTS[source]:
        for target_dev in PRODUCTS[target]:
            pair = (dv("NVIDIA_H100-4C", source_dev), dv("NVIDIA_H100-4C", target_dev))
            verdict = registry.check(*pair)
            if source == target:
                variant = {source_dev, target_dev} == {H100_PCIE[0], H100_NVL[0]}
                assert verdict.compatible is not variant, (source_dev, target_dev)
                continue
            assert not verdict.compatible
            assert verdict.codes == ("NV_GPU_BOARD_FAMILY",)
            assert verdict.decided_by is not None and verdict.decided_by.rule == "no-h100-h800-h200-cross"
            assert (verdict.reasons[0].source_value, verdict.reasons[0].target_value) == (source_dev, target_dev)
            assert any(t.holds and t.rule.effect == "allow" for t in registry.explain(*pair).trials)


@pytest.mark.parametrize(("source", "target", "ok"), [
    ("rhel-10.0", "rhel-9.4", False),
    ("rhel-9.4", "rhel-10.0", False),
    ("rhel-10.1", "rhel-9.4", False),
    ("rhel-9.6", "rhel-10.0", True),
    ("rhel-10.0", "rhel-9.6", True),
    ("rhel-9.4", "rhel-9.4", True),
    ("rhel-10.0", "rhel-10.0", True),
])
def test_rhel10_and_rhel94_do_not_migrate(
    registry: vfiocompat.Registry, source: str, target: str, ok: bool
) -> None:
    verdict = registry.check(dv(host_os=source), dv(host_os=target))
    assert verdict.compatible is ok
    if not ok:
        assert verdict.codes == ("NV_OTHER_HOST_OS",)


def test_host_os_rule_needs_both_sides(registry: vfiocompat.Registry) -> None:
    assert registry.check(dv(host_os="rhel-10.0"), dv()).compatible
    assert registry.check(dv(), dv(host_os="rhel-9.4")).compatible


@pytest.mark.parametrize(("source", "target", "ok"), [
    ("on", "off", False), ("off", "on", False), ("on", "on", True), ("off", "off", True),
])
def test_ecc_mode_must_match(registry: vfiocompat.Registry, source: str, target: str, ok: bool) -> None:
    verdict = registry.check(dv(ecc=source), dv(ecc=target))
    assert verdict.compatible is ok
    if not ok:
        assert verdict.codes == ("NV_GPU_ECC",)


def test_every_holding_deny_is_reported(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(
        dv("NVIDIA_H100-4C", *H100_PCIE, ecc="on", host_os="rhel-10.0"),
        dv("NVIDIA_H100-4C", "233a", "10de-183a", ecc="off", host_os="rhel-9.4"),
    )
    assert not verdict.compatible
    assert set(verdict.codes) == {"NV_GPU_BOARD_FAMILY", "NV_GPU_ECC", "NV_OTHER_HOST_OS"}


@pytest.mark.parametrize("proprietary", [
    "type=NVIDIA_A100-4C;dev=20f1;subsys=10de-145f",  # host_drv missing
    "type=NVIDIA_A100-4C;dev=20f1;subsys=10de-145f;host_drv=550.54.14;guest_drv=550.54.15",  # unknown key
    "type=NVIDIA_A100-4C;dev=20f1;subsys=10de-145f;host_drv=R550",  # not a dotted version
    "type=NVIDIA_A100-4C;gpu=A100;board=PCIE-80GB;host_drv=550.54.14",  # the old format's keys
])
def test_malformed_strings_are_refused_with_vc111(registry: vfiocompat.Registry, proprietary: str) -> None:
    verdict = registry.check("0x10de:1:" + proprietary, dv())
    assert not verdict.compatible
    assert verdict.codes == ("VC111",)


def test_strings_not_starting_with_type_are_not_claimed(registry: vfiocompat.Registry) -> None:
    verdict = registry.check("0x10de:1:dev=20f1;type=NVIDIA_A100-4C;subsys=10de-145f;host_drv=550.54.14", dv())
    assert not verdict.compatible
    assert "VC204" in verdict.codes


def test_cli_check_exit_codes_and_json() -> None:
    ok = subprocess.run([sys.executable, "-m", "vfiocompat", "check", dv(), dv()],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run(
        [sys.executable, "-m", "vfiocompat", "check", "--json", dv(host_drv="550.54.14"), dv(host_drv="550.90.07")],
        capture_output=True, text=True, check=False,
    )
    assert refused.returncode == 1, refused.stderr
    assert "NV_HOST_DRIVER" in json.dumps(json.loads(refused.stdout))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "vfiocompat", *args], capture_output=True, text=True, check=False)


def test_cli_check_refuses_a_cold_only_pair_live_and_admits_it_with_mode_cold() -> None:
    live = _cli("check", "--json", *COLD_ONLY)
    assert live.returncode == 1, live.stderr
    refused = json.loads(live.stdout)
    assert (refused["compatible"], refused["mode"], refused["levels"]) == (False, "live", ["cold"])
    assert [r["code"] for r in refused["reasons"]] == ["VC403", "NV_HOST_DRIVER"]
    text = _cli("check", *COLD_ONLY)
    assert text.returncode == 1 and "VC403" in text.stdout and "--mode cold" in text.stdout
    cold = _cli("check", "--json", "--mode", "cold", *COLD_ONLY)
    assert cold.returncode == 0, cold.stderr
    admitted = json.loads(cold.stdout)
    assert (admitted["compatible"], admitted["mode"]) == (True, "cold")
    assert admitted["decided_by"]["rule"] == "cold-same-type-same-branch"


def test_cli_mode_cold_still_refuses_another_branch() -> None:
    done = _cli("check", "--mode", "cold", dv(host_drv="535.154.02"), dv(host_drv="550.54.14"))
    assert done.returncode == 1, done.stderr
    assert "NV_GUEST_DRIVER_BRANCH" in done.stdout and "VC403" not in done.stdout
