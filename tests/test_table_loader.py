from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfiocompat import _table_loader as table_loader
from vfiocompat._table_files import decode_text, read_table
from vfiocompat._table_loader import (
    MAX_REPORTED_ERRORS,
    _compile_in_pieces,
    check_counts,
    compile_document,
    load_table,
    schema_errors,
)
from vfiocompat.errors import TableError

from .conftest import BASE_TABLE, to_toml

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
    from vfiocompat import _table_loader as table_loader

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


def many_errors(count: int) -> Dict[str, Any]:
    data = copy.deepcopy(BASE_TABLE)
    data["rules"] = [{"id": f"r{i}", "effect": "deny", "colour": "red", "conditions": [{"field": "k", "test": "equal"}]}
                     for i in range(count)]
    return data


def test_many_schema_errors_report_the_first_and_a_count(write_table: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    from vfiocompat import _table_files as table_files
    from vfiocompat import _table_loader as table_loader

    located: List[Any] = []
    real = table_files.locate

    def counting(document: Any, path: Any) -> Any:
        located.append(path)
        return real(document, path)

    monkeypatch.setattr(table_loader, "locate", counting)
    document = read_table(write_table(many_errors(500)))
    errors = schema_errors(document)
    assert len(errors) == MAX_REPORTED_ERRORS + 1
    assert [e.rule for e in errors[:3]] == ["r0", "r1", "r2"]  # document order
    assert errors[-1].message.endswith("480 more schema errors not shown (500 in all)")
    assert len(located) == MAX_REPORTED_ERRORS  # one look-up per reported error, not per error
    # Lines are still right: the error of r2 points at its [[rules]] section.
    line = int(errors[2].location.rsplit(":", 1)[1])
    assert document.lines[line - 1] == "[[rules]]" and document.lines[line] == 'id = "r2"'


def test_the_text_is_split_into_lines_once(write_table: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    document = read_table(write_table(many_errors(50)))
    splits: List[int] = []
    text = document.text

    class Counting(str):
        def splitlines(self, keepends: bool = False) -> List[str]:  # type: ignore[override]
            splits.append(1)
            return str.splitlines(self, keepends)

    object.__setattr__(document, "text", Counting(text))
    schema_errors(document, limit=50)
    assert splits == [1]


def test_an_over_long_values_list_is_refused_before_the_schema_walks_it(write_table: Write,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from vfiocompat import _table_loader as table_loader

    def schema_must_not_run(document: Any, limit: int = 0) -> Any:
        raise AssertionError("the schema ran on an oversized list")

    monkeypatch.setattr(table_loader, "schema_errors", schema_must_not_run)
    for key, item in (("values", "m"), ("pairs", ["a", "b"])):
        test = "one_of" if key == "values" else "maps_to"
        condition: Dict[str, Any] = {"field": "k", "test": test, key: [item] * 10_001}
        if key == "values":
            condition["side"] = "source"
        rule = {"id": "long", "effect": "deny", "conditions": [condition]}
        data = broken(lambda d, rule=rule: d["rules"].append(rule))
        with pytest.raises(TableError) as caught:
            load_table(write_table(data, syntax="json"), plugin="p")
        assert caught.value.code == "VC507" and caught.value.rule == "long"
        assert f"10001 {key} is over the limit of 10000" in caught.value.message
        assert caught.value.path == f"$.rules[1].conditions[0].{key}"


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda d: d["table"].update(prefixes=[f"p{i}" for i in range(257)]), "257 prefixes"),
    (lambda d: d["format"].update(fields=[{"name": f"f{i}", "type": "string"} for i in range(129)]), "129 fields"),
    (lambda d: d.update(examples=[{"source": "a", "target": "b", "compatible": True}] * 10_001), "10001 examples"),
    (lambda d: d["rules"][0].update(allow_downgrade=["v"] * 129), "129 allow_downgrade names"),
])
def test_other_counts_are_refused_before_the_schema(write_table: Write, change: Any, fragment: str) -> None:
    from vfiocompat._table_loader import check_counts

    with pytest.raises(TableError, match=fragment) as caught:
        check_counts(read_table(write_table(broken(change), syntax="json")))
    assert caught.value.code == "VC507"


def test_compile_errors_are_placed_in_the_documents_words(write_table: Write) -> None:
    deny = {"id": "deny-cyrillic", "effect": "deny", "code": "BAD",
            "conditions": [{"field": "k", "test": "one_of", "side": "source", "values": ["ok", "\u0421"]}]}
    path = write_table(broken(lambda d: d["rules"].append(deny)))
    with pytest.raises(TableError) as caught:
        load_table(path, plugin="p")
    error = caught.value
    assert (error.code, error.rule, error.path) == ("VC504", "deny-cyrillic", "[[rules]] #2 conditions[0].values[1]")
    line = int(error.location.rsplit(":", 1)[1])
    lines = path.read_text("utf-8").splitlines()
    header = max(i for i in range(line) if lines[i] == "[[rules]]")
    assert lines[line - 1].startswith("conditions") and lines[header + 1] == 'id = "deny-cyrillic"'
    assert "U+0421 CYRILLIC CAPITAL LETTER ES" in error.message


