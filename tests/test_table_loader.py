from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Dict

import pytest

from vfiocompat.errors import TableError
from vfiocompat.table_files import read_table
from vfiocompat.table_loader import load_table, schema_errors

from .conftest import BASE_TABLE

Write = Callable[..., Path]


def broken(change: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
    data = copy.deepcopy(BASE_TABLE)
    change(data)
    return data


def test_schema_errors_speak_toml_and_give_lines(write_table: Write) -> None:
    path = write_table(broken(lambda d: d["rules"][0]["conditions"][1].update(test="newer")))
    errors = schema_errors(read_table(path))
    assert len(errors) == 1
    error = errors[0]
    assert error.code == "VC503"
    assert error.rule == "same-k-newer-v"
    assert error.path == "[[rules]] #1 conditions[1].test"
    assert error.location is not None and error.location.startswith(f"{path}:")
    line = int(error.location.rsplit(":", 1)[1])
    assert "conditions" in path.read_text().splitlines()[line - 1]


def test_schema_errors_speak_json_paths(write_table: Write) -> None:
    path = write_table(broken(lambda d: d["table"].update(colour="red")), syntax="json")
    error = schema_errors(read_table(path))[0]
    assert error.path == "$.table"
    assert "unknown key 'colour'" in error.message


def test_every_schema_error_is_listed(write_table: Write) -> None:
    def change(d: Dict[str, Any]) -> None:
        d["table"]["vendor"] = "8086"
        d["format"]["fields"][0]["type"] = "text"

    errors = schema_errors(read_table(write_table(broken(change))))
    assert [e.path for e in errors] == ["[format] fields[0].type", "[table] vendor"]


def test_reserved_core_codes_are_refused_in_tables(write_table: Write) -> None:
    path = write_table(broken(lambda d: d["rules"][0].update(code="VC201")))
    assert "reserved" in schema_errors(read_table(path))[0].message


def test_semantic_errors_are_relocated_to_lines(write_table: Write) -> None:
    path = write_table(broken(lambda d: d["rules"][0]["conditions"][0].update(field="nope")))
    with pytest.raises(TableError) as caught:
        load_table(path, plugin="p")
    assert caught.value.code == "VC504"
    assert caught.value.location is not None and caught.value.location.startswith(f"{path}:")
    assert caught.value.path == "[[rules]] #1 conditions[0].field"


def test_counts_are_refused_before_the_schema_walks_them(write_table: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    from vfiocompat import table_loader

    def schema_must_not_run(document: Any) -> Any:
        raise AssertionError("the schema ran on an oversized table")

    monkeypatch.setattr(table_loader, "schema_errors", schema_must_not_run)
    data = broken(lambda d: d["rules"][0].update(conditions=[{"field": "k", "test": "equal"}] * 65))
    with pytest.raises(TableError) as caught:
        load_table(write_table(data), plugin="p")
    assert caught.value.code == "VC507"
    assert caught.value.rule == "same-k-newer-v" and "65 conditions" in caught.value.message
    monkeypatch.setattr(table_loader, "MAX_TOTAL_CONDITIONS", 3)
    many = broken(lambda d: d["rules"].extend(copy.deepcopy(d["rules"][0]) for _ in range(2)))
    with pytest.raises(TableError, match="in all is over the limit of 3"):
        load_table(write_table(many), plugin="p")
