from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, List

import jsonschema

from vfiocompat import Registry, hookimpl
from vfiocompat._device_version import parse
from vfiocompat._json_forms import (
    SCHEMA_VERSION,
    device_version_form,
    explanation_form,
    plugins_form,
    verdict_form,
)
from vfiocompat._schema import schema

from .conftest import ACME_TABLE, BASE_TABLE, dv


def conforms(form: Any, name: str) -> None:
    jsonschema.Draft202012Validator(schema(name)).validate(json.loads(json.dumps(form)))


def test_verdicts_both_ways(registry_for: Callable[..., Registry]) -> None:
    registry = registry_for(BASE_TABLE)
    allowed = verdict_form(registry.check(dv(v="1"), dv(v="2")))
    refused = verdict_form(registry.check(dv(v="2"), dv(v="1")))
    for form in (allowed, refused):
        conforms(form, "verdict")
        assert form["schema_version"] == SCHEMA_VERSION
    assert allowed["decided_by"]["rule"] == "same-k-newer-v" and allowed["reasons"] == []
    assert refused["reasons"][0]["code"] == "VC411" and refused["reasons"][0]["rule"]["table"] == "t"


def test_explanations_carry_both_sides_fields(registry_for: Callable[..., Registry]) -> None:
    registry = registry_for(BASE_TABLE)
    source, target = dv(v="2", n=3), dv(v="1")
    form = explanation_form(registry.explain(source, target), registry.resolve(source), registry.resolve(target))
    conforms(form, "explanation")
    assert form["source"]["fields"] == {"k": "a", "v": "2", "n": "3"}
    assert form["trials"][0]["failed"] == 1


def test_device_versions_with_and_without_a_table(registry_for: Callable[..., Registry]) -> None:
    registry = registry_for(BASE_TABLE)
    bare = device_version_form(parse("0x8086:1:x"))
    conforms(bare, "device-version")
    assert (bare["vendor"], bare["fields"], bare["table"]) == ("0x8086", None, None)
    served = device_version_form(parse(dv()), registry.resolve(dv()))
    conforms(served, "device-version")
    assert served["table"] == "t" and served["fields"]["v"] == "1.0"


def test_plugins_list_tables_and_errors(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("schema_version = 1\n")

    class Shipping:
        @hookimpl
        def vfiocompat_tables(self) -> List[Path]:
            return [ACME_TABLE, broken]

    registry = Registry(plugins=[("table-file", Shipping())])
    form = plugins_form(registry.plugins)
    conforms(form, "plugins")
    (record,) = form["plugins"]
    assert record["tables"][0]["rules"] == {"allow": 2, "deny": 1}
    assert [e["code"] for e in record["errors"]] == ["VC304"]
