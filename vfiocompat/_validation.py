"""``vfiocompat validate``: check a table against the schema and the semantics, then run its examples.

This is what a vendor's CI calls: a table is good when it has no error and every example
gets the verdict (and reason code) its author wrote down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

from ._registry import Registry
from ._table_files import TableSource, read_table
from ._table_loader import check_counts, compile_document, placer, schema_errors
from ._tables import Example, Table, TableWarning, check_schema_version
from ._verdict import Verdict
from .errors import TableError

__all__ = ["ExampleOutcome", "ValidationResult", "validate_file", "run_examples"]


@dataclass(frozen=True)
class ExampleOutcome:
    """One example run: the verdict it got and, when it disagrees, what went wrong."""

    example: Example
    verdict: Verdict
    problem: Optional[str] = None

    @property
    def passed(self) -> bool:
        """The verdict (and code, if given) is what the example expects."""
        return self.problem is None


@dataclass(frozen=True)
class ValidationResult:
    """Everything ``validate`` found in one table file."""

    origin: str
    table: Optional[Table]
    errors: Tuple[TableError, ...] = ()
    warnings: Tuple[TableWarning, ...] = ()
    examples: Tuple[ExampleOutcome, ...] = ()

    @property
    def valid(self) -> bool:
        """No error and every example as expected."""
        return not self.errors and all(outcome.passed for outcome in self.examples)


def run_examples(table: Table, registry: Registry) -> Tuple[ExampleOutcome, ...]:
    """Judge each of ``table``'s examples with ``registry`` and compare with what it expects."""
    outcomes = []
    for example in table.examples:
        verdict = registry.check(example.source, example.target)
        problem = None
        if verdict.compatible != example.compatible:
            got = "compatible" if verdict.compatible else "not compatible (" + ", ".join(verdict.codes) + ")"
            problem = f"expected {'compatible' if example.compatible else 'not compatible'}, got {got}"
        elif example.code is not None and example.code not in verdict.codes:
            problem = f"expected reason {example.code}, got {', '.join(verdict.codes) or 'none'}"
        outcomes.append(ExampleOutcome(example, verdict, problem))
    return tuple(outcomes)


def validate_file(source: TableSource, parse_hooks: Optional[Mapping[str, Any]] = None,
                  plugin: str = "table-file") -> ValidationResult:
    """Validate one table file: every schema error, else semantics, warnings and examples.

    :param parse_hooks: plugin name -> parse hook, for tables whose format kind is ``hook``.
    """
    try:
        document = read_table(source)
    except TableError as error:
        return ValidationResult(str(source), None, (error,))
    try:
        check_counts(document)
        check_schema_version(document.data, origin=document.origin, place=placer(document))
    except TableError as error:
        return ValidationResult(document.origin, None, (error,))
    errors = schema_errors(document)
    if errors:
        return ValidationResult(document.origin, None, tuple(errors))
    try:
        table = compile_document(document, plugin)
    except TableError as error:
        return ValidationResult(document.origin, None, (error,))
    registry = Registry.of_tables([table], parse_hooks or {})
    return ValidationResult(document.origin, table, (), table.warnings, run_examples(table, registry))
