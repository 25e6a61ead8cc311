from __future__ import annotations

import dataclasses

import pytest

from vfiocompat._explanation import ConditionResult, Explanation, RuleTrial
from vfiocompat._verdict import Reason, RuleRef, Verdict

REF = RuleRef("p", "t", "r", "allow")


def test_verdict_is_truthy_only_when_compatible_and_lists_codes() -> None:
    refused = Verdict(False, "s", "t", None, (Reason("VC410", "table", "a"), Reason("X_Y", "table", "b")))
    assert not refused and refused.codes == ("VC410", "X_Y")
    assert Verdict(True, "s", "t", REF, ())


def test_values_are_frozen_and_hashable() -> None:
    reason = Reason("VC410", "table", "m", rule=REF)
    with pytest.raises(dataclasses.FrozenInstanceError):
        reason.code = "VC411"  # type: ignore[misc]
    assert hash(reason) == hash(Reason("VC410", "table", "m", rule=REF))


def test_a_trial_lists_its_failed_conditions() -> None:
    failed = ConditionResult("target.fw >= source.fw", False, Reason("VC411", "table", "older"))
    trial = RuleTrial(REF, False, (ConditionResult("a == a", True), failed))
    assert trial.failed == (failed,)
    explanation = Explanation(Verdict(False, "s", "t", None, (failed.reason,)), (trial,), "t", "p")  # type: ignore[arg-type]
    assert explanation.trials[0].failed[0].reason == explanation.verdict.reasons[0]
