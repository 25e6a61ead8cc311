from __future__ import annotations

import copy
from typing import Any, Dict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfiocompat.errors import TableError
from vfiocompat.tables import compile_table
from vfiocompat.versions import parse_version

from .conftest import BASE_TABLE


def compiled(data: Dict[str, Any]) -> Any:
    return compile_table(data, origin="t.toml", plugin="p")


def with_rules(*rules: Dict[str, Any]) -> Dict[str, Any]:
    data = copy.deepcopy(BASE_TABLE)
    data["rules"] = list(rules)
    return data


def test_compiles_claims_format_and_rules() -> None:
    table = compiled(copy.deepcopy(BASE_TABLE))
    assert (table.id, table.vendor_id, table.prefixes) == ("t", 0xFFFE, ("k=",))
    assert table.claims.covers(0xFFFE, "k=a;v=1") and not table.claims.covers(0xFFFE, "x=1")
    assert not table.claims.covers(0x8086, "k=a;v=1")
    assert [r.id for r in table.rules] == ["same-k-newer-v"]
    assert table.format.field("v").ordered and not table.format.field("n").ordered


def test_allow_rule_must_constrain_ordered_fields() -> None:
    with pytest.raises(TableError) as caught:
        compiled(with_rules({"id": "loose", "effect": "allow", "conditions": [{"field": "k", "test": "equal"}]}))
    assert caught.value.code == "VC505"
    assert caught.value.rule == "loose"
    assert "'v'" in caught.value.message


def test_declared_downgrade_is_a_warning() -> None:
    table = compiled(with_rules({"id": "loose", "effect": "allow", "allow_downgrade": ["v"],
                                 "conditions": [{"field": "k", "test": "equal"}]}))
    assert [(w.code, w.rule) for w in table.warnings] == [("VC551", "loose")]


def test_unary_pins_do_not_count_as_direction() -> None:
    rule = {"id": "pinned", "effect": "allow", "conditions": [
        {"field": "v", "test": "one_of", "side": "source", "values": ["2"]},
        {"field": "v", "test": "one_of", "side": "target", "values": ["1"]},
    ]}
    with pytest.raises(TableError) as caught:
        compiled(with_rules(rule))
    assert caught.value.code == "VC505"


@pytest.mark.parametrize(("rules", "fragment", "code"), [
    ([{"id": "a", "effect": "allow", "conditions": [{"field": "zz", "test": "equal"}]}], "unknown field 'zz'", "VC504"),
    ([{"id": "a", "effect": "allow", "conditions": [{"field": "k", "test": "equal"}, {"field": "v", "test": "equal"}]},
      {"id": "a", "effect": "allow", "conditions": [{"field": "v", "test": "equal"}]}], "duplicate rule id", "VC504"),
    ([{"id": "d", "effect": "deny", "conditions": []}], "needs at least one condition", "VC504"),
    ([{"id": "a", "effect": "maybe"}], "effect must be", "VC503"),
    ([{"id": "a", "effect": "allow", "allow_downgrade": ["k"], "conditions": [{"field": "v", "test": "equal"}]}],
     "not an ordered field", "VC504"),
    ([{"id": "a", "effect": "allow", "conditions": [
        {"field": "v", "test": "specifier", "side": "source", "spec": "=>1", "prereleases": False}]}],
     "not a PEP 440 specifier", "VC504"),
    ([{"id": "a", "effect": "allow", "conditions": [
        {"field": "v", "test": "one_of", "side": "source", "values": ["one"]}, {"field": "v", "test": "equal"}]}],
     "not a PEP 440 version", "VC504"),
])
def test_semantic_errors_name_rule_and_path(rules: Any, fragment: str, code: str) -> None:
    with pytest.raises(TableError) as caught:
        compiled(with_rules(*rules))
    assert caught.value.code == code
    assert fragment in caught.value.message
    assert caught.value.path is not None and caught.value.path.startswith("rules[")


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda d: d.update(schema_version=2), "schema_version"),
    (lambda d: d["table"].update(vendor="8086"), "vendor must be"),
    (lambda d: d["table"].update(vendor="0x100000000"), "vendor must be"),
    (lambda d: d["table"].update(prefixes=[]), "prefixes"),
    (lambda d: d["format"].update(kind="regex"), "kind must be"),
    (lambda d: d["format"]["fields"].append({"name": "k", "type": "string"}), "declared twice"),
    (lambda d: d["format"]["fields"][0].update(ordered=True), "cannot be ordered"),
    (lambda d: d["format"]["fields"][0].update(rest=True), "only applies to the delimited"),
])
def test_structural_errors(change: Any, fragment: str) -> None:
    data = copy.deepcopy(BASE_TABLE)
    change(data)
    with pytest.raises(TableError, match=fragment):
        compiled(data)


def test_too_many_rules_is_a_limit_error() -> None:
    from vfiocompat import tables

    data = with_rules(*[{"id": f"r{i}", "effect": "deny", "conditions": [{"field": "k", "test": "equal"}]}
                        for i in range(3)])
    original = tables.MAX_RULES
    tables.MAX_RULES = 2
    try:
        with pytest.raises(TableError) as caught:
            compiled(data)
    finally:
        tables.MAX_RULES = original
    assert caught.value.code == "VC507"


def indexed_table(count: int) -> Any:
    rules = [
        {"id": f"r{i}", "effect": "allow", "conditions": [
            {"field": "k", "test": "one_of", "side": "source", "values": [f"k{i % 7}"]},
            {"field": "n", "test": "one_of", "side": "target", "values": [i % 5]},
            {"field": "v", "test": "target_ge_source"},
        ]} for i in range(count)
    ] + [{"id": "unpinned", "effect": "allow", "conditions": [
        {"field": "n", "test": "target_gt_source"}, {"field": "v", "test": "equal"}]}]
    return compiled(with_rules(*rules))


TABLE = indexed_table(40)


@settings(max_examples=200)
@given(st.integers(0, 8), st.integers(0, 6), st.integers(0, 6), st.integers(0, 3), st.integers(0, 3))
def test_index_finds_the_same_first_rule_as_a_scan(ks: int, ns: int, nt: int, vs: int, vt: int) -> None:
    source = {"k": f"k{ks}", "n": ns, "v": parse_version(str(vs), "pep440")}
    target = {"k": f"k{ks}", "n": nt, "v": parse_version(str(vt), "pep440")}
    scanned = next((r for r in TABLE.rules if all(c.evaluate(source, target) is None for c in r.conditions)), None)
    allow, deny = TABLE.decide(source, target)
    assert allow == scanned
    assert deny is None
