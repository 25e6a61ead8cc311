"""Verdicts as text a person reads: the CLI prints it, test helpers put it in failure messages.

User-supplied text (device_versions) is escaped to printable ASCII, so a string cannot move the
cursor, clear a terminal or split a verdict over several lines.
"""

from __future__ import annotations

from typing import List

from ._verdict import Reason, Verdict

__all__ = ["printable", "one_line", "reason_lines", "verdict_line", "verdict_lines"]

_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}


def printable(text: str) -> str:
    """``text`` as one line of printable ASCII: control and non-ASCII characters escaped, never raw."""
    return text.encode("ascii", "backslashreplace").decode("ascii").translate(_ESCAPES)


def one_line(text: str) -> str:
    """``text`` with its whitespace folded, then :func:`printable`: a table's prose can never start a line."""
    return printable(" ".join(text.split()))


def reason_lines(reason: Reason, indent: str = "  ") -> List[str]:
    """A reason in the rustc style: ``layer error[CODE]: message`` and its ``= values/note/hint`` lines."""
    lines = [f"{indent}{reason.layer} error[{one_line(reason.code)}]: {one_line(reason.message)}"]
    values = [f"{label} {one_line(value)}" for label, value in
              (("field", reason.field), ("source", reason.source_value), ("target", reason.target_value))
              if value is not None]
    if values:
        lines.append(f"{indent}  = values: " + ", ".join(values))
    if reason.rule is not None:
        lines.append(f"{indent}  = note: rule {reason.rule.rule!r} of table {reason.rule.table!r}"
                     f" (plugin {reason.rule.plugin!r})")
    if reason.hint:
        lines.append(f"{indent}  = hint: {one_line(reason.hint)}")
    return lines


def verdict_lines(verdict: Verdict) -> List[str]:
    """The decision, the deciding rule and its source, then every reason."""
    lines = [_headline(verdict)]
    if verdict.decided_by is not None:
        ref = verdict.decided_by
        action = "allowed" if ref.effect == "allow" else "denied"
        lines.append(f"  {action} by rule {ref.rule!r} of table {ref.table!r} (plugin {ref.plugin!r})")
        if ref.source_url:
            lines.append(f"  source: {ref.source_url}")
    for reason in verdict.reasons:
        lines.extend(reason_lines(reason))
    return lines


def verdict_line(verdict: Verdict) -> str:
    """The verdict on one line (for batches): ``compatible: S -> T`` or ``not compatible: S -> T [CODES] why``."""
    line = _headline(verdict)
    if verdict.reasons:
        line += f" [{','.join(verdict.codes)}] {one_line(verdict.reasons[0].message)}"
    return line


def _headline(verdict: Verdict) -> str:
    word = "compatible" if verdict.compatible else "not compatible"
    return f"{word}: {printable(verdict.source)} -> {printable(verdict.target)}"
