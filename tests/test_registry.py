from __future__ import annotations

import copy
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vfiocompat import Registry, hookimpl

from .conftest import ACME_TABLE, BASE_TABLE, dv

Build = Callable[..., Registry]


def table(**changes: Any) -> Dict[str, Any]:
    data = copy.deepcopy(BASE_TABLE)
    for key, value in changes.items():
        data[key] = value
    return data


def with_deny(rule_id: str, n: int, **extra: str) -> List[Dict[str, Any]]:
    """BASE_TABLE's allow rule plus a deny rule refusing targets whose n is ``n``."""
    deny = {"id": rule_id, "effect": "deny", **extra,
            "conditions": [{"field": "n", "test": "one_of", "side": "target", "values": [n]}]}
    return [*copy.deepcopy(BASE_TABLE["rules"]), deny]


def test_compatible_pair_names_the_deciding_rule(registry_for: Build) -> None:
    verdict = registry_for(table()).check(dv(v="1.0"), dv(v="1.1"))
    assert verdict.compatible and bool(verdict)
    assert verdict.reasons == ()
    assert verdict.decided_by is not None
    assert (verdict.decided_by.table, verdict.decided_by.rule, verdict.decided_by.effect) == (
        "t", "same-k-newer-v", "allow")


def test_reverse_direction_is_refused_with_every_failing_condition(registry_for: Build) -> None:
    verdict = registry_for(table()).check(dv(k="a", v="1.1"), dv(k="b", v="1.0"))
    assert not verdict.compatible
    assert verdict.codes == ("VC410", "VC411")
    field_values = [(r.field, r.source_value, r.target_value, r.layer) for r in verdict.reasons]
    assert field_values == [("k", "a", "b", "table"), ("v", "1.1", "1.0", "table")]
    assert all(r.hint for r in verdict.reasons)
    assert verdict.reasons[0].rule is not None and verdict.reasons[0].rule.rule == "same-k-newer-v"


def test_vendor_mismatch_is_refused_by_the_core(registry_for: Build) -> None:
    verdict = registry_for(table()).check(dv(), dv(vendor="0x8086"))
    assert verdict.codes == ("VC201",)
    assert verdict.reasons[0].layer == "core"
    assert (verdict.reasons[0].source_value, verdict.reasons[0].target_value) == ("0xfffe", "0x8086")


def test_interface_version_must_not_go_backwards(registry_for: Build) -> None:
    registry = registry_for(table())
    assert registry.check(dv(interface="1"), dv(interface="1.1")).compatible
    verdict = registry.check(dv(interface="2", k="a"), dv(interface="1.9", k="b"))
    assert verdict.codes == ("VC202", "VC410")
    assert verdict.decided_by is None


def test_unknown_vendor_unclaimed_string_and_bad_format(registry_for: Build) -> None:
    registry = registry_for(table())
    assert registry.check("0x1234:1:x", "0x1234:1:x").codes == ("VC203", "VC203")
    unclaimed = registry.check("0xfffe:1:zzz", "0xfffe:1:zzz")
    assert unclaimed.codes == ("VC204", "VC204")
    assert "'k='" in (unclaimed.reasons[0].hint or "")
    bad = registry.check("0xfffe:1:k=a;v=one;n=1", dv())
    assert bad.codes == ("VC111",)
    assert bad.reasons[0].field == "v"
    assert bad.reasons[0].message.startswith("source: ")


def test_parse_errors_are_verdicts_for_either_side(registry_for: Build) -> None:
    verdict = registry_for(table()).check("", "0xfffe:1:")
    assert not verdict.compatible
    assert verdict.codes == ("VC101", "VC108")


def test_deny_wins_over_allow(registry_for: Build) -> None:
    rules = with_deny("bad-n", 3, code="BAD_N", message="n=3 targets lose state")
    registry = registry_for(table(rules=rules))
    assert registry.check(dv(n=1), dv(n=2)).compatible
    verdict = registry.check(dv(n=1), dv(n=3))
    assert not verdict.compatible
    assert verdict.codes == ("BAD_N",)
    assert verdict.decided_by is not None and verdict.decided_by.rule == "bad-n"
    assert verdict.reasons[0].target_value == "3"


def test_table_without_allow_rules_admits_nothing(registry_for: Build) -> None:
    rules = [{"id": "d", "effect": "deny", "conditions": [{"field": "n", "test": "equal"}]}]
    verdict = registry_for(table(rules=rules)).check(dv(n=1), dv(n=2))
    assert verdict.codes == ("VC401",)


