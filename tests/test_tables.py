from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfiocompat import Registry
from vfiocompat._table_files import read_table
from vfiocompat._tables import compile_claims, compile_table
from vfiocompat._versions import parse_version
from vfiocompat.errors import TableError

from .conftest import BASE_TABLE, dv


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
    (lambda d: d.update(schema_version=3), "schema_version 3 needs a newer vfiocompat"),
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
    from vfiocompat import _tables as tables

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
    judgement = TABLE.judge(source, target)
    assert judgement.allowed == scanned and judgement.live == scanned
    assert judgement.denials == ()


# -- the compiler refuses all the schema refuses: no verdict rests on the schema having run -------------

CORPUS_TABLES = Path(__file__).resolve().parent / "corpus" / "tables"


def _schema_refused() -> List[Path]:
    from vfiocompat._schema import table_schema_issues

    found = []
    for path in sorted(CORPUS_TABLES.iterdir()):
        try:
            document = read_table(path)
        except TableError:
            continue
        if table_schema_issues(document.data):
            found.append(path)
    return found


@pytest.mark.parametrize("path", _schema_refused(), ids=lambda p: p.name)
def test_every_table_the_schema_refuses_the_compiler_refuses(path: Path) -> None:
    with pytest.raises(TableError) as caught:
        compile_table(read_table(path).data, origin=str(path), plugin="p")
    assert caught.value.code in ("VC503", "VC504", "VC505", "VC507", "VC508")


@pytest.mark.parametrize(("change", "path", "code"), [
    (lambda d: d.update(colour="red"), "$", "VC503"),
    (lambda d: d["table"].update(titel="x"), "table", "VC503"),
    (lambda d: d["format"].update(seperator="-"), "format", "VC503"),
    (lambda d: d["format"]["fields"][0].update(optinal=True), "format.fields[0]", "VC503"),
    (lambda d: d["rules"][0].update(efect="deny"), "rules[0]", "VC503"),
    (lambda d: d["rules"][0]["conditions"][0].update(sied="source"), "rules[0].conditions[0]", "VC503"),
    (lambda d: d.update(examples=[{"source": "a", "target": "b", "compatible": True, "expect": 1}]),
     "examples[0]", "VC503"),
    (lambda d: d.pop("rules"), "$", "VC503"),
    (lambda d: d.update(schema_version=True), "schema_version", "VC503"),
    (lambda d: d["table"].update(id="t\n"), "table.id", "VC503"),
    (lambda d: d["table"].update(prefixes=["k=", "k="]), "table.prefixes[1]", "VC503"),
    (lambda d: d["table"].update(prefixes=[1]), "table.prefixes[0]", "VC503"),
    (lambda d: d["table"].update(prefixes=["p"] * 257), "table.prefixes", "VC507"),
    (lambda d: d["table"].update(title="t" * 201), "table.title", "VC507"),
    (lambda d: d["table"].update(source_url="javascript:alert(1)"), "table.source_url", "VC503"),
    (lambda d: d["format"]["fields"][2].update(ordered="yes"), "format.fields[2].ordered", "VC503"),
    (lambda d: d["format"]["fields"][3].update(item_separator=""), "format.fields[3].item_separator", "VC503"),
    (lambda d: d["format"].update(pair_separator="123456789"), "format.pair_separator", "VC507"),
    (lambda d: d["format"]["fields"][0].update(name="bad name"), "format.fields[0].name", "VC503"),
    (lambda d: d["rules"][0].update(id="$(rm -rf)"), "rules[0].id", "VC503"),
    (lambda d: d["rules"][0].update(allow_downgrade="v"), "rules[0].allow_downgrade", "VC503"),
    (lambda d: d["rules"][0].update(allow_downgrade=["v", "v"]), "rules[0].allow_downgrade[1]", "VC503"),
    (lambda d: d["rules"][0].update(code="VC201"), "rules[0].code", "VC503"),
    (lambda d: d["rules"][0]["conditions"].extend([{"field": "k", "test": "equal"}] * 63),
     "rules[0].conditions", "VC507"),
    (lambda d: d.update(examples=[{"source": "a", "target": "b", "compatible": "yes"}]),
     "examples[0].compatible", "VC503"),
])
def test_shapes_the_schema_refuses_are_refused_with_their_path(change: Any, path: str, code: str) -> None:
    data = copy.deepcopy(BASE_TABLE)
    change(data)
    with pytest.raises(TableError) as caught:
        compiled(data)
    assert (caught.value.path, caught.value.code) == (path, code), caught.value.one_line()


