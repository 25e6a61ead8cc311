from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfiocompat._table_files import MAX_DEPTH, decode_head, decode_table, format_path, locate, read_table
from vfiocompat.errors import TableError

from .conftest import ACME_TABLE


def test_reads_toml_and_json(tmp_path: Path) -> None:
    document = read_table(ACME_TABLE)
    assert document.syntax == "toml" and document.data["table"]["id"] == "acme-widgets"
    json_file = tmp_path / "t.json"
    json_file.write_text('{"a": 1}')
    assert read_table(json_file).data == {"a": 1}


def test_syntax_is_sniffed_without_a_suffix(tmp_path: Path) -> None:
    path = tmp_path / "table"
    path.write_text('{"a": [1]}')
    assert read_table(path).syntax == "json"
    path.write_text('a = [1]')
    assert read_table(path).syntax == "toml"


def test_a_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_bytes(b"\xef\xbb\xbfa = 1\n")
    assert read_table(path).data == {"a": 1}


@pytest.mark.parametrize(("content", "code", "fragment"), [
    (b"\xff\xfe\x00a", "VC501", "not UTF-8"),
    (b"a = 1\x00", "VC501", "NUL"),
    (b"a = [1\n", "VC502", "invalid TOML"),
    (b"a = 1\na = 2\n", "VC502", "invalid TOML"),
])
def test_unreadable_content(tmp_path: Path, content: bytes, code: str, fragment: str) -> None:
    path = tmp_path / "t.toml"
    path.write_bytes(content)
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert caught.value.code == code and fragment in caught.value.message
    assert str(path) in caught.value.message