def test_nearest_miss_gives_the_reasons(registry_for: Build) -> None:
    rules = [
        {"id": "far", "effect": "allow", "conditions": [
            {"field": "k", "test": "one_of", "side": "source", "values": ["x"]},
            {"field": "n", "test": "equal"}, {"field": "v", "test": "equal"}]},
        {"id": "near", "effect": "allow", "conditions": [
            {"field": "n", "test": "equal"}, {"field": "v", "test": "target_ge_source"}]},
    ]
    registry = registry_for(table(rules=rules))
    verdict = registry.check(dv(n=1, v="2"), dv(n=2, v="2"))
    assert verdict.codes == ("VC410",)
    explanation = registry.explain(dv(n=1, v="2"), dv(n=2, v="2"))
    assert [t.rule.rule for t in explanation.trials] == ["near", "far"]
    assert [len(t.failed) for t in explanation.trials] == [1, 2]
    assert explanation.verdict == verdict


def test_explain_agrees_with_check_on_compatible_pairs(registry_for: Build) -> None:
    registry = registry_for(table())
    explanation = registry.explain(dv(v="1"), dv(v="2"))
    assert explanation.verdict == registry.check(dv(v="1"), dv(v="2"))
    assert explanation.trials[0].holds
    assert explanation.table == "t"


def test_sources_and_targets_in_different_tables_are_refused(registry_for: Build) -> None:
    other = table(table={"id": "other", "vendor": "0xfffe", "prefixes": ["x="]})
    other["format"]["fields"][0]["name"] = "x"
    other["rules"][0]["conditions"][0]["field"] = "x"
    registry = registry_for(table(), other)
    verdict = registry.check(dv(), "0xfffe:1:x=a;v=1;n=1")
    assert verdict.codes == ("VC205",)
    assert "'t'" in verdict.reasons[0].message and "'other'" in verdict.reasons[0].message


def test_overlapping_claims_are_reported_and_refused(registry_for: Build) -> None:
    wide = table(table={"id": "wide", "vendor": "0xfffe", "prefixes": ["k"]})
    registry = registry_for(table(), wide)
    overlap_codes = [f.code for f in registry.overlaps]
    assert overlap_codes == ["VC305", "VC305"]
    verdict = registry.check(dv(), dv())
    assert verdict.codes == ("VC206", "VC206")
    assert "'wide'" in verdict.reasons[0].message and "'t'" in verdict.reasons[0].message


def test_overlaps_do_not_depend_on_load_order(registry_for: Build) -> None:
    wide = table(table={"id": "wide", "vendor": "0xfffe", "prefixes": ["k"]})
    one = registry_for(table(), wide).check(dv(), dv())
    two = registry_for(wide, table()).check(dv(), dv())
    assert one.codes == two.codes


def test_checks_are_memoised_and_identical(registry_for: Build) -> None:
    registry = registry_for(table())
    first = registry.check(dv(v="1"), dv(v="2"))
    assert registry.check(dv(v="1"), dv(v="2")) is first
    assert registry.is_compatible(dv(v="1"), dv(v="2")) is True


def test_resolve_gives_typed_fields(registry_for: Build) -> None:
    side = registry_for(table()).resolve(dv(v="1.2", n=7))
    assert side.table is not None and side.table.id == "t"
    assert side.fields is not None and side.fields["n"] == 7 and side.fields["v"].raw == "1.2"


# -- plugins registered as objects ---------------------------------------------------------


def plugin_with(tables: List[Any], **hooks: Any) -> Any:
    namespace = SimpleNamespace(vfiocompat_tables=hookimpl(lambda: tables))
    for name, function in hooks.items():
        setattr(namespace, name, hookimpl(function))
    return namespace


def test_plugin_tables_are_attributed(tmp_path: Path) -> None:
    registry = Registry(plugins=[("acme", plugin_with([ACME_TABLE]))])
    assert [r.name for r in registry.plugins] == ["acme"]
    assert [t.plugin for t in registry.tables] == ["acme"]
    verdict = registry.check("0xfffe:1:gen=3;model=w100;fw=2.4.1;caps=aes;queues=8",
                             "0xfffe:1:gen=3;model=w100;fw=2.5.0;caps=aes;queues=8")
    assert verdict.codes == ("ACME_FW_ERRATA",)
    assert verdict.reasons[0].plugin == "acme"


