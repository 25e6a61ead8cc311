"""Shared fixtures: build tables on disk and registries around them."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable, Dict

import pytest

from vfiocompat import Registry

ROOT = Path(__file__).resolve().parent.parent
ACME_TABLE = ROOT / "examples" / "acme-plugin" / "vfiocompat_acme" / "widgets.toml"

#: A small keyvalue table for vendor 0xfffe: tests copy it and change what they study.
BASE_TABLE: Dict[str, Any] = {
    "schema_version": 1,
    "table": {"id": "t", "vendor": "0xfffe", "prefixes": ["k="]},
    "format": {
        "kind": "keyvalue",
        "fields": [
            {"name": "k", "type": "string"},
            {"name": "v", "type": "version"},
            {"name": "n", "type": "uint"},
            {"name": "caps", "type": "set", "optional": True},
            {"name": "mask", "type": "mask", "optional": True},
        ],
    },
    "rules": [
        {"id": "same-k-newer-v", "effect": "allow", "conditions": [
            {"field": "k", "test": "equal"},
            {"field": "v", "test": "target_ge_source"},
        ]},
    ],
}


def dv(k: str = "a", v: str = "1.0", n: int = 1, vendor: str = "0xfffe", interface: str = "1", **extra: str) -> str:
    """A device_version for BASE_TABLE's format."""
    pairs = [f"k={k}", f"v={v}", f"n={n}", *(f"{key}={value}" for key, value in extra.items())]
    return f"{vendor}:{interface}:" + ";".join(pairs)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def to_toml(data: Dict[str, Any]) -> str:
    """Enough of a TOML writer for table documents (top-level scalars, tables, arrays of tables)."""
    lines = []
    for key, value in data.items():
        if not isinstance(value, (dict, list)):
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
    for key, value in data.items():
        if isinstance(value, list):
            for item in value:
                lines.append(f"\n[[{key}]]")
                lines.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
    return "\n".join(lines) + "\n"


@pytest.fixture
def base_table() -> Dict[str, Any]:
    """A fresh deep copy of BASE_TABLE to modify."""
    return copy.deepcopy(BASE_TABLE)


@pytest.fixture
def write_table(tmp_path: Path) -> Callable[..., Path]:
    """Write a table document as TOML (default) or JSON and return its path."""
    counter = iter(range(10_000))

    def write(data: Dict[str, Any], syntax: str = "toml", name: str = "") -> Path:
        path = tmp_path / f"{name or 'table'}-{next(counter)}.{syntax}"
        path.write_text(to_toml(data) if syntax == "toml" else json.dumps(data, indent=2), "utf-8")
        return path

    return write


@pytest.fixture
def registry_for(write_table: Callable[..., Path]) -> Callable[..., Registry]:
    """A registry holding just the given table documents (no installed plugin)."""

    def build(*tables: Dict[str, Any]) -> Registry:
        return Registry(tables=[write_table(t) for t in tables])

    return build

