from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vfiocompat._text import one_line, printable, reason_lines, verdict_line, verdict_lines
from vfiocompat._verdict import Reason, RuleRef, Verdict

REF = RuleRef("acme", "acme-widgets", "same-model", "allow", "https://example.com/rule")


@given(st.text())
def test_printable_is_one_line_of_printable_ascii(text: str) -> None:
    shown = printable(text)
    assert all(" " <= c <= "~" for c in shown)


def test_printable_escapes_what_a_terminal_would_act_on() -> None:
    assert printable("a\x1b[2J\r\nb\u202ec") == "a\\x1b[2J\\x0d\\x0ab\\u202ec"
    assert printable("0x8086:1:plain") == "0x8086:1:plain"


def test_reason_lines_show_values_rule_and_hint() -> None:
    reason = Reason("VC411", "table", "target fw is older", "fw", "2.6", "2.4", "use fw >= 2.6", REF, "acme")
    assert reason_lines(reason) == [
        "  table error[VC411]: target fw is older",
        "    = values: field fw, source 2.6, target 2.4",
        "    = note: rule 'same-model' of table 'acme-widgets' (plugin 'acme')",
        "    = hint: use fw >= 2.6",
    ]
    assert reason_lines(Reason("VC203", "core", "no plugin")) == ["  core error[VC203]: no plugin"]


def test_verdict_lines_lead_with_the_decision() -> None:
    allowed = Verdict(True, "s", "t", REF, ())
    assert verdict_lines(allowed) == [
        "compatible: s -> t",
        "  allowed by rule 'same-model' of table 'acme-widgets' (plugin 'acme')",
        "  source: https://example.com/rule",
    ]
    refused = Verdict(False, "s\n", "t", None, (Reason("VC201", "core", "vendor ids differ"),))
    assert verdict_lines(refused) == ["not compatible: s\\x0a -> t", "  core error[VC201]: vendor ids differ"]


def test_table_prose_with_line_breaks_cannot_forge_a_verdict_line() -> None:
    # Issue 9 item 15: descriptions and notes may hold line breaks; no rendered line may begin with them.
    forged = "known bad\ncompatible: 0x1:1:a -> 0x1:1:a\r\n  = hint: all fine"
    reason = Reason("VC402", "table", forged, hint=forged, source_value=forged)
    verdict = Verdict(False, "0x1:1:a", "0x1:1:b", None, (reason,))
    for line in [*verdict_lines(verdict), verdict_line(verdict)]:
        assert "\n" not in line and "\r" not in line
    assert not any(line.startswith("compatible") for line in "\n".join(verdict_lines(verdict)).splitlines())
    assert one_line(" a\n\tb ") == "a b"
