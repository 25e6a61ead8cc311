"""From a table file to a compiled :class:`~vfiocompat.tables.Table`: read, check the schema, compile."""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple, Union

from . import validation_cache
from .errors import TableError
from .schema import table_schema_issues
from .table_files import TableDocument, TableSource, decode_table, format_path, locate, read_raw
from .tables import MAX_CONDITIONS, MAX_RULES, MAX_TOTAL_CONDITIONS, Table, TableClaims, compile_table

__all__ = ["TableHandle", "open_table", "load_table", "schema_errors", "compile_document", "check_counts"]


def schema_errors(document: TableDocument) -> List[TableError]:
    """Every schema violation of ``document``, each as a located :class:`TableError`."""
    errors = []
    for path, message, code in table_schema_issues(document.data):
        line = locate(document, path)
        location = f"{document.origin}:{line}" if line else document.origin
        errors.append(TableError(
            message,
            code=code,
            location=location,
            path=format_path(path, document.syntax, document.data),
            rule=_rule_id(document, path),
        ))
    return errors


def _rule_id(document: TableDocument, path: Sequence[object]) -> Optional[str]:
    if len(path) > 1 and path[0] == "rules" and isinstance(path[1], int):
        rules = document.data.get("rules") if isinstance(document.data, dict) else None
        if isinstance(rules, list) and path[1] < len(rules) and isinstance(rules[path[1]], dict):
            value = rules[path[1]].get("id")
            return value if isinstance(value, str) else None
    return None


def compile_document(document: TableDocument, plugin: str) -> Table:
    """Compile a schema-valid document, relocating errors to ``file:line`` and TOML's words."""
    try:
        return compile_table(document.data, origin=document.origin, plugin=plugin)
    except TableError as error:
        if error.path is None:
            raise
        path = _split_path(error.path)
        line = locate(document, path)
        raise TableError(
            error.detail,
            code=error.code,
            location=f"{document.origin}:{line}" if line else document.origin,
            path=format_path(path, document.syntax, document.data),
            rule=error.rule,
        ) from None


def _split_path(text: str) -> Tuple[Union[str, int], ...]:
    parts: List[Union[str, int]] = []
    for chunk in text.replace("]", "").split("."):
        name, *indexes = chunk.split("[")
        if name and name != "$":
            parts.append(name)
        parts.extend(int(i) for i in indexes if i.isdigit())
    return tuple(parts)


def check_counts(document: TableDocument) -> None:
    """Refuse a table over the rule or condition limits (VC507) before the schema has to walk it.

    The schema states the same limits, but validating a document of 50,000 rules takes seconds:
    counting first keeps an oversized table from costing more than it takes to read.
    """
    rules = document.data.get("rules") if isinstance(document.data, dict) else None
    if not isinstance(rules, list):
        return
    if len(rules) > MAX_RULES:
        raise TableError(f"{len(rules)} rules is over the limit of {MAX_RULES}", code="VC507",
                         location=document.origin, path=format_path(("rules",), document.syntax))
    total = 0
    for index, rule in enumerate(rules):
        conditions = rule.get("conditions") if isinstance(rule, dict) else None
        count = len(conditions) if isinstance(conditions, list) else 0
        if count > MAX_CONDITIONS:
            path: Tuple[Union[str, int], ...] = ("rules", index, "conditions")
            line = locate(document, path)
            raise TableError(f"{count} conditions is over the limit of {MAX_CONDITIONS} per rule", code="VC507",
                             location=f"{document.origin}:{line}" if line else document.origin,
                             path=format_path(path, document.syntax, document.data), rule=_rule_id(document, path))
        total += count
    if total > MAX_TOTAL_CONDITIONS:
        raise TableError(f"{total} conditions in all is over the limit of {MAX_TOTAL_CONDITIONS}", code="VC507",
                         location=document.origin, path=format_path(("rules",), document.syntax))


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
    """A handle on one table file: compiled now, or later if these exact bytes were validated before."""
    raw, origin, name = read_raw(source)
    claims = validation_cache.known_claims(raw)
    if claims is None:
        table = _validated(decode_table(raw, origin, name), plugin)
        validation_cache.remember(raw, table.claims)
        return TableHandle.of(table)
    known = claims

    def build() -> Table:
        table = compile_document(decode_table(raw, origin, name), plugin)
        if table.claims != known:
            raise TableError("claims differ from the validation cache's entry for these bytes; refused",
                             code="VC504", location=origin)
        return table

    return TableHandle(claims, plugin, origin, build)


def _validated(document: TableDocument, plugin: str) -> Table:
    check_counts(document)
    errors = schema_errors(document)
    if errors:
        raise errors[0]
    return compile_document(document, plugin)


def load_table(source: TableSource, plugin: str) -> Table:
    """Read, validate and compile one table file; raise the first :class:`TableError`."""
    return open_table(source, plugin).load()
