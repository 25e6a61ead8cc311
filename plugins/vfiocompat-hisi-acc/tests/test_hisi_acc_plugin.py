"""The installed hisi-acc plugin, loaded through its entry point, mirrors vf_qm_check_match()."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Dict, List, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vfiocompat
from vfiocompat.testing import assert_examples_decide_every_rule, assert_examples_pass, requires_plugin

PLUGIN = "hisi-acc"
TABLE = "hisi-acc-vf"
V1 = "0xcdcdcdcdfeedaacc"
V2 = "0xaaccfeeddecadede"
ZIP, SEC, HPRE = "0xa251", "0xa256", "0xa259"


pytestmark = requires_plugin(PLUGIN)


def dv(magic: str = V2, dev_id: str = ZIP, qp_num: int = 64, iso: str = "0x0",
       major: Optional[int] = None) -> str:
    """A device_version in this plugin's format; a V2 string gets major_ver=1 unless told otherwise."""
    if major is None and magic == V2:
        major = 1
    pairs = [f"acc_magic={magic}"]
    if major is not None:
        pairs.append(f"major_ver={major}")
    pairs += [f"dev_id={dev_id}", f"qp_num={qp_num}", f"que_iso_cfg={iso}"]
    return "0x19e5:1:" + ";".join(pairs)


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return vfiocompat.Registry(entry_points=True)


def test_entry_point_loads_one_table_without_failure(registry: vfiocompat.Registry) -> None:
    record = next(r for r in registry.plugins if r.name == PLUGIN)
    assert record.ok, record.failures
    assert record.distribution == "vfiocompat-hisi-acc"
    assert [t.id for t in record.tables] == [TABLE]
    table = record.tables[0]
    assert table.vendor_id == 0x19E5
    assert table.prefixes == ("acc_magic=",)


def test_every_rule_cites_a_public_source(registry: vfiocompat.Registry) -> None:
    table = next(t for t in registry.tables if t.id == TABLE)
    for rule in table.rules:
        assert rule.source_url is not None and rule.source_url.startswith("https://"), rule.id


def test_every_table_example_gets_its_stated_verdict(registry: vfiocompat.Registry) -> None:
    assert len(assert_examples_pass(registry, table=TABLE)) >= 12


def test_examples_cover_every_rule(registry: vfiocompat.Registry) -> None:
    assert_examples_decide_every_rule(registry, table=TABLE)


def test_validate_installed_cli_passes_this_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vfiocompat", "validate", "--installed", "--json"],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode in (0, 1), done.stderr  # 1 would be another plugin's failing example
    mine: List[Dict[str, Any]] = [f for f in json.loads(done.stdout)["files"] if f["table"] == TABLE]
    assert len(mine) == 1
    assert mine[0]["valid"] is True
    assert all(example["passed"] for example in mine[0]["examples"])


@pytest.mark.parametrize(("source", "target", "rule"), [
    (V1, V1, "v1-stream"),
    (V1, V2, "v1-stream"),
    (V2, V2, "v2-stream-same-major"),
])
def test_accepted_magic_combinations(registry: vfiocompat.Registry, source: str, target: str, rule: str) -> None:
    verdict = registry.check(dv(source), dv(target))
    assert verdict.compatible
    assert verdict.decided_by is not None and verdict.decided_by.rule == rule
    assert verdict.decided_by.source_url is not None and "lore.kernel.org" in verdict.decided_by.source_url


def test_new_driver_to_old_driver_is_refused_by_the_deny_rule(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(dv(V2), dv(V1))
    assert not verdict.compatible
    # The deny rule decides and comes first; what the nearest allow rule lacks follows.
    assert verdict.codes[0] == "HISI_ACC_DEV_MAGIC"
    assert verdict.reasons[0].rule is not None and verdict.reasons[0].rule.effect == "deny"
    assert verdict.decided_by is not None
    assert (verdict.decided_by.rule, verdict.decided_by.effect) == ("v2-stream-to-v1-driver", "deny")
    assert verdict.reasons[0].message.startswith("failed to match ACC_DEV_MAGIC")
    assert (verdict.reasons[0].source_value, verdict.reasons[0].target_value) == (V2, V1)


def test_magic_direction_is_asymmetric(registry: vfiocompat.Registry) -> None:
    assert registry.check(dv(V1), dv(V2)).compatible
    assert not registry.check(dv(V2), dv(V1)).compatible


@pytest.mark.parametrize(("source_major", "target_major"), [(1, 2), (2, 1), (3, 1)])
def test_v2_major_version_must_match(
    registry: vfiocompat.Registry, source_major: int, target_major: int
) -> None:
    verdict = registry.check(dv(V2, major=source_major), dv(V2, major=target_major))
    assert not verdict.compatible
    assert verdict.codes == ("HISI_ACC_DEV_MAGIC",)
    assert verdict.reasons[0].field == "major_ver"


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 65535), st.integers(0, 65535))
def test_v2_minor_is_not_carried_and_major_is_equality(source_major: int, target_major: int) -> None:
    registry = vfiocompat.Registry(entry_points=True)
    verdict = registry.check(dv(V2, major=source_major), dv(V2, major=target_major))
    assert verdict.compatible is (source_major == target_major)


