"""The installed vfiocompat-intel-qat plugin, loaded through its entry point: table, verdicts, coexistence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vfiocompat
from vfiocompat.testing import assert_installed_from_tree, requires_plugin, run_cli

DISTRIBUTION = "vfiocompat-intel-qat"
PLUGIN = "intel-qat"
TABLE_ID = "intel-qat-gen4-vf"
TREE_TABLE = Path(__file__).resolve().parent.parent / "vfiocompat_intel_qat" / "intel_qat_gen4.toml"
TREE_PACKAGE = Path(__file__).resolve().parent.parent / "vfiocompat_intel_qat"
GVT = "0x8086:1:8086-193b-i915-GVTg_V5_4-00000001"
#: A VF without rate limiting; tests override single keys.
BASE: Dict[str, str] = {
    "dev": "4941", "mstate": "1", "gencap": "0x3c1f", "extdc": "0x1", "svc": "asym,sym",
    "sla": "", "cir": "", "pir": "",
}


pytestmark = requires_plugin(PLUGIN)


def slas(rates: Dict[str, Tuple[int, int]]) -> Dict[str, str]:
    """The sla, cir and pir keys of a VF whose SLAs (``srv/0xmask``) have these (cir, pir) rates."""
    keys = sorted(rates)
    return {"sla": ",".join(keys), "cir": ",".join(f"{k}:{rates[k][0]}" for k in keys),
            "pir": ",".join(f"{k}:{rates[k][1]}" for k in keys)}


def one(key: str, cir: int, pir: int) -> Dict[str, str]:
    """The sla, cir and pir keys of a VF with one SLA."""
    return slas({key: (cir, pir)})


def qat(interface: str = "1", family: str = "gen4", **keys: str) -> str:
    """A QAT device_version: BASE with ``keys`` replaced."""
    values = {**BASE, **keys}
    return f"0x8086:{interface}:qat={family};" + ";".join(f"{k}={v}" for k, v in values.items())


_REGISTRY: List[vfiocompat.Registry] = []


def _shared_registry() -> vfiocompat.Registry:
    # hypothesis forbids function-scoped fixtures in @given tests; load the plugins once.
    if not _REGISTRY:
        _REGISTRY.append(vfiocompat.Registry(entry_points=True))
    return _REGISTRY[0]


@pytest.fixture(scope="module")
def registry() -> vfiocompat.Registry:
    return _shared_registry()


# -- installation -----------------------------------------------------------------------------


def test_entry_point_names_the_package_installed_as_in_the_tree() -> None:
    assert_installed_from_tree(PLUGIN, TREE_PACKAGE, distribution=DISTRIBUTION)


def test_registry_loads_the_table_from_the_entry_point(registry: vfiocompat.Registry) -> None:
    record = next(r for r in registry.plugins if r.name == PLUGIN)
    assert record.distribution == DISTRIBUTION
    assert record.ok, record.failures
    assert [(t.id, t.vendor_id, t.prefixes) for t in record.tables] == [(TABLE_ID, 0x8086, ("qat=gen4;", "qat=gen6;"))]
    assert all(rule.source_url and rule.source_url.startswith("https://") for rule in record.tables[0].rules)


def test_validate_installed_runs_every_example() -> None:
    done = run_cli("validate", "--installed", "--json")
    form = json.loads(done.stdout)
    mine = [f for f in form["files"] if f["table"] == TABLE_ID]
    assert len(mine) == 1
    result = mine[0]
    assert result["errors"] == [] and result["valid"] is True
    assert len(result["examples"]) >= 19
    assert all(e["passed"] for e in result["examples"]), [e for e in result["examples"] if not e["passed"]]
    assert {e["compatible"] for e in result["examples"]} == {True, False}


def test_cli_check_exit_codes() -> None:
    assert run_cli("check", qat(), qat()).returncode == 0
    refused = run_cli("check", "--json", qat(mstate="2"), qat(mstate="1"))
    assert refused.returncode == 1
    assert [r["code"] for r in json.loads(refused.stdout)["reasons"]] == ["QAT_STATE_VERSION"]


# -- verdicts -----------------------------------------------------------------------------------


def test_identical_vfs_are_compatible(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(qat(), qat())
    assert verdict.compatible
    assert verdict.decided_by is not None and verdict.decided_by.rule == "qat-gen4-vf-load-checks"


@pytest.mark.parametrize(
    ("source", "target", "code", "message"),
    [
        (qat(mstate="2"), qat(mstate="1"), "QAT_STATE_VERSION", "Invalide setup for vf_nr"),
        (qat(gencap="0x3c3f"), qat(gencap="0x3c1f"), "QAT_GENCAP", "Failed to load sec gencap"),
        (qat(extdc="0x3"), qat(extdc="0x1"), "QAT_EXTDC", "Failed to load sec extdc"),
        (qat(svc="dc"), qat(svc="dc,sym"), "QAT_SVCMAP", "Failed to load sec svcmap"),
        (qat(svc="dc,sym"), qat(svc="dc"), "QAT_SVCMAP", "Failed to load sec svcmap"),
        (qat(**one("sym/0xf", 500, 1000)), qat(**one("asym/0xf", 500, 1000)),
         "QAT_SLA_SRC_MISMATCH", "QAT: SRC VF rate limiting mismatch"),
        (qat(**one("sym/0xf", 800, 1000)), qat(**one("sym/0xf", 500, 1000)),
         "QAT_SLA_DST_MISMATCH", "QAT: DST VF rate limiting mismatch."),
        (qat(**one("sym/0xf", 500, 1500)), qat(**one("sym/0xf", 500, 1000)),
         "QAT_SLA_DST_MISMATCH", "QAT: DST VF rate limiting mismatch."),
        (qat(), qat(dev="4947"), "QAT_VF_NOT_SUPPORTED", "not a QAT VF device id bound by qat_vfio_pci"),
        (qat(), qat(family="gen6", dev="4949"), "QAT_GENERATION", "GEN4 (4xxx) and GEN6 (6xxx) VFs"),
        (qat(family="gen6", dev="4949"), qat(), "QAT_GENERATION", "GEN4 (4xxx) and GEN6 (6xxx) VFs"),
    ],
    ids=["mstate-newer-to-older", "gencap", "extdc", "svc-more", "svc-less", "sla-srv", "cir", "pir", "420xx-id",
         "gen4-to-gen6", "gen6-to-gen4"],
)
def test_each_driver_check(registry: vfiocompat.Registry, source: str, target: str, code: str, message: str) -> None:
    verdict = registry.check(source, target)
    assert not verdict.compatible
    # A missing SLA also fails the cir and pir map tests, which carry the DST code (see the table's notes).
    extra = ("QAT_SLA_DST_MISMATCH",) * 2 if code == "QAT_SLA_SRC_MISMATCH" else ()
    assert verdict.codes == (code, *extra)
    assert verdict.reasons[0].message.startswith(message)
    assert verdict.reasons[0].plugin == PLUGIN


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (qat(mstate="1"), qat(mstate="2")),
        (qat(gencap="0x3c1f"), qat(gencap="0x3c3f")),
        (qat(extdc="0x1"), qat(extdc="0x3")),
        (qat(), qat(**one("sym/0xf", 500, 1000))),
        (qat(**one("sym/0xf", 500, 1000)), qat(**slas({"asym/0xf0": (1, 1), "sym/0xf": (800, 1500)}))),
        (qat(dev="4941"), qat(dev="4945")),
        (qat(svc="asym,sym"), qat(svc="sym,asym")),
        (qat(family="gen6", dev="4949", svc="asym,dc,sym"), qat(family="gen6", dev="4949", svc="asym,dc,sym")),
    ],
    ids=["mstate-older-to-newer", "gencap-superset", "extdc-superset", "no-sla-to-sla", "sla-higher-rates",
         "4xxx-to-402xx", "services-are-a-set", "gen6-to-gen6"],
)
def test_what_the_driver_admits(registry: vfiocompat.Registry, source: str, target: str) -> None:
    verdict = registry.check(source, target)
    assert verdict.compatible, verdict.reasons


def test_source_sla_missing_on_target_names_the_sla(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(qat(**one("sym/0xf", 500, 1000)), qat())
    assert verdict.codes[0] == "QAT_SLA_SRC_MISMATCH"
    assert verdict.reasons[0].source_value == "sym/0xf"


@pytest.mark.parametrize(
    "text",
    [
        "0x8086:1:qat=gen4;dev=4941;mstate=1;gencap=0x3c1f;extdc=0x1;svc=asym,sym;sla=;cir=",
        qat(cir="0", pir="0"),
        qat(sla="sym/0xf", cir="sym/0xf:500,sym/0xf:600", pir="sym/0xf:1000"),
        qat() + ";compver=1",
        qat() + ";svcmap=0x3",
        qat(gencap="zz"),
        qat(mstate="-1"),
    ],
    ids=["missing-key", "old-scalar-rates", "rate-key-twice", "unknown-key", "old-svcmap-key", "mask-not-hex",
         "negative-version"],
)
def test_wrong_format_is_vc111(registry: vfiocompat.Registry, text: str) -> None:
    verdict = registry.check(text, qat())
    assert verdict.codes == ("VC111",)
    assert TABLE_ID in verdict.reasons[0].message


def test_unclaimed_qat_family_is_vc204(registry: vfiocompat.Registry) -> None:
    gen5 = qat(family="gen5")
    assert "VC204" in registry.check(gen5, gen5).codes


def test_interface_direction_is_enforced(registry: vfiocompat.Registry) -> None:
    assert registry.check(qat(interface="1"), qat(interface="2")).compatible
    assert registry.check(qat(interface="2"), qat(interface="1")).codes == ("VC202",)


masks = st.integers(0, (1 << 64) - 1)


@settings(max_examples=80, deadline=None)
@given(masks, masks)
def test_capability_masks_follow_src_or_dst_equals_dst(source: int, target: int) -> None:
    verdict = _shared_registry().check(qat(gencap=hex(source), extdc=hex(source)),
                                       qat(gencap=hex(target), extdc=hex(target)))
    admitted = (source | target) == target  # adf_mstate_capmask_compare() >= 0
    assert verdict.compatible == admitted
    if not admitted:
        assert verdict.codes == ("QAT_GENCAP", "QAT_EXTDC")


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 100_000), st.integers(0, 100_000), st.integers(0, 100_000), st.integers(0, 100_000))
def test_sla_rates_never_decrease(s_cir: int, t_cir: int, s_pir: int, t_pir: int) -> None:
    verdict = _shared_registry().check(qat(**one("asym/0xf0", s_cir, s_pir)), qat(**one("asym/0xf0", t_cir, t_pir)))
    assert verdict.compatible == (s_cir <= t_cir and s_pir <= t_pir)
    assert set(verdict.codes) <= {"QAT_SLA_DST_MISMATCH"}


_KEYS = ("asym/0x3", "sym/0xc", "dc/0x30", "decomp/0xc0")
_rates = st.tuples(st.integers(0, 1000), st.integers(0, 1000))


@settings(max_examples=120, deadline=None)
@given(st.dictionaries(st.sampled_from(_KEYS), _rates, max_size=4),
       st.dictionaries(st.sampled_from(_KEYS), _rates, max_size=4))
def test_sla_check_is_the_drivers_loop(source: Dict[str, Tuple[int, int]], target: Dict[str, Tuple[int, int]]) -> None:
    # adf_mstate_sla_check(): each source SLA needs the target's SLA of the same key, with cir and pir not lower.
    verdict = _shared_registry().check(qat(**slas(source)), qat(**slas(target)))
    src_mismatch = any(key not in target for key in source)
    dst_mismatch = any(key in target and (rate[0] > target[key][0] or rate[1] > target[key][1])
                       for key, rate in source.items())
    assert verdict.compatible == (not src_mismatch and not dst_mismatch)
    assert ("QAT_SLA_SRC_MISMATCH" in verdict.codes) == src_mismatch
    if dst_mismatch:
        assert "QAT_SLA_DST_MISMATCH" in verdict.codes
    if not src_mismatch:
        assert ("QAT_SLA_DST_MISMATCH" in verdict.codes) == dst_mismatch


@pytest.mark.parametrize(
    ("target", "codes"),
    [
        ({"sym/0xc": (500, 1000)}, ("QAT_SLA_SRC_MISMATCH", "QAT_SLA_DST_MISMATCH", "QAT_SLA_DST_MISMATCH")),
        ({"asym/0x3": (99, 400), "sym/0xc": (500, 1000)}, ("QAT_SLA_DST_MISMATCH",)),
        ({"asym/0x3": (100, 400), "sym/0xc": (500, 999)}, ("QAT_SLA_DST_MISMATCH",)),
        ({"asym/0x3": (100, 400), "sym/0xc": (500, 1000)}, ()),
        ({"asym/0x3": (101, 401), "sym/0xc": (900, 1000)}, ()),
        ({"asym/0x3": (100, 400), "sym/0xc": (500, 1000), "dc/0x30": (1, 1)}, ()),
    ],
    ids=["one-sla-missing", "lower-cir-on-one", "lower-pir-on-one", "equal", "higher", "extra-target-sla"],
)
def test_two_slas_of_different_rates(registry: vfiocompat.Registry, target: Dict[str, Tuple[int, int]],
                                     codes: Tuple[str, ...]) -> None:
    verdict = registry.check(qat(**slas({"asym/0x3": (100, 400), "sym/0xc": (500, 1000)})), qat(**slas(target)))
    assert verdict.codes == codes
    assert verdict.compatible == (codes == ())


# -- coexistence with the GVT plugin -----------------------------------------------------------

needs_gvt = requires_plugin("intel-gvt")


@needs_gvt
def test_qat_to_gvt_is_refused_as_different_tables(registry: vfiocompat.Registry) -> None:
    verdict = registry.check(qat(), GVT)
    assert verdict.codes == ("VC205",)
    message = verdict.reasons[0].message
    assert "'intel-qat-gen4-vf'" in message and "'intel-gvt-g'" in message


@needs_gvt
def test_plugins_coexist_without_overlap() -> None:
    done = run_cli("plugins", "--json")
    assert done.returncode == 0, done.stderr
    forms: Dict[str, Any] = {p["name"]: p for p in json.loads(done.stdout)["plugins"]}
    for name in (PLUGIN, "intel-gvt"):
        assert forms[name]["errors"] == [], forms[name]["errors"]
        assert forms[name]["vendors"] == ["0x8086"]
    assert not [e for p in forms.values() for e in p["errors"] if e["code"] == "VC305"]
