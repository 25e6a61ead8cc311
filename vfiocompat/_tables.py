"""Compiled compatibility tables: claims, format, rules and examples, and the judgement of a pair.

Semantics (default deny): a pair is compatible when at least one allow rule holds and no
deny rule holds; a rule holds when all its conditions hold. Allow rules admit at a level
(``live``, or ``cold`` only); warn rules that hold add warnings. :meth:`Table.judge` is the one
evaluation: verdicts, explanations and ``is_compatible`` are read from its :class:`Judgement`.
Rules are indexed by the values that pin them (``one_of`` on a side, ``maps_to`` sources), so a
table of 10,000 rules is not scanned for each pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

from ._conditions import (
    LATEST_SCHEMA_VERSION,
    Bound,
    Condition,
    ConditionError,
    PathParts,
    compile_condition,
    need_bool,
    need_code,
    need_keys,
    need_list,
    need_match,
    need_text,
    render,
    shown,
    tighter,
)
from ._fields import FIELD_TYPES, MAP_VALUE_TYPES, ORDERED_BY_DEFAULT, FieldSpec, StringFormat, value_fault
from ._verdict import Reason, RuleRef, RuleWarning
from ._versions import SCHEMES
from .errors import TableError

__all__ = [
    "MAX_RULES",
    "MAX_CONDITIONS",
    "MAX_TOTAL_CONDITIONS",
    "MAX_FIELDS",
    "LEVELS",
    "EFFECTS",
    "Rule",
    "Judgement",
    "Example",
    "TableClaims",
    "TableWarning",
    "Table",
    "Place",
    "compile_table",
    "compile_claims",
    "check_schema_version",
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
#: Migration levels an allow rule may admit at, most demanding first; a live admission admits cold too.
LEVELS = ("live", "cold")
#: What a rule does when it holds.
EFFECTS = ("allow", "deny", "warn")
#: What each table schema version added: a table using one of these declares that version.
_V2_RULE_KEYS = ("level",)
_V2_FIELD_KEYS = ("key_separator", "value_type")


@dataclass(frozen=True)
class Rule:
    """One allow, deny or warn rule; ``index`` is its position in the table, ``level`` an allow rule's."""

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
    level: str = "live"
    #: The conditions with index pins first: they fail fastest for rules the index did not pick.
    pinned_first: Tuple[Condition, ...] = field(default=(), repr=False, compare=False)
    #: Where the rule lives, set by the :class:`Table` that holds it (verdicts name it).
    ref: RuleRef = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    #: The fields the rule tests (a trial of the rule depends on their values alone).
    tested: Tuple[str, ...] = field(default=(), repr=False, compare=False)
    #: Made on the first trial: most rules of a large table are never explained.
    kept_trials: Optional[Dict[Tuple[Any, ...], Tuple[Any, int]]] = field(default=None, repr=False, compare=False)
    #: Positions in a trial key whose values are versions or maps of them, which equal values may spell
    #: differently (set when the table is compiled).
    spelled: Tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        pinned_first = tuple(sorted(self.conditions, key=lambda c: c.pin is None))
        # The same order is the same tuple: one per rule, not two.
        object.__setattr__(self, "pinned_first", self.conditions if pinned_first == self.conditions else pinned_first)
        object.__setattr__(self, "tested", tuple(dict.fromkeys(
            name for c in self.conditions for name in (c.field, getattr(c, "other", c.field)))))

    def holds(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
        """Whether every condition holds (stops at the first that does not)."""
        # A loop, not all(...) over a generator: this is the hot path of every first check.
        for condition in self.conditions:  # noqa: SIM110
            if not condition.holds(source, target):
                return False
        return True

    def misses(self, source: Mapping[str, Any], target: Mapping[str, Any], limit: int) -> int:
        """How many conditions fail, counting no further than ``limit`` (pinned conditions first)."""
        count = 0
        for condition in self.pinned_first:
            if not condition.holds(source, target):
                count += 1
                if count >= limit:
                    break
        return count


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
        """The rules that may hold for this pair, in table order (the pinned ones whose values match)."""
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

    def holding(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Tuple[Rule, ...]:
        """Every rule that holds, in table order."""
        return tuple(rule for rule in self.candidates(source, target) if rule.holds(source, target))


#: A miss: the rule that came nearest to holding and each of its failing conditions, with its reason.
Miss = Tuple[Rule, Tuple[Tuple[Condition, Reason], ...]]


class Judgement:
    """What a table says of one pair of typed fields: the one evaluation every answer is derived from.

    ``allowed`` is the first allow rule that holds at any level, ``live`` the first live one; ``denials``
    and ``warnings`` every deny and warn rule that holds, in table order. The nearest misses and the
    trials ``explain`` shows are worked out on first use, from the same rules in the same order and
    kept in ``_memo``: a working object, not a value, so a plain class (made on every first check).
    """

    __slots__ = ("_memo", "allowed", "denials", "live", "source", "table", "target", "warnings")

    def __init__(self, table: Table, source: Mapping[str, Any], target: Mapping[str, Any], *,
                 allowed: Optional[Rule], live: Optional[Rule], denials: Tuple[Rule, ...],
                 warnings: Tuple[Rule, ...]) -> None:
        self.table, self.source, self.target = table, source, target
        self.allowed, self.live, self.denials, self.warnings = allowed, live, denials, warnings
        self._memo: Dict[str, Any] = {}

    def __repr__(self) -> str:
        return (f"Judgement(table={self.table.id!r}, allowed={getattr(self.allowed, 'id', None)!r},"
                f" live={getattr(self.live, 'id', None)!r}, denials={[r.id for r in self.denials]!r},"
                f" warnings={[r.id for r in self.warnings]!r})")

    @property
    def levels(self) -> Tuple[str, ...]:
        """The migration levels the table admits the pair at: ``("live", "cold")``, ``("cold",)`` or ``()``."""
        if self.denials or self.allowed is None:
            return ()
        return LEVELS if self.live is not None else ("cold",)

    def decided_by(self, level: str = "live") -> Optional[Rule]:
        """The rule that admits the pair at ``level``, or ``None``."""
        if self.denials:
            return None
        return self.live if level == "live" else self.allowed

    def nearest(self, level: str = "live") -> Optional[Miss]:
        """The allow rule of ``level`` (cold: any) nearest to holding and its failures; None when none is.

        Nearest means: among the rules the index picks for this pair (those whose pinned values match
        it), the fewest failing conditions, the first on a tie; only when the index picks none, the same
        over every allow rule. Counting stops as soon as a rule cannot beat the best so far.
        """
        misses = self.known_misses()
        if level not in misses:
            rules = [r for r in self.table.allow_order(self.source, self.target) if level in ("cold", r.level)]
            best: Optional[Rule] = None
            best_count = MAX_CONDITIONS + 1
            for rule in rules:
                count = rule.misses(self.source, self.target, best_count)
                if count < best_count:
                    best, best_count = rule, count
            misses[level] = None if best is None else (best, tuple(
                (c, r) for c in best.conditions for r in (c.reason(self.source, self.target, best.ref),)
                if r is not None
            ))
        return misses[level]

    def known_misses(self) -> Dict[str, Optional[Miss]]:
        """The nearest misses worked out so far, by level (filled as :meth:`nearest` is asked)."""
        misses: Optional[Dict[str, Optional[Miss]]] = self._memo.get("misses")
        if misses is None:
            misses = self._memo["misses"] = {}
        return misses

    def reasons(self, level: str = "live") -> Tuple[Reason, ...]:
        """Why the table refuses the pair at ``level`` (empty when it admits it): denials, then what is missing."""
        table = self.table
        found = [_denial(table, rule, self.source, self.target) for rule in self.denials]
        if (self.live if level == "live" else self.allowed) is not None:
            return tuple(found)
        if level == "live" and self.allowed is not None:
            if not self.denials:
                cold = self.allowed
                found.append(Reason(
                    "VC403", "table", f"admitted for cold migration only (rule {cold.id!r}); live migration is not",
                    hint="migrate the VM stopped (`vfiocompat check --mode cold` admits it), or use a target that a"
                         " live rule admits", rule=cold.ref, plugin=table.plugin))
            miss = self.nearest("live")
        else:
            miss = self.nearest(level) or (self.nearest("cold") if level == "live" else None)
            if miss is None:
                found.append(Reason("VC401", "table", f"table {table.id!r} has no allow rule; it admits nothing",
                                    hint="the vendor's table must list the migrations it supports",
                                    plugin=table.plugin))
        if miss is not None:
            found.extend(reason for _, reason in miss[1])
        return tuple(found)

    def warning_values(self) -> Tuple[RuleWarning, ...]:
        """The warnings of the warn rules that hold."""
        return tuple(RuleWarning(rule.code or "VC430", rule.message or rule.description or f"rule {rule.id!r} holds",
                                 rule.ref, rule.hint) for rule in self.warnings)


def _note_spelled(rule: Rule, fmt: StringFormat) -> None:
    # The trial key is (source values..., target values...) of ``rule.tested``, in that order.
    spelt = [at for at, name in enumerate(rule.tested)
             if (spec := fmt.field(name)) is not None and spec.type in ("version", "map")]
    if spelt:
        width = len(rule.tested)
        object.__setattr__(rule, "spelled", (*spelt, *(at + width for at in spelt)))


def _denial(table: Table, rule: Rule, source: Mapping[str, Any], target: Mapping[str, Any]) -> Reason:
    names = list(dict.fromkeys(c.field for c in rule.conditions))

    def values(side: Mapping[str, Any]) -> str:
        shown_values = []
        for name in names:
            spec = table.format.field(name)
            if spec is not None and name in side:
                text = render(spec, side[name])
                shown_values.append(text if len(names) == 1 else f"{name}={text}")
        return ",".join(shown_values)

    return Reason(
        rule.code or "VC402", "table",
        rule.message or f"known-bad combination (rule {rule.id!r}: {rule.description or 'deny'})",
        field=",".join(names), source_value=values(source), target_value=values(target),
        hint=rule.hint or "this combination is known not to work; choose another target",
        rule=rule.ref, plugin=table.plugin,
    )


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
    schema_version: int = 1
    _allow: _RuleIndex = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _deny: _RuleIndex = field(default=None, repr=False, compare=False)  # type: ignore[assignment]
    _warn: _RuleIndex = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        for rule in self.rules:
            object.__setattr__(rule, "ref", RuleRef(self.plugin, self.id, rule.id, rule.effect, rule.source_url))
        for effect in EFFECTS:
            object.__setattr__(self, f"_{effect}", _RuleIndex([r for r in self.rules if r.effect == effect]))

    @property
    def claims(self) -> TableClaims:
        """The table's id, vendor id and prefixes."""
        return TableClaims(self.id, self.vendor_id, self.prefixes)

    def judge(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Judgement:
        """Judge a pair of typed fields: the one evaluation of the rules every verdict comes from."""
        allowed = live = None
        for rule in self._allow.candidates(source, target):
            if rule.holds(source, target):
                if allowed is None:
                    allowed = rule
                if rule.level == "live":
                    live = rule
                    break
        return Judgement(self, source, target, allowed=allowed, live=live, denials=self._deny.holding(source, target),
                         warnings=self._warn.holding(source, target) if self._warn.rules else ())

    def allow_order(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Sequence[Rule]:
        """The allow rules a nearest miss is chosen from: those the index picks for the pair, else all."""
        return self._allow.candidates(source, target) or self._allow.rules

    def picked(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> FrozenSet[int]:
        """Indexes of the allow rules a nearest miss is chosen from (:meth:`allow_order`)."""
        return frozenset(rule.index for rule in self.allow_order(source, target))


def goes_up(conditions: Sequence[Condition], name: str) -> bool:
    """Whether the pins on field ``name`` put every target the conditions admit at or above every source.

    The source's values are bounded above, the target's below, by the unary conditions on each side
    (range, specifier, one_of); the rule is direction-safe on the field when the one bound is at most
    the other.
    """
    source = target = Bound()
    for condition in conditions:
        if condition.field != name or condition.side is None:
            continue
        bound = condition.bound()
        if bound is None:
            continue
        if condition.side in ("source", "both"):
            source = tighter(source, bound)
        if condition.side in ("target", "both"):
            target = tighter(target, bound)
    high, low = source.high, target.low
    if high is None or low is None:
        return False
    if source.loose_high:
        # Values above `high` that compare equal to it in the specifier's eyes (1.0+local under '<=1.0') sort
        # below any public version above it, so a strictly higher, local-free low bound still holds.
        return bool(high < low) and getattr(getattr(low, "key", None), "local", None) is None
    return bool(high <= low)


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
_FIELD_KEYS = ("name", "type", "ordered", "scheme", "item_separator", "optional", "rest", "description",
               *_V2_FIELD_KEYS)
_RULE_KEYS = ("id", "effect", "description", "source_url", "notes", "code", "message", "hint", "allow_downgrade",
              "conditions", *_V2_RULE_KEYS)
_EXAMPLE_KEYS = ("source", "target", "compatible", "code", "note")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_VENDOR = re.compile(r"0[xX][0-9a-fA-F]{1,8}")
_URL = re.compile(r"https?://\S+")
_EXAMPLE_CODE = re.compile(r"[A-Z][A-Z0-9_-]{1,63}")
_PROSE = 10_000
_TEXT = 2000


def _shape(entry: Mapping[str, Any]) -> str:
    """A key equal for equal decoded conditions: ``1``, ``1.0`` and ``true`` stay apart, key order does not count.

    A string, not nested tuples: a 10,000-rule table's keys as tuples held 10 MB at the compile's peak.
    """
    return repr(sorted(entry.items()))


class _Compiler:
    """Checks every value of a table document as the schema does, and builds it; errors carry paths as tuples."""

    def __init__(self, origin: str, place: Optional[Place]) -> None:
        self.place: Place = place or (lambda path: (origin, spell_path(path)))
        self.schema_version = 1

    def v2(self, what: str, path: PathParts, rule: Optional[str] = None) -> None:
        """Refuse ``what`` in a table that did not declare ``schema_version = 2``."""
        if self.schema_version < 2:
            raise self.fail(f"{what} is table language 2: declare schema_version = 2", path, rule, "VC503")

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
        self.schema_version = self.version(data["schema_version"])
        return data

    def version(self, version: Any) -> int:
        if type(version) is not int or version < 1:  # True == 1 in Python, but not in the schema
            raise self.fail(f"schema_version must be a whole number 1 to {LATEST_SCHEMA_VERSION}, not {shown(version)}",
                            ("schema_version",), code="VC503")
        if version > LATEST_SCHEMA_VERSION:
            from . import __version__

            raise self.fail(
                f"schema_version {version} needs a newer vfiocompat: this is vfiocompat {__version__}, which reads"
                f" table schema_version 1 to {LATEST_SCHEMA_VERSION} (needs vfiocompat > {__version__};"
                " pip install -U vfiocompat)", ("schema_version",), code="VC508")
        return version

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
        if kind_of == "map":
            self.v2("type = 'map'", (*path, "type"))
        for key in _V2_FIELD_KEYS:
            if key in raw:
                self.v2(repr(key), (*path, key))
                if kind_of != "map":
                    raise self.fail(f"{key!r} applies to map fields only", (*path, key))
        value_type = raw.get("value_type", "uint")
        if value_type not in MAP_VALUE_TYPES:
            raise self.fail(f"value_type must be one of {', '.join(MAP_VALUE_TYPES)}", (*path, "value_type"),
                            code="VC503")
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
        key_separator = self.separator(raw["key_separator"], (*path, "key_separator")) \
            if "key_separator" in raw else ":"
        if kind_of == "map" and key_separator == item_separator:
            raise self.fail("key_separator and item_separator must differ", (*path, "key_separator"))
        self.optional_text(raw, "description", path, max_length=_TEXT, lines=True)
        if name in names:
            raise self.fail(f"field {name!r} is declared twice", (*path, "name"))
        names[name] = len(names)
        return FieldSpec(name=name, type=kind_of, ordered=ordered, scheme=scheme, item_separator=item_separator,
                         optional=flags.get("optional", False), rest=flags.get("rest", False),
                         key_separator=key_separator, value_type=value_type)

    def rule(self, item: Any, index: int, fmt: StringFormat, shared: Dict[str, Condition]) -> Rule:
        path: PathParts = ("rules", index)
        rule_id = item.get("id") if isinstance(item, Mapping) and isinstance(item.get("id"), str) else None
        raw = self.mapping(item, path, _RULE_KEYS, ("id", "effect"), rule_id)
        rule_id = self.identifier(raw["id"], (*path, "id"))
        effect = raw["effect"]
        if effect not in EFFECTS:
            raise self.fail("effect must be 'allow', 'deny' or 'warn'", (*path, "effect"), rule_id, code="VC503")
        if effect == "warn":
            self.v2("effect = 'warn'", (*path, "effect"), rule_id)
        level = raw.get("level", "live")
        if "level" in raw:
            self.v2("'level'", (*path, "level"), rule_id)
            if level not in LEVELS:
                raise self.fail("level must be 'live' or 'cold'", (*path, "level"), rule_id, code="VC503")
            if effect != "allow":
                raise self.fail(f"level applies to allow rules; a {effect} rule holds at every level",
                                (*path, "level"), rule_id)
        description, notes = (self.optional_text(raw, key, path, rule_id, max_length=_PROSE, lines=True)
                              for key in ("description", "notes"))
        message, hint = (self.optional_text(raw, key, path, rule_id, max_length=_TEXT) for key in ("message", "hint"))
        source_url = self.url(raw, path, rule_id)
        code = self.need(need_code, raw["code"], (*path, "code"), rule_id) if "code" in raw else None
        raw_conditions = self.need(need_list, raw.get("conditions", []), (*path, "conditions"), rule_id,
                                   max_items=MAX_CONDITIONS)
        if effect != "allow" and not raw_conditions:
            raise self.fail(f"a {effect} rule needs at least one condition", (*path, "conditions"), rule_id)
        conditions = [self.condition(entry, (*path, "conditions", number), rule_id, fmt, shared)
                      for number, entry in enumerate(raw_conditions)]
        downgrade = self.allow_downgrade(raw, path, rule_id, fmt)
        if effect == "allow":
            safe: FrozenSet[str] = frozenset(c.field for c in conditions if c.direction_safe)
            for spec in fmt.fields:
                # Pins proving direction are table language 2: a v1 table is judged as v1 always was.
                if (spec.ordered and spec.name not in safe and spec.name not in downgrade
                        and not (self.schema_version >= 2 and goes_up(conditions, spec.name))):
                    raise self.fail(
                        f"admits a target older than the source on ordered field {spec.name!r}; constrain it"
                        " (equal, target_ge_source, same_major_target_ge_source, upgrade_window, or range/specifier/"
                        "one_of pins that put every target at or above every source) or list it in allow_downgrade",
                        path, rule_id, code="VC505",
                    )
        return Rule(id=rule_id, effect=effect, conditions=tuple(conditions), index=index, description=description,
                    notes=notes, source_url=source_url, code=code, message=message, hint=hint,
                    allow_downgrade=downgrade, level=level)

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
        key = _shape(entry)
        condition = shared.get(key)
        if condition is None:
            try:
                condition = shared[key] = compile_condition(entry, spec, fmt.separators_of(spec),
                                                            schema_version=self.schema_version, field_of=fmt.field)
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


def check_schema_version(data: Any, *, origin: str, place: Optional[Place] = None) -> None:
    """Refuse a table whose ``schema_version`` is newer than this vfiocompat reads (VC508), before its schema.

    A newer table is not a broken one: it needs a newer vfiocompat, and says so before any other error.
    """
    version = data.get("schema_version") if isinstance(data, Mapping) else None
    if type(version) is int and version > LATEST_SCHEMA_VERSION:
        _Compiler(origin, place).version(version)


def compile_head_claims(head: Any, *, origin: str) -> TableClaims:
    """The claims of a table's ``[table]`` section alone, checked as :func:`compile_table` checks them."""
    return _Compiler(origin, None).claims({"table": head})


def compile_table(data: Mapping[str, Any], *, origin: str, plugin: str, place: Optional[Place] = None,
                  consume: bool = False, rules_given: Optional[Iterable[Any]] = None,
                  examples_given: Optional[Iterable[Any]] = None) -> Table:
    """Build a :class:`Table` from a decoded table document; raise :class:`TableError`.

    Everything the JSON Schema refuses is refused here too (unknown keys, wrong types, lengths),
    so no verdict depends on the schema having run: the schema is for diagnostics.
    ``place`` spells error paths in the document's words (default: ``rules[0].id``). ``consume``:
    the document is the caller's to lose; each rule's entry is dropped from it once compiled.
    ``rules_given``/``examples_given``: the items decoded one at a time, in place of the document's
    lists (which are then empty), so a large table is never decoded whole.
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
    for index, raw in enumerate(raw_rules if rules_given is None else rules_given):
        if index >= MAX_RULES:
            raise compiler.fail(f"more rules than the limit of {MAX_RULES}", ("rules",), code="VC507")
        rule = compiler.rule(raw, index, fmt, shared)
        _note_spelled(rule, fmt)
        if rule.id in seen:
            raise compiler.fail(f"duplicate rule id (first at rules[{seen[rule.id]}])", ("rules", index, "id"),
                                rule.id)
        seen[rule.id] = index
        rules.append(rule)
        if consume and rules_given is None:
            # The decoded rules weigh more than the compiled ones: a 10,000-rule table peaked at both at once.
            raw_rules[index] = None
        for name in rule.allow_downgrade:
            warnings.append(TableWarning(
                "VC551", f"admits a target older than the source on field {name!r} (allow_downgrade)", rule.id,
            ))
    raw_examples = compiler.need(need_list, top.get("examples", []), ("examples",), max_items=MAX_EXAMPLES)
    examples = []
    for index, raw in enumerate(raw_examples if examples_given is None else examples_given):
        if index >= MAX_EXAMPLES:
            raise compiler.fail(f"more examples than the limit of {MAX_EXAMPLES}", ("examples",), code="VC507")
        examples.append(compiler.example(raw, index))
    return Table(
        id=claims.table_id,
        vendor_id=claims.vendor_id,
        prefixes=claims.prefixes,
        format=fmt,
        rules=tuple(rules),
        examples=tuple(examples),
        plugin=plugin,
        origin=origin,
        title=title,
        source_url=source_url,
        warnings=tuple(warnings),
        schema_version=compiler.schema_version,
    )
