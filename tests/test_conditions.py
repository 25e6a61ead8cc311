from __future__ import annotations

import fnmatch
import re
from typing import Any, Dict, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vfiocompat._conditions import (
    DIRECTION_SAFE_TESTS,
    ConditionError,
    compile_condition,
    glob_match,
)
from vfiocompat._fields import FieldSpec
from vfiocompat._versions import parse_version

VERSION = FieldSpec("fw", "version", ordered=True)
DOTTED = FieldSpec("fw", "version", ordered=True, scheme="dotted")
UINT = FieldSpec("n", "uint", ordered=False)
GEN = FieldSpec("gen", "uint", ordered=True)
TEXT = FieldSpec("model", "string", ordered=False)
CAPS = FieldSpec("caps", "set", ordered=False)
MASK = FieldSpec("mask", "mask", ordered=False)


def v(raw: str) -> Any:
    return parse_version(raw, "pep440")


def run(spec: FieldSpec, data: Dict[str, Any], source: Any, target: Any) -> Any:
    condition = compile_condition({"field": spec.name, **data}, spec)
    return condition.evaluate({spec.name: source}, {spec.name: target})


def test_equal() -> None:
    assert run(TEXT, {"test": "equal"}, "a", "a") is None
    failure = run(TEXT, {"test": "equal"}, "a", "b")
    assert (failure.code, failure.source_value, failure.target_value) == ("VC410", "a", "b")
    assert "model is a" in failure.hint


def test_target_ge_source_refuses_older_target() -> None:
    assert run(VERSION, {"test": "target_ge_source"}, v("1.2"), v("1.3")) is None
    assert run(VERSION, {"test": "target_ge_source"}, v("1.2"), v("1.2")) is None
    failure = run(VERSION, {"test": "target_ge_source"}, v("1.3"), v("1.2"))
    assert failure.code == "VC411"
    assert "older" in failure.message
    assert ">= 1.3" in failure.hint


def test_target_ge_source_on_resources_says_lower() -> None:
    failure = run(UINT, {"test": "target_ge_source"}, 8, 4)
    assert failure.code == "VC411"
    assert "lower" in failure.message


def test_target_gt_source_needs_strictly_newer() -> None:
    assert run(GEN, {"test": "target_gt_source"}, 8, 9) is None
    assert run(GEN, {"test": "target_gt_source"}, 8, 8).code == "VC412"
    assert run(GEN, {"test": "target_gt_source"}, 9, 8).code == "VC411"


def test_same_major_target_ge_source() -> None:
    data = {"test": "same_major_target_ge_source"}
    assert run(VERSION, data, v("2.4"), v("2.9")) is None
    assert run(VERSION, data, v("2.4"), v("3.0")).code == "VC413"
    assert run(VERSION, data, v("2.4"), v("2.3")).code == "VC411"


def test_upgrade_window() -> None:
    data = {"test": "upgrade_window", "max_steps": 2}
    assert run(VERSION, data, v("1.5"), v("3.0")) is None
    too_far = run(VERSION, data, v("1.5"), v("4.0"))
    assert too_far.code == "VC414"
    assert "3 major releases newer" in too_far.message
    assert run(VERSION, data, v("2.0"), v("1.9")).code == "VC411"
    step = {"test": "upgrade_window", "min_steps": 1, "max_steps": 1}
    assert run(GEN, step, 8, 9) is None
    assert run(GEN, step, 8, 8).code == "VC414"
    assert run(GEN, step, 8, 10).code == "VC414"


def test_target_superset_on_sets_and_masks() -> None:
    data = {"test": "target_superset"}
    assert run(CAPS, data, frozenset({"a"}), frozenset({"a", "b"})) is None
    failure = run(CAPS, data, frozenset({"a", "c"}), frozenset({"a", "b"}))
    assert failure.code == "VC415"
    assert "lacks c" in failure.message
    assert run(MASK, data, 0b0101, 0b1101) is None
    failure = run(MASK, data, 0b0111, 0b0101)
    assert "lacks 0x2" in failure.message


def test_maps_to() -> None:
    data = {"test": "maps_to", "pairs": [["w100", "w200"], ["w100", "w300"]]}
    assert run(TEXT, data, "w100", "w300") is None
    wrong = run(TEXT, data, "w100", "w100")
    assert wrong.code == "VC419"
    assert "w100 maps to w200, w300" in wrong.hint
    unmapped = run(TEXT, data, "w999", "w200")
    assert "maps only w100" in unmapped.hint