# -- table text is one line, and values are ones a device_version can carry -------------------------------


@pytest.mark.parametrize(("change", "path"), [
    (lambda d: d["rules"][0].update(message="nope\ncompatible: 0xfffe:1:k=a -> 0xfffe:1:k=b"), "rules[0].message"),
    (lambda d: d["rules"][0].update(hint="\x1b[2Jclear"), "rules[0].hint"),
    (lambda d: d["table"].update(title="title\r"), "table.title"),
    (lambda d: d["rules"][0].update(description="a\x00b"), "rules[0].description"),
    (lambda d: d["rules"][0].update(notes="bidi \u202e"), "rules[0].notes"),
    (lambda d: d["format"]["fields"][0].update(description="tab\there"), "format.fields[0].description"),
    (lambda d: d.update(examples=[{"source": "a", "target": "b", "compatible": True, "note": "x\ny"}]),
     "examples[0].note"),
])
def test_control_characters_in_table_text_are_refused(change: Any, path: str) -> None:
    data = copy.deepcopy(BASE_TABLE)
    change(data)
    with pytest.raises(TableError) as caught:
        compiled(data)
    assert (caught.value.path, caught.value.code) == (path, "VC504")
    assert "U+00" in caught.value.message or "U+202E" in caught.value.message


def test_prose_keeps_its_line_breaks() -> None:
    data = copy.deepcopy(BASE_TABLE)
    data["table"]["description"] = "first line\nsecond line"
    data["rules"][0]["notes"] = "a\nb"
    table = compiled(data)
    assert table.rules[0].notes == "a\nb"


def test_a_deny_rule_whose_values_no_device_version_carries_is_refused() -> None:
    deny = {"id": "deny-bad-model", "effect": "deny", "code": "BAD_MODEL", "conditions": [
        {"field": "k", "test": "one_of", "side": "source", "values": ["\u0421100"]}]}  # Cyrillic ES
    with pytest.raises(TableError) as caught:
        compiled(with_rules(BASE_TABLE["rules"][0], deny))
    error = caught.value
    assert (error.code, error.rule, error.path) == ("VC504", "deny-bad-model", "rules[1].conditions[0].values[0]")
    assert "U+0421 CYRILLIC CAPITAL LETTER ES" in error.message


@pytest.mark.parametrize("prefix", ["k\u2013", "k =", "\tk="])
def test_prefixes_no_device_version_carries_are_refused(prefix: str) -> None:
    data = copy.deepcopy(BASE_TABLE)
    data["table"]["prefixes"] = ["x=", prefix]
    with pytest.raises(TableError) as caught:
        compiled(data)
    assert (caught.value.code, caught.value.path) == ("VC504", "table.prefixes[1]")


def test_a_pin_that_cannot_parse_as_its_type_is_refused() -> None:
    rule = {"id": "pin", "effect": "deny", "conditions": [{"field": "n", "test": "one_of", "side": "source",
                                                             "values": [1, "abc"]}]}
    with pytest.raises(TableError) as caught:
        compiled(with_rules(BASE_TABLE["rules"][0], rule))
    assert (caught.value.code, caught.value.path) == ("VC504", "rules[1].conditions[0].values[1]")
    assert "'abc' is not a decimal integer" in caught.value.message