def hook_table(write_table: Callable[..., Path]) -> Path:
    data = table(format={"kind": "hook", "fields": [
        {"name": "k", "type": "string"}, {"name": "v", "type": "version"}, {"name": "n", "type": "uint"}]})
    return write_table(data)


def test_hook_format_is_parsed_by_the_owning_plugin(write_table: Callable[..., Path]) -> None:
    def parse_fields(table_id: str, proprietary: str) -> Any:
        k, v, n = proprietary[2:].split("/")
        return {"k": k, "v": v, "n": n}

    registry = Registry(plugins=[("hooked", plugin_with([hook_table(write_table)],
                                                         vfiocompat_parse_fields=parse_fields))])
    assert registry.check("0xfffe:1:k=a/1/1", "0xfffe:1:k=a/2/1").compatible
    assert registry.check("0xfffe:1:k=a/2/1", "0xfffe:1:k=a/1/1").codes == ("VC411",)


@pytest.mark.parametrize(("hook", "code"), [
    (lambda table_id, proprietary: 1 / 0, "VC302"),
    (lambda table_id, proprietary: ["not", "a", "mapping"], "VC303"),
    (lambda table_id, proprietary: None, "VC111"),
])
def test_parse_hook_faults_fail_closed_and_name_the_plugin(write_table: Callable[..., Path], hook: Any,
                                                           code: str) -> None:
    registry = Registry(plugins=[("hooked", plugin_with([hook_table(write_table)], vfiocompat_parse_fields=hook))])
    verdict = registry.check("0xfffe:1:k=a/1/1", "0xfffe:1:k=a/1/1")
    assert not verdict.compatible
    assert verdict.codes[0] == code
    if code != "VC111":
        assert "'hooked'" in verdict.reasons[0].message


def test_a_failing_plugin_does_not_take_down_the_others(write_table: Callable[..., Path]) -> None:
    def explode() -> Any:
        raise RuntimeError("boom")

    broken = SimpleNamespace(vfiocompat_tables=hookimpl(explode))
    registry = Registry(plugins=[("acme", plugin_with([ACME_TABLE])), ("broken", broken)])
    records = {r.name: r for r in registry.plugins}
    assert records["acme"].ok
    assert [f.code for f in records["broken"].failures] == ["VC302"]
    assert "RuntimeError: boom" in records["broken"].failures[0].message
    assert registry.check("0xfffe:1:gen=3;model=w100;fw=2.4.1;caps=aes;queues=8",
                          "0xfffe:1:gen=3;model=w100;fw=2.4.1;caps=aes;queues=8").compatible
    unknown = registry.check("0x1234:1:x", "0x1234:1:x")
    assert unknown.codes[0] == "VC302"
    assert "'broken'" in unknown.reasons[0].message


def test_an_invalid_plugin_table_names_the_plugin_for_its_strings(write_table: Callable[..., Path]) -> None:
    bad = table()
    bad["rules"][0]["conditions"] = [{"field": "k", "test": "equal"}]  # leaves ordered v unconstrained
    registry = Registry(plugins=[("sloppy", plugin_with([write_table(bad)]))])
    assert [f.code for f in registry.plugins[0].failures] == ["VC304"]
    verdict = registry.check(dv(), dv())
    assert verdict.codes == ("VC304", "VC304")
    assert "'sloppy'" in verdict.reasons[0].message and "VC505" in verdict.reasons[0].message


@pytest.mark.parametrize("returned", ["a-path-string-is-not-a-list", 42, [42]])
def test_wrong_table_return_types_are_recorded(returned: Any) -> None:
    registry = Registry(plugins=[("odd", SimpleNamespace(vfiocompat_tables=hookimpl(lambda: returned)))])
    assert [f.code for f in registry.plugins[0].failures] == ["VC303"]


def test_disabled_plugins_are_not_loaded() -> None:
    loaded: List[str] = []

    def tables() -> Any:
        loaded.append("x")
        return [ACME_TABLE]

    registry = Registry(plugins=[("acme", SimpleNamespace(vfiocompat_tables=hookimpl(tables)))], disabled=["acme"])
    assert registry.plugins[0].disabled and loaded == []
    assert registry.check(dv(), dv()).codes[0] == "VC203"


def test_duplicate_plugin_names_are_refused() -> None:
    with pytest.raises(ValueError, match="already taken"):
        Registry(plugins=[("a", plugin_with([])), ("a", plugin_with([]))])


