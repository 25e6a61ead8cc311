"""The installed vfiocompat-intel-gvt plugin, loaded through its entry point: table, verdicts, coexistence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vfiocompat
from vfiocompat.testing import assert_installed_from_tree, requires_plugin, run_cli

DISTRIBUTION = "vfiocompat-intel-gvt"
PLUGIN = "intel-gvt"
TABLE_ID = "intel-gvt-g"
TREE_PACKAGE = Path(__file__).resolve().parent.parent / "vfiocompat_intel_gvt"
QAT_TABLE = "intel-qat-gen4-vf"


pytestmark = requires_plugin(PLUGIN)


def gvt(device: str = "193b", vgpu: str = "i915-GVTg_V5_4", swver: str = "00000001", interface: str = "1") -> str:
    """A GVT-g device_version in the proposed migration_version format."""
    return f"0x8086:{interface}:8086-{device}-{vgpu}-{swver}"


_REGISTRY: List[vfiocompat.Registry] = []


def _shared_registry() -> vfiocompat.Registry:
    # hypothesis forbids function-scoped fixtures in @given tests; load the plugins once.
    if not _REGISTRY:
        _REGISTRY.append(vfiocompat.Registry(entry_points=True))
    return _REGISTRY[0]


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return _shared_registry()


def _plugin_forms() -> List[Dict[str, Any]]:
    done = run_cli("plugins", "--json")
    assert done.returncode == 0, done.stderr
    plugins: List[Dict[str, Any]] = json.loads(done.stdout)["plugins"]
    return plugins


# -- installation -----------------------------------------------------------------------------


def test_entry_point_names_the_package_installed_as_in_the_tree() -> None:
    assert_installed_from_tree(PLUGIN, TREE_PACKAGE, distribution=DISTRIBUTION)


def test_registry_loads_the_table_from_the_entry_point(registry: vfiocompat.Registry) -> None:
    record = next(r for r in registry.plugins if r.name == PLUGIN)
    assert record.distribution == DISTRIBUTION
    assert record.ok, record.failures
    assert [(t.id, t.vendor_id, t.prefixes) for t in record.tables] == [(TABLE_ID, 0x8086, ("8086-",))]
    table = record.tables[0]
    assert all(rule.source_url and rule.source_url.startswith("https://") for rule in table.rules)


def test_validate_installed_runs_every_example() -> None:
    done = run_cli("validate", "--installed", "--json")
    form = json.loads(done.stdout)
    mine = [f for f in form["files"] if f["table"] == TABLE_ID]
    assert len(mine) == 1
    result = mine[0]
    assert result["errors"] == [] and result["valid"] is True
    assert len(result["examples"]) >= 14
    assert all(e["passed"] for e in result["examples"]), [e for e in result["examples"] if not e["passed"]]
    # Both verdicts are represented, so the examples exercise refusals as well as admissions.
    assert {e["compatible"] for e in result["examples"]} == {True, False}


# -- verdicts -----------------------------------------------------------------------------------


def test_identical_strings_are_compatible_by_the_allow_rule(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(gvt(), gvt())
    assert verdict.compatible
    assert verdict.decided_by is not None
    assert (verdict.decided_by.plugin, verdict.decided_by.rule) == (PLUGIN, "gvt-same-device-type-version")


def test_type_is_kept_whole(registry: vfiocompat.Registry) -> None:
    documented = registry.resolve(gvt(vgpu="i915-GVTg_V5_4"))
    printed = registry.resolve(gvt(vgpu="GVTg_V5_4"))
    assert documented.fields is not None and printed.fields is not None
    assert documented.fields["type"] == "i915-GVTg_V5_4"
    assert printed.fields["type"] == "GVTg_V5_4"
    assert documented.fields["device"] == 0x193B and documented.fields["swver"] == 1


@pytest.mark.parametrize(
    ("source", "target", "code", "message"),
    [
        (gvt(device="193b"), gvt(device="1912"), "GVT_HARDWARE_MISMATCH", "physical device not matched"),
        (gvt(vgpu="i915-GVTg_V5_4"), gvt(vgpu="i915-GVTg_V5_2"), "GVT_VGPU_TYPE_MISMATCH", "vgpu type not matched"),
        (gvt(vgpu="i915-GVTg_V5_4"), gvt(vgpu="GVTg_V5_4"), "GVT_VGPU_TYPE_MISMATCH", "vgpu type not matched"),
        (gvt(swver="00000002"), gvt(swver="00000001"), "GVT_SOFTWARE_VERSION_MISMATCH",
         "migration software version not matched"),
        (gvt(swver="00000001"), gvt(swver="00000002"), "GVT_SOFTWARE_VERSION_MISMATCH",
         "migration software version not matched"),
    ],
    ids=["device", "type", "type-spelling", "swver-newer-to-older", "swver-older-to-newer"],
)
def test_each_driver_reason(registry: vfiocompat.Registry, source: str, target: str, code: str, message: str) -> None:
    verdict = registry.check(source, target)
    assert not verdict.compatible
    assert verdict.codes == (code,)
    assert verdict.reasons[0].message == message
    assert verdict.reasons[0].plugin == PLUGIN


def test_reasons_follow_the_driver_order(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(gvt(device="193b", vgpu="GVTg_V5_4", swver="00000002"),
                             gvt(device="1912", vgpu="GVTg_V5_2", swver="00000001"))
    assert verdict.codes == ("GVT_HARDWARE_MISMATCH", "GVT_SOFTWARE_VERSION_MISMATCH", "GVT_VGPU_TYPE_MISMATCH")


def test_placeholder_software_version_is_refused_on_either_side(registry: vfiocompat.Registry) -> None:
    both = registry.check(gvt(swver="ffffffff"), gvt(swver="ffffffff"))
    assert not both.compatible
    assert both.codes == ("GVT_MIGRATION_NOT_SUPPORTED", "GVT_MIGRATION_NOT_SUPPORTED")
    assert "Local GVT does not support migration" in both.reasons[0].message
    one = registry.check(gvt(), gvt(swver="ffffffff"))
    assert "GVT_MIGRATION_NOT_SUPPORTED" in one.codes


def test_non_gen8_gen9_type_is_refused(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(gvt(vgpu="i915-GVTg_V6_4"), gvt(vgpu="i915-GVTg_V6_4"))
    assert verdict.codes == ("GVT_TYPE_NOT_SUPPORTED",)
    assert registry.check(gvt(device="1616", vgpu="GVTg_V4_8"), gvt(device="1616", vgpu="GVTg_V4_8")).compatible


@pytest.mark.parametrize(
    ("text", "field"),
    [(gvt(vgpu="").replace("--", "-"), None), (gvt(swver="v1"), "swver"), (gvt(device="19zz"), "device")],
    ids=["missing-type", "swver-not-hex", "device-not-hex"],
)
def test_wrong_format_is_vc111(registry: vfiocompat.Registry, text: str, field: Any) -> None:
    verdict = registry.check(text, gvt())
    assert not verdict.compatible
    assert verdict.codes == ("VC111",)
    assert TABLE_ID in verdict.reasons[0].message
    assert verdict.reasons[0].field == field


def test_interface_direction_is_enforced(registry: vfiocompat.Registry) -> None:
    assert registry.check(gvt(interface="1"), gvt(interface="2")).compatible
    backwards = registry.check(gvt(interface="2"), gvt(interface="1"))
    assert backwards.codes == ("VC202",)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 0xFFFFFFFE), st.integers(0, 0xFFFFFFFE))
def test_software_version_must_be_equal(source: int, target: int) -> None:
    registry = _shared_registry()
    verdict = registry.check(gvt(swver=f"{source:08x}"), gvt(swver=f"{target:08x}"))
    assert verdict.compatible == (source == target)
    if source != target:
        assert verdict.codes == ("GVT_SOFTWARE_VERSION_MISMATCH",)


# -- coexistence with the QAT plugin -----------------------------------------------------------

needs_qat = requires_plugin("intel-qat")


@needs_qat
def test_gvt_to_qat_is_refused_as_different_tables(registry: vfiocompat.Registry) -> None:
    # A string of the QAT table's own first example: the QAT plugin owns its format.
    qat = next(t for t in registry.tables if t.id == QAT_TABLE).examples[0].source
    verdict = registry.check(gvt(), qat)
    assert not verdict.compatible
    assert verdict.codes == ("VC205",)
    message = verdict.reasons[0].message
    assert "'intel-gvt-g'" in message and "'intel-qat-gen4-vf'" in message


@needs_qat
def test_plugins_coexist_without_overlap() -> None:
    forms = {p["name"]: p for p in _plugin_forms()}
    for name in (PLUGIN, "intel-qat"):
        assert forms[name]["errors"] == [], forms[name]["errors"]
        assert forms[name]["vendors"] == ["0x8086"]
    assert not [e for p in forms.values() for e in p["errors"] if e["code"] == "VC305"]
