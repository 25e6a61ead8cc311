"""atheris harnesses: the device_version parser, the table loader and validator, and rule evaluation.

Run one with ``python tests/fuzz/harnesses.py NAME [libFuzzer options] [corpus folders]``; NAME is
``parser``, ``tables`` or ``rules``. tests/fuzz/run_fuzz.py runs all three for a bounded time.
A harness fails (a libFuzzer crash) on any exception other than vfiocompat's coded refusals, and on a
broken invariant: a refusal without a reason, an unparsable string judged compatible, explain
disagreeing with check, an allow rule admitting an older target it does not declare.
"""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List

import atheris

with atheris.instrument_imports(include=["vfiocompat"]):
    from vfiocompat import Registry
    from vfiocompat._cli import main
    from vfiocompat._device_version import parse
    from vfiocompat._tables import compile_table
    from vfiocompat._validation import validate_file
    from vfiocompat.errors import DeviceVersionError, TableError

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
BASE = CORPUS / "base.toml"
GOOD = "0xf00d:1:gen=3;model=w100;fw=2.4.1"
_CODE = re.compile(r"^VC\d{3}$|^[A-Z][A-Z0-9_-]{1,63}$")
_registry: List[Registry] = []
_scratch = Path(tempfile.mkdtemp(prefix="vfiocompat-fuzz-"))


def _base() -> Registry:
    if not _registry:
        _registry.append(Registry(tables=[BASE]))
    return _registry[0]


def fuzz_parser(data: bytes) -> None:
    """Any bytes, as argv would carry them: parsed, judged, and run through the CLI in-process."""
    text = os.fsdecode(data) if b"\x00" not in data else data.decode("utf-8", "replace")
    parsed = True
    try:
        parse(text)
    except DeviceVersionError as error:
        parsed = False
        if not re.match(r"^VC10\d$", error.code):
            raise AssertionError(f"parse refused with {error.code}") from None
    for source, target in ((text, GOOD), (GOOD, text)):
        verdict = _base().check(source, target)
        if verdict.compatible and not parsed:
            raise AssertionError(f"unparsable {text!r} judged compatible")
        if not verdict.compatible and not verdict.reasons:
            raise AssertionError("a refusal without a reason")
        if not all(_CODE.match(code) for code in verdict.codes):
            raise AssertionError(f"odd reason codes {verdict.codes}")
    out, err = io.StringIO(), io.StringIO()
    status = main(["check", "--no-plugins", "--table", str(BASE), "--", text, GOOD], out, err)
    if status not in (0, 1) or err.getvalue():
        raise AssertionError(f"check exited {status}: {err.getvalue()!r}")


def fuzz_tables(data: bytes) -> None:
    """Any bytes as a table file (TOML, JSON or unknown by name): coded errors or a table, never a crash."""
    suffix = (".toml", ".json", ".tbl")[data[0] % 3] if data else ".toml"
    path = _scratch / f"table{suffix}"
    path.write_bytes(data[1:])
    result = validate_file(path)
    for error in result.errors:
        if not re.match(r"^VC5\d\d$", error.code) or "\n" in error.one_line():
            raise AssertionError(f"bad table error {error.code}: {error.one_line()!r}")
    if result.table is None and not result.errors:
        raise AssertionError("no table and no error")
    registry = Registry(tables=[path])
    failed = [f for record in registry.plugins for f in record.failures]
    if bool(failed) != (result.table is None):
        raise AssertionError("validate and the registry disagree about the table")
    if result.table is not None:
        for example in result.table.examples[:4]:
            registry.explain(example.source, example.target)


_VALUES: Dict[str, List[Any]] = {
    "k": ["a", "b"], "v": [0, 1, 2, 3], "w": ["1.0", "1.1", "2.0", "2.0.1", "2.1rc1", "3.0"],
}
_PAIRWISE = ["equal", "target_ge_source", "target_gt_source", "upgrade_window", "maps_to",
             "same_major_target_ge_source"]
_UNARY = ["one_of", "range", "specifier", "glob"]