def test_json_errors_carry_the_line(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{\n"a": 1,\n"b": }\n')
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert caught.value.location == f"{path}:3"


@pytest.mark.parametrize("text", ['{"a": NaN}', '{"a": Infinity}'])
def test_json_non_numbers_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(TableError, match="not a number"):
        read_table(path)


def test_huge_json_integers_are_refused_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"a": ' + "9" * 5000 + "}")
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert caught.value.code == "VC502"


@pytest.mark.parametrize("syntax", ["toml", "json"])
def test_deep_nesting_is_refused(tmp_path: Path, syntax: str) -> None:
    depth = MAX_DEPTH + 5
    path = tmp_path / f"t.{syntax}"
    text = "[" * depth + "]" * depth
    path.write_text(f"a = {text}" if syntax == "toml" else text)
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert caught.value.code == "VC507"


def test_very_deep_nesting_does_not_crash(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert caught.value.code == "VC507"


def test_missing_files_and_directories(tmp_path: Path) -> None:
    with pytest.raises(TableError) as caught:
        read_table(tmp_path / "absent.toml")
    assert caught.value.code == "VC501"
    with pytest.raises(TableError, match="directory"):
        read_table(tmp_path)


def test_oversize_files_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vfiocompat import _table_files as table_files

    monkeypatch.setattr(table_files, "MAX_TABLE_BYTES", 10)
    path = tmp_path / "t.toml"
    path.write_text("a = '" + "x" * 20 + "'")
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert caught.value.code == "VC507"


def test_paths_in_toml_and_json_words() -> None:
    data = {"rules": [{}], "format": {"fields": []}}
    assert format_path(("rules", 2, "conditions", 0, "test"), "json") == "$.rules[2].conditions[0].test"
    assert format_path(("rules", 2, "conditions", 0, "test"), "toml") == "[[rules]] #3 conditions[0].test"
    assert format_path(("format", "fields", 1, "type"), "toml", data) == "[format] fields[1].type"
    assert format_path((), "toml") == "$"


def test_locate_finds_rule_lines() -> None:
    document = read_table(ACME_TABLE)
    lines = document.text.splitlines()
    line = locate(document, ("rules", 1, "conditions"))
    assert line is not None
    header = max(i for i in range(line) if lines[i].strip() == "[[rules]]")
    assert 'id = "w100-to-w200"' in lines[header + 1]


def test_json_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"rules": [{"id": "a", "effect": "allow", "effect": "deny"}]}')
    with pytest.raises(TableError) as caught:
        read_table(path)
    assert caught.value.code == "VC502" and "'effect' appears twice" in caught.value.message


def test_lines_and_headers_are_indexed_once(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text("a = 1\n[table]\nid = 'x'\n[[rules]]\nid = 'r0'\n[[ rules ]]\nid = 'r1'\n")
    document = read_table(path)
    assert document.lines is document.lines  # split once, then kept
    assert document.headers == {"[table]": [1], "[[rules]]": [3, 5]}
    assert locate(document, ("rules", 1, "id")) == 7
    assert locate(document, ("rules", 2, "id")) is None
    assert locate(document, ("table", "id")) == 3


HEAD_TOML = ('schema_version = 1\n\n[table]\nid = "t"\nvendor = "0xfffe"\nprefixes = ["k="]\n\n'
             '[format]\nkind = "keyvalue"\n')


@pytest.mark.parametrize(("text", "expected"), [
    (HEAD_TOML, {"id": "t", "vendor": "0xfffe", "prefixes": ["k="]}),
    # A [table] line inside a string is text, not the table: what decodes is what the file holds, or nothing.
    ('x = """\n[table]\nid = "evil"\n"""\ntable = { id = "t" }\n', {"id": "t"}),
    ('x = """\n[table]\nid = "evil"\n"""\n[table]\nid = "t"\n', None),
    ('x = """\n[table]\nid = "evil"\nprefixes = ["e="]\n[format]\n"""\n', None),
    ('table = { id = "t", prefixes = ["k="] }\n', None),
    ('[ table ]\nid = "t"\n', None),
    ('[table]\nprefixes = [\n  "a",\n[format]\n', None),
    ('[table]\nid = "t"\n[table.more]\nx = 1\n', {"id": "t"}),
])
def test_the_table_section_decodes_alone_or_not_at_all(text: str, expected: Any) -> None:
    assert decode_head(text.encode("utf-8"), "t.toml") == expected


@pytest.mark.parametrize(("tail", "expected"), [
    # The section's prose after the claim keys is not decoded for routing, even where it is broken.
    ('notes = """\nx = 1\n"""\ntitle = "T"\n', {"id": "t", "vendor": "0xfffe", "prefixes": ["k="]}),
    ('notes = "unterminated\n', {"id": "t", "vendor": "0xfffe", "prefixes": ["k="]}),
])
def test_the_head_is_cut_after_the_claim_keys(tail: str, expected: Any) -> None:
    text = '[table]\nid = "t"\nvendor = "0xfffe"\nprefixes = [\n  "k=",\n]\n' + tail
    assert decode_head(text.encode("utf-8"), "t.toml") == expected


def test_a_cut_inside_a_string_falls_back_to_the_whole_section() -> None:
    # "title = ..." inside the multi-line string looks like the next key: that cut does not decode.
    text = '[table]\nid = """\nvendor = 1\nprefixes = 2\ntitle = 3\n"""\nvendor = "0x1"\nprefixes = []\n'
    assert decode_head(text.encode("utf-8"), "t.toml") == {"id": "vendor = 1\nprefixes = 2\ntitle = 3\n",
                                                             "vendor": "0x1", "prefixes": []}


def test_json_heads_are_decoded_with_the_whole_file() -> None:
    assert decode_head(b'{"table": {"id": "t"}}', "t.json") is None


_TRICKY_LINES = ['"""', "'''", "[table]", "[format]", "[[rules]]", 'prefixes = ["x="]', 'id = "evil"', "x = [",
                 "]", 'notes = """', 'title = "t"', 'vendor = "0x1"', "table.id = 'dotted'", "[table.more]",
                 "# [table]", 'a = "[table]"', ""]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.sampled_from(_TRICKY_LINES)), max_size=6))
def test_a_decoded_head_is_what_the_whole_file_holds(inserts: List[Tuple[int, str]]) -> None:
    lines = HEAD_TOML.splitlines()
    for at, line in inserts:
        lines.insert(min(at, len(lines)), line)
    raw = ("\n".join(lines) + "\n").encode("utf-8")
    head = decode_head(raw, "t.toml")
    try:
        whole = read_raw_document(raw)
    except TableError:
        return  # the file is refused when compiled; what routed it does not matter then
    if head is not None:
        table = whole.get("table")
        assert isinstance(table, dict)
        assert {k: table[k] for k in head} == head  # a later [table.x] may add keys; none changes


def read_raw_document(raw: bytes) -> Any:
    return decode_table(raw, "t.toml", "t.toml").data


def test_a_fifo_or_device_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "t.toml"
    os.mkfifo(fifo)
    with pytest.raises(TableError, match="not a regular file"):
        read_table(fifo)
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    with pytest.raises(TableError, match="not a regular file"):
        read_table(link)


def test_a_document_may_let_its_bytes_go(tmp_path: Path) -> None:
    raw = b'schema_version = 1\n[table]\nid = "t"\n'
    kept = decode_table(raw, "t.toml", "t.toml")
    dropped = decode_table(raw, "t.toml", "t.toml", keep_raw=False)
    assert kept.raw == raw and dropped.raw == b""
    assert dropped.data == kept.data and dropped.text == kept.text