def test_maps_to_backwards_on_an_ordered_field_is_not_direction_safe() -> None:
    forward = compile_condition({"field": "gen", "test": "maps_to", "pairs": [[8, 9]]}, GEN)
    backward = compile_condition({"field": "gen", "test": "maps_to", "pairs": [[9, 8]]}, GEN)
    assert forward.direction_safe
    assert not backward.direction_safe


@pytest.mark.parametrize(("data", "source", "target", "code"), [
    ({"test": "one_of", "side": "source", "values": ["a", "b"]}, "c", "a", "VC416"),
    ({"test": "one_of", "side": "target", "values": ["a", "b"]}, "c", "c", "VC416"),
    ({"test": "one_of", "side": "both", "values": ["a"]}, "a", "b", "VC416"),
    ({"test": "glob", "side": "target", "pattern": "H100*"}, "H100-80", "H200-141", "VC417"),
])
def test_unary_failures(data: Dict[str, Any], source: str, target: str, code: str) -> None:
    failure = run(TEXT, data, source, target)
    assert failure is not None and failure.code == code


def test_unary_reports_only_its_side_value() -> None:
    failure = run(TEXT, {"test": "one_of", "side": "target", "values": ["a"]}, "zzz", "b")
    assert (failure.source_value, failure.target_value) == (None, "b")


def test_specifier_prereleases_are_explicit() -> None:
    excluded = {"test": "specifier", "side": "source", "spec": ">=1.0", "prereleases": False}
    included = {**excluded, "prereleases": True}
    assert run(VERSION, excluded, v("2.0rc1"), v("1")) is not None
    assert run(VERSION, included, v("2.0rc1"), v("1")) is None
    with pytest.raises(ConditionError, match="explicitly"):
        compile_condition({"field": "fw", "test": "specifier", "side": "source", "spec": ">=1"}, VERSION)


def test_specifier_needs_pep440_and_a_valid_spec() -> None:
    with pytest.raises(ConditionError, match="pep440"):
        compile_condition({"field": "fw", "test": "specifier", "side": "source", "spec": ">=1",
                           "prereleases": False}, DOTTED)
    with pytest.raises(ConditionError, match="not a PEP 440 specifier"):
        compile_condition({"field": "fw", "test": "specifier", "side": "source", "spec": "~~1",
                           "prereleases": False}, VERSION)


def test_range_on_dotted_versions_and_integers() -> None:
    data = {"test": "range", "side": "target", "min": "17.0", "max": "17.5"}
    assert run(DOTTED, data, None, parse_version("17.2.1", "dotted")) is None
    assert run(DOTTED, data, None, parse_version("17.6", "dotted")).code == "VC418"
    assert run(UINT, {"test": "range", "side": "source", "min": 2}, 1, 0).code == "VC418"
    with pytest.raises(ConditionError, match="max below min"):
        compile_condition({"field": "n", "test": "range", "side": "source", "min": 5, "max": 1}, UINT)


def test_contains() -> None:
    assert run(CAPS, {"test": "contains", "side": "target", "values": ["aes"]}, frozenset(), frozenset({"aes"})) is None
    assert run(MASK, {"test": "contains", "side": "target", "mask": "0x4"}, 0, 0x3).code == "VC415"


def test_missing_field_is_its_own_reason() -> None:
    condition = compile_condition({"field": "caps", "test": "target_superset"}, CAPS)
    failure = condition.evaluate({"caps": frozenset()}, {})
    assert failure is not None and failure.code == "VC420"


def test_table_overrides_code_message_and_hint() -> None:
    condition = compile_condition({"field": "model", "test": "equal", "code": "GVT_TYPE",
                                   "message": "vgpu type not matched", "hint": "pick the same type"}, TEXT)
    failure = condition.evaluate({"model": "a"}, {"model": "b"})
    assert (failure.code, failure.message, failure.hint) == ("GVT_TYPE", "vgpu type not matched", "pick the same type")
    assert (failure.source_value, failure.target_value) == ("a", "b")


@pytest.mark.parametrize(("spec", "data", "problem", "at", "code"), [
    (TEXT, {"test": "target_ge_source"}, "needs a field of type", (), "VC504"),
    (UINT, {"test": "target_superset"}, "needs a field of type", (), "VC504"),
    (TEXT, {"test": "one_of", "values": ["a"]}, "needs side", ("side",), "VC503"),
    (TEXT, {"test": "equal", "side": "source"}, "takes no 'side'", ("side",), "VC503"),
    (VERSION, {"test": "upgrade_window"}, "'max_steps' is required", (), "VC503"),
    (VERSION, {"test": "upgrade_window", "min_steps": 3, "max_steps": 1}, "max_steps >= min_steps", ("max_steps",),
     "VC504"),
    (TEXT, {"test": "maps_to", "pairs": [["a"]]}, "[source value, target value]", ("pairs", 0), "VC503"),
    (UINT, {"test": "one_of", "side": "source", "values": ["x"]}, "not a decimal integer", ("values", 0), "VC504"),
    (TEXT, {"test": "bogus"}, "'bogus' is not one of 'equal'", ("test",), "VC503"),
])
def test_inconsistent_conditions_are_refused(spec: FieldSpec, data: Dict[str, Any], problem: str,
                                             at: Tuple[Any, ...], code: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(problem)) as caught:
        compile_condition({"field": spec.name, **data}, spec)
    assert (caught.value.at, caught.value.code) == (at, code)