def _condition(fdp: Any) -> Dict[str, Any]:
    field = fdp.PickValueInList(["k", "v", "w"])
    values = _VALUES[field]
    if fdp.ConsumeBool():
        test = fdp.PickValueInList(_PAIRWISE)
        condition: Dict[str, Any] = {"field": field, "test": test}
        if test == "upgrade_window":
            low = fdp.ConsumeIntInRange(0, 2)
            condition.update(min_steps=low, max_steps=low + fdp.ConsumeIntInRange(0, 2))
        elif test == "maps_to":
            condition["pairs"] = [[fdp.PickValueInList(values), fdp.PickValueInList(values)]
                                  for _ in range(fdp.ConsumeIntInRange(1, 3))]
        return condition
    test = fdp.PickValueInList(_UNARY)
    condition = {"field": field, "test": test, "side": fdp.PickValueInList(["source", "target", "both"])}
    if test == "one_of":
        condition["values"] = [fdp.PickValueInList(values) for _ in range(fdp.ConsumeIntInRange(1, 3))]
    elif test == "range":
        condition["min"] = fdp.PickValueInList(values)
    elif test == "specifier":
        condition.update(spec=fdp.PickValueInList([">=1.1", "<3", "==2.*", "!=2.0.1"]), prereleases=fdp.ConsumeBool())
    else:
        condition["pattern"] = fdp.ConsumeUnicodeNoSurrogates(8) or "*"
    return condition


def fuzz_rules(data: bytes) -> None:
    """A table built from the bytes, then pairs: check and explain agree; no undeclared downgrade is admitted."""
    fdp = atheris.FuzzedDataProvider(data)
    rules = []
    for index in range(fdp.ConsumeIntInRange(1, 6)):
        effect = fdp.PickValueInList(["allow", "allow", "deny"])
        conditions = [_condition(fdp) for _ in range(fdp.ConsumeIntInRange(0 if effect == "allow" else 1, 5))]
        rule: Dict[str, Any] = {"id": f"r{index}", "effect": effect, "conditions": conditions}
        if effect == "allow" and fdp.ConsumeIntInRange(0, 7) == 0:
            rule["allow_downgrade"] = ["v"]
        rules.append(rule)
    document = {
        "schema_version": 1, "table": {"id": "fuzz", "vendor": "0xf0f0", "prefixes": ["k="]},
        "format": {"kind": "keyvalue", "fields": [
            {"name": "k", "type": "string"}, {"name": "v", "type": "uint", "ordered": True},
            {"name": "w", "type": "version"}]},
        "rules": rules,
    }
    try:
        table = compile_table(document, origin="fuzz", plugin="fuzz")
    except TableError as error:
        if not re.match(r"^VC50[3-7]$", error.code):
            raise AssertionError(f"compile refused with {error.code}") from None
        return
    registry = Registry.of_tables([table])
    for _ in range(fdp.ConsumeIntInRange(1, 8)):
        sides = [{name: fdp.PickValueInList(values) for name, values in _VALUES.items()} for _ in range(2)]
        source, target = (f"0xf0f0:1:k={s['k']};v={s['v']};w={s['w']}" for s in sides)
        verdict = registry.check(source, target)
        explanation = registry.explain(source, target)
        if explanation.verdict != verdict:
            raise AssertionError("explain and check disagree")
        allow = any(t.holds for t in explanation.trials if t.rule.effect == "allow")
        deny = any(t.holds for t in explanation.trials if t.rule.effect == "deny")
        if verdict.compatible != (allow and not deny):
            raise AssertionError("verdict is not: some allow holds and no deny holds")
        if verdict.compatible:
            assert verdict.decided_by is not None
            rule = next(r for r in table.rules if r.id == verdict.decided_by.rule)
            from packaging.version import Version

            if "v" not in rule.allow_downgrade and sides[1]["v"] < sides[0]["v"]:
                raise AssertionError(f"rule {rule.id} admits v {sides[0]['v']} -> {sides[1]['v']}")
            if Version(sides[1]["w"]) < Version(sides[0]["w"]):
                raise AssertionError(f"rule {rule.id} admits w {sides[0]['w']} -> {sides[1]['w']}")


HARNESSES: Dict[str, Callable[[bytes], None]] = {"parser": fuzz_parser, "tables": fuzz_tables, "rules": fuzz_rules}


if __name__ == "__main__":
    name = sys.argv.pop(1) if len(sys.argv) > 1 else ""
    if name not in HARNESSES:
        sys.exit(f"usage: harnesses.py {{{','.join(HARNESSES)}}} [libFuzzer options] [corpus folders]")
    atheris.Setup(sys.argv, HARNESSES[name])
    atheris.Fuzz()
