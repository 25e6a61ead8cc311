"""The JSON Schemas shipped in the package, and validation of table documents against them.

jsonschema is imported only when a document is actually validated, so commands that
only read tables (the compiler checks all the schema does) start fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

__all__ = ["SCHEMA_NAMES", "schema_text", "schema", "SchemaIssue", "table_schema_issues"]

#: The schemas shipped in ``vfiocompat/schemas`` (and the repository's ``schemas/``).
SCHEMA_NAMES = ("table", "verdict", "explanation", "device-version", "plugins", "validation", "code",
                "inventory", "placement", "labels", "error", "doctor", "libvirt-metadata")

_SCHEMAS = Path(__file__).resolve().parent / "schemas"

#: (path into the document, message, code): VC507 for a size or count limit, VC503 otherwise.
SchemaIssue = Tuple[Tuple[Union[str, int], ...], str, str]
_LIMIT_KEYWORDS = frozenset({"maxItems", "maxLength", "maxProperties", "maximum"})


def schema_text(name: str) -> str:
    """The text of ``schemas/<name>.schema.json``."""
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    return (_SCHEMAS / f"{name}.schema.json").read_text("utf-8")


_loaded: Dict[str, Any] = {}


def schema(name: str) -> Any:
    """The parsed schema ``name``."""
    if name not in _loaded:
        import json  # validate alone reads schemas; a check should not pay for json

        _loaded[name] = json.loads(schema_text(name))
    return _loaded[name]


def table_schema_issues(data: Any) -> List[SchemaIssue]:
    """Every place ``data`` breaks the table schema: (path, message, code), in document order."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(schema("table"))
    issues: List[SchemaIssue] = []
    for error in validator.iter_errors(data):
        # An "if/then" failure reports on the whole object; its sub-errors are more precise.
        leaves = list(error.context) if error.context else [error]
        best = min(leaves, key=lambda e: len(e.absolute_path)) if error.validator in ("anyOf", "oneOf") else error
        code = "VC507" if best.validator in _LIMIT_KEYWORDS else "VC503"
        issues.append((tuple(best.absolute_path), _message(best), code))
    issues.sort(key=lambda issue: [str(p) if isinstance(p, str) else f"{p:09d}" for p in issue[0]])
    return issues


def _message(error: Any) -> str:
    kind = error.validator
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        listed = ", ".join(_short(key, 40) for key in extra[:5])
        more = f" and {len(extra) - 5} more" if len(extra) > 5 else ""
        return f"unknown key{'s' if len(extra) > 1 else ''} {listed}{more}"
    if kind == "required":
        return str(error.message).replace(" is a required property", " is required")
    if kind == "enum":
        allowed = ", ".join(repr(v) for v in error.validator_value)
        return f"{_short(error.instance)} is not one of {allowed}"
    if kind == "not" and isinstance(error.instance, dict):
        return "this test compares source with target; it takes no 'side'"
    if kind == "not":
        return f"{_short(error.instance)} is reserved (VC codes belong to the core)"
    text = str(error.message)
    return text if len(text) <= 300 else text[:297] + "..."


def _short(value: Any, limit: int = 80) -> str:
    # A message quotes a table's value; a 10 MB string or list is named, not copied into every line.
    if isinstance(value, (list, dict)) and len(value) > limit:
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
