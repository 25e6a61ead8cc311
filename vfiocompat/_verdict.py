"""The answers vfiocompat gives: verdicts, their reasons and warnings, as frozen values (explanations: _explanation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

__all__ = ["LAYERS", "MODES", "Reason", "RuleRef", "RuleWarning", "Verdict"]

#: Who refuses: the core (vendor, interface, parsing), a vendor's table, a plugin failure, the host.
LAYERS = ("core", "table", "plugin", "host")
#: The migrations a verdict answers for: ``live`` (the VM running) or ``cold`` (stopped, its state saved).
MODES = ("live", "cold")


@dataclass(frozen=True)
class RuleRef:
    """Where a rule lives: plugin, table id, rule id, effect and the rule's cited source."""

    plugin: str
    table: str
    rule: str
    effect: str
    source_url: Optional[str] = None


@dataclass(frozen=True)
class Reason:
    """One failing condition: a stable code, the field and both values, and how to fix it."""

    code: str
    layer: str
    message: str
    field: Optional[str] = None
    source_value: Optional[str] = None
    target_value: Optional[str] = None
    hint: Optional[str] = None
    rule: Optional[RuleRef] = None
    plugin: Optional[str] = None


@dataclass(frozen=True)
class RuleWarning:
    """A warn rule that holds for a compatible pair: the migration may go, but read this first."""

    code: str
    message: str
    rule: RuleRef
    hint: Optional[str] = None


@dataclass(frozen=True)
class Verdict:
    """Compatible or not (for ``mode``), the rule that decided, every reason for a refusal, and warnings.

    ``levels``: the migration levels the pair is admitted at (``("live", "cold")``, ``("cold",)`` or
    ``()``), whatever ``mode`` asked.
    """

    compatible: bool
    source: str
    target: str
    decided_by: Optional[RuleRef]
    reasons: Tuple[Reason, ...]
    levels: Tuple[str, ...] = ()
    warnings: Tuple[RuleWarning, ...] = ()
    mode: str = "live"

    def __bool__(self) -> bool:
        return self.compatible

    @property
    def codes(self) -> Tuple[str, ...]:
        """The reason codes, in order."""
        return tuple(reason.code for reason in self.reasons)
