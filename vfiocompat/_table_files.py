"""Reading table files (TOML or JSON) safely, and pointing at lines within them.

Limits: a table file is at most :data:`MAX_TABLE_BYTES` and nests at most
:data:`MAX_DEPTH` levels; past either it is refused, never slowly chewed through.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from functools import cached_property
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol, Sequence, Tuple, Union

from .errors import TableError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9 and 3.10
    import tomli as tomllib

__all__ = [
    "MAX_TABLE_BYTES",
    "MAX_DEPTH",
    "Readable",
    "TableSource",
    "TableDocument",
    "read_table",
    "read_raw",
    "decode_table",
    "table_text",
    "decode_text",
    "decode_in_pieces",
    "decode_piece",
    "decode_head",
    "format_path",
    "locate",
]

#: Largest table file accepted, in bytes.
MAX_TABLE_BYTES = 16 * 1024 * 1024
#: Deepest nesting of arrays and tables accepted.
MAX_DEPTH = 32


class Readable(Protocol):
    """Anything with a name and bytes: a :class:`pathlib.Path` or an ``importlib.resources`` file."""

    @property
    def name(self) -> str: ...

    def read_bytes(self) -> bytes: ...


TableSource = Union[str, "os.PathLike[str]", Readable]


class TableDocument:
    """A decoded table file: its data, its text (for line numbers) and its syntax.

    A working document (its lines are indexed on first use), not a value: a plain class.
    """

    def __init__(self, data: Any, text: str, raw: bytes, origin: str, syntax: str) -> None:
        self.data, self.text, self.raw, self.origin, self.syntax = data, text, raw, origin, syntax

    @cached_property
    def lines(self) -> List[str]:
        """The text's lines, split once for every line look-up."""
        return self.text.splitlines()

    @cached_property
    def headers(self) -> Dict[str, List[int]]:
        """TOML table headers (``[[rules]]``, spaces dropped) -> the 0-based lines they are on, in order."""
        found: Dict[str, List[int]] = {}
        for number, line in enumerate(self.lines):
            stripped = line.strip()
            if stripped.startswith("["):
                found.setdefault(stripped.replace(" ", ""), []).append(number)
        return found


def _origin(source: TableSource) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(source)


def read_table(source: TableSource) -> TableDocument:
    """Read and decode one table file; raise :class:`TableError` (VC501, VC502, VC507)."""
    return decode_table(*read_raw(source))


def read_raw(source: TableSource) -> Tuple[bytes, str, str]:
    """A table file's bytes, its origin for messages and its name (for the syntax); raise :class:`TableError`."""
    origin = _origin(source)
    try:
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if "\x00" in origin:
                raise TableError("the path contains a NUL character", code="VC501", location=repr(origin))
            if path.is_dir():
                raise TableError("is a directory, not a table file", code="VC501", location=origin)
            raw = _read_regular(path, origin)
        else:
            raw = source.read_bytes()
    except TableError:
        raise
    except OSError as error:
        raise TableError(f"cannot read: {error.strerror or error}", code="VC501", location=origin) from None
    if len(raw) > MAX_TABLE_BYTES:
        raise TableError(f"is over {MAX_TABLE_BYTES} bytes", code="VC507", location=origin)
    return raw, origin, str(getattr(source, "name", origin))