# -- determinism ---------------------------------------------------------------------------


PAIRS = [
    (dv(v=a, n=x, k=k1), dv(v=b, n=y, k=k2))
    for a in ("1", "2") for b in ("1", "2") for x in (1, 3) for y in (1, 3) for k1 in "ab" for k2 in "ab"
]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.randoms(use_true_random=False))
def test_verdicts_do_not_depend_on_registration_order(write_table: Callable[..., Path], rnd: random.Random) -> None:
    deny = table(rules=with_deny("no-3", 3))
    other = table(table={"id": "other", "vendor": "0xfffd", "prefixes": ["k="]})
    wide = table(table={"id": "wide", "vendor": "0xfffd", "prefixes": [""]})
    plugins = [("p-deny", [write_table(deny)]), ("p-other", [write_table(other)]), ("p-wide", [write_table(wide)])]
    reference = Registry(plugins=[(n, plugin_with(t)) for n, t in plugins])
    shuffled = plugins[:]
    rnd.shuffle(shuffled)
    registry = Registry(plugins=[(n, plugin_with(t)) for n, t in shuffled])
    for source, target in PAIRS + [(s.replace("0xfffe", "0xfffd"), t.replace("0xfffe", "0xfffd")) for s, t in PAIRS]:
        assert registry.check(source, target) == reference.check(source, target)


# -- the fast paths agree with the full diagnosis ---------------------------------------------

PINNED_RULES = [
    {"id": f"r{i}", "effect": "allow", "conditions": [
        {"field": "k", "test": "one_of", "side": "source", "values": [f"k{i % 4}"]},
        {"field": "n", "test": "range", "side": "target", "min": i % 3},
        {"field": "v", "test": "target_ge_source"},
        {"field": "caps", "test": "target_superset"},
    ]} for i in range(12)
] + [
    {"id": "loose", "effect": "allow",
     "conditions": [{"field": "n", "test": "equal"}, {"field": "v", "test": "equal"}]},
    *with_deny("no-n-7", 7)[1:],
]
sides = st.builds(
    lambda k, v, n, caps: dv(k=f"k{k}", v=str(v), n=n, caps=",".join(sorted(caps)) or "none"),
    st.integers(0, 5), st.integers(0, 3), st.sampled_from([0, 1, 2, 7]), st.sets(st.sampled_from("abc")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sides, sides)
def test_check_is_compatible_and_explain_agree(registry_for: Build, source: str, target: str) -> None:
    registry = registry_for(table(rules=PINNED_RULES))
    fresh = registry_for(table(rules=PINNED_RULES))
    verdict = registry.check(source, target)
    assert fresh.is_compatible(source, target) == verdict.compatible
    explanation = fresh.explain(source, target)
    assert explanation.verdict == verdict
    holds = {t.rule.rule for t in explanation.trials if t.holds}
    allow_holds = any(t.holds and t.rule.effect == "allow" for t in explanation.trials)
    deny_holds = any(t.holds and t.rule.effect == "deny" for t in explanation.trials)
    assert verdict.compatible == (allow_holds and not deny_holds)
    if deny_holds:
        assert verdict.decided_by is not None and verdict.decided_by.rule in holds
    elif not verdict.compatible:
        nearest = next(t for t in explanation.trials if t.rule.effect == "allow")
        assert verdict.reasons == tuple(c.reason for c in nearest.failed)


def test_a_denied_pair_that_no_rule_allows_reports_both(registry_for: Build) -> None:
    rules = with_deny("no-3", 3, code="NO_3")
    verdict = registry_for(table(rules=rules)).check(dv(k="a", n=1), dv(k="b", n=3))
    assert verdict.codes == ("NO_3", "VC410")
    assert verdict.decided_by is not None and verdict.decided_by.rule == "no-3"


def test_a_missing_field_keeps_the_core_code_over_the_tables(registry_for: Build) -> None:
    rules = [{"id": "caps", "effect": "allow", "conditions": [
        {"field": "caps", "test": "target_superset", "code": "CAPS", "message": "capabilities lacking"},
        {"field": "v", "test": "equal"}]}]
    registry = registry_for(table(rules=rules))
    assert registry.check(dv(caps="a,b"), dv(caps="a")).codes == ("CAPS",)
    assert registry.check(dv(caps="a"), dv()).codes == ("VC420",)
