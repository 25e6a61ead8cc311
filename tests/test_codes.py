from __future__ import annotations

import re
from pathlib import Path

import pytest

from vfiocompat._codes import CODES, lookup
from vfiocompat._verdict import LAYERS

PACKAGE = Path(__file__).resolve().parent.parent / "vfiocompat"


def test_every_code_the_package_raises_is_catalogued() -> None:
    used = set()
    for source in PACKAGE.glob("*.py"):
        used.update(re.findall(r'"(VC\d{3})"', source.read_text("utf-8")))
    # VC000 and VC100 are base-class defaults that every raise site overrides.
    missing = sorted(used - set(CODES) - {"VC000", "VC100"})
    assert not missing, f"codes used but not documented for `vfiocompat explain CODE`: {missing}"


def test_entries_are_complete_and_consistent() -> None:
    names = set()
    for code, info in CODES.items():
        assert info.code == code and re.fullmatch(r"VC\d{3}", code)
        assert info.layer in LAYERS
        assert info.summary.endswith(".") and info.hint
        assert re.fullmatch(r"[a-z0-9-]+", info.name) and info.name not in names
        names.add(info.name)


@pytest.mark.parametrize(("prefix", "layer"), [("VC10", "core"), ("VC2", "core"), ("VC3", "plugin"), ("VC6", "host")])
def test_ranges_belong_to_their_layer(prefix: str, layer: str) -> None:
    assert {info.layer for code, info in CODES.items() if code.startswith(prefix)} == {layer}


def test_lookup_is_case_insensitive_and_knows_only_core_codes() -> None:
    assert lookup("vc202") is CODES["VC202"]
    assert lookup("GVT_VGPU_TYPE_MISMATCH") is None
