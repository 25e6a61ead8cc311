"""The public surface: five modules with __all__, every name importable and listed in docs/api.md."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

API = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text("utf-8")


@pytest.mark.parametrize("name", ["vfiocompat", "vfiocompat.hookspecs", "vfiocompat.testing", "vfiocompat.errors",
                                  "vfiocompat.host"])
def test_each_public_module_lists_its_names_and_the_api_page_shows_them(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    for public in module.__all__:
        assert getattr(module, public) is not None
        assert f"`{public}" in API, f"docs/api.md does not list {name}.{public}"
