"""_explanation: trials built from the one judgement, kept by the values a rule tests, imported on first use."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, List

from hypothesis import given, settings
from hypothesis import strategies as st

from vfiocompat import Registry
from vfiocompat._explanation import Explanation, rule_trial

from .conftest import BASE_TABLE, dv


def _registry(tmp_path: Path, data: Any) -> Registry:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    return Registry(tables=[path])


def test_a_check_never_imports_the_explanation_values() -> None:
    code = ("import sys\nimport vfiocompat\nr = vfiocompat.Registry(entry_points=False)\n"
            "r.check('0xfffe:1:k=a;v=1', '0xfffe:1:k=a;v=2')\n"
            "print('vfiocompat._explanation' in sys.modules)\n"
            "r.explain('0xfffe:1:k=a;v=1', '0xfffe:1:k=a;v=2')\n"
            "print('vfiocompat._explanation' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True"]


_VERSIONS = st.sampled_from(["1.0", "1.00", "2.0", "2.1", "10.0"])
_KEYS = st.sampled_from(["a", "b", "zzz"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_KEYS, _VERSIONS, _KEYS, _VERSIONS), min_size=1, max_size=8))
def test_kept_trials_are_the_trials_a_fresh_table_works_out(tmp_path_factory: Any, pairs: List[Any]) -> None:
    # One registry explains the pairs in turn (reusing kept trials and the verdicts' failures); a
    # fresh table tries every rule on each pair from nothing: the trials must be equal.
    data = copy.deepcopy(BASE_TABLE)
    data["rules"].append({"id": "only-zzz", "effect": "allow", "conditions": [
        {"field": "k", "test": "one_of", "side": "both", "values": ["zzz"]},
        {"field": "v", "test": "target_ge_source"}]})
    folder = tmp_path_factory.mktemp("t")
    explaining = _registry(folder, data)
    for sk, sv, tk, tv in pairs:
        source, target = dv(k=sk, v=sv), dv(k=tk, v=tv)
        explanation = explaining.explain(source, target)
        assert isinstance(explanation, Explanation)
        fresh = _registry(folder, data)
        resolved_source, resolved_target = fresh.resolve(source), fresh.resolve(target)
        if resolved_source.table is None or resolved_source.fields is None or resolved_target.fields is None:
            assert explanation.trials == ()
            continue
        by_rule = {rule.id: rule_trial(rule, resolved_source.fields, resolved_target.fields)[0]
                   for rule in resolved_source.table.rules}
        assert {t.rule.rule: t for t in explanation.trials} == by_rule