# -- everything the schema refuses is refused here too (a cached table skips the schema) ---------------


@pytest.mark.parametrize(("spec", "data", "at", "code"), [
    (TEXT, {"test": "one_of", "side": "source", "vaules": ["a"]}, (), "VC503"),  # misspelt: would deny nothing
    (TEXT, {"test": "one_of", "side": "left", "values": ["a"]}, ("side",), "VC503"),
    (VERSION, {"test": "upgrade_window", "max_steps": "2"}, ("max_steps",), "VC503"),
    (VERSION, {"test": "upgrade_window", "max_steps": True}, ("max_steps",), "VC503"),
    (VERSION, {"test": "specifier", "side": "source", "spec": ">=1", "prereleases": "no"}, ("prereleases",), "VC503"),
    (TEXT, {"test": "one_of", "side": "source", "values": [True]}, ("values", 0), "VC503"),
    (TEXT, {"test": "one_of", "side": "source", "values": [["a"]]}, ("values", 0), "VC503"),
    (TEXT, {"test": "one_of", "side": "source", "values": []}, ("values",), "VC503"),
    (TEXT, {"test": "one_of", "side": "source", "values": "a"}, ("values",), "VC503"),
    (TEXT, {"test": "one_of", "side": "source", "values": ["a"] * 10_001}, ("values",), "VC507"),
    (TEXT, {"test": "one_of", "side": "source", "values": ["a" * 1025]}, ("values", 0), "VC507"),
    (TEXT, {"test": "equal", "code": "VC201"}, ("code",), "VC503"),
    (TEXT, {"test": "equal", "code": "lower"}, ("code",), "VC503"),
    (TEXT, {"test": "equal", "message": ""}, ("message",), "VC503"),
    (TEXT, {"test": "equal", "hint": "h" * 2001}, ("hint",), "VC507"),
    (TEXT, {"test": "glob", "side": "source", "pattern": ""}, ("pattern",), "VC503"),
    (MASK, {"test": "contains", "side": "source", "mask": "0xzz"}, ("mask",), "VC503"),
    (MASK, {"test": "contains", "side": "source", "mask": "0x1", "values": ["a"]}, (), "VC503"),
    # A key the test does not read would be ignored, and the rule would admit more than it says.
    (VERSION, {"test": "target_ge_source", "spec": ">=2"}, ("spec",), "VC504"),
    (TEXT, {"test": "equal", "values": ["a"]}, ("values",), "VC504"),
])
def test_shapes_the_schema_refuses_are_refused_by_the_compiler(spec: FieldSpec, data: Dict[str, Any],
                                                               at: Tuple[Any, ...], code: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition({"field": spec.name, **data}, spec)
    assert (caught.value.at, caught.value.code) == (at, code), str(caught.value)


# -- values no device_version can carry: the rule could never hold ----------------------------------------


@pytest.mark.parametrize(("spec", "data", "at", "character"), [
    (TEXT, {"test": "one_of", "side": "both", "values": ["w100", "\u0421100"]}, ("values", 1),
     "U+0421 CYRILLIC CAPITAL LETTER ES"),
    (TEXT, {"test": "one_of", "side": "both", "values": ["w 100"]}, ("values", 0), "U+0020 SPACE"),
    (TEXT, {"test": "one_of", "side": "both", "values": ["w100\n"]}, ("values", 0), "U+000A a control character"),
    (TEXT, {"test": "maps_to", "pairs": [["a", "b"], ["a", "\u0430"]]}, ("pairs", 1, 1),
     "U+0430 CYRILLIC SMALL LETTER A"),
    (CAPS, {"test": "contains", "side": "target", "values": ["a\u200bb"]}, ("values", 0),
     "U+200B ZERO WIDTH SPACE"),
    (TEXT, {"test": "glob", "side": "target", "pattern": "H100\u2011*"}, ("pattern",),
     "U+2011 NON-BREAKING HYPHEN"),
    (VERSION, {"test": "specifier", "side": "target", "spec": "===2.5.\u0417", "prereleases": False}, ("spec",),
     "U+0417 CYRILLIC CAPITAL LETTER ZE"),
    (DOTTED, {"test": "range", "side": "target", "min": "1.\uff10"}, ("min",), "U+FF10 FULLWIDTH DIGIT ZERO"),
])
def test_values_no_device_version_can_carry_are_refused(spec: FieldSpec, data: Dict[str, Any],
                                                        at: Tuple[Any, ...], character: str) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition({"field": spec.name, **data}, spec)
    assert (caught.value.at, caught.value.code) == (at, "VC504")
    assert character in str(caught.value) and "can never match" in str(caught.value)


def test_a_specifier_keeps_its_spaces() -> None:
    condition = compile_condition({"field": "fw", "test": "specifier", "side": "target", "spec": ">= 1.0, < 2",
                                   "prereleases": False}, VERSION)
    assert condition.holds({}, {"fw": v("1.5")}) and not condition.holds({}, {"fw": v("2.0")})


def test_values_holding_a_separator_can_never_be_carried() -> None:
    with pytest.raises(ConditionError, match="separates the fields") as caught:
        compile_condition({"field": "model", "test": "one_of", "side": "source", "values": ["a;b"]}, TEXT, (";",))
    assert caught.value.at == ("values", 0)
    with pytest.raises(ConditionError, match="separates the items") as caught:
        compile_condition({"field": "caps", "test": "contains", "side": "source", "values": ["a,b"]}, CAPS)
    assert caught.value.at == ("values", 0)
    # Without the separator the same value compiles.
    assert compile_condition({"field": "model", "test": "one_of", "side": "source", "values": ["a-b"]}, TEXT, (";",))


@pytest.mark.parametrize("key", ["message", "hint"])
@pytest.mark.parametrize(("text", "character"), [
    ("refused\ncompatible: 0x8086:1:x -> 0x8086:1:y", "U+000A"),
    ("colour \x1b[32mgreen", "U+001B"),
    ("carriage\rreturn", "U+000D"),
    ("bidi \u202e override", "U+202E RIGHT-TO-LEFT OVERRIDE"),
])
def test_condition_text_is_one_printable_line(key: str, text: str, character: str) -> None:
    with pytest.raises(ConditionError, match=re.escape(character)) as caught:
        compile_condition({"field": "model", "test": "equal", key: text}, TEXT)
    assert (caught.value.at, caught.value.code) == ((key,), "VC504")


def test_maps_to_with_many_pairs_of_one_source_is_linear() -> None:
    pairs = [["a", f"t{i}"] for i in range(10_000)]
    condition = compile_condition({"field": "model", "test": "maps_to", "pairs": pairs}, TEXT)
    assert condition.holds({"model": "a"}, {"model": "t9999"}) and not condition.holds({"model": "a"}, {"model": "x"})
    assert condition.pin is not None and frozenset(condition.pin[1]) == frozenset({"a"})


@pytest.mark.parametrize(("pattern", "text", "expected"), [
    ("H100*", "H100-80GB", True), ("*NVL", "H100-94GB-NVL", True), ("a?c", "abc", True),
    ("a?c", "ac", False), ("*", "", True), ("a*b*c", "axxbyyc", True), ("a*b*c", "axxbyy", False),
])
def test_glob_examples(pattern: str, text: str, expected: bool) -> None:
    assert glob_match(pattern, text) is expected


def test_glob_is_not_exponential() -> None:
    # The classic catastrophic-backtracking shape for regex engines.
    assert not glob_match("a*" * 30 + "b", "a" * 1000)


@given(st.text("ab*?", max_size=8), st.text("ab", max_size=12))
def test_glob_agrees_with_fnmatch(pattern: str, text: str) -> None:
    assert glob_match(pattern, text) == fnmatch.fnmatchcase(text, pattern)


versions = st.lists(st.integers(0, 30), min_size=1, max_size=3).map(lambda p: ".".join(map(str, p)))
safe_conditions = st.sampled_from([
    {"test": "equal"},
    {"test": "target_ge_source"},
    {"test": "target_gt_source"},
    {"test": "same_major_target_ge_source"},
    {"test": "upgrade_window", "max_steps": 3},
    {"test": "upgrade_window", "min_steps": 0, "max_steps": 0},
])


@given(safe_conditions, versions, versions)
def test_direction_safe_tests_never_admit_the_reverse_of_an_ordered_pair(data: Dict[str, Any], a: str, b: str) -> None:
    older, newer = sorted([v(a), v(b)])
    condition = compile_condition({"field": "fw", **data}, VERSION)
    assert condition.test in DIRECTION_SAFE_TESTS
    if older < newer:
        assert condition.evaluate({"fw": newer}, {"fw": older}) is not None
