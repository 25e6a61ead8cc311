from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vfiocompat._versions import parse_version


@pytest.mark.parametrize(("older", "newer"), [
    ("535.104.05", "535.129.03"),
    ("1.2rc1", "1.2"),
    ("1.9", "1.10"),
    ("2", "2.0.1"),
])
def test_pep440_orders_versions(older: str, newer: str) -> None:
    assert parse_version(older, "pep440") < parse_version(newer, "pep440")


def test_raw_text_is_kept() -> None:
    version = parse_version("535.104.05", "pep440")
    assert version.raw == "535.104.05"
    assert str(version) == "535.104.05"
    assert version.major == 535


@pytest.mark.parametrize(("older", "newer"), [("17.0.0.1234", "17.0.0.1235"), ("1.9", "1.10"), ("01.2", "1.3")])
def test_dotted_orders_numerically(older: str, newer: str) -> None:
    assert parse_version(older, "dotted") < parse_version(newer, "dotted")


def test_dotted_reads_missing_components_as_zero() -> None:
    assert parse_version("1.0.0", "dotted") == parse_version("1", "dotted")


@pytest.mark.parametrize(("raw", "scheme"), [
    ("not-a-version", "pep440"), ("1.2.x", "dotted"), ("", "dotted"), ("1..2", "dotted"),
    ("\u0661.2", "dotted"), ("1.2", "semver"),
])
def test_unreadable_versions_are_errors(raw: str, scheme: str) -> None:
    with pytest.raises(ValueError):
        parse_version(raw, scheme)


def test_versions_of_different_schemes_are_never_equal() -> None:
    assert parse_version("1.2", "pep440") != parse_version("1.2", "dotted")


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=5),
       st.lists(st.integers(0, 10_000), min_size=1, max_size=5))
def test_dotted_order_is_tuple_order_with_zero_padding(a: list[int], b: list[int]) -> None:
    width = max(len(a), len(b))
    pad_a, pad_b = a + [0] * (width - len(a)), b + [0] * (width - len(b))
    va = parse_version(".".join(map(str, a)), "dotted")
    vb = parse_version(".".join(map(str, b)), "dotted")
    assert (va < vb) == (pad_a < pad_b)
    assert (va == vb) == (pad_a == pad_b)
