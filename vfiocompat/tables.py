"""Compiled compatibility tables: claims, format, rules and examples, and rule evaluation.

Semantics (default deny): a pair is compatible when at least one allow rule holds and no
deny rule holds. A rule holds when all its conditions hold. Rules are indexed by the
values that pin them (``one_of`` on a side, ``maps_to`` sources), so a table of 10,000
rules is not scanned for each pair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from .conditions import Condition, ConditionError, Failure, compile_condition
from .errors import TableError
from .fields import FIELD_TYPES, ORDERED_BY_DEFAULT, FieldSpec, StringFormat
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
    "compile_table",
]

#: Most rules in one table.
MAX_RULES = 50_000
#: Most conditions in one rule.
MAX_CONDITIONS = 64
#: Most conditions in all the rules of one table.
MAX_TOTAL_CONDITIONS = 200_000
#: Most fields in one format.
MAX_FIELDS = 128
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


def compile_table(data: Mapping[str, Any], *, origin: str, plugin: str) -> Table:
    """Build a :class:`Table` from a decoded table document; raise :class:`TableError`.

    The document is expected to have passed the JSON Schema, but nothing here relies on it:
    every value is checked again so a schema gap cannot turn into a crash.
    """
    def fail(message: str, path: str, rule: Optional[str] = None, code: str = "VC504") -> TableError:
        return TableError(message, code=code, location=origin, path=path, rule=rule)

    if not isinstance(data, Mapping):
        raise fail("a table must be a mapping at the top level", "$", code="VC503")
    if data.get("schema_version") != 1:
        raise fail("schema_version must be 1", "schema_version", code="VC503")
    head = _mapping(data.get("table"), "table", fail)
    table_id = _text(head.get("id"), "table.id", fail)
    vendor_id = _vendor(head.get("vendor"), fail)
    prefixes = head.get("prefixes")
    if not isinstance(prefixes, list) or not prefixes or not all(isinstance(p, str) for p in prefixes):
        raise fail("prefixes must be a non-empty list of strings", "table.prefixes", code="VC503")
    fmt = _compile_format(_mapping(data.get("format"), "format", fail), fail)
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise fail("rules must be a list", "rules", code="VC503")
    if len(raw_rules) > MAX_RULES:
        raise fail(f"{len(raw_rules)} rules is over the limit of {MAX_RULES}", "rules", code="VC507")
    rules: List[Rule] = []
    warnings: List[TableWarning] = []
    # Large tables repeat the same condition in many rules; one compiled copy serves them all.
    shared: Dict[str, Condition] = {}
    seen: Dict[str, int] = {}
    for index, raw in enumerate(raw_rules):
        rule = _compile_rule(raw, index, fmt, fail, shared)
        if rule.id in seen:
            raise fail(f"duplicate rule id (first at rules[{seen[rule.id]}])", f"rules[{index}].id", rule.id)
        seen[rule.id] = index
        rules.append(rule)
        for name in rule.allow_downgrade:
            warnings.append(TableWarning(
                "VC551", f"admits a target older than the source on field {name!r} (allow_downgrade)", rule.id,
            ))
    raw_examples = _list(data.get("examples", []), "examples", fail)
    examples = tuple(_compile_example(raw, i, fail) for i, raw in enumerate(raw_examples))
    return Table(
        id=table_id,
        vendor_id=vendor_id,
        prefixes=tuple(prefixes),
        format=fmt,
        rules=tuple(rules),
        examples=examples,
        plugin=plugin,
        origin=origin,
        title=head.get("title") if isinstance(head.get("title"), str) else None,
        source_url=head.get("source_url") if isinstance(head.get("source_url"), str) else None,
        warnings=tuple(warnings),
    )


def _mapping(value: Any, path: str, fail: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(f"{path} must be a table (mapping)", path, code="VC503")
    return value


def _list(value: Any, path: str, fail: Any) -> List[Any]:
    if not isinstance(value, list):
        raise fail(f"{path} must be a list", path, code="VC503")
    return value


def _text(value: Any, path: str, fail: Any) -> str:
    if not isinstance(value, str) or not value:
        raise fail("must be a non-empty string", path, code="VC503")
    return value


def _vendor(value: Any, fail: Any) -> int:
    text = value if isinstance(value, str) else ""
    digits = text[2:] if text[:2] in ("0x", "0X") else ""
    if not digits or len(digits) > 8 or not set(digits) <= set("0123456789abcdefABCDEF"):
        raise fail(f"vendor must be a 32-bit hex id such as '0x8086', not {value!r}", "table.vendor", code="VC503")
    return int(digits, 16)


def _compile_format(data: Mapping[str, Any], fail: Any) -> StringFormat:
    kind = data.get("kind")
    if kind not in ("delimited", "keyvalue", "hook"):
        raise fail("kind must be 'delimited', 'keyvalue' or 'hook'", "format.kind", code="VC503")
    raw_fields = _list(data.get("fields"), "format.fields", fail)
    if not raw_fields or len(raw_fields) > MAX_FIELDS:
        raise fail(f"format needs 1 to {MAX_FIELDS} fields", "format.fields", code="VC507")
    specs: List[FieldSpec] = []
    for index, item in enumerate(raw_fields):
        path = f"format.fields[{index}]"
        raw = _mapping(item, path, fail)
        name = _text(raw.get("name"), f"{path}.name", fail)
        kind_of = raw.get("type")
        if kind_of not in FIELD_TYPES:
            raise fail(f"type must be one of {', '.join(FIELD_TYPES)}", f"{path}.type", code="VC503")
        ordered = raw.get("ordered", kind_of in ORDERED_BY_DEFAULT)
        if ordered and kind_of not in _ORDERABLE:
            raise fail(f"a {kind_of} field cannot be ordered", f"{path}.ordered")
        scheme = raw.get("scheme", "pep440")
        if scheme not in SCHEMES:
            raise fail(f"scheme must be one of {', '.join(SCHEMES)}", f"{path}.scheme", code="VC503")
        if any(spec.name == name for spec in specs):
            raise fail(f"field {name!r} is declared twice", f"{path}.name")
        specs.append(FieldSpec(
            name=name,
            type=kind_of,
            ordered=bool(ordered),
            scheme=scheme,
            item_separator=raw.get("item_separator", ","),
            optional=bool(raw.get("optional", False)),
            rest=bool(raw.get("rest", False)),
        ))
    if sum(spec.rest for spec in specs) > 1:
        raise fail("at most one field may be rest = true", "format.fields")
    if kind != "delimited" and any(spec.rest for spec in specs):
        raise fail("rest = true only applies to the delimited format", "format.fields")
    if kind == "delimited" and any(spec.optional for spec in specs):
        raise fail("delimited fields cannot be optional; use the keyvalue format", "format.fields")
    separators = {
        key: data.get(key, default)
        for key, default in (("separator", "-"), ("pair_separator", ";"), ("kv_separator", "="))
    }
    for key, value in separators.items():
        if not isinstance(value, str) or not value:
            raise fail("must be a non-empty string", f"format.{key}", code="VC503")
    unknown = data.get("unknown_keys", "reject")
    if unknown not in ("reject", "ignore"):
        raise fail("unknown_keys must be 'reject' or 'ignore'", "format.unknown_keys", code="VC503")
    return StringFormat(kind=kind, fields=tuple(specs), unknown_keys=unknown, **separators)


def _compile_rule(raw: Any, index: int, fmt: StringFormat, fail: Any, shared: Dict[str, Condition]) -> Rule:
    path = f"rules[{index}]"
    raw = _mapping(raw, path, fail)
    rule_id = _text(raw.get("id"), f"{path}.id", fail)
    effect = raw.get("effect")
    if effect not in ("allow", "deny"):
        raise fail("effect must be 'allow' or 'deny'", f"{path}.effect", rule_id, code="VC503")
    raw_conditions = _list(raw.get("conditions", []), f"{path}.conditions", fail)
    if len(raw_conditions) > MAX_CONDITIONS:
        raise fail(f"more than {MAX_CONDITIONS} conditions", f"{path}.conditions", rule_id, code="VC507")
    if effect == "deny" and not raw_conditions:
        raise fail("a deny rule needs at least one condition", f"{path}.conditions", rule_id)
    conditions: List[Condition] = []
    for number, entry in enumerate(raw_conditions):
        where = f"{path}.conditions[{number}]"
        item = _mapping(entry, where, fail)
        name = item.get("field")
        spec = fmt.field(name) if isinstance(name, str) else None
        if spec is None:
            known = ", ".join(s.name for s in fmt.fields)
            raise fail(f"unknown field {name!r}; the format declares {known}", f"{where}.field", rule_id)
        try:
            key = json.dumps(item, sort_keys=True, default=repr)
            condition = shared.get(key)
            if condition is None:
                condition = shared[key] = compile_condition(item, spec)
            conditions.append(condition)
        except ConditionError as error:
            raise fail(str(error), where, rule_id) from None
        except (KeyError, TypeError) as error:
            raise fail(f"malformed condition ({error})", where, rule_id, code="VC503") from None
    downgrade = raw.get("allow_downgrade", [])
    if not isinstance(downgrade, list) or not all(isinstance(n, str) for n in downgrade):
        raise fail("allow_downgrade must be a list of field names", f"{path}.allow_downgrade", rule_id, code="VC503")
    for name in downgrade:
        spec = fmt.field(name)
        if spec is None or not spec.ordered:
            raise fail(f"allow_downgrade names {name!r}, which is not an ordered field",
                       f"{path}.allow_downgrade", rule_id)
    if effect == "allow":
        safe: FrozenSet[str] = frozenset(c.field for c in conditions if c.direction_safe)
        for spec in fmt.fields:
            if spec.ordered and spec.name not in safe and spec.name not in downgrade:
                raise fail(
                    f"admits a target older than the source on ordered field {spec.name!r}; constrain it"
                    " (equal, target_ge_source, same_major_target_ge_source, upgrade_window) or list it"
                    " in allow_downgrade",
                    path, rule_id, code="VC505",
                )
    return Rule(
        id=rule_id,
        effect=effect,
        conditions=tuple(conditions),
        index=index,
        description=_optional_text(raw, "description"),
        notes=_optional_text(raw, "notes"),
        source_url=_optional_text(raw, "source_url"),
        code=_optional_text(raw, "code"),
        message=_optional_text(raw, "message"),
        hint=_optional_text(raw, "hint"),
        allow_downgrade=tuple(downgrade),
    )


def _optional_text(raw: Mapping[str, Any], key: str) -> Optional[str]:
    value = raw.get(key)
    return value if isinstance(value, str) else None


def _compile_example(raw: Any, index: int, fail: Any) -> Example:
    path = f"examples[{index}]"
    raw = _mapping(raw, path, fail)
    compatible = raw.get("compatible")
    if not isinstance(compatible, bool):
        raise fail("compatible must be true or false", f"{path}.compatible", code="VC503")
    return Example(
        source=_text(raw.get("source"), f"{path}.source", fail),
        target=_text(raw.get("target"), f"{path}.target", fail),
        compatible=compatible,
        code=_optional_text(raw, "code"),
        note=_optional_text(raw, "note"),
    )
