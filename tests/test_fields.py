from __future__ import annotations

import pytest

from vfiocompat._fields import FieldSpec, StringFormat, describe_character, text_fault, value_fault
from vfiocompat.errors import FieldFormatError


def spec(name: str, type_: str = "string", **kw: object) -> FieldSpec:
    return FieldSpec(name=name, type=type_, ordered=bool(kw.pop("ordered", type_ == "version")), **kw)  # type: ignore[arg-type]


GVT_LIKE = StringFormat(kind="delimited", separator="-", fields=(
    spec("vendor", "hex"), spec("device", "hex"), spec("type", rest=True), spec("sw", "hex", ordered=True),
))


def test_delimited_rest_field_keeps_its_separators() -> None:
    values = GVT_LIKE.parse("8086-193b-i915-GVTg_V5_4-00000001")
    assert values == {"vendor": 0x8086, "device": 0x193B, "type": "i915-GVTg_V5_4", "sw": 1}


def test_delimited_without_rest_needs_exact_count() -> None:
    fmt = StringFormat(kind="delimited", separator="-", fields=(spec("a"), spec("b")))
    assert fmt.parse("x-y") == {"a": "x", "b": "y"}
    with pytest.raises(FieldFormatError, match="expected 2 fields"):
        fmt.parse("x-y-z")


def test_delimited_with_rest_needs_at_least_every_field() -> None:
    with pytest.raises(FieldFormatError, match="at least 4"):
        GVT_LIKE.parse("8086-193b-00000001")


def test_typed_field_errors_name_the_field() -> None:
    with pytest.raises(FieldFormatError) as caught:
        GVT_LIKE.parse("8086-zz9b-t-00000001")
    assert caught.value.field == "device"
    assert "not a hex integer" in caught.value.message


KV = StringFormat(kind="keyvalue", fields=(
    spec("gen", "uint"), spec("caps", "set"), spec("mask", "mask", optional=True), spec("fw", "version"),
))


def test_keyvalue_any_order_and_types() -> None:
    values = KV.parse("fw=2.1;caps=b,a;gen=4")
    assert values["gen"] == 4
    assert values["caps"] == frozenset({"a", "b"})
    assert values["fw"].raw == "2.1"
    assert "mask" not in values


@pytest.mark.parametrize(("text", "problem"), [
    ("gen=4;caps=a;fw=1;gen=5", "appears twice"),
    ("gen=4;caps=a;fw=1;extra=1", "unknown key"),
    ("gen=4;caps=a", "'fw' is missing"),
    ("gen;caps=a;fw=1", "is not key=value"),
    ("gen=-4;caps=a;fw=1", "not a decimal integer"),
    ("gen=4;caps=a,,b;fw=1", "empty item"),
    ("gen=4;caps=a;fw=1;mask=0x" + "f" * 300, "wider than 1024 bits"),
    ("gen=99999999999999999999999;caps=a;fw=1", "wider than 64 bits"),
])
def test_keyvalue_errors(text: str, problem: str) -> None:
    with pytest.raises(FieldFormatError, match=problem):
        KV.parse(text)


def test_unknown_keys_can_be_ignored() -> None:
    fmt = StringFormat(kind="keyvalue", fields=(spec("a"),), unknown_keys="ignore")
    assert fmt.parse("a=1;b=2") == {"a": "1"}


def test_hook_format_uses_the_hook_and_types_its_fields() -> None:
    fmt = StringFormat(kind="hook", fields=(spec("n", "uint"),))
    assert fmt.parse("anything", hook=lambda text: {"n": str(len(text))}) == {"n": 8}
    with pytest.raises(FieldFormatError, match="does not recognise"):
        fmt.parse("x", hook=lambda text: None)
    with pytest.raises(FieldFormatError, match="no plugin hook"):
        fmt.parse("x")
    with pytest.raises(FieldFormatError, match="not text"):
        fmt.parse("x", hook=lambda text: {"n": 5})  # type: ignore[dict-item]


@pytest.mark.parametrize(("char", "words"), [
    ("\u0421", "U+0421 CYRILLIC CAPITAL LETTER ES"),
    (" ", "U+0020 SPACE"),
    ("\n", "U+000A a control character"),
    ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    ("\ue000", "U+E000 a private-use character"),
])
def test_characters_are_described_by_name(char: str, words: str) -> None:
    assert describe_character(char) == words


def test_value_fault_is_the_device_version_alphabet() -> None:
    assert value_fault("!~azAZ09:;=") is None and value_fault("") is None
    assert "U+0020 SPACE" in (value_fault("a b") or "")
    assert "U+00E9" in (value_fault("caf\u00e9") or "")


def test_text_fault_allows_line_breaks_only_in_prose() -> None:
    assert text_fault("plain text, with ünïcode") is None
    assert "U+000A" in (text_fault("a\nb") or "")
    assert text_fault("a\nb", lines=True) is None
    assert "U+000D" in (text_fault("a\r\nb", lines=True) or "")
    assert "U+0009" in (text_fault("a\tb", lines=True) or "")


def test_separators_a_field_value_can_never_hold() -> None:
    assert GVT_LIKE.separators_of(GVT_LIKE.fields[0]) == ("-",)
    assert GVT_LIKE.separators_of(GVT_LIKE.fields[2]) == ()  # the rest field keeps its separators
    assert KV.separators_of(KV.fields[0]) == (";",)
    assert StringFormat(kind="hook", fields=(spec("n"),)).separators_of(spec("n")) == ()
