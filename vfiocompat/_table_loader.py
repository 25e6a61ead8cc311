"""From a table file to a compiled :class:`~vfiocompat._tables.Table`: read, bound, check, compile.

The compiler refuses everything the JSON Schema refuses, so the schema is a diagnostics layer
(every error, in the schema's words) and never the thing a verdict rests on.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple

from ._conditions import MAX_LIST_ITEMS, PathParts
from ._table_files import (
    TableDocument,
    TableSource,
    decode_head,
    decode_in_pieces,
    decode_piece,
    decode_table,
    decode_text,
    format_path,
    locate,
    read_raw,
    table_text,
)
from ._tables import (
    MAX_CONDITIONS,
    MAX_EXAMPLES,
    MAX_FIELDS,
    MAX_PREFIXES,
    MAX_RULES,
    MAX_TOTAL_CONDITIONS,
    Place,
    Table,
    TableClaims,
    compile_claims,
    compile_head_claims,
    compile_table,
)
from .errors import TableError

__all__ = [
    "MAX_REPORTED_ERRORS",
    "PIECEWISE_FROM",
    "TableHandle",
    "open_table",
    "load_table",
    "schema_errors",
    "compile_document",
    "check_counts",
    "placer",
]

#: Schema errors reported one by one; past it, one more error gives the count of the rest.
MAX_REPORTED_ERRORS = 20
#: Characters from which a TOML table is compiled piece by piece (:func:`_compile_in_pieces`): below it
#: the decoded document is small, and decoding it whole is faster (a 13 KB table: 1.3 ms, not 1.45).
PIECEWISE_FROM = 256 * 1024


def placer(document: TableDocument) -> Place:
    """Where a path is in ``document``: (``file:line`` or ``file``, the path in TOML's or JSON's words)."""
    def place(path: PathParts) -> Tuple[str, str]:
        line = locate(document, path)
        location = f"{document.origin}:{line}" if line else document.origin
        return location, format_path(path, document.syntax, document.data)

    return place


def schema_errors(document: TableDocument, limit: int = MAX_REPORTED_ERRORS) -> List[TableError]:
    """The first ``limit`` schema violations of ``document``, located, then one error counting the rest.

    Only the errors reported are located: a table with 20,000 errors costs one walk of the
    schema, not a scan of the text per error.
    """
    from ._schema import table_schema_issues  # validate's diagnostics alone: a check never reads the schema

    issues = table_schema_issues(document.data)
    place = placer(document)
    errors = []
    for path, message, code in issues[:limit]:
        location, words = place(path)
        errors.append(TableError(message, code=code, location=location, path=words,
                                 rule=_rule_id(document, path)))
    if len(issues) > limit:
        errors.append(TableError(f"{len(issues) - limit} more schema errors not shown ({len(issues)} in all)",
                                 code="VC503", location=document.origin))
    return errors


def _rule_id(document: TableDocument, path: Sequence[object]) -> Optional[str]:
    if len(path) > 1 and path[0] == "rules" and isinstance(path[1], int):
        rules = document.data.get("rules") if isinstance(document.data, dict) else None
        if isinstance(rules, list) and path[1] < len(rules) and isinstance(rules[path[1]], dict):
            value = rules[path[1]].get("id")
            return value if isinstance(value, str) else None
    return None


def compile_document(document: TableDocument, plugin: str, *, consume: bool = False) -> Table:
    """Compile a decoded document; errors are placed at ``file:line`` and spelt in TOML's or JSON's words.

    ``consume``: the document is not used again, so each rule is dropped from it once compiled.
    """
    return compile_table(document.data, origin=document.origin, plugin=plugin, place=placer(document),
                         consume=consume)


def _claims(document: TableDocument) -> TableClaims:
    return compile_claims(document.data, origin=document.origin, place=placer(document))


def check_counts(document: TableDocument) -> None:
    """Refuse a table over a count limit (VC507) before the schema has to walk it.

    The schema states the same limits, but it walks every item of a list before it reports the
    list too long (a 13 MB ``values`` list took 50 s): counting first keeps an oversized table
    from costing more than it takes to read.
    """
    data = document.data
    if not isinstance(data, dict):
        return

    def over(path: PathParts, count: int, limit: int, what: str) -> TableError:
        location, words = placer(document)(path)
        return TableError(f"{count} {what} is over the limit of {limit}", code="VC507", location=location,
                          path=words, rule=_rule_id(document, path))

    head = data.get("table")
    prefixes = head.get("prefixes") if isinstance(head, dict) else None
    if isinstance(prefixes, list) and len(prefixes) > MAX_PREFIXES:
        raise over(("table", "prefixes"), len(prefixes), MAX_PREFIXES, "prefixes")
    fmt = data.get("format")
    fields = fmt.get("fields") if isinstance(fmt, dict) else None
    if isinstance(fields, list) and len(fields) > MAX_FIELDS:
        raise over(("format", "fields"), len(fields), MAX_FIELDS, "fields")
    examples = data.get("examples")
    if isinstance(examples, list) and len(examples) > MAX_EXAMPLES:
        raise over(("examples",), len(examples), MAX_EXAMPLES, "examples")
    rules = data.get("rules")
    if not isinstance(rules, list):
        return
    if len(rules) > MAX_RULES:
        raise over(("rules",), len(rules), MAX_RULES, "rules")
    total = 0
    for index, rule in enumerate(rules):
        found = _rule_over_limit(rule, index)
        if found is not None:
            raise over(*found)
        total += _condition_count(rule)
    if total > MAX_TOTAL_CONDITIONS:
        raise over(("rules",), total, MAX_TOTAL_CONDITIONS, "conditions in all")


def _rule_over_limit(rule: Any, index: int) -> Optional[Tuple[PathParts, int, int, str]]:
    """The first list of one decoded rule over its count limit: (path, count, limit, what), or None."""
    if not isinstance(rule, dict):
        return None
    downgrade = rule.get("allow_downgrade")
    if isinstance(downgrade, list) and len(downgrade) > MAX_FIELDS:
        return ("rules", index, "allow_downgrade"), len(downgrade), MAX_FIELDS, "allow_downgrade names"
    conditions = rule.get("conditions")
    if not isinstance(conditions, list):
        return None
    if len(conditions) > MAX_CONDITIONS:
        return ("rules", index, "conditions"), len(conditions), MAX_CONDITIONS, "conditions per rule: it"
    for number, condition in enumerate(conditions):
        if not isinstance(condition, dict):
            continue
        for key in ("values", "pairs"):
            items = condition.get(key)
            if isinstance(items, list) and len(items) > MAX_LIST_ITEMS:
                return ("rules", index, "conditions", number, key), len(items), MAX_LIST_ITEMS, key
    return None


def _condition_count(rule: Any) -> int:
    conditions = rule.get("conditions") if isinstance(rule, dict) else None
    return len(conditions) if isinstance(conditions, list) else 0


class TableHandle:
    """A plugin's table known by its claims, compiled on first use and then kept.

    The registry routes device_versions by claims alone, so a check compiles only the table it
    needs; a table that fails to compile is remembered as failed, with its error.
    """

    def __init__(self, claims: TableClaims, plugin: str, origin: str, build: Callable[[], Table]) -> None:
        self.claims = claims
        self.plugin = plugin
        self.origin = origin
        self._build: Optional[Callable[[], Table]] = build
        self._table: Optional[Table] = None
        self._error: Optional[TableError] = None

    @classmethod
    def of(cls, table: Table) -> TableHandle:
        """A handle around an already compiled table."""
        handle = cls(table.claims, table.plugin, table.origin, lambda: table)
        handle.load()
        return handle

    def load(self) -> Table:
        """The compiled table; raise its :class:`TableError` (every time) if it does not compile."""
        if self._build is not None:
            build, self._build = self._build, None
            try:
                self._table = build()
            except TableError as error:
                self._error = error
        if self._error is not None:
            raise self._error
        assert self._table is not None
        return self._table


def open_table(source: TableSource, plugin: str) -> TableHandle:
    """A handle on one table file: its claims read from its bytes now, its rules compiled on first use.

    Claims come from the ``[table]`` section alone (:func:`~vfiocompat._table_files.decode_head`), so
    routing a device_version decodes no other table's rules; the compiled table's claims must equal
    them before it judges anything. The compiler refuses all the schema does, so no verdict waits
    for jsonschema: ``vfiocompat validate`` runs the schema for its diagnostics.
    """
    raw, origin, name = read_raw(source)
    claims = _head_claims(raw, origin, name)
    if claims is None:
        document = decode_table(raw, origin, name)
        check_counts(document)
        claims = _claims(document)

    # The bytes are decoded once more on first use, then let go: the compiled table does not need them.
    pending = [raw]
    del raw

    def build() -> Table:
        text = table_text(pending.pop(), origin)
        table = _compile_in_pieces(text, origin, name, plugin) if len(text) >= PIECEWISE_FROM else None
        if table is None:
            document = decode_text(text, origin, name)
            del text
            check_counts(document)
            table = compile_document(document, plugin, consume=True)
        if table.claims != claims:
            raise TableError("the claims read from the [table] section differ from the compiled table's; refused",
                             code="VC504", location=origin)
        return table

    return TableHandle(claims, plugin, origin, build)


def _compile_in_pieces(text: str, origin: str, name: str, plugin: str) -> Optional[Table]:
    """The table compiled one decoded rule at a time, or ``None``: then it is decoded and compiled whole.

    The whole decoded document of a 10,000-rule table weighs 30 MB, more than the compiled table; a
    piece is let go once compiled. Anything amiss (a piece that does not decode alone, a count over a
    limit, any compile error) gives ``None``, so what a table is refused for, and where, is said by
    the whole-file path alone.
    """
    cut = decode_in_pieces(text, name)
    if cut is None:
        return None
    head, pieces = cut
    if len(pieces) > MAX_RULES + MAX_EXAMPLES:
        return None
    total = 0

    def items(key: str) -> Iterator[Any]:
        nonlocal total
        for piece_key, start, end in pieces:
            if piece_key != key:
                continue
            item = decode_piece(text, key, start, end)
            if item is None:
                raise _NotInPieces
            if key == "rules":
                total += _condition_count(item)
                if total > MAX_TOTAL_CONDITIONS or _rule_over_limit(item, 0) is not None:
                    raise _NotInPieces
            yield item

    # Each list the pieces fill is empty in the document; a key no piece has stays absent, as in the file.
    data = {**head, **{key: [] for key, _, _ in pieces}}
    try:
        return compile_table(data, origin=origin, plugin=plugin, rules_given=items("rules"),
                             examples_given=items("examples"))
    except (_NotInPieces, TableError):
        return None


class _NotInPieces(Exception):
    """A table that cannot be compiled piece by piece (it is compiled whole instead)."""


def _head_claims(raw: bytes, origin: str, name: str) -> Optional[TableClaims]:
    head = decode_head(raw, name)
    if head is None:
        return None
    try:
        return compile_head_claims(head, origin=origin)
    except TableError:
        return None  # the whole file is decoded, and its error placed, instead


def load_table(source: TableSource, plugin: str) -> Table:
    """Read, check and compile one table file now; raise the first :class:`TableError`."""
    return open_table(source, plugin).load()
