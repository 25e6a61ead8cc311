"""The diagnosis ``explain`` gives: each rule tried on a pair, nearest miss first, as frozen values.

Built from a :class:`~vfiocompat._tables.Judgement`, never by judging again; imported on first
use, since a check never explains (its values cost a cold check 1.2 ms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ._fields import MapValue
from ._verdict import Reason, RuleRef, Verdict
from ._versions import VersionValue

if TYPE_CHECKING:
    from ._conditions import Condition
    from ._tables import Judgement, Rule

__all__ = ["ConditionResult", "RuleTrial", "Explanation", "explanation_of"]

#: Bound on the trials one rule keeps (by the values of the fields it tests); emptied when full.
_TRIALS_KEPT = 4096


@dataclass(frozen=True)
class ConditionResult:
    """A condition of a rule, evaluated: ``reason`` is set when it failed."""

    description: str
    passed: bool
    reason: Optional[Reason] = None


@dataclass(frozen=True)
class RuleTrial:
    """One rule tried against a pair: whether it holds and each condition's outcome."""

    rule: RuleRef
    holds: bool
    conditions: Tuple[ConditionResult, ...]
    description: Optional[str] = None
    notes: Optional[str] = None
    #: An allow rule's migration level (``live`` or ``cold``); deny and warn rules hold at every level.
    level: str = "live"

    @property
    def failed(self) -> Tuple[ConditionResult, ...]:
        """The conditions that did not hold."""
        return tuple(c for c in self.conditions if not c.passed)


@dataclass(frozen=True)
class Explanation:
    """The diagnosis of a pair: the verdict, and every rule tried, nearest miss first."""

    verdict: Verdict
    trials: Tuple[RuleTrial, ...]
    table: Optional[str] = None
    plugin: Optional[str] = None


def explanation_of(verdict: Verdict, judgement: Optional[Judgement]) -> Explanation:
    """The explanation of a verdict, with the trials of the judgement it was derived from (if a table judged)."""
    if judgement is None:
        return Explanation(verdict, (), None, None)
    return Explanation(verdict, trials(judgement), judgement.table.id, judgement.table.plugin)


def trials(judgement: Judgement) -> Tuple[RuleTrial, ...]:
    """Every rule tried on the pair: holding deny rules, allow rules nearest first, then the rest.

    Allow rules rank as :meth:`~vfiocompat._tables.Judgement.nearest` chooses: picked by the index
    first, then fewest failures, then table order; so the first allow trial is the nearest miss.
    Worked out once per judgement.
    """
    memo = judgement._memo
    done: Optional[Tuple[RuleTrial, ...]] = memo.get("trials")
    if done is not None:
        return done
    table, source, target = judgement.table, judgement.source, judgement.target
    # Without index pins on allow rules, every allow rule is picked (:meth:`Table.allow_order`).
    picked = {rule.index for rule in table.allow_order(source, target)} if table._allow.pinned else None
    # The reasons the verdict gave for its nearest misses are those trials' failures, not a second copy.
    known: Dict[int, Any] = {}
    for miss in judgement.known_misses().values():
        if miss is not None:
            known[miss[0].index] = miss[1]
    # Table order is index order, so holding deny rules and the rest need no sort: only allow rules do,
    # by (picked first, fewest failures, index), packed in one int (index < 2**16, count <= 64).
    holding: List[RuleTrial] = []
    allowed: List[Tuple[int, RuleTrial]] = []
    rest: List[RuleTrial] = []
    for rule in table.rules:
        trial, count = rule_trial(rule, source, target, known.get(rule.index) if known else None)
        effect = rule.effect
        if effect == "allow":
            rank = (count << 16) | rule.index
            if picked is not None and rule.index not in picked:
                rank |= 1 << 24
            allowed.append((rank, trial))
        elif count == 0 and effect == "deny":
            holding.append(trial)
        else:
            rest.append(trial)
    if len(allowed) > 1:
        allowed.sort()  # the ranks are distinct: no two trials are ever compared
    for _, trial in allowed:
        holding.append(trial)
    holding.extend(rest)
    result = memo["trials"] = tuple(holding)
    return result


def rule_trial(rule: Rule, source: Mapping[str, Any], target: Mapping[str, Any],
               failed: Optional[Sequence[Tuple[Condition, Reason]]] = None) -> Tuple[RuleTrial, int]:
    """The rule tried on a pair, and how many of its conditions fail.

    A trial depends only on the values of the fields the rule tests, and fleets repeat them: a
    first explanation of a pair reuses the trials of pairs that share them (measured in
    benchmarks/w1_checks.py), so they are kept on the rule, bounded. ``failed``: the failing
    conditions and reasons a verdict gave already, which a new trial is made of rather than found again.
    """
    # No field value is None, so None stands for an absent (optional) field.
    tested = rule.tested
    if len(tested) == 1:
        name = tested[0]
        key: Tuple[Any, ...] = (source.get(name), target.get(name))
    elif len(tested) == 2:
        name, other = tested
        key = (source.get(name), source.get(other), target.get(name), target.get(other))
    else:
        key = (*map(source.get, tested), *map(target.get, tested))
    spelled = rule.spelled
    if spelled:
        # Equal versions may be spelt differently (535.104.5, 535.104.05): a trial shows the pair's own, so
        # such a value is keyed by its spelling, which also gives its value (and hashes as a plain str).
        parts = list(key)
        for at in spelled:
            value = parts[at]
            parts[at] = value.raw if type(value) is VersionValue else _spelling(value)
        key = tuple(parts)
    kept = rule.kept_trials
    if kept is None:
        kept = {}
        object.__setattr__(rule, "kept_trials", kept)
    known: Optional[Tuple[RuleTrial, int]] = kept.get(key)
    if known is None:
        ref = rule.ref
        results = []
        count = 0
        given = dict(failed) if failed is not None else None
        # A loop, not a generator per rule: this runs for each rule of a first explanation.
        for condition in rule.conditions:
            reason = condition.reason(source, target, ref) if given is None else given.get(condition)
            if reason is None:
                results.append(condition.passed_result or _passed(condition))
            else:
                count += 1
                results.append(ConditionResult(condition.description, False, reason))
        known = (RuleTrial(ref, count == 0, tuple(results), rule.description, rule.notes, rule.level), count)
        if len(kept) >= _TRIALS_KEPT:
            kept.clear()
        kept[key] = known
    return known


def _spelling(value: Any) -> Any:
    if isinstance(value, VersionValue):
        return value.raw
    if isinstance(value, MapValue):
        return tuple((key, _spelling(value[key])) for key in value)
    return value


def _passed(condition: Condition) -> ConditionResult:
    # A passed condition reads the same for every pair: built once, kept on the condition.
    result: Optional[ConditionResult] = condition.passed_result
    if result is None:
        result = condition.passed_result = ConditionResult(condition.description, True, None)
    return result