def test_claims_come_from_the_bytes_and_the_rules_are_compiled_on_first_use(write_table: Write) -> None:
    from vfiocompat._table_loader import open_table

    path = write_table(copy.deepcopy(BASE_TABLE))
    handle = open_table(path, plugin="p")
    assert handle.claims.prefixes == ("k=",)
    assert handle.load().claims == handle.claims


# -- compiling piece by piece -------------------------------------------------------------------

_PIECE_LINES = ['"""', "'''", "[[rules]]", "[[ rules ]] # again", "[[examples]]", "[format]", "[table.more]",
                "rules = []", 'id = "x"', 'effect = "deny"', "conditions = [", "]", 'notes = """', "x = [", ""]


def _both_ways(text: str) -> Tuple[Any, Any]:
    """(compiled piece by piece or None, compiled whole or None when refused)."""
    piecewise = _compile_in_pieces(text, "t.toml", "t.toml", "p")
    try:
        document = decode_text(text, "t.toml", "t.toml")
        check_counts(document)
        whole: Any = compile_document(document, "p")
    except TableError:
        whole = None
    return piecewise, whole


def test_a_valid_table_is_compiled_piece_by_piece_as_it_is_whole(write_table: Write) -> None:
    text = write_table(BASE_TABLE).read_text("utf-8")
    piecewise, whole = _both_ways(text)
    assert piecewise is not None and whole is not None
    assert repr(piecewise) == repr(whole)
    assert [rule.id for rule in piecewise.rules] == [rule["id"] for rule in BASE_TABLE["rules"]]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 80), st.sampled_from(_PIECE_LINES)), max_size=5))
def test_pieces_compile_to_what_the_whole_file_compiles_to(inserts: List[Tuple[int, str]]) -> None:
    lines = to_toml(BASE_TABLE).splitlines()
    for at, line in inserts:
        lines.insert(min(at, len(lines)), line)
    piecewise, whole = _both_ways("\n".join(lines) + "\n")
    if piecewise is not None:
        # Never a table the whole file does not make: refused whole means refused (None) piecewise too.
        assert whole is not None
        assert repr(piecewise) == repr(whole)


@pytest.mark.parametrize(("at", "line"), [
    (0, "rules = []"),  # the part before the pieces holds a key a piece fills
    (0, "examples = []"),
    (-1, "[format]"),  # a section after the last piece: that piece holds two keys
    (-1, '[[ "rules" ]]'),  # a header spelt otherwise: one piece holds two rules
])
def test_a_piece_or_head_that_is_not_one_item_is_decoded_whole(write_table: Write, at: int, line: str) -> None:
    lines = write_table(BASE_TABLE).read_text("utf-8").splitlines()
    lines.insert(at if at >= 0 else len(lines), line)
    assert _compile_in_pieces("\n".join(lines) + "\n", "t.toml", "t.toml", "p") is None


@pytest.mark.parametrize("change", [
    lambda d: d.pop("rules"),  # no [[rules]] piece: the whole file says "rules" is missing
    lambda d: d["rules"][0]["conditions"].extend([{"field": "k", "test": "equal"}] * 65),  # over a count
    lambda d: d["rules"].append(copy.deepcopy(d["rules"][0])),  # a compile error (a duplicate id)
])
def test_a_table_refused_whole_is_not_compiled_in_pieces(write_table: Write, change: Any) -> None:
    piecewise, whole = _both_ways(write_table(broken(change)).read_text("utf-8"))
    assert piecewise is None and whole is None


def test_a_large_table_is_loaded_in_pieces_and_decides_as_if_whole(write_table: Write,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_table(BASE_TABLE)
    whole = load_table(path, "p")
    pieces: List[str] = []
    real = table_loader._compile_in_pieces

    def spy(text: str, *args: Any) -> Any:
        pieces.append(text)
        return real(text, *args)

    monkeypatch.setattr(table_loader, "_compile_in_pieces", spy)
    monkeypatch.setattr(table_loader, "PIECEWISE_FROM", 0)
    assert repr(load_table(path, "p")) == repr(whole) and len(pieces) == 1
    monkeypatch.setattr(table_loader, "PIECEWISE_FROM", len(path.read_text("utf-8")) + 1)
    load_table(path, "p")
    assert len(pieces) == 1  # a small table is decoded whole


@pytest.mark.parametrize("limit", [0, 10**9])
def test_a_refused_table_reports_the_whole_files_error(write_table: Write, monkeypatch: pytest.MonkeyPatch,
                                                       limit: int) -> None:
    monkeypatch.setattr(table_loader, "PIECEWISE_FROM", limit)
    path = write_table(broken(lambda d: d["rules"].append(copy.deepcopy(d["rules"][0]))))
    with pytest.raises(TableError) as refused:
        load_table(path, "p")
    assert "duplicate rule id" in str(refused.value)
    assert refused.value.location is not None and refused.value.location.startswith(f"{path}:")
