from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Dict

from vfiocompat._registry import Registry
from vfiocompat._tables import compile_table
from vfiocompat._validation import run_examples, validate_file

from .conftest import ACME_TABLE, BASE_TABLE, dv

Write = Callable[..., Path]


def with_examples(*examples: Dict[str, Any]) -> Dict[str, Any]:
    data = copy.deepcopy(BASE_TABLE)
    data["examples"] = list(examples)
    return data


def test_a_good_table_is_valid_with_every_example_as_expected() -> None:
    result = validate_file(ACME_TABLE)
    assert result.valid and result.errors == () and result.table is not None
    assert len(result.examples) == 6 and all(outcome.passed for outcome in result.examples)


def test_a_wrong_expectation_is_reported_with_what_came_instead(write_table: Write) -> None:
    result = validate_file(write_table(with_examples(
        {"source": dv(v="2"), "target": dv(v="1"), "compatible": True},
        {"source": dv(v="1"), "target": dv(v="2"), "compatible": True},
    )))
    assert not result.valid and result.errors == ()
    assert [o.problem for o in result.examples] == ["expected compatible, got not compatible (VC411)", None]


def test_an_expected_code_must_be_among_the_reasons(write_table: Write) -> None:
    result = validate_file(write_table(with_examples(
        {"source": dv(v="2"), "target": dv(v="1"), "compatible": False, "code": "VC410"})))
    assert result.examples[0].problem == "expected reason VC410, got VC411"


def test_schema_errors_stop_before_semantics_and_examples(write_table: Write) -> None:
    data = with_examples({"source": dv(), "target": dv(), "compatible": True})
    data["table"]["colour"] = "red"
    result = validate_file(write_table(data))
    assert [e.code for e in result.errors] == ["VC503"] and result.examples == () and not result.valid


def test_unreadable_files_are_errors_not_exceptions(tmp_path: Path) -> None:
    result = validate_file(tmp_path / "absent.toml")
    assert [e.code for e in result.errors] == ["VC501"] and result.table is None


def test_examples_run_against_the_registry_given() -> None:
    table = compile_table(with_examples({"source": dv(v="1"), "target": dv(v="2"), "compatible": True}),
                          origin="t", plugin="p")
    alone = Registry.of_tables([table])
    assert [o.passed for o in run_examples(table, alone)] == [True]
    empty = Registry.of_tables([])
    assert run_examples(table, empty)[0].problem == "expected compatible, got not compatible (VC203, VC203)"


def test_a_table_with_many_errors_lists_the_first_twenty_and_counts_the_rest(write_table: Write) -> None:
    data = copy.deepcopy(BASE_TABLE)
    data["rules"] = [{"id": f"r{i}", "effect": "deny", "colour": "red", "conditions": [{"field": "k", "test": "equal"}]}
                     for i in range(300)]
    result = validate_file(write_table(data))
    assert not result.valid and len(result.errors) == 21
    assert all(e.code == "VC503" for e in result.errors)
    assert "280 more schema errors not shown (300 in all)" in result.errors[-1].message


def test_a_message_cannot_forge_a_verdict_line(write_table: Write) -> None:
    data = copy.deepcopy(BASE_TABLE)
    forged = "refused\ncompatible: 0xfffe:1:k=a -> 0xfffe:1:k=b"
    data["rules"].append({"id": "deny-x", "effect": "deny", "message": forged,
                          "conditions": [{"field": "k", "test": "one_of", "side": "source", "values": ["x"]}]})
    result = validate_file(write_table(data))
    assert [(e.code, e.rule) for e in result.errors] == [("VC504", "deny-x")]
    assert "U+000A" in result.errors[0].message and result.table is None


def test_a_deny_rule_that_can_never_match_fails_validation(write_table: Write) -> None:
    data = copy.deepcopy(BASE_TABLE)
    data["rules"].append({"id": "deny-a", "effect": "deny", "code": "A_IS_BAD",
                          "conditions": [{"field": "k", "test": "one_of", "side": "target", "values": ["\u0430"]}]})
    data["examples"] = [{"source": dv(k="a"), "target": dv(k="a", v="2"), "compatible": False, "code": "A_IS_BAD"}]
    result = validate_file(write_table(data))
    assert [(e.code, e.rule) for e in result.errors] == [("VC504", "deny-a")]
    assert "U+0430 CYRILLIC SMALL LETTER A" in result.errors[0].message
