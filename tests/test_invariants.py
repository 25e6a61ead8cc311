"""The core's invariants as hypothesis properties.

* fail closed: any error on either side means not compatible;
* determinism: the same verdicts whatever order plugins are registered in;
* direction: no allow rule admits a target older than the source on an ordered field it does not list in
  ``allow_downgrade`` (and the compiler refuses, VC505, the tables that would);
* explain agrees with check: same verdict; compatible iff an allow trial holds and no deny trial does; the
  reasons are the core's, then the holding deny rules' or the nearest allow trial's failures;
* tables are data: nothing in a table is evaluated, formatted or run.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from vfiocompat import Registry, hookimpl
from vfiocompat._cli import main
from vfiocompat._conditions import glob_match
from vfiocompat._device_version import parse
from vfiocompat._tables import Table, compile_table
from vfiocompat._validation import validate_file
from vfiocompat.errors import DeviceVersionError, TableError

CORPUS = Path(__file__).resolve().parent / "corpus"
BASE = CORPUS / "base.toml"
GOOD = "0xf00d:1:gen=3;model=w100;fw=2.4.1"
VENDOR = "0xf0f0"

# -- generated tables ----------------------------------------------------------------------------------

FIELDS = [
    {"name": "k", "type": "string"},
    {"name": "v", "type": "uint", "ordered": True},
    {"name": "w", "type": "version"},
    {"name": "d", "type": "version", "scheme": "dotted"},
    {"name": "c", "type": "set"},
]
ORDERED = ("v", "w", "d")
VALUES: Dict[str, List[Any]] = {
    "k": ["a", "b", "c"],
    "v": [0, 1, 2, 3, 4],
    "w": ["1.0", "1.1", "1.10", "2.0", "2.0.1", "2.1rc1", "3.0"],
    "d": ["1", "1.0.1", "1.2", "2", "2.0.0.1", "3"],
    "c": ["", "x", "y", "x,y", "x,y,z"],
}


def order_key(field: str, raw: Any) -> Any:
    """How the test itself orders values (independently of vfiocompat._versions)."""
    if field == "v":
        return int(raw)
    if field == "w":
        return Version(str(raw))
    parts = [int(p) for p in str(raw).split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def major(field: str, raw: Any) -> int:
    return int(raw) if field == "v" else int(str(raw).split(".")[0])


Cond = Tuple[Dict[str, Any], bool]  # the condition and whether it keeps the field's direction


def _pairwise(field: str) -> st.SearchStrategy[Cond]:
    values = VALUES[field]
    options: List[st.SearchStrategy[Cond]] = [st.just(({"field": field, "test": "equal"}, True))]
    if field in ORDERED:
        options += [
            st.sampled_from(["target_ge_source", "target_gt_source"]).map(
                lambda t: ({"field": field, "test": t}, True)),
            st.tuples(st.integers(0, 2), st.integers(0, 2)).map(lambda mm: ({
                "field": field, "test": "upgrade_window", "min_steps": min(mm), "max_steps": max(mm)}, True)),
        ]
        if field != "v":
            options.append(st.just(({"field": field, "test": "same_major_target_ge_source"}, True)))
    if field == "c":
        options.append(st.just(({"field": field, "test": "target_superset"}, False)))
    pairs = st.lists(st.tuples(st.sampled_from(values), st.sampled_from(values)), min_size=1, max_size=4)
    options.append(pairs.map(lambda ps: (
        {"field": field, "test": "maps_to", "pairs": [list(p) for p in ps]},
        field not in ORDERED or all(order_key(field, b) >= order_key(field, a) for a, b in ps),
    )))
    return st.one_of(options)


def _unary(field: str) -> st.SearchStrategy[Cond]:
    side = st.sampled_from(["source", "target", "both"])
    values = VALUES[field]
    options: List[st.SearchStrategy[Cond]] = [
        st.tuples(side, st.lists(st.sampled_from(values), min_size=1, max_size=3)).map(
            lambda sv: ({"field": field, "test": "one_of", "side": sv[0], "values": sv[1]}, False)),
    ]
    if field == "k":
        options.append(st.tuples(side, st.sampled_from(["a", "*", "?", "b*", "[a]", "(a+)+$"])).map(
            lambda sp: ({"field": field, "test": "glob", "side": sp[0], "pattern": sp[1]}, False)))
    if field in ORDERED:
        options.append(st.tuples(side, st.sampled_from(values), st.sampled_from(values)).map(
            lambda s: ({"field": field, "test": "range", "side": s[0],
                        "min": min(s[1], s[2], key=lambda x: order_key(field, x)),
                        "max": max(s[1], s[2], key=lambda x: order_key(field, x))}, False)))
    if field == "w":
        specs = st.sampled_from([">=1.1", "<3", "==2.*", "!=2.0.1", "~=1.1"])
        options.append(st.tuples(side, specs, st.booleans()).map(
            lambda s: ({"field": field, "test": "specifier", "side": s[0], "spec": s[1], "prereleases": s[2]}, False)))
    if field == "c":
        options.append(st.tuples(side, st.lists(st.sampled_from("xyz"), min_size=1, max_size=2)).map(
            lambda s: ({"field": field, "test": "contains", "side": s[0], "values": s[1]}, False)))
    return st.one_of(options)


CONDITION = st.sampled_from([f["name"] for f in FIELDS]).flatmap(lambda f: st.one_of(_pairwise(f), _unary(f)))


@st.composite
def rules(draw: Callable[..., Any]) -> List[Tuple[Dict[str, Any], List[Cond]]]:
    """Rules with, for each allow rule, mostly a direction-safe condition per ordered field."""
    out = []
    for index in range(draw(st.integers(1, 5))):
        effect = draw(st.sampled_from(["allow", "allow", "deny"]))
        conditions: List[Cond] = []
        if effect == "allow":
            for field in ORDERED:
                if draw(st.integers(0, 5)):
                    conditions.append(draw(_pairwise(field)))
        conditions += draw(st.lists(CONDITION, min_size=0 if effect == "allow" else 1, max_size=3))
        conditions = draw(st.permutations(conditions)) if conditions else conditions
        rule: Dict[str, Any] = {"id": f"r{index}", "effect": effect, "conditions": [c for c, _ in conditions]}
        if effect == "allow" and draw(st.integers(0, 6)) == 0:
            rule["allow_downgrade"] = draw(st.lists(st.sampled_from(ORDERED), min_size=1, max_size=2, unique=True))
        if effect == "deny" and draw(st.booleans()):
            rule["code"] = "GEN_DENIED"
        out.append((rule, conditions))
    return out


def document(generated: List[Tuple[Dict[str, Any], List[Cond]]]) -> Dict[str, Any]:
    return {
        "schema_version": 1,
        "table": {"id": "generated", "vendor": VENDOR, "prefixes": ["k="]},
        "format": {"kind": "keyvalue", "fields": FIELDS},
        "rules": [rule for rule, _ in generated],
    }


def expect_direction_safe(generated: List[Tuple[Dict[str, Any], List[Cond]]]) -> bool:
    """What VC505 should say, worked out by the test from the conditions it chose."""
    for rule, conditions in generated:
        if rule["effect"] != "allow":
            continue
        safe = {c["field"] for c, keeps in conditions if keeps and c["field"] in ORDERED}
        if not set(ORDERED) <= safe | set(rule.get("allow_downgrade", [])):
            return False
    return True


def compiled(generated: List[Tuple[Dict[str, Any], List[Cond]]]) -> Optional[Table]:
    """The compiled table, or None when the compiler (rightly, as checked) refuses it as VC505."""
    try:
        table = compile_table(json.loads(json.dumps(document(generated))), origin="generated", plugin="gen")
    except TableError as error:
        assert error.code == "VC505", error.one_line()
        assert not expect_direction_safe(generated), f"refused a direction-safe table: {error.one_line()}"
        return None
    assert expect_direction_safe(generated), "compiled a table whose allow rule admits a downgrade unsaid"
    return table


DEVICE = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in VALUES.items()})


def text(device: Dict[str, Any], interface: str = "1") -> str:
    return f"{VENDOR}:{interface}:" + ";".join(f"{name}={device[name]}" for name in ("k", "v", "w", "d", "c"))


# -- fail closed ---------------------------------------------------------------------------------------


def _mutations(seed: str) -> st.SearchStrategy[str]:
    edits = st.lists(st.tuples(st.integers(0, len(seed)), st.integers(0, 3), st.text(max_size=3)), max_size=4)

    def apply(changes: List[Tuple[int, int, str]]) -> str:
        out = seed
        for at, drop, insert in changes:
            out = out[:at] + insert + out[at + drop:]
        return out

    return edits.map(apply)


_BASE_REGISTRY: List[Registry] = []


def base_registry() -> Registry:
    if not _BASE_REGISTRY:
        _BASE_REGISTRY.append(Registry(tables=[BASE]))
    return _BASE_REGISTRY[0]


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=60), _mutations(GOOD)), st.one_of(st.just(GOOD), _mutations(GOOD)),
       st.booleans())
def test_any_error_means_not_compatible(source: str, target: str, swap: bool) -> None:
    if swap:
        source, target = target, source
    registry = base_registry()
    verdict = registry.check(source, target)
    sides = [registry.resolve(source), registry.resolve(target)]
    if any(side.reasons or side.table is None or side.fields is None for side in sides):
        assert not verdict.compatible
    for side in (source, target):
        try:
            parse(side)
        except DeviceVersionError:
            assert not verdict.compatible
    if verdict.compatible:
        assert verdict.reasons == ()
        assert verdict.decided_by is not None and verdict.decided_by.effect == "allow"
    else:
        assert verdict.reasons, "refused without a reason"
    assert registry.explain(source, target).verdict.compatible == verdict.compatible


# -- direction -----------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(rules(), st.lists(st.tuples(DEVICE, DEVICE), min_size=1, max_size=12))
def test_no_rule_admits_an_older_target_unless_it_says_so(generated: Any, pairs: Any) -> None:
    table = compiled(generated)
    if table is None:
        return
    registry = Registry.of_tables([table])
    for source, target in pairs:
        verdict = registry.check(text(source), text(target))
        if not verdict.compatible:
            continue
        assert verdict.decided_by is not None
        rule = next(r for r in table.rules if r.id == verdict.decided_by.rule)
        for field in ORDERED:
            if field not in rule.allow_downgrade:
                assert order_key(field, target[field]) >= order_key(field, source[field]), (
                    f"rule {rule.id} admits {field} {source[field]} -> {target[field]}")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(ORDERED), st.lists(st.tuples(st.sampled_from(range(7)), st.sampled_from(range(7))),
                                          min_size=1, max_size=4))
def test_a_backward_mapping_on_an_ordered_field_is_refused(field: str, indexes: List[Tuple[int, int]]) -> None:
    values = VALUES[field]
    pairs = [[values[a % len(values)], values[b % len(values)]] for a, b in indexes]
    conditions = [({"field": f, "test": "equal"}, True) for f in ORDERED if f != field]
    backwards = any(order_key(field, b) < order_key(field, a) for a, b in pairs)
    conditions.append(({"field": field, "test": "maps_to", "pairs": pairs}, not backwards))
    generated = [({"id": "r0", "effect": "allow", "conditions": [c for c, _ in conditions]}, conditions)]
    assert (compiled(generated) is None) == backwards


# -- explain agrees with check ----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(rules(), st.lists(st.tuples(DEVICE, DEVICE, st.sampled_from(["1", "1", "2"]), st.sampled_from(["1", "2"])),
                         min_size=1, max_size=10))
def test_explain_agrees_with_check(generated: Any, pairs: Any) -> None:
    table = compiled(generated)
    if table is None:
        return
    registry = Registry.of_tables([table])
    index_of = {rule.id: rule.index for rule in table.rules}
    for source, target, s_if, t_if in pairs:
        s, t = text(source, s_if), text(target, t_if)
        verdict = registry.check(s, t)
        explanation = registry.explain(s, t)
        assert explanation.verdict == verdict
        trials = explanation.trials
        assert sorted(index_of[tr.rule.rule] for tr in trials) == list(range(len(table.rules)))
        allows = [tr for tr in trials if tr.rule.effect == "allow"]
        holding_allows = [tr for tr in allows if tr.holds]
        denials = [tr for tr in trials if tr.rule.effect == "deny" and tr.holds]
        core = [r for r in verdict.reasons if r.layer == "core"]
        assert [r.code for r in core] == (["VC202"] if int(t_if) < int(s_if) else [])
        # Brute force, in table order, without the rule index.
        fields_s = registry.resolve(s).fields
        fields_t = registry.resolve(t).fields
        assert fields_s is not None and fields_t is not None
        first_allow = next((r for r in table.rules if r.effect == "allow" and r.holds(fields_s, fields_t)), None)
        assert (first_allow is not None) == bool(holding_allows)
        assert verdict.compatible == (bool(holding_allows) and not denials and not core)
        # The nearest allow trial, worked out here: among the rules the index picks for the pair (all when
        # it picks none), the fewest failing conditions, the first in table order on a tie.
        picked = table.picked(fields_s, fields_t)
        candidates = sorted((tr for tr in allows if index_of[tr.rule.rule] in picked),
                            key=lambda tr: (len(tr.failed), index_of[tr.rule.rule]))
        misses = [] if not candidates else [c.reason for c in candidates[0].failed]
        if allows:
            assert allows[0] is candidates[0], "explain does not list the nearest allow rule first"
        expected_reasons = list(core)
        if holding_allows and not denials:
            assert first_allow is not None
            # A core refusal (an older interface) leaves no deciding rule; otherwise the first allow rule decides.
            assert (verdict.decided_by.rule if verdict.decided_by else None) == (None if core else first_allow.id)
        else:
            assert [r.rule for r in verdict.reasons[len(core): len(core) + len(denials)]] == [
                tr.rule for tr in sorted(denials, key=lambda tr: index_of[tr.rule.rule])]
            expected_reasons += list(verdict.reasons[len(core): len(core) + len(denials)])
            assert verdict.decided_by == (min(denials, key=lambda tr: index_of[tr.rule.rule]).rule if denials else None)
            if not holding_allows:
                expected_reasons += misses if allows else [r for r in verdict.reasons if r.code == "VC401"]
                if not allows:
                    assert verdict.codes[-1] == "VC401"
        assert list(verdict.reasons) == expected_reasons


# -- determinism -------------------------------------------------------------------------------------------


def _table_file(folder: Path, name: str, vendor: str, prefixes: List[str], kind: str = "keyvalue") -> Path:
    document_ = {
        "schema_version": 1,
        "table": {"id": name, "vendor": vendor, "prefixes": prefixes},
        "format": {"kind": kind, "fields": [
            {"name": "gen", "type": "uint", "ordered": True}, {"name": "model", "type": "string"},
            {"name": "fw", "type": "version"}]},
        "rules": [{"id": "fwd", "effect": "allow", "conditions": [
            {"field": "gen", "test": "equal"}, {"field": "model", "test": "equal"},
            {"field": "fw", "test": "target_ge_source"}]}],
    }
    path = folder / f"{name}.json"
    path.write_text(json.dumps(document_), "utf-8")
    return path


class _Tables:
    def __init__(self, *paths: Any) -> None:
        self.paths = list(paths)

    @hookimpl
    def vfiocompat_tables(self) -> List[Any]:
        return self.paths


class _Raising:
    @hookimpl
    def vfiocompat_tables(self) -> List[Any]:
        raise RuntimeError("broken plugin")


class _Hooked(_Tables):
    @hookimpl
    def vfiocompat_parse_fields(self, table_id: str, proprietary: str) -> Optional[Dict[str, str]]:
        return dict(pair.split("=", 1) for pair in proprietary.split(";") if "=" in pair)


@pytest.fixture(scope="module")
def plugin_set() -> Iterator[List[Tuple[str, Any]]]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        broken = folder / "broken.json"
        broken.write_text('{"schema_version": 1, "table": {"vendor": "0xf0e5", "prefixes": ["gen="]}}', "utf-8")
        yield [
            ("alpha", _Tables(_table_file(folder, "alpha", "0xf0e1", ["gen="]))),
            ("beta", _Tables(_table_file(folder, "beta", "0xf0e2", ["gen=3;"]), _table_file(folder, "beta2", "0xf0e2",
                                                                                          ["gen=4;"]))),
            ("gamma", _Tables(_table_file(folder, "gamma", "0xf0e2", ["gen=3;model=w1"]))),  # overlaps beta
            ("delta", _Raising()),
            ("epsilon", _Tables(broken)),
            ("zeta", _Hooked(_table_file(folder, "zeta", "0xf0e6", [""], kind="hook"))),
        ]


PAIRS = [(f"{vendor}:{i}:gen={g};model={m};fw={f}", f"{vendor}:{j}:gen={g2};model={m};fw={f2}")
         for vendor in ("0xf0e1", "0xf0e2", "0xf0e5", "0xf0e6", "0xf0e9")
         for i, j in (("1", "1"), ("2", "1"))
         for g, g2 in (("3", "3"), ("4", "4"), ("3", "4"))
         for m in ("w1", "w2")
         for f, f2 in (("1.0", "1.1"), ("1.1", "1.0"))]


def _summary(registry: Registry) -> Tuple[Any, ...]:
    plugins = tuple((r.name, tuple(t.id for t in r.tables), tuple((f.code, f.message) for f in r.failures))
                    for r in registry.plugins)
    return plugins, tuple(registry.check(s, t) for s, t in PAIRS)


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False))
def test_verdicts_do_not_depend_on_plugin_registration_order(plugin_set: Any, random: Any) -> None:
    baseline = _summary(Registry(plugins=plugin_set))
    shuffled = list(plugin_set)
    random.shuffle(shuffled)
    assert _summary(Registry(plugins=shuffled)) == baseline


def test_the_determinism_fixture_covers_every_outcome(plugin_set: Any) -> None:
    registry = Registry(plugins=plugin_set)
    codes = {code for s, t in PAIRS for code in registry.check(s, t).codes}
    assert {"VC202", "VC206", "VC304", "VC411", "VC410"} <= codes
    assert any(registry.check(s, t).compatible for s, t in PAIRS)
    assert {f.code for r in registry.plugins for f in r.failures} == {"VC302", "VC304", "VC305"}


def test_verdicts_do_not_depend_on_table_file_order(tmp_path: Path) -> None:
    first = _table_file(tmp_path, "one", "0xf0e2", ["gen=3;"])
    second = _table_file(tmp_path, "two", "0xf0e2", ["gen=3;model=w1"])
    pair = ("0xf0e2:1:gen=3;model=w1;fw=1.0", "0xf0e2:1:gen=3;model=w1;fw=1.1")
    assert Registry(tables=[first, second]).check(*pair) == Registry(tables=[second, first]).check(*pair)


# -- nothing in a table is executed ------------------------------------------------------------------------

PAYLOADS = [
    "__import__('os').system('touch {sentinel}')",
    "{{0.__class__.__mro__[1].__subclasses__()}}",
    "%s%s%s%n",
    "$(touch {sentinel})",
    "`touch {sentinel}`",
    "';import os;os.system('touch {sentinel}');'",
    "lambda: open('{sentinel}', 'w')",
    "{sentinel_name}",
]


@contextlib.contextmanager
def code_banned() -> Iterator[List[str]]:
    """Record (and refuse) any eval/exec/compile, os.system, os.popen or subprocess during the block."""
    calls: List[str] = []

    def forbidden(name: str) -> Callable[..., Any]:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            calls.append(f"{name}{args!r:.300}")
            raise AssertionError(f"{name} called while handling a table")
        return refuse

    targets = [(builtins, "eval"), (builtins, "exec"), (builtins, "compile"), (os, "system"), (os, "popen"),
               (subprocess, "Popen")]
    with contextlib.ExitStack() as stack:
        for owner, name in targets:
            stack.enter_context(mock.patch.object(owner, name, forbidden(f"{owner.__name__}.{name}")))
        yield calls


@settings(max_examples=60, deadline=None)
# Table text is one line of printable characters (control and format characters are refused at validation).
@given(st.sampled_from(PAYLOADS), st.text(alphabet=st.characters(blacklist_categories=("Cs",)).filter(str.isprintable),
                                          max_size=20))
def test_table_strings_are_data_never_code(tmp_path_factory: Any, payload: str, noise: str) -> None:
    folder = tmp_path_factory.mktemp("payload")
    sentinel = folder / "pwned"
    text_payload = payload.format(sentinel=sentinel, sentinel_name=sentinel.name) + noise
    # In a device_version a field value is printable ASCII without spaces; spaces become '_' there.
    value = "".join(c if "!" <= c <= "~" and c not in ";=" else "_" for c in text_payload) or "_"
    data = {
        "schema_version": 1,
        "table": {"id": "payload", "vendor": VENDOR, "prefixes": ["k="], "title": text_payload[:200],
                  "notes": text_payload, "description": text_payload},
        "format": {"kind": "keyvalue", "fields": [{"name": "k", "type": "string"}, {"name": "v", "type": "uint"}]},
        "rules": [
            {"id": "literal", "effect": "allow", "description": text_payload, "conditions": [
                {"field": "k", "test": "one_of", "side": "both", "values": [value]},
                {"field": "v", "test": "equal", "message": text_payload or "m", "hint": text_payload or "h"}]},
            {"id": "glob", "effect": "deny", "code": "PAYLOAD", "message": text_payload or "m", "conditions": [
                {"field": "k", "test": "glob", "side": "target", "pattern": value + "?"}]},
        ],
    }
    path = folder / "payload.json"
    path.write_text(json.dumps(data), "utf-8")
    registry = Registry(tables=[path])
    assert registry.tables, [f.message for r in registry.plugins for f in r.failures]
    same = f"{VENDOR}:1:k={value};v=1"
    other = f"{VENDOR}:1:k={value};v=2"
    assert registry.check(same, same).compatible
    refused = registry.check(same, other)
    assert [r.message for r in refused.reasons] == [text_payload or "m"]
    denied = registry.check(same, f"{VENDOR}:1:k={value}x;v=1")
    assert denied.codes[0] == "PAYLOAD" and denied.reasons[0].message == (text_payload or "m")
    assert glob_match(value + "?", value + "x") and not glob_match(value + "?", value)
    out, err = io.StringIO(), io.StringIO()
    assert main(["explain", "--no-plugins", "--table", str(path), same, other], out, err) == 1
    assert not sentinel.exists()
    assert list(folder.iterdir()) == [path]


def test_table_strings_are_data_under_a_ban_on_code(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {sentinel}')"
    data = json.loads(json.dumps({
        "schema_version": 1,
        "table": {"id": "ban", "vendor": VENDOR, "prefixes": ["k="], "notes": payload},
        "format": {"kind": "keyvalue", "fields": [{"name": "k", "type": "string"}, {"name": "v", "type": "version"}]},
        "rules": [{"id": "r", "effect": "allow", "description": payload, "conditions": [
            {"field": "k", "test": "glob", "side": "both", "pattern": "__import__('os')*"},
            {"field": "v", "test": "target_ge_source", "message": payload}]},
            {"id": "d", "effect": "deny", "message": payload, "conditions": [
                {"field": "v", "test": "specifier", "side": "target", "spec": ">=9", "prereleases": False}]}],
        "examples": [{"source": f"{VENDOR}:1:k=__import__('os');v=1", "target": f"{VENDOR}:1:k=__import__('os');v=2",
                      "compatible": True, "note": payload}],
    }))
    path = tmp_path / "ban.json"
    path.write_text(json.dumps(data), "utf-8")
    source, target = f"{VENDOR}:1:k=__import__('os');v=2", f"{VENDOR}:1:k=__import__('os');v=1"
    # Warm up: whatever the code imports lazily is imported before the ban.
    main(["explain", "--no-plugins", "--table", str(BASE), GOOD, GOOD], io.StringIO(), io.StringIO())
    validate_file(BASE)
    out, err = io.StringIO(), io.StringIO()
    with code_banned() as calls:
        validated = main(["validate", "--no-plugins", str(path)], out, err)
        explained = main(["explain", "--no-plugins", "--table", str(path), source, target], out, err)
    assert calls == []
    assert (validated, explained) == (0, 1), err.getvalue()
    assert payload in out.getvalue()
    assert not sentinel.exists()