def test_unknown_magic_is_refused(registry: vfiocompat.Registry) -> None:
    for pair in ((dv("0x1234"), dv(V2)), (dv(V1), dv("0x1234"))):
        verdict = registry.check(*pair)
        assert not verdict.compatible
        assert "HISI_ACC_DEV_MAGIC" in verdict.codes
        assert any(r.message == "failed to match ACC_DEV_MAGIC" for r in verdict.reasons)


@pytest.mark.parametrize("magic", [V1, V2])
@pytest.mark.parametrize("source", [ZIP, SEC, HPRE])
@pytest.mark.parametrize("target", [ZIP, SEC, HPRE])
def test_vf_device_ids_must_match(
    registry: vfiocompat.Registry, magic: str, source: str, target: str
) -> None:
    verdict = registry.check(dv(magic, source), dv(magic, target))
    assert verdict.compatible is (source == target)
    if source != target:
        assert verdict.codes == ("HISI_VF_DEVICES",)
        assert verdict.reasons[0].message == "failed to match VF devices"


@pytest.mark.parametrize("dev_id", ["0xa250", "0xa255", "0xa258", "0x1234"])
def test_only_the_three_vf_ids_migrate(registry: vfiocompat.Registry, dev_id: str) -> None:
    verdict = registry.check(dv(V1, dev_id), dv(V1, dev_id))
    assert not verdict.compatible
    assert verdict.codes == ("HISI_VF_ID",)


@pytest.mark.parametrize(("source", "target"), [(64, 32), (32, 64), (1, 0)])
def test_qp_num_must_be_equal_not_just_enough(
    registry: vfiocompat.Registry, source: int, target: int
) -> None:
    verdict = registry.check(dv(qp_num=source), dv(qp_num=target))
    assert not verdict.compatible
    assert verdict.codes == ("HISI_VF_QP_NUM",)
    assert verdict.reasons[0].message == "failed to match VF qp num"
    assert (verdict.reasons[0].source_value, verdict.reasons[0].target_value) == (str(source), str(target))


@pytest.mark.parametrize(("source", "target"), [("0x0", "0x1"), ("0x1", "0x0")])
def test_isolation_state_must_match(registry: vfiocompat.Registry, source: str, target: str) -> None:
    verdict = registry.check(dv(V1, iso=source), dv(V2, iso=target))
    assert not verdict.compatible
    assert verdict.codes == ("HISI_ISOLATION_STATE",)
    assert verdict.reasons[0].message == "failed to match isolation state"


def test_isolation_values_compare_as_numbers(registry: vfiocompat.Registry) -> None:
    assert registry.check(dv(iso="0x1"), dv(iso="0x00000001")).compatible


def test_several_mismatches_are_all_reported(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(dv(V1, ZIP, 64, "0x0"), dv(V2, SEC, 32, "0x1"))
    assert set(verdict.codes) == {"HISI_VF_DEVICES", "HISI_VF_QP_NUM", "HISI_ISOLATION_STATE"}


def test_v2_string_without_major_ver_is_refused(registry: vfiocompat.Registry) -> None:
    no_major = "0x19e5:1:acc_magic=0xaaccfeeddecadede;dev_id=0xa251;qp_num=64;que_iso_cfg=0x0"
    verdict = registry.check(no_major, dv(V2))
    assert not verdict.compatible
    assert verdict.reasons[0].field == "major_ver"


@pytest.mark.parametrize("proprietary", [
    "acc_magic=0xcdcdcdcdfeedaacc;dev_id=0xa251;qp_num=64",  # que_iso_cfg missing
    "acc_magic=0xcdcdcdcdfeedaacc;dev_id=0xa251;qp_num=64;que_iso_cfg=0x0;qp_base=0",  # unknown key
    "acc_magic=0xcdcdcdcdfeedaacc;dev_id=0xa251;qp_num=0x40;que_iso_cfg=0x0",  # qp_num is decimal
    "acc_magic=0x1cdcdcdcdfeedaacc;dev_id=0xa251;qp_num=64;que_iso_cfg=0x0",  # wider than 64 bits
])
def test_malformed_strings_are_refused_with_vc111(registry: vfiocompat.Registry, proprietary: str) -> None:
    verdict = registry.check("0x19e5:1:" + proprietary, dv(V1))
    assert not verdict.compatible
    assert verdict.codes == ("VC111",)


def test_cli_check_exit_codes() -> None:
    ok = subprocess.run([sys.executable, "-m", "vfiocompat", "check", dv(V1), dv(V2)],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run([sys.executable, "-m", "vfiocompat", "check", dv(V2), dv(V1)],
                             capture_output=True, text=True, check=False)
    assert refused.returncode == 1, refused.stderr
    assert "HISI_ACC_DEV_MAGIC" in refused.stdout
