from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vfiocompat import DeviceVersion, DeviceVersionError, parse
from vfiocompat._device_version import MAX_LENGTH, format_vendor

PRINTABLE = st.characters(min_codepoint=0x21, max_codepoint=0x7E)


def test_parses_the_three_parts() -> None:
    device = parse("0x8086:1:8086-193b-i915-GVTg_V5_4-00000001")
    assert device.vendor_id == 0x8086
    assert device.vendor == "0x8086"
    assert device.interface == "1"
    assert device.proprietary == "8086-193b-i915-GVTg_V5_4-00000001"


def test_proprietary_may_contain_colons() -> None:
    assert parse("10de:2.1:a:b::c").proprietary == "a:b::c"


@pytest.mark.parametrize(("text", "canonical"), [
    ("8086:1:x", "0x8086:1:x"),
    ("0X10DE:1:x", "0x10de:1:x"),
    ("0x0000019e5:3:x", "0x19e5:3:x"),
    ("0x0:1:x", "0x0000:1:x"),
    ("0xffffffff:1:x", "0xffffffff:1:x"),
])
def test_formats_canonically(text: str, canonical: str) -> None:
    assert str(parse(text)) == canonical


def test_interface_versions_compare_numerically_ignoring_trailing_zeros() -> None:
    assert parse("0x1:1.0:x").interface_key == parse("0x1:1:x").interface_key
    assert parse("0x1:1.10:x").interface_key > parse("0x1:1.9:x").interface_key
    assert parse("0x1:2:x").interface_key > parse("0x1:1.99:x").interface_key


@pytest.mark.parametrize(("text", "code", "position"), [
    ("", "VC101", 0),
    ("x" * (MAX_LENGTH + 1), "VC102", MAX_LENGTH),
    ("0x8086:1:a b", "VC103", 10),
    ("0x8086:1:a\x00b", "VC103", 10),
    ("0x8086:1:\u202eab", "VC103", 9),
    ("0x8086:1:caf\u00e9", "VC103", 12),
    ("0x8086", "VC104", 6),
    ("0x8086:1", "VC104", 8),
    (":1:x", "VC105", 0),
    ("0x:1:x", "VC105", 2),
    ("0x80g6:1:x", "VC105", 4),
    ("0x8_086:1:x", "VC105", 3),
    ("\u0668\u0660:1:x", "VC103", 0),
    ("0x100000000:1:x", "VC106", 2),
    ("0x8086::x", "VC107", 7),
    ("0x8086:v1:x", "VC107", 7),
    ("0x8086:1.:x", "VC107", 9),
    ("0x8086:01:x", "VC107", 7),
    ("0x8086:1.2.3.4.5:x", "VC107", 7),
    ("0x8086:1.1234567890:x", "VC107", 9),
    ("0x8086:1:", "VC108", 9),
])
def test_bad_strings_raise_with_code_and_position(text: str, code: str, position: int) -> None:
    with pytest.raises(DeviceVersionError) as caught:
        parse(text)
    assert caught.value.code == code
    assert caught.value.position == position
    assert f"column {position + 1}" in caught.value.message
    assert "\n" not in caught.value.one_line()


def test_maximum_length_is_accepted() -> None:
    text = "0x1:1:" + "a" * (MAX_LENGTH - 6)
    assert len(text) == MAX_LENGTH
    assert parse(text).proprietary.endswith("a")


def test_non_text_is_refused() -> None:
    with pytest.raises(DeviceVersionError) as caught:
        parse(b"0x1:1:x")  # type: ignore[arg-type]
    assert caught.value.code == "VC101"


def test_values_are_frozen() -> None:
    device = parse("0x1:1:x")
    with pytest.raises(AttributeError):
        device.vendor_id = 2  # type: ignore[misc]


interfaces = st.lists(st.integers(0, 10**9 - 1), min_size=1, max_size=4).map(lambda p: ".".join(map(str, p)))
devices = st.builds(
    DeviceVersion,
    vendor_id=st.integers(0, 2**32 - 1),
    interface=interfaces,
    proprietary=st.text(PRINTABLE, min_size=1, max_size=200),
)


@given(devices)
def test_format_then_parse_round_trips(device: DeviceVersion) -> None:
    assert parse(str(device)) == device


@given(st.text(max_size=60))
def test_parse_either_succeeds_canonically_or_raises_its_error(text: str) -> None:
    try:
        device = parse(text)
    except DeviceVersionError as error:
        assert error.code.startswith("VC1")
        assert 0 <= error.position <= len(text)
        return
    # A text that parses formats to a text that parses to the same value.
    assert parse(str(device)) == device
    assert str(device).endswith(device.proprietary)


@given(st.integers(0, 2**32 - 1))
def test_vendor_spelling_round_trips(vendor_id: int) -> None:
    assert int(format_vendor(vendor_id), 16) == vendor_id
