"""Compiled compatibility tables: claims, format, rules and examples, and rule evaluation.

Semantics (default deny): a pair is compatible when at least one allow rule holds and no
deny rule holds. A rule holds when all its conditions hold. Rules are indexed by the
values that pin them (``one_of`` on a side, ``maps_to`` sources), so a table of 10,000
rules is not scanned for each pair.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, List, Mapping, Optional, Sequence, Set, Tuple

from .conditions import (
    Condition,
    ConditionError,
    Failure,
    PathParts,
    compile_condition,
    need_bool,
    need_code,
    need_keys,
    need_list,
    need_match,
    need_text,
    shown,
)
from .errors import TableError
from .fields import FIELD_TYPES, ORDERED_BY_DEFAULT, FieldSpec, StringFormat, value_fault
from .versions import SCHEMES

__all__ = [
    "MAX_RULES",
    "MAX_CONDITIONS",
    "MAX_TOTAL_CONDITIONS",
    "MAX_FIELDS",
    "Rule",
    "Example",
    "TableClaims",
    "TableWarning",
    "Table",
    "Place",
    "compile_table",
    "compile_claims",
    "compile_head_claims",
    "spell_path",
]

#: Most rules in one table.
MAX_RULES = 50_000
#: Most conditions in one rule.
MAX_CONDITIONS = 64
#: Most conditions in all the rules of one table.
MAX_TOTAL_CONDITIONS = 200_000
#: Most fields in one format.
MAX_FIELDS = 128
#: Most prefixes one table claims, and the longest prefix.
MAX_PREFIXES = 256
MAX_PREFIX_LENGTH = 256
#: Most examples in one table.
MAX_EXAMPLES = 10_000
_ORDERABLE = frozenset({"uint", "hex", "version"})


@dataclass(frozen=True)
class Rule:
    """One allow or deny rule; ``index`` is its position in the table."""

    id: str
    effect: str
    conditions: Tuple[Condition, ...]
    index: int
    description: Optional[str] = None
    notes: Optional[str] = None
    source_url: Optional[str] = None
    code: Optional[str] = None
    message: Optional[str] = None
    hint: Optional[str] = None
    allow_downgrade: Tuple[str, ...] = ()
    #: The conditions with index pins first: they fail fastest for rules the index did not pick.
    pinned_first: Tuple[Condition, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pinned_first", tuple(sorted(self.conditions, key=lambda c: c.pin is None)))

    def failures(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> List[Optional[Failure]]:
        """Each condition's failure, or ``None`` where it holds, in order."""
        return [condition.evaluate(source, target) for condition in self.conditions]

    def holds(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
        """Whether every condition holds (stops at the first that does not)."""
        return all(condition.holds(source, target) for condition in self.conditions)


@dataclass(frozen=True)
class Example:
    """A pair the table's author states the verdict of; ``validate`` runs them."""

    source: str
    target: str
    compatible: bool
    code: Optional[str] = None
    note: Optional[str] = None


@dataclass(frozen=True)
class TableClaims:
    """What a table serves: its id, vendor id and the prefixes of the proprietary strings it claims."""

    table_id: str
    vendor_id: int
    prefixes: Tuple[str, ...]

    def covers(self, vendor_id: int, proprietary: str) -> bool:
        """Whether the table claims this vendor's string."""
        return vendor_id == self.vendor_id and any(proprietary.startswith(p) for p in self.prefixes)


@dataclass(frozen=True)
class TableWarning:
    """Something ``validate`` reports without refusing the table."""

    code: str
    message: str
    rule: Optional[str] = None


class _RuleIndex:
    """Rules of one effect, indexed by the field values that pin them."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.rules = tuple(rules)
        unpinned: List[Rule] = []
        pinned: Dict[str, Dict[Any, List[Rule]]] = {}
        for rule in rules:
            pin = next((c.pin for c in rule.conditions if c.pin is not None), None)
            if pin is None:
                unpinned.append(rule)
                continue
            key, values = pin
            by_value = pinned.setdefault(key, {})
            for value in values:
                by_value.setdefault(value, []).append(rule)
        self.unpinned = tuple(unpinned)
        self.pinned = {
            (key.partition(":")[0], key.partition(":")[2]): {v: tuple(r) for v, r in by_value.items()}
            for key, by_value in pinned.items()
        }

    def candidates(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Sequence[Rule]:
        """The rules that may hold for this pair, in table order."""
        found: List[Rule] = []
        for (side, name), by_value in self.pinned.items():
            value = (source if side == "source" else target).get(name)
            if value is not None:
                found.extend(by_value.get(value, ()))
        if not found:
            return self.unpinned
        found.extend(self.unpinned)
        found.sort(key=lambda rule: rule.index)
        return found

    def first_holding(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Optional[Rule]:
        for rule in self.candidates(source, target):
            if rule.holds(source, target):
                return rule
        return None


@dataclass(frozen=True)
class Table:
    """A compiled compatibility table, attributed to the plugin that ships it."""

    id: str
    vendor_id: int
    prefixes: Tuple[str, ...]
    format: StringFormat
    rules: Tuple[Rule, ...]
    examples: Tuple[Example, ...]
    plugin: str
    origin: str
    title: Optional[str] = None
    source_url: Optional[str] = None
    warnings: Tuple[TableWarning, ...] = ()
    _allow: _RuleIndex = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _deny: _RuleIndex = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_allow", _RuleIndex([r for r in self.rules if r.effect == "allow"]))
        object.__setattr__(self, "_deny", _RuleIndex([r for r in self.rules if r.effect == "deny"]))

    @property
    def claims(self) -> TableClaims:
        """The table's id, vendor id and prefixes."""
        return TableClaims(self.id, self.vendor_id, self.prefixes)

    def decide(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Tuple[Optional[Rule], Optional[Rule]]:
        """The first allow rule that holds and the first deny rule that holds (each or ``None``)."""
        return self._allow.first_holding(source, target), self._deny.first_holding(source, target)

    def denials(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> List[Rule]:
        """Every deny rule that holds, in table order."""
        return [rule for rule in self._deny.candidates(source, target) if rule.holds(source, target)]

    def nearest_miss(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Optional[Rule]:
        """The allow rule that comes nearest to holding, or ``None`` when there is none.

        Nearest means: among the rules the index picks for this pair (those whose pinned values
        match it: rules about these devices), the fewest failing conditions, the first on a tie;
        only when the index picks none, the same over every allow rule. Evaluation stops as soon
        as a rule cannot beat the best so far, so large tables are not evaluated in full.
        """
        candidates = self._allow.candidates(source, target)
        best: Optional[Rule] = None
        best_count = MAX_CONDITIONS + 1
        for rule in candidates or self._allow.rules:
            count = _count_failures(rule, source, target, best_count)
            if count < best_count:
                best, best_count = rule, count
        return best

    def picked(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> FrozenSet[int]:
        """Indexes of the allow rules ``nearest_miss`` ranks first for this pair (all, when none is picked)."""
        rules = self._allow.candidates(source, target) or self._allow.rules
        return frozenset(rule.index for rule in rules)


def _count_failures(rule: Rule, source: Mapping[str, Any], target: Mapping[str, Any], limit: int) -> int:
    """How many of ``rule``'s conditions fail, counting no further than ``limit``."""
    count = 0
    for condition in rule.pinned_first:
        if not condition.holds(source, target):
            count += 1
            if count >= limit:
                break
    return count


def spell_path(path: PathParts) -> str:
    """A path as compile errors spell it when no document places it: ``rules[0].conditions[1].test``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "$"


#: Turns a path into the document into (location, path in the document's words), formatted once at the edge.
Place = Callable[[PathParts], Tuple[str, str]]

_TOP_KEYS = ("schema_version", "table", "format", "rules", "examples")
_HEAD_KEYS = ("id", "vendor", "prefixes", "title", "description", "source_url", "notes")
_FORMAT_KEYS = ("kind", "separator", "pair_separator", "kv_separator", "unknown_keys", "fields", "description", "notes")
_FIELD_KEYS = ("name", "type", "ordered", "scheme", "item_separator", "optional", "rest", "description")
_RULE_KEYS = ("id", "effect", "description", "source_url", "notes", "code", "message", "hint", "allow_downgrade",
              "conditions")
_EXAMPLE_KEYS = ("source", "target", "compatible", "code", "note")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_VENDOR = re.compile(r"0[xX][0-9a-fA-F]{1,8}")
_URL = re.compile(r"https?://\S+")
_EXAMPLE_CODE = re.compile(r"[A-Z][A-Z0-9_-]{1,63}")
_PROSE = 10_000
_TEXT = 2000


class _Compiler:
    """Checks every value of a table document as the schema does, and builds it; errors carry paths as tuples."""

    def __init__(self, origin: str, place: Optional[Place]) -> None:
        self.place: Place = place or (lambda path: (origin, spell_path(path)))

    def fail(self, message: str, path: PathParts, rule: Optional[str] = None, code: str = "VC504") -> TableError:
        location, words = self.place(path)
        return TableError(message, code=code, location=location, path=words, rule=rule)

    def need(self, check: Callable[..., Any], value: Any, path: PathParts, rule: Optional[str] = None,
             **options: Any) -> Any:
        """``check(value, (), **options)`` with its :class:`ConditionError` placed at ``path``."""
        try:
            return check(value, (), **options)
        except ConditionError as error:
            raise self.fail(str(error), path + error.at, rule, error.code) from None

    def mapping(self, value: Any, path: PathParts, keys: Sequence[str], required: Sequence[str],
                rule: Optional[str] = None) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(f"{' '.join(map(str, path[-1:])) or 'a table'} must be a table (mapping)", path, rule,
                            "VC503")
        self.need(lambda v, at: need_keys(v, keys, required, at), value, path, rule)
        return value

    def optional_text(self, raw: Mapping[str, Any], key: str, path: PathParts, rule: Optional[str] = None, *,
                      max_length: int, lines: bool = False) -> Optional[str]:
        if key not in raw:
            return None
        return str(self.need(need_text, raw[key], (*path, key), rule, max_length=max_length, min_length=0,
                             lines=lines))

    def url(self, raw: Mapping[str, Any], path: PathParts, rule: Optional[str] = None) -> Optional[str]:
        if "source_url" not in raw:
            return None
        value = self.need(need_text, raw["source_url"], (*path, "source_url"), rule, max_length=2000)
        return str(self.need(need_match, value, (*path, "source_url"), rule, pattern=_URL,
                             what="an http(s) URL without spaces"))

    def identifier(self, value: Any, path: PathParts, rule: Optional[str] = None) -> str:
        return str(self.need(need_match, value, path, rule, pattern=_IDENTIFIER,
                             what="an id of 1 to 128 characters [A-Za-z0-9._-]"))

    def separator(self, value: Any, path: PathParts) -> str:
        text = str(self.need(need_text, value, path, max_length=8))
        fault = value_fault(text)
        if fault is not None:
            raise self.fail(f"separator {text!r} {fault}", path)
        return text

    # -- the parts of a table -------------------------------------------------------------------------

    def top(self, data: Any) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail("a table must be a mapping at the top level", (), code="VC503")
        self.mapping(data, (), _TOP_KEYS, ("schema_version", "table", "format", "rules"))
        version = data["schema_version"]
        if type(version) is not int or version != 1:  # True == 1 in Python, but not in the schema
            raise self.fail("schema_version must be 1", ("schema_version",), code="VC503")
        return data

    def claims(self, data: Mapping[str, Any]) -> TableClaims:
        path: PathParts = ("table",)
        head = self.mapping(data["table"], path, _HEAD_KEYS, ("id", "vendor", "prefixes"))
        table_id = self.identifier(head["id"], (*path, "id"))
        vendor = head["vendor"]
        if not isinstance(vendor, str) or _VENDOR.fullmatch(vendor) is None:
            raise self.fail(f"vendor must be a 32-bit hex id such as '0x8086', not {shown(vendor)}", (*path, "vendor"),
                            code="VC503")
        at: PathParts = (*path, "prefixes")
        prefixes = self.need(need_list, head["prefixes"], at, min_items=1, max_items=MAX_PREFIXES)
        seen: Set[str] = set()
        for index, prefix in enumerate(prefixes):
            text = str(self.need(need_text, prefix, (*at, index), max_length=MAX_PREFIX_LENGTH, min_length=0))
            fault = value_fault(text)
            if fault is not None:
                raise self.fail(f"prefix {text!r} {fault}", (*at, index))
            if text in seen:
                raise self.fail(f"prefix {text!r} is listed twice", (*at, index), code="VC503")
            seen.add(text)
        return TableClaims(table_id, int(vendor[2:], 16), tuple(prefixes))

    def head_texts(self, data: Mapping[str, Any]) -> Tuple[Optional[str], Optional[str]]:
        head, path = data["table"], ("table",)
        title = self.optional_text(head, "title", path, max_length=200)
        self.optional_text(head, "description", path, max_length=_PROSE, lines=True)
        self.optional_text(head, "notes", path, max_length=_PROSE, lines=True)
        return title, self.url(head, path)

    def format(self, value: Any) -> StringFormat:
        path: PathParts = ("format",)
        data = self.mapping(value, path, _FORMAT_KEYS, ("kind", "fields"))
        kind = data["kind"]
        if kind not in ("delimited", "keyvalue", "hook"):
            raise self.fail("kind must be 'delimited', 'keyvalue' or 'hook'", (*path, "kind"), code="VC503")
        self.optional_text(data, "description", path, max_length=_PROSE, lines=True)
        self.optional_text(data, "notes", path, max_length=_PROSE, lines=True)
        raw_fields = self.need(need_list, data["fields"], (*path, "fields"), min_items=1, max_items=MAX_FIELDS)
        specs: List[FieldSpec] = []
        names: Dict[str, int] = {}
        for index, item in enumerate(raw_fields):
            specs.append(self.field_spec(item, (*path, "fields", index), names))
        if sum(spec.rest for spec in specs) > 1:
            raise self.fail("at most one field may be rest = true", (*path, "fields"))
        if kind != "delimited" and any(spec.rest for spec in specs):
            raise self.fail("rest = true only applies to the delimited format", (*path, "fields"))
        if kind == "delimited" and any(spec.optional for spec in specs):
            raise self.fail("delimited fields cannot be optional; use the keyvalue format", (*path, "fields"))
        separators = {
            key: self.separator(data[key], (*path, key)) if key in data else default
            for key, default in (("separator", "-"), ("pair_separator", ";"), ("kv_separator", "="))
        }
        unknown = data.get("unknown_keys", "reject")
        if unknown not in ("reject", "ignore"):
            raise self.fail("unknown_keys must be 'reject' or 'ignore'", (*path, "unknown_keys"), code="VC503")
        return StringFormat(kind=kind, fields=tuple(specs), unknown_keys=unknown, **separators)

    def field_spec(self, item: Any, path: PathParts, names: Dict[str, int]) -> FieldSpec:
        raw = self.mapping(item, path, _FIELD_KEYS, ("name", "type"))
        name = str(self.need(need_match, raw["name"], (*path, "name"), pattern=_FIELD_NAME,
                             what="a field name ([A-Za-z_][A-Za-z0-9_.-], at most 64 characters)"))
        kind_of = raw["type"]
        if kind_of not in FIELD_TYPES:
            raise self.fail(f"type must be one of {', '.join(FIELD_TYPES)}", (*path, "type"), code="VC503")
        flags = {key: self.need(need_bool, raw[key], (*path, key)) for key in ("ordered", "optional", "rest")
                 if key in raw}
        ordered = flags.get("ordered", kind_of in ORDERED_BY_DEFAULT)
        if ordered and kind_of not in _ORDERABLE:
            raise self.fail(f"a {kind_of} field cannot be ordered", (*path, "ordered"))
        scheme = raw.get("scheme", "pep440")
        if scheme not in SCHEMES:
            raise self.fail(f"scheme must be one of {', '.join(SCHEMES)}", (*path, "scheme"), code="VC503")
        item_separator = self.separator(raw["item_separator"], (*path, "item_separator")) \
            if "item_separator" in raw else ","
        self.optional_text(raw, "description", path, max_length=_TEXT, lines=True)
        if name in names:
            raise self.fail(f"field {name!r} is declared twice", (*path, "name"))
        names[name] = len(names)
        return FieldSpec(name=name, type=kind_of, ordered=ordered, scheme=scheme, item_separator=item_separator,
                         optional=flags.get("optional", False), rest=flags.get("rest", False))

    def rule(self, item: Any, index: int, fmt: StringFormat, shared: Dict[str, Condition]) -> Rule:
        path: PathParts = ("rules", index)
        rule_id = item.get("id") if isinstance(item, Mapping) and isinstance(item.get("id"), str) else None
        raw = self.mapping(item, path, _RULE_KEYS, ("id", "effect"), rule_id)
        rule_id = self.identifier(raw["id"], (*path, "id"))
        effect = raw["effect"]
        if effect not in ("allow", "deny"):
            raise self.fail("effect must be 'allow' or 'deny'", (*path, "effect"), rule_id, code="VC503")
        description, notes = (self.optional_text(raw, key, path, rule_id, max_length=_PROSE, lines=True)
                              for key in ("description", "notes"))
        message, hint = (self.optional_text(raw, key, path, rule_id, max_length=_TEXT) for key in ("message", "hint"))
        source_url = self.url(raw, path, rule_id)
        code = self.need(need_code, raw["code"], (*path, "code"), rule_id) if "code" in raw else None
        raw_conditions = self.need(need_list, raw.get("conditions", []), (*path, "conditions"), rule_id,
                                   max_items=MAX_CONDITIONS)
        if effect == "deny" and not raw_conditions:
            raise self.fail("a deny rule needs at least one condition", (*path, "conditions"), rule_id)
        conditions = [self.condition(entry, (*path, "conditions", number), rule_id, fmt, shared)
                      for number, entry in enumerate(raw_conditions)]
        downgrade = self.allow_downgrade(raw, path, rule_id, fmt)
        if effect == "allow":
            safe: FrozenSet[str] = frozenset(c.field for c in conditions if c.direction_safe)
            for spec in fmt.fields:
                if spec.ordered and spec.name not in safe and spec.name not in downgrade:
                    raise self.fail(
                        f"admits a target older than the source on ordered field {spec.name!r}; constrain it"
                        " (equal, target_ge_source, same_major_target_ge_source, upgrade_window) or list it"
                        " in allow_downgrade",
                        path, rule_id, code="VC505",
                    )
        return Rule(id=rule_id, effect=effect, conditions=tuple(conditions), index=index, description=description,
                    notes=notes, source_url=source_url, code=code, message=message, hint=hint,
                    allow_downgrade=downgrade)

    def condition(self, entry: Any, path: PathParts, rule_id: str, fmt: StringFormat,
                  shared: Dict[str, Condition]) -> Condition:
        if not isinstance(entry, Mapping):
            raise self.fail("a condition must be a table (mapping)", path, rule_id, "VC503")
        name = entry.get("field")
        if not isinstance(name, str):
            raise self.fail(f"field must be a field name, not {shown(name)}", (*path, "field"), rule_id, "VC503")
        spec = fmt.field(name)
        if spec is None:
            known = ", ".join(s.name for s in fmt.fields)
            raise self.fail(f"unknown field {shown(name)}; the format declares {known}", (*path, "field"), rule_id)
        # Large tables repeat the same condition in many rules; one compiled copy serves them all.
        key = json.dumps(entry, sort_keys=True, default=repr)
        condition = shared.get(key)
        if condition is None:
            try:
                condition = shared[key] = compile_condition(entry, spec, fmt.separators_of(spec))
            except ConditionError as error:
                raise self.fail(str(error), path + error.at, rule_id, error.code) from None
        return condition

    def allow_downgrade(self, raw: Mapping[str, Any], path: PathParts, rule_id: str,
                        fmt: StringFormat) -> Tuple[str, ...]:
        at: PathParts = (*path, "allow_downgrade")
        names = self.need(need_list, raw.get("allow_downgrade", []), at, rule_id, max_items=MAX_FIELDS)
        for number, name in enumerate(names):
            if not isinstance(name, str):
                raise self.fail(f"{shown(name)} is not a field name", (*at, number), rule_id, "VC503")
            if name in names[:number]:
                raise self.fail(f"{name!r} is listed twice", (*at, number), rule_id, "VC503")
            spec = fmt.field(name)
            if spec is None or not spec.ordered:
                raise self.fail(f"allow_downgrade names {shown(name)}, which is not an ordered field", at, rule_id)
        return tuple(names)

    def example(self, item: Any, index: int) -> Example:
        path: PathParts = ("examples", index)
        raw = self.mapping(item, path, _EXAMPLE_KEYS, ("source", "target", "compatible"))
        # Sources and targets are device_versions: the examples' run judges them, unreadable ones included.
        sides = [self._side(raw[key], (*path, key)) for key in ("source", "target")]
        compatible = self.need(need_bool, raw["compatible"], (*path, "compatible"))
        code = self.need(need_match, raw["code"], (*path, "code"), pattern=_EXAMPLE_CODE,
                         what="a reason code") if "code" in raw else None
        note = self.optional_text(raw, "note", path, max_length=_TEXT)
        return Example(source=sides[0], target=sides[1], compatible=compatible, code=code, note=note)

    def _side(self, value: Any, path: PathParts) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail("must be a non-empty string", path, code="VC503")
        if len(value) > 1024:
            raise self.fail(f"is {len(value)} characters, over the limit of 1024", path, code="VC507")
        return value


def compile_claims(data: Any, *, origin: str, place: Optional[Place] = None) -> TableClaims:
    """What a table document claims (id, vendor id, prefixes), checked as :func:`compile_table` checks them.

    Routing reads claims from the table's own bytes, never from anything remembered about them.
    """
    compiler = _Compiler(origin, place)
    return compiler.claims(compiler.top(data))


def compile_head_claims(head: Any, *, origin: str) -> TableClaims:
    """The claims of a table's ``[table]`` section alone, checked as :func:`compile_table` checks them."""
    return _Compiler(origin, None).claims({"table": head})


def compile_table(data: Mapping[str, Any], *, origin: str, plugin: str, place: Optional[Place] = None) -> Table:
    """Build a :class:`Table` from a decoded table document; raise :class:`TableError`.

    Everything the JSON Schema refuses is refused here too (unknown keys, wrong types, lengths),
    so no verdict depends on the schema having run: the schema is for diagnostics.
    ``place`` spells error paths in the document's words (default: ``rules[0].id``).
    """
    compiler = _Compiler(origin, place)
    top = compiler.top(data)
    claims = compiler.claims(top)
    title, source_url = compiler.head_texts(top)
    fmt = compiler.format(top["format"])
    raw_rules = compiler.need(need_list, top["rules"], ("rules",), max_items=MAX_RULES)
    rules: List[Rule] = []
    warnings: List[TableWarning] = []
    shared: Dict[str, Condition] = {}
    seen: Dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        rule = compiler.rule(raw, index, fmt, shared)
        if rule.id in seen:
            raise compiler.fail(f"duplicate rule id (first at rules[{seen[rule.id]}])", ("rules", index, "id"),
                                rule.id)
        seen[rule.id] = index
        rules.append(rule)
        for name in rule.allow_downgrade:
            warnings.append(TableWarning(
                "VC551", f"admits a target older than the source on field {name!r} (allow_downgrade)", rule.id,
            ))
    raw_examples = compiler.need(need_list, top.get("examples", []), ("examples",), max_items=MAX_EXAMPLES)
    examples = tuple(compiler.example(raw, i) for i, raw in enumerate(raw_examples))
    return Table(
        id=claims.table_id,
        vendor_id=claims.vendor_id,
        prefixes=claims.prefixes,
        format=fmt,
        rules=tuple(rules),
        examples=examples,
        plugin=plugin,
        origin=origin,
        title=title,
        source_url=source_url,
        warnings=tuple(warnings),
    )