def _read_regular(path: Path, origin: str) -> bytes:
    # A FIFO or a device would block or never end: only regular files are tables. The check is made on
    # the file opened (without blocking), not on the name, so a file swapped in between cannot slip past.
    handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            raise TableError("is not a regular file", code="VC501", location=origin)
        chunks = []
        left = MAX_TABLE_BYTES + 1
        while left > 0:
            chunk = os.read(handle, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(handle)


def decode_table(raw: bytes, origin: str, name: str, *, keep_raw: bool = True) -> TableDocument:
    """Decode a table file's bytes (UTF-8, TOML or JSON by ``name``); raise :class:`TableError`.

    ``keep_raw=False``: the document's ``raw`` is empty, so the caller's dropping the bytes frees them.
    """
    text = table_text(raw, origin)
    return decode_text(text, origin, name, raw if keep_raw else b"")


def table_text(raw: bytes, origin: str) -> str:
    """A table file's bytes as text: UTF-8 (a BOM allowed) without NUL; raise :class:`TableError` (VC501)."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise TableError(f"is not UTF-8 (byte {error.start})", code="VC501", location=origin) from None
    if "\x00" in text:
        raise TableError("contains a NUL character; is it a binary file?", code="VC501", location=origin)
    return text


def decode_text(text: str, origin: str, name: str, raw: bytes = b"") -> TableDocument:
    """Decode a table's text from :func:`table_text`, whole; raise :class:`TableError`."""
    syntax = _syntax(name, text)
    data = _decode(text, syntax, origin)
    _check_depth(data, origin)
    return TableDocument(data, text, raw, origin, syntax)


# A [[rules]] or [[examples]] header line, spelt bare (spaces and a comment allowed).
_ITEM_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*(rules|examples)[ \t]*\]\][ \t]*(?:#[^\r\n]*)?\r?$", re.MULTILINE)


def decode_in_pieces(text: str, name: str) -> Optional[Tuple[Dict[str, Any], List[Tuple[str, int, int]]]]:
    """A TOML table cut at its ``[[rules]]`` and ``[[examples]]`` headers, for decoding one item at a time.

    Returns the decoded part before the first such header and, for each item, its key and the span
    of its text (header to next header), for :func:`decode_piece`; ``None`` for JSON, for a table
    without such headers, or when the part before them does not decode alone (or holds either key).
    Decoding the pieces is decoding the file: every item header starts a fresh table, a piece ends
    where the next begins, and a cut inside a multi-line string or array leaves that piece unable to
    decode (then the file is decoded whole).
    """
    if _syntax(name, text) != "toml":
        return None
    starts = [(match.group(1), match.start()) for match in _ITEM_HEADER.finditer(text)]
    if not starts:
        return None
    head = _fragment(text[: starts[0][1]])
    if head is None or "rules" in head or "examples" in head:
        return None
    ends = [start for _, start in starts[1:]] + [len(text)]
    return head, [(key, start, end) for (key, start), end in zip(starts, ends)]


def decode_piece(text: str, key: str, start: int, end: int) -> Optional[Any]:
    """The one item ``text[start:end]`` holds under ``key``; ``None`` when the piece is anything else."""
    piece = _fragment(text[start:end])
    if piece is None:
        return None
    items = piece.get(key)
    if len(piece) != 1 or not isinstance(items, list) or len(items) != 1:
        return None
    return items[0]


# A line that is "[table]" (spaces around it allowed), and the next line that starts with "[".
_TABLE_HEADER = re.compile(r"^[ \t]*\[table\][ \t]*\r?$", re.MULTILINE)
_ANY_HEADER = re.compile(r"^[ \t]*\[", re.MULTILINE)
# A line that starts a bare key, and the keys the claims are made of.
_KEY_LINE = re.compile(r"^[ \t]*([A-Za-z0-9_-]+)[ \t]*=", re.MULTILINE)
_CLAIM_KEYS = ("id", "vendor", "prefixes")


def decode_head(raw: bytes, name: str) -> Optional[Dict[str, Any]]:
    """The ``[table]`` section of a TOML table, decoded without decoding the rest; ``None`` when unsure.

    tomllib reads 6 MB/s: routing by claims should not decode every rule of every table, nor the
    section's long notes. The text is cut after the claim keys (``id``, ``vendor``, ``prefixes``, at
    the next key line), else before the first header after ``[table]``, and only that prefix is
    decoded. The cut is sound: a prefix decodes only if the parser is at the top level where it was
    cut (inside a multi-line string or array it fails), so what it holds is what the whole file holds
    at that point, and TOML lets no later line change a key already defined. ``None`` (decode the
    whole file) for JSON, for a header spelt otherwise, or when no prefix decodes.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if _syntax(name, text) != "toml" or "\x00" in text:
        return None
    header = _TABLE_HEADER.search(text)
    if header is None:
        return None
    following = _ANY_HEADER.search(text, header.end())
    end = following.start() if following else len(text)
    for cut in (_after_claims(text, header.end(), end), end):
        if cut is None:
            continue
        decoded = _fragment(text[:cut])
        head = decoded.get("table") if decoded is not None else None
        if isinstance(head, dict) and (cut == end or all(key in head for key in _CLAIM_KEYS)):
            return head
    return None


def _fragment(text: str) -> Optional[Dict[str, Any]]:
    """A part of a TOML table decoded alone, or ``None`` when it does not decode (or nests too deep)."""
    try:
        data: Dict[str, Any] = tomllib.loads(text)
        _check_depth(data, "")
    except (tomllib.TOMLDecodeError, RecursionError, ValueError, TableError):
        return None
    return data


def _after_claims(text: str, start: int, end: int) -> Optional[int]:
    """The start of the first key line after every claim key's line in ``text[start:end]``, or None."""
    missing = set(_CLAIM_KEYS)
    for line in _KEY_LINE.finditer(text, start, end):
        if not missing:
            return line.start()
        missing.discard(line.group(1))
    return None


def _syntax(name: str, text: str) -> str:
    lowered = name.lower()
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith(".toml"):
        return "toml"
    return "json" if text.lstrip().startswith("{") else "toml"


def _decode(text: str, syntax: str, origin: str) -> Any:
    if syntax == "json":
        return _decode_json(text, origin)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TableError(f"invalid TOML: {error}", code="VC502", location=origin) from None
    except RecursionError:
        raise TableError(f"nests deeper than {MAX_DEPTH} levels", code="VC507", location=origin) from None
    except ValueError as error:
        raise TableError(f"invalid TOML: {error}", code="VC502", location=origin) from None


def _decode_json(text: str, origin: str) -> Any:
    # Imported for JSON tables only: the reference tables are TOML, and json cost a cold check 0.9 ms.
    import json

    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as error:
        raise TableError(f"invalid JSON: {error.msg}", code="VC502", location=f"{origin}:{error.lineno}") from None
    except RecursionError:
        raise TableError(f"nests deeper than {MAX_DEPTH} levels", code="VC507", location=origin) from None
    except ValueError as error:
        raise TableError(f"invalid JSON: {error}", code="VC502", location=origin) from None


def _unique_keys(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    # JSON lets a later key silently replace an earlier one; in a table that hides a rule's edit.
    out: Dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a table may hold")


def _check_depth(data: Any, origin: str) -> None:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TableError(f"nests deeper than {MAX_DEPTH} levels", code="VC507", location=origin)
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def format_path(path: Sequence[Union[str, int]], syntax: str, data: Any = None) -> str:
    """Spell a path into the document: ``$.rules[2].id`` for JSON, TOML's own words for TOML."""
    if syntax == "json" or not path:
        out = "$"
        for part in path:
            out += f"[{part}]" if isinstance(part, int) else f".{part}"
        return out
    head, *rest = path
    if head in ("rules", "examples") and rest and isinstance(rest[0], int):
        words = f"[[{head}]] #{rest[0] + 1}"
        rest = rest[1:]
    elif isinstance(head, str) and isinstance(data, dict) and isinstance(data.get(head), dict):
        words = f"[{head}]"
    else:
        words = str(head)
    tail = ""
    for part in rest:
        tail += f"[{part}]" if isinstance(part, int) else (f".{part}" if tail else str(part))
    return f"{words} {tail}".strip()


def locate(document: TableDocument, path: Sequence[Union[str, int]]) -> Optional[int]:
    """Best-effort 1-based line of ``path`` in the document's text, or ``None``.

    The lines and headers are indexed once per document; a look-up reads at most one section
    (TOML) or the text once (JSON), so callers locate only the errors they report.
    """
    lines = document.lines
    if not path:
        return None
    head = path[0]
    start = 0
    if document.syntax == "toml":
        nth = path[1] if len(path) > 1 and isinstance(path[1], int) else 0
        numbers = document.headers.get(f"[[{head}]]" if len(path) > 1 and isinstance(path[1], int) else f"[{head}]")
        if not numbers or nth >= len(numbers):
            return None
        start = numbers[nth]
        keys = [p for p in path[1:] if isinstance(p, str)]
        if keys:
            found = _key_after(lines, start, keys[0], stop_at_header=True)
            return (found if found is not None else start) + 1
        return start + 1
    rule_id = _rule_id(document.data, path)
    if rule_id is not None:
        import json

        needle = json.dumps(rule_id)
        for number, line in enumerate(lines):
            if needle in line and '"id"' in line:
                return number + 1
    key = next((p for p in reversed(path) if isinstance(p, str)), None)
    if key is not None:
        found = _key_after(lines, 0, f'"{key}"', stop_at_header=False)
        if found is not None:
            return found + 1
    return None


def _rule_id(data: Any, path: Sequence[Union[str, int]]) -> Optional[str]:
    if len(path) > 1 and path[0] == "rules" and isinstance(path[1], int) and isinstance(data, dict):
        rules = data.get("rules")
        if isinstance(rules, list) and path[1] < len(rules) and isinstance(rules[path[1]], dict):
            value = rules[path[1]].get("id")
            return value if isinstance(value, str) else None
    return None


def _key_after(lines: List[str], start: int, key: str, *, stop_at_header: bool) -> Optional[int]:
    for number in range(start + 1 if stop_at_header else start, len(lines)):
        stripped = lines[number].strip()
        if stop_at_header and stripped.startswith("["):
            return None
        if stripped.startswith(key) or f" {key}" in stripped or f"{{{key}" in stripped:
            return number
    return None