def test_a_value_holding_the_pair_separator_is_refused() -> None:
    rule = {"id": "pin", "effect": "deny", "conditions": [{"field": "k", "test": "one_of", "side": "source",
                                                             "values": ["a;v=9"]}]}
    with pytest.raises(TableError, match="separates the fields") as caught:
        compiled(with_rules(BASE_TABLE["rules"][0], rule))
    assert caught.value.path == "rules[1].conditions[0].values[0]"


# -- claims and paths ------------------------------------------------------------------------------------


def test_claims_are_checked_as_the_compiler_checks_them() -> None:
    data = copy.deepcopy(BASE_TABLE)
    assert compile_claims(data, origin="t") == compiled(data).claims
    data["table"]["prefixes"] = ["k=", "k="]
    with pytest.raises(TableError, match="listed twice"):
        compile_claims(data, origin="t")


def test_paths_travel_as_tuples_and_are_placed_once() -> None:
    placed: List[Tuple[Any, ...]] = []

    def place(path: Tuple[Any, ...]) -> Tuple[str, str]:
        placed.append(path)
        return "file:9", "words"

    data = with_rules({"id": "a", "effect": "allow", "conditions": [{"field": "zz", "test": "equal"}]})
    with pytest.raises(TableError) as caught:
        compile_table(data, origin="t", plugin="p", place=place)
    assert placed == [("rules", 0, "conditions", 0, "field")]
    assert (caught.value.location, caught.value.path) == ("file:9", "words")


def test_format_field_look_up_is_a_dict() -> None:
    table = compiled(copy.deepcopy(BASE_TABLE))
    assert table.format.field("v") is table.format.fields[1] and table.format.field("zz") is None


def test_consume_drops_each_compiled_rule_and_compiles_the_same_table() -> None:
    data = with_rules(*[{"id": f"r{i}", "effect": "allow", "conditions": [
        {"field": "k", "test": "one_of", "side": "source", "values": [f"k{i}"]}, {"field": "v", "test": "equal"}]}
        for i in range(3)])
    kept = compiled(copy.deepcopy(data))
    consumed = compile_table(data, origin="t.toml", plugin="p", consume=True)
    assert data["rules"] == [None, None, None]
    def shape(table: Any) -> Any:
        return [(r.id, r.effect, r.level, [c.description for c in r.conditions]) for r in table.rules]

    assert shape(consumed) == shape(kept) and consumed.format == kept.format


def test_consume_still_places_an_error_in_a_later_rule() -> None:
    data = with_rules({"id": "a", "effect": "deny", "conditions": [{"field": "k", "test": "equal"}]},
                      {"id": "a", "effect": "deny", "conditions": [{"field": "k", "test": "equal"}]})
    with pytest.raises(TableError) as caught:
        compile_table(data, origin="t.toml", plugin="p", consume=True)
    assert "duplicate rule id (first at rules[0])" in caught.value.message and caught.value.rule == "a"


def test_an_explanation_shows_its_own_spelling_of_an_equal_version(tmp_path: Path) -> None:
    # Trials are kept by the values a rule tests; 2.0 and 2.00 are equal versions, but each pair's
    # explanation must show the pair's own text.
    data = copy.deepcopy(BASE_TABLE)
    data["rules"].append({"id": "only-zzz", "effect": "allow", "conditions": [
        {"field": "k", "test": "one_of", "side": "both", "values": ["zzz"]},
        {"field": "v", "test": "target_ge_source"}]})
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    registry = Registry(tables=[path])
    shown = []
    for source in (dv(v="2.0"), dv(v="2.00")):
        trial = next(t for t in registry.explain(source, dv(v="1.0")).trials if t.rule.rule == "only-zzz")
        shown.extend(c.reason.source_value for c in trial.conditions if c.reason is not None and c.reason.field == "v")
    assert shown == ["2.0", "2.00"]
