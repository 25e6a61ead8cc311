"""Table language 2 (issue 11): parts, against, map fields, levels, warn rules, direction proven over pins.

Each feature through the library (compile, check, explain) and, where it shows, through the CLI.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfiocompat import Registry
from vfiocompat._cli import main
from vfiocompat._json_forms import explanation_form, verdict_form
from vfiocompat._tables import Table, compile_table
from vfiocompat._validation import validate_file
from vfiocompat.errors import TableError, UsageError

from .conftest import to_toml
from .test_json_forms import conforms


def table(fields: List[Dict[str, Any]], rules: List[Dict[str, Any]], version: int = 2) -> Dict[str, Any]:
    return {"schema_version": version, "table": {"id": "v2", "vendor": "0xfffe", "prefixes": ["k="]},
            "format": {"kind": "keyvalue", "fields": [{"name": "k", "type": "string"}, *fields]}, "rules": rules}


def compiled(data: Dict[str, Any]) -> Table:
    return compile_table(data, origin="v2.toml", plugin="p")


def registry(data: Dict[str, Any]) -> Registry:
    return Registry.of_tables([compiled(data)])


def dv(**fields: str) -> str:
    return "0xfffe:1:" + ";".join(f"{key}={value}" for key, value in {"k": "a", **fields}.items())


def refused(data: Dict[str, Any], match: str, code: str = "VC503") -> TableError:
    with pytest.raises(TableError, match=match) as caught:
        compiled(data)
    assert caught.value.code == code
    return caught.value


FW = {"name": "fw", "type": "version"}


# -- schema_version ----------------------------------------------------------------------------------------


def test_a_table_newer_than_this_vfiocompat_says_what_it_needs(tmp_path: Path) -> None:
    error = refused(table([FW], [], version=3), "schema_version 3 needs a newer vfiocompat", code="VC508")
    assert "pip install -U vfiocompat" in error.message
    path = tmp_path / "future.toml"
    data = table([FW], [], version=3)
    data["rules"] = [{"id": "r", "effect": "allow", "future_key": 1}]  # a key this vfiocompat cannot know
    path.write_text(to_toml(data))
    result = validate_file(path)
    assert [e.code for e in result.errors] == ["VC508"]  # before the schema's unknown key


@pytest.mark.parametrize(("change", "what"), [
    (lambda d: d["rules"][0]["conditions"][0].update(parts=2), "'parts' is table language 2"),
    (lambda d: d["rules"][0]["conditions"][0].update(against="fw"), "'against' is table language 2"),
    (lambda d: d["rules"][0].update(level="cold"), "'level' is table language 2"),
    (lambda d: d["rules"].append({"id": "w", "effect": "warn", "conditions": [{"field": "k", "test": "equal"}]}),
     "effect = 'warn' is table language 2"),
    (lambda d: d["format"]["fields"].append({"name": "m", "type": "map"}), "type = 'map' is table language 2"),
])
def test_v1_tables_keep_v1_and_are_told_which_version_a_key_needs(change: Any, what: str) -> None:
    data = table([FW], [{"id": "r", "effect": "allow", "conditions": [{"field": "fw", "test": "target_ge_source"}]}],
                 version=1)
    compiled(data)  # unchanged v1 tables still compile
    change(data)
    refused(data, what)


# -- parts -------------------------------------------------------------------------------------------------


def parts_table(test: str, parts: int) -> Dict[str, Any]:
    return table([FW], [{"id": "r", "effect": "allow",
                         "conditions": [{"field": "fw", "test": test, "parts": parts}]}])


@pytest.mark.parametrize(("test", "source", "target", "ok"), [
    ("same_major_target_ge_source", "2.0.1", "2.0.0", True),  # the patch carries no state format
    ("same_major_target_ge_source", "2.1.0", "2.0.9", False),
    ("same_major_target_ge_source", "2.1", "3.0", False),
    ("equal", "2.1.7", "2.1.0", True),
    ("equal", "2.1", "2.2", False),
    ("target_ge_source", "2.1.9", "2.1.0", True),
    ("target_ge_source", "2.2", "2.1.9", False),
    ("target_gt_source", "2.1.9", "2.2.0", True),
    ("target_gt_source", "2.1.0", "2.1.9", False),
])
def test_parts_compares_only_the_first_release_components(test: str, source: str, target: str, ok: bool) -> None:
    verdict = registry(parts_table(test, 2)).check(dv(fw=source), dv(fw=target))
    assert verdict.compatible == ok
    if not ok:
        assert verdict.reasons[0].source_value == source and verdict.reasons[0].target_value == target


def test_parts_is_direction_safe_and_only_on_versions() -> None:
    compiled(parts_table("same_major_target_ge_source", 2))  # fw is ordered: no VC505
    refused(table([{"name": "n", "type": "uint"}],
                  [{"id": "r", "effect": "allow", "conditions": [{"field": "n", "test": "equal", "parts": 1}]}]),
            "parts compares release components", code="VC504")
    refused(table([FW], [{"id": "r", "effect": "allow",
                          "conditions": [{"field": "fw", "test": "upgrade_window", "max_steps": 1, "parts": 1}]}]),
            "takes no 'parts'", code="VC504")


versions = st.lists(st.integers(0, 4), min_size=1, max_size=4).map(lambda p: ".".join(map(str, p)))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["equal", "target_ge_source", "target_gt_source", "same_major_target_ge_source"]),
       st.integers(1, 3), versions, versions)
def test_parts_never_admits_a_pair_that_goes_down_at_its_precision(test: str, parts: int, a: str, b: str) -> None:
    from vfiocompat._versions import parse_version

    verdict = registry(parts_table(test, parts)).check(dv(fw=a), dv(fw=b))
    if verdict.compatible:
        assert parse_version(b, "pep440").release(parts) >= parse_version(a, "pep440").release(parts)


# -- against -----------------------------------------------------------------------------------------------


AGAINST = table(
    [{"name": "guest", "type": "version", "scheme": "dotted"}, {"name": "host", "type": "version", "scheme": "dotted"}],
    [{"id": "guest-on-host", "effect": "allow", "allow_downgrade": ["guest", "host"],
      "conditions": [{"field": "guest", "test": "target_ge_source", "against": "host"}]}])


def test_against_compares_the_sources_field_with_another_field_of_the_target() -> None:
    checks = registry(AGAINST)
    assert checks.check(dv(guest="535.1", host="550.0"), dv(guest="1.0", host="535.1")).compatible
    verdict = checks.check(dv(guest="550.2", host="1.0"), dv(guest="550.2", host="550.1"))
    assert not verdict.compatible
    reason = verdict.reasons[0]
    assert (reason.code, reason.field, reason.source_value, reason.target_value) == ("VC411", "guest", "550.2", "550.1")
    assert "host (against the source's guest)" in reason.message


def test_against_is_no_proof_of_direction_and_needs_the_same_type() -> None:
    data = json.loads(json.dumps(AGAINST))
    del data["rules"][0]["allow_downgrade"]
    refused(data, "ordered field 'guest'", code="VC505")
    data["format"]["fields"][2] = {"name": "host", "type": "uint"}
    data["rules"][0]["allow_downgrade"] = ["guest"]
    refused(data, "a test compares fields of the same type", code="VC504")
    data["rules"][0]["conditions"][0]["against"] = "nope"
    refused(data, "against names 'nope'", code="VC504")


# -- map fields --------------------------------------------------------------------------------------------


RATES = {"name": "rate", "type": "map", "item_separator": ",", "key_separator": ":"}


def map_table(test: str, **spec: str) -> Dict[str, Any]:
    return table([{**RATES, **spec}], [{"id": "r", "effect": "allow", "conditions": [{"field": "rate", "test": test}]}])


def test_a_map_holds_when_every_source_key_has_a_value_not_lower_on_the_target() -> None:
    checks = registry(map_table("target_ge_source"))
    assert checks.check(dv(rate="sym/0xf:500,dc/0xf0:100"), dv(rate="dc/0xf0:100,sym/0xf:800,asym/0x1:1")).compatible
    assert checks.check(dv(rate=""), dv(rate="sym/0xf:1")).compatible  # a source without keys always passes
    lacking = checks.check(dv(rate="sym/0xf:500,dc/0xf0:1"), dv(rate="sym/0xf:500"))
    assert (lacking.codes, lacking.reasons[0].message) == (("VC415",), "target rate lacks key dc/0xf0, which the"
                                                                        " source has")
    lower = checks.check(dv(rate="sym/0xf:500"), dv(rate="sym/0xf:499"))
    assert lower.codes == ("VC411",) and "at sym/0xf" in lower.reasons[0].message
    assert (lower.reasons[0].source_value, lower.reasons[0].target_value) == ("sym/0xf:500", "sym/0xf:499")


def test_equal_compares_whole_maps_and_version_values_read_by_scheme() -> None:
    checks = registry(map_table("equal"))
    assert checks.check(dv(rate="a:1,b:2"), dv(rate="b:2,a:1")).compatible
    assert not checks.check(dv(rate="a:1"), dv(rate="a:1,b:2")).compatible
    versions_map = registry(map_table("target_ge_source", value_type="version"))
    assert versions_map.check(dv(rate="fw:1.9"), dv(rate="fw:1.10")).compatible
    assert not versions_map.check(dv(rate="fw:1.10"), dv(rate="fw:1.9")).compatible


@pytest.mark.parametrize("text", ["a", "a:1,a:2", ":1", "a:x", "a:1,"])
def test_a_malformed_map_does_not_fit_the_format(text: str) -> None:
    verdict = registry(map_table("equal")).check(dv(rate=text), dv(rate="a:1"))
    assert verdict.codes[0] == "VC111"


def test_maps_take_equal_and_target_ge_source_only() -> None:
    refused(map_table("target_gt_source"), "needs a field of type", code="VC504")
    refused(table([{**RATES, "key_separator": ","}], []), "must differ", code="VC504")
    refused(table([{"name": "s", "type": "set", "value_type": "uint"}], []), "applies to map fields only",
            code="VC504")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from("abcd"), st.integers(0, 5)), st.dictionaries(st.sampled_from("abcd"),
                                                                                  st.integers(0, 5)))
def test_map_target_ge_source_is_every_key_not_lower(source: Dict[str, int], target: Dict[str, int]) -> None:
    def spell(values: Dict[str, int]) -> str:
        return ",".join(f"{key}:{value}" for key, value in values.items())

    verdict = registry(map_table("target_ge_source")).check(dv(rate=spell(source)), dv(rate=spell(target)))
    assert verdict.compatible == all(key in target and target[key] >= value for key, value in source.items())


# -- levels ------------------------------------------------------------------------------------------------


LEVELLED = table([{"name": "drv", "type": "version", "scheme": "dotted"}], [
    {"id": "same-driver", "effect": "allow", "conditions": [{"field": "drv", "test": "equal"}]},
    {"id": "newer-driver-cold", "effect": "allow", "level": "cold",
     "conditions": [{"field": "drv", "test": "target_gt_source"}]},
])


def test_a_pair_admitted_cold_only_is_refused_live_with_a_reason_that_says_so() -> None:
    checks = registry(LEVELLED)
    live = checks.check(dv(drv="550.1"), dv(drv="550.2"))
    assert not live.compatible and live.levels == ("cold",) and live.mode == "live"
    assert live.codes[0] == "VC403" and "cold migration only" in live.reasons[0].message
    assert live.reasons[0].rule is not None and live.reasons[0].rule.rule == "newer-driver-cold"
    assert [r.code for r in live.reasons[1:]] == ["VC410"]  # and what a live rule would need
    cold = checks.check(dv(drv="550.1"), dv(drv="550.2"), mode="cold")
    assert cold.compatible and cold.decided_by is not None and cold.decided_by.rule == "newer-driver-cold"
    assert checks.is_compatible(dv(drv="550.1"), dv(drv="550.2"), mode="cold")
    assert not checks.is_compatible(dv(drv="550.1"), dv(drv="550.2"))
    both = checks.check(dv(drv="550.1"), dv(drv="550.1"))
    assert both.compatible and both.levels == ("live", "cold")
    assert checks.check(dv(drv="550.2"), dv(drv="550.1"), mode="cold").levels == ()
    form = verdict_form(live)
    conforms(form, "verdict")
    assert (form["mode"], form["levels"]) == ("live", ["cold"])


def test_levels_are_for_allow_rules_and_modes_are_checked() -> None:
    data = json.loads(json.dumps(LEVELLED))
    data["rules"].append({"id": "d", "effect": "deny", "level": "cold", "conditions": [{"field": "drv",
                                                                                          "test": "equal"}]})
    refused(data, "level applies to allow rules", code="VC504")
    with pytest.raises(UsageError, match="mode must be"):
        registry(LEVELLED).check(dv(drv="1"), dv(drv="1"), mode="hibernate")


# -- warn rules --------------------------------------------------------------------------------------------


WARNED = table([{"name": "compat", "type": "uint", "ordered": True}], [
    {"id": "any", "effect": "allow", "conditions": [{"field": "compat", "test": "target_ge_source"}]},
    {"id": "newer-unknown", "effect": "warn", "code": "ACME_COMPAT_UNKNOWN", "message": "compat unknown",
     "hint": "update the target", "conditions": [{"field": "compat", "test": "target_gt_source"}]},
])


def test_a_warn_rule_that_holds_warns_a_compatible_verdict_and_strict_refuses_it() -> None:
    checks = registry(WARNED)
    verdict = checks.check(dv(compat="1"), dv(compat="2"))
    assert verdict.compatible and [(w.code, w.message, w.rule.rule) for w in verdict.warnings] == [
        ("ACME_COMPAT_UNKNOWN", "compat unknown", "newer-unknown")]
    assert checks.check(dv(compat="2"), dv(compat="2")).warnings == ()
    strict = checks.check(dv(compat="1"), dv(compat="2"), strict=True)
    assert not strict.compatible and strict.codes == ("ACME_COMPAT_UNKNOWN",)
    assert "refused by --strict" in strict.reasons[0].message
    form = verdict_form(verdict)
    conforms(form, "verdict")
    assert form["warnings"] == [{
        "code": "ACME_COMPAT_UNKNOWN", "message": "compat unknown", "hint": "update the target",
        "rule": {"plugin": "p", "table": "v2", "rule": "newer-unknown", "effect": "warn", "source_url": None}}]
    s, t = dv(compat="1"), dv(compat="2")
    explained = explanation_form(checks.explain(s, t), checks.resolve(s), checks.resolve(t))
    conforms(explained, "explanation")
    assert explained["verdict"]["warnings"][0]["code"] == "ACME_COMPAT_UNKNOWN"


def run(*argv: str) -> Tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out, err)
    return status, out.getvalue()


def test_check_and_explain_show_warnings_levels_modes(tmp_path: Path) -> None:
    warned, levelled = tmp_path / "warned.toml", tmp_path / "levelled.toml"
    warned.write_text(to_toml(WARNED))
    data = json.loads(json.dumps(LEVELLED))
    data["table"]["prefixes"] = ["k=b;"]
    levelled.write_text(to_toml(data))
    tables = ["--no-plugins", "--table", str(warned)]
    status, out = run("check", *tables, dv(compat="1"), dv(compat="2"))
    assert status == 0 and "table warning[ACME_COMPAT_UNKNOWN]: compat unknown" in out
    assert run("check", "--strict", *tables, dv(compat="1"), dv(compat="2"))[0] == 1
    status, out = run("explain", *tables, dv(compat="1"), dv(compat="2"))
    assert status == 0 and "table warning[ACME_COMPAT_UNKNOWN]" in out and "admitted at: live and cold" in out
    cold = ["--no-plugins", "--table", str(levelled)]
    source, target = dv(k="b", drv="1.0"), dv(k="b", drv="1.1")
    status, out = run("check", *cold, source, target)
    assert status == 1 and "error[VC403]" in out
    status, out = run("check", "--mode", "cold", "--json", *cold, source, target)
    assert status == 0 and json.loads(out)["levels"] == ["cold"]
    status, out = run("explain", "--mode", "cold", *cold, source, target)
    assert status == 0 and "admitted at: cold only (checked for a cold migration)" in out
    assert "allow rule 'newer-driver-cold' (cold migration): holds" in out


# -- direction proven over pins ----------------------------------------------------------------------------


GEN = {"name": "gen", "type": "uint", "ordered": True}


def pinned(source: Dict[str, Any], target: Dict[str, Any], field: Dict[str, Any] = GEN) -> Dict[str, Any]:
    name = field["name"]
    return table([field], [{"id": "r", "effect": "allow", "conditions": [
        {"field": name, "side": "source", **source}, {"field": name, "side": "target", **target}]}])


@pytest.mark.parametrize(("source", "target"), [
    ({"test": "range", "max": 3}, {"test": "range", "min": 3}),
    ({"test": "one_of", "values": [1, 2]}, {"test": "one_of", "values": [2, 5]}),
    ({"test": "one_of", "values": [1]}, {"test": "range", "min": 1, "max": 9}),
])
def test_pins_that_put_every_target_above_every_source_are_direction_safe(source: Any, target: Any) -> None:
    assert compiled(pinned(source, target)).warnings == ()


@pytest.mark.parametrize(("source", "target"), [
    ({"test": "range", "max": 4}, {"test": "range", "min": 3}),
    ({"test": "one_of", "values": [1, 3]}, {"test": "one_of", "values": [2]}),
    ({"test": "range", "min": 3}, {"test": "range", "min": 3}),
])
def test_pins_that_let_a_target_be_older_are_still_refused(source: Any, target: Any) -> None:
    refused(pinned(source, target), "ordered field 'gen'", code="VC505")


SPEC = {"test": "specifier", "prereleases": False}


@pytest.mark.parametrize(("source", "target", "safe"), [
    ("<550", ">=550", True),
    (">=535,<550", ">=550,<560", True),
    ("~=2.2", ">=3", True),
    ("<=550", ">=550", False),  # 550+local passes '<=550' and sorts above 550
    ("<=550", ">550.0.1", True),
    ("==2.1", ">=2.1", False),
    ("==2.1", ">=2.2", True),
    ("<560", ">=550", False),
    ("!=1.0", ">=1.0", False),
])
def test_specifier_pins_are_proven_from_their_bounds(source: str, target: str, safe: bool) -> None:
    data = pinned({**SPEC, "spec": source}, {**SPEC, "spec": target}, FW)
    if safe:
        compiled(data)
    else:
        refused(data, "ordered field 'fw'", code="VC505")


bounds = st.one_of(
    st.fixed_dictionaries({"test": st.just("range"), "min": st.integers(0, 6)}),
    st.fixed_dictionaries({"test": st.just("range"), "max": st.integers(0, 6)}),
    st.tuples(st.integers(0, 6), st.integers(0, 6)).map(lambda p: {"test": "range", "min": min(p), "max": max(p)}),
    st.lists(st.integers(0, 6), min_size=1, max_size=3).map(lambda v: {"test": "one_of", "values": v}),
)


@settings(max_examples=300, deadline=None)
@given(bounds, bounds, st.booleans())
def test_a_rule_proven_by_pins_never_admits_a_lower_target(source: Any, target: Any, both: bool) -> None:
    data = pinned(source, target)
    if both:  # a 'both' pin bounds the two sides at once
        data["rules"][0]["conditions"].append({"field": "gen", "side": "both", "test": "range", "max": 5})
    try:
        checks = registry(data)
    except TableError as error:
        assert error.code == "VC505"
        return
    for s in range(7):
        for t in range(7):
            if checks.is_compatible(dv(gen=str(s)), dv(gen=str(t))):
                assert t >= s, f"{source} / {target} admits {s} -> {t}"


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["<", "<=", "==", ">=", ">", "~="]), st.sampled_from(["<", "<=", "==", ">=", ">"]),
       versions, versions, st.lists(st.sampled_from(["1.0", "1.0+l", "1.0.post1", "2.0rc1", "2.0", "2.1", "3"]),
                                    min_size=1, max_size=3))
def test_a_specifier_proof_holds_on_versions_with_locals_and_prereleases(
        op_s: str, op_t: str, a: str, b: str, extra: List[str]) -> None:
    if op_s == "~=" and "." not in a:
        a += ".0"
    data = pinned({**SPEC, "prereleases": True, "spec": f"{op_s}{a}"}, {**SPEC, "prereleases": True,
                                                                      "spec": f"{op_t}{b}"}, FW)
    try:
        checks = registry(data)
    except TableError as error:
        assert error.code == "VC505"
        return
    from packaging.version import Version

    values: List[str] = sorted({a, b, *extra, f"{a}+z", f"{b}.post1"}, key=Version)
    for s in values:
        for t in values:
            verdict: Optional[Any] = checks.check(dv(fw=s), dv(fw=t))
            if verdict is not None and verdict.compatible:
                assert Version(t) >= Version(s), f"{op_s}{a} / {op_t}{b} admits {s} -> {t}"


def test_pins_prove_direction_in_v2_tables_only() -> None:
    data = pinned({"test": "range", "max": 3}, {"test": "range", "min": 3})
    data["schema_version"] = 1
    refused(data, "ordered field 'gen'", code="VC505")
