"""The tests a rule's conditions can make: one class per test, in one dispatch table (:data:`TESTS`).

Pairwise tests compare the source's field with the target's (or, with ``against``, another
field of the target) and read source -> target; unary tests look at one side (``source``,
``target`` or ``both``). Each class knows the keys it reads, the field types it takes, how it
holds (a fast boolean), how it explains a failure (code, message, hint, values) and whether it
is direction-safe. Nothing here evaluates table text as code: globs are matched by a linear
matcher, versions by a declared scheme.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import (
    Any,
    Callable,
    ClassVar,
    Collection,
    Dict,
    FrozenSet,
    List,
    Mapping,
    Optional,
    Pattern,
    Sequence,
    Tuple,
    Type,
    Union,
)

from ._fields import FieldSpec, MapValue, text_fault, value_fault
from ._verdict import Reason, RuleRef
from ._versions import VersionValue

__all__ = [
    "TESTS",
    "PAIRWISE_TESTS",
    "UNARY_TESTS",
    "DIRECTION_SAFE_TESTS",
    "LATEST_SCHEMA_VERSION",
    "Failure",
    "Condition",
    "Bound",
    "tighter",
    "compile_condition",
    "glob_match",
    "render",
    "PathParts",
    "ConditionError",
    "MAX_LIST_ITEMS",
    "shown",
]

#: The newest table schema this vfiocompat reads.
LATEST_SCHEMA_VERSION = 2
_SIDES = ("source", "target", "both")
#: Most ``values`` or ``pairs`` in one condition (the schema's ``maxItems``).
MAX_LIST_ITEMS = 10_000
_MAX_SCALAR = 1024
_MAX_TEXT = 2000
_MAX_PATTERN = 256
_MAX_PARTS = 16
_COMMON_KEYS = ("field", "test", "side", "code", "message", "hint")
REASON_CODE = re.compile(r"[A-Z][A-Z0-9_-]{1,63}")
_CORE_CODE = re.compile(r"VC[0-9]")
_MASK = re.compile(r"(0[xX])?[0-9a-fA-F]{1,256}")
_ORDERABLE = ("uint", "hex", "version")
#: Most targets of one maps_to source kept as a tuple rather than a frozenset.
_SMALL = 8

PathParts = Tuple[Union[str, int], ...]
_MISSING = object()


@dataclass(frozen=True)
class Failure:
    """Why one condition failed, before it becomes a :class:`~vfiocompat._verdict.Reason`."""

    code: str
    message: str
    hint: str
    source_value: Optional[str] = None
    target_value: Optional[str] = None


@dataclass(frozen=True)
class Bound:
    """What a unary condition proves about one side's values: ``low``/``high`` (each may be None).

    ``strict``: the bound itself is excluded. ``loose_high``: values just above ``high`` that compare
    equal to it in the condition's eyes (PEP 440 local versions under ``<=``/``==``) may pass too.
    """

    low: Any = None
    low_strict: bool = False
    high: Any = None
    high_strict: bool = False
    loose_high: bool = False


def render(spec: FieldSpec, value: Any) -> str:
    """Spell a typed value as a person reads it: hex fields in hex, sets and maps sorted."""
    if type(value) is str:
        return value
    if isinstance(value, VersionValue):
        return value.raw
    if isinstance(value, frozenset):
        return ",".join(sorted(value)) if value else "(none)"
    if isinstance(value, MapValue):
        if not value:
            return "(none)"
        return spec.item_separator.join(f"{key}{spec.key_separator}{value[key]}" for key in sorted(value))
    if spec.type in ("hex", "mask") and isinstance(value, int):
        return hex(value)
    return str(value)


def glob_match(pattern: str, text: str) -> bool:
    """Match ``*`` (any run) and ``?`` (one character) in linear-ish time, no regex."""
    p = t = 0
    star = -1
    mark = 0
    while t < len(text):
        if p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p += 1
            t += 1
        elif p < len(pattern) and pattern[p] == "*":
            star = p
            mark = t
            p += 1
        elif star >= 0:
            p = star + 1
            mark += 1
            t = mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


class ConditionError(ValueError):
    """A table value is malformed or inconsistent with its field.

    ``at`` is the path of the value within the entry checked (``("values", 2)``) and ``code``
    the table code: VC503 for a shape the schema also refuses, VC507 for a limit, VC504 otherwise.
    """

    def __init__(self, message: str, at: PathParts = (), code: str = "VC504") -> None:
        super().__init__(message)
        self.at = tuple(at)
        self.code = code


# -- shapes: what the JSON Schema says, said again so no verdict rests on the schema having run ----------


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: a message quotes a table's value, never all 16 MB of it."""
    if isinstance(value, (list, dict)) and len(value) > limit:
        return f"a {type(value).__name__} of {len(value)} items"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _names(keys: Sequence[str]) -> str:
    listed = ", ".join(shown(key, 40) for key in keys[:5])
    return listed if len(keys) <= 5 else f"{listed} and {len(keys) - 5} more"


def need_keys(data: Mapping[str, Any], allowed: Collection[str], required: Sequence[str], at: PathParts) -> None:
    """Refuse keys outside ``allowed`` (a misspelt key would be ignored) and missing ``required`` ones."""
    extra = sorted(str(key) for key in data if key not in allowed)
    if extra:
        raise ConditionError(f"unknown key{'s' if len(extra) > 1 else ''} {_names(extra)}", at, "VC503")
    for key in required:
        if key not in data:
            raise ConditionError(f"{key!r} is required", at, "VC503")


def need_text(value: Any, at: PathParts, *, max_length: int, min_length: int = 1, lines: bool = False,
              printable: bool = True) -> str:
    """A string of the given length that is one line of printable text (``lines``: prose, line breaks allowed).

    ``printable=False`` leaves the characters to the caller (a value is held to a device_version's alphabet).
    """
    if not isinstance(value, str):
        raise ConditionError(f"{shown(value)} is not a string", at, "VC503")
    if len(value) < min_length:
        raise ConditionError("must not be empty", at, "VC503")
    if len(value) > max_length:
        raise ConditionError(f"is {len(value)} characters, over the limit of {max_length}", at, "VC507")
    fault = text_fault(value, lines=lines) if printable else None
    if fault is not None:
        raise ConditionError(fault, at)
    return value


def need_match(value: Any, at: PathParts, pattern: Pattern[str], what: str) -> str:
    """A string that the whole of ``pattern`` matches."""
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ConditionError(f"{shown(value)} is not {what}", at, "VC503")
    return value


def need_code(value: Any, at: PathParts) -> str:
    """A vendor reason code: ``[A-Z][A-Z0-9_-]{1,63}``, never one of the core's ``VCnnn``."""
    need_match(value, at, REASON_CODE, "a reason code ([A-Z][A-Z0-9_-], 2 to 64 characters)")
    if _CORE_CODE.match(value):
        raise ConditionError(f"{value!r} is reserved (VC codes belong to the core)", at, "VC503")
    return str(value)


def need_bool(value: Any, at: PathParts) -> bool:
    """``true`` or ``false``, never a string or a number that reads as one."""
    if not isinstance(value, bool):
        raise ConditionError(f"{shown(value)} is not true or false", at, "VC503")
    return value


def need_list(value: Any, at: PathParts, *, max_items: int, min_items: int = 0) -> List[Any]:
    """A list of ``min_items`` to ``max_items`` items (counted before any item is looked at)."""
    if not isinstance(value, list):
        raise ConditionError(f"{type(value).__name__} is not a list", at, "VC503")
    if len(value) < min_items:
        raise ConditionError(f"needs at least {min_items} item{'s' if min_items > 1 else ''}", at, "VC503")
    if len(value) > max_items:
        raise ConditionError(f"{len(value)} items is over the limit of {max_items}", at, "VC507")
    return value


def _need_count(value: Any, at: PathParts, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConditionError(f"{shown(value)} is not a whole number >= {low}", at, "VC503")
    return value


def _need_scalar(value: Any, at: PathParts) -> Union[str, int]:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConditionError(f"{shown(value)} is not a string or a whole number", at, "VC503")
    if isinstance(value, int) and value < 0:
        raise ConditionError(f"{value} is negative", at, "VC503")
    if isinstance(value, str) and len(value) > _MAX_SCALAR:
        raise ConditionError(f"is {len(value)} characters, over the limit of {_MAX_SCALAR}", at, "VC507")
    return value


class _Values:
    """Reads a condition's literal values as its field's typed values, refusing any no string can carry."""

    def __init__(self, spec: FieldSpec, separators: Tuple[str, ...]) -> None:
        self.spec = spec
        self.separators = separators

    def carried(self, text: str, at: PathParts) -> str:
        """``text`` if some device_version's field could hold it."""
        fault = value_fault(text)
        if fault is not None:
            raise ConditionError(f"{text!r} {fault}", at)
        for separator in self.separators:
            if separator in text:
                raise ConditionError(f"{text!r} holds {separator!r}, which separates the fields of the string:"
                                     f" no {self.spec.name!r} value can carry it", at)
        return text

    def convert(self, raw: Any, at: PathParts) -> Any:
        """The typed value of one literal (text or a whole number)."""
        raw = _need_scalar(raw, at)
        if isinstance(raw, int) and self.spec.type in ("uint", "hex", "mask"):
            return raw
        text = self.carried(str(raw), at)
        try:
            return self.spec.convert(text)
        except ValueError as error:
            raise ConditionError(f"field {self.spec.name!r} {error}", at) from None

    def listed(self, data: Mapping[str, Any], key: str) -> List[Any]:
        """The list under ``key``: 1 to :data:`MAX_LIST_ITEMS` items."""
        if key not in data:
            raise ConditionError(f"{key!r} is required", (), "VC503")
        return need_list(data[key], (key,), min_items=1, max_items=MAX_LIST_ITEMS)

    def item(self, raw: Any, at: PathParts) -> str:
        """One item of a set field, which can never hold the set's separator."""
        text = self.carried(str(_need_scalar(raw, at)), at)
        separator = self.spec.item_separator
        if separator in text:
            raise ConditionError(f"{text!r} holds {separator!r}, which separates the items of set field"
                                 f" {self.spec.name!r}: it can never be one item", at)
        return text


def _missing(side: str, name: str) -> Failure:
    return Failure("VC420", f"{side} has no field {name!r}", f"use a {side} device_version that carries {name!r}")


def _need_types(test: str, spec: FieldSpec, allowed: Sequence[str]) -> None:
    if allowed and spec.type not in allowed:
        raise ConditionError(
            f"test {test!r} needs a field of type {' or '.join(allowed)}; {spec.name!r} is {spec.type!r}"
        )


class _Compiling:
    """What a test's constructor reads: the entry, its field, the literal reader, the table's schema version.

    A plain class, not a dataclass: it lives for one constructor call, and each dataclass costs a cold check 0.35 ms.
    """

    __slots__ = ("data", "other", "schema_version", "spec", "values")

    def __init__(self, data: Mapping[str, Any], spec: FieldSpec, values: _Values, schema_version: int,
                 other: FieldSpec) -> None:
        self.data, self.spec, self.values, self.schema_version, self.other = data, spec, values, schema_version, other


class Condition:
    """A compiled condition: what it tests, in words, a fast ``holds`` and an ``evaluate`` that says why not.

    Subclasses are the tests; each is one entry of :data:`TESTS`.
    """

    #: The test's name in tables.
    test: ClassVar[str] = ""
    #: Compares source with target (True) or looks at one side (False).
    pairwise: ClassVar[bool] = True
    #: The reason code a failure carries unless the table names its own.
    default_code: ClassVar[str] = "VC401"
    #: Keys this test reads besides the common ones.
    keys: ClassVar[Tuple[str, ...]] = ()
    #: Keys only a schema_version 2 table may use.
    v2_keys: ClassVar[Tuple[str, ...]] = ()
    #: Field types the test takes (empty: any).
    types: ClassVar[Tuple[str, ...]] = ()
    #: Never admits a target older than the source on its field (pairwise tests over one field).
    safe: ClassVar[bool] = False

    field: str
    side: Optional[str]
    description: str
    code: Optional[str]
    message: Optional[str]
    hint: Optional[str]
    direction_safe: bool
    #: For the rule index: ``"side:field"`` and the values it admits, when the test pins one side.
    pin: Optional[Tuple[str, Collection[Any]]]

    def __init__(self, c: _Compiling) -> None:
        data = c.data
        self.spec = c.spec
        self.field = c.spec.name
        self.side = None
        self.pin = None
        self.direction_safe = False
        self.code = need_code(data["code"], ("code",)) if "code" in data else None
        self.message = need_text(data["message"], ("message",), max_length=_MAX_TEXT) if "message" in data else None
        self.hint = need_text(data["hint"], ("hint",), max_length=_MAX_TEXT) if "hint" in data else None
        self.description = ""
        #: The outcome ``explain`` shows when the condition passes: the same for every pair, so built once.
        self.passed_result: Any = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"

    def holds(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
        """Whether the condition holds on typed field values (no failure is built)."""
        raise NotImplementedError

    def failure(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Optional[Failure]:
        """The test's own account of why it does not hold, or ``None`` when it holds."""
        raise NotImplementedError

    def evaluate(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Optional[Failure]:
        """Evaluate on typed field values; ``None`` when the condition holds."""
        if self.holds(source, target):
            return None
        failure = self.failure(source, target)
        if failure is None:  # pragma: no cover - holds and failure agree by construction
            return None
        if failure.code == "VC420" or (self.code is None and self.message is None and self.hint is None):
            # A missing field is the core's finding, whatever the table calls a wrong value.
            return failure
        return Failure(self.code or failure.code, self.message or failure.message, self.hint or failure.hint,
                       failure.source_value, failure.target_value)

    def reason(self, source: Mapping[str, Any], target: Mapping[str, Any], rule: RuleRef) -> Optional[Reason]:
        """:meth:`evaluate` as the table-layer :class:`~vfiocompat._verdict.Reason` of ``rule``, built in one go."""
        if self.holds(source, target):
            return None
        failure = self.failure(source, target)
        if failure is None:  # pragma: no cover - holds and failure agree by construction
            return None
        own = failure.code != "VC420"
        return Reason((own and self.code) or failure.code, "table", (own and self.message) or failure.message,
                      self.field, failure.source_value, failure.target_value, (own and self.hint) or failure.hint,
                      rule, rule.plugin)

    def bound(self) -> Optional[Bound]:
        """What the condition proves about the values it admits on its side (unary tests), or None."""
        return None

    def show(self, value: Any) -> str:
        """A value of this condition's field, as a person reads it."""
        return render(self.spec, value)


# -- pairwise tests ---------------------------------------------------------------------------------------


class _Pairwise(Condition):
    """Source's ``field`` against target's ``against`` field (the same field by default)."""

    v2_keys: ClassVar[Tuple[str, ...]] = ("against",)

    def __init__(self, c: _Compiling) -> None:
        super().__init__(c)
        if "side" in c.data:
            raise ConditionError(f"test {self.test!r} compares source with target; it takes no 'side'", ("side",),
                                 "VC503")
        self.other = c.other.name
        if c.other.name != c.spec.name and (c.other.type, c.other.scheme, c.other.value_type) != (
                c.spec.type, c.spec.scheme, c.spec.value_type):
            raise ConditionError(f"against: {c.other.name!r} is a {c.other.type} field, {c.spec.name!r} a"
                                 f" {c.spec.type}; a test compares fields of the same type (and scheme)",
                                 ("against",))
        self.parts = 0
        if "parts" in c.data:
            self.parts = _need_count(c.data["parts"], ("parts",), low=1)
            if self.parts > _MAX_PARTS:
                raise ConditionError(f"parts = {self.parts} is over the limit of {_MAX_PARTS}", ("parts",), "VC507")
            if c.spec.type != "version":
                raise ConditionError(f"parts compares release components of a version; {c.spec.name!r} is"
                                     f" {c.spec.type!r}", ("parts",))
        # Direction is a property of one field: a test across two fields says nothing of either.
        self.direction_safe = self.safe and self.other == self.field
        self.t_name = self.other
        self.s_name = self.field
        self.ordered_word = "older" if c.spec.ordered else "lower"
        self.description = self.describe(f"source.{self.field}", f"target.{self.other}")
        if self.parts:
            self.description += f" (first {self.parts} parts)"

    def describe(self, s: str, t: str) -> str:
        """The test in words."""
        raise NotImplementedError

    def compare(self, s: Any, t: Any) -> bool:
        """The test on two values (cut to ``parts`` already)."""
        raise NotImplementedError

    def explain(self, s: Any, t: Any, cut_s: Any, cut_t: Any) -> Failure:
        """Why ``compare(cut_s, cut_t)`` is false, with the raw values ``s`` and ``t`` shown."""
        raise NotImplementedError

    def holds(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
        s = source.get(self.s_name, _MISSING)
        t = target.get(self.t_name, _MISSING)
        if s is _MISSING or t is _MISSING:
            return False
        if self.parts:
            return self.compare(s.release(self.parts), t.release(self.parts))
        return self.compare(s, t)

    def failure(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Optional[Failure]:
        if self.s_name not in source:
            return _missing("source", self.s_name)
        if self.t_name not in target:
            return _missing("target", self.t_name)
        s, t = source[self.s_name], target[self.t_name]
        cut_s, cut_t = (s.release(self.parts), t.release(self.parts)) if self.parts else (s, t)
        return None if self.compare(cut_s, cut_t) else self.explain(s, t, cut_s, cut_t)

    def field_words(self) -> str:
        """How a message names what is compared: ``fw`` or ``fw against target's hv``."""
        return self.field if self.other == self.field else f"{self.other} (against the source's {self.field})"

    def older(self, s: Any, t: Any) -> Failure:
        """The failure of a target older (lower) than the source."""
        name = self.field_words()
        at = f" in its first {self.parts} parts" if self.parts else ""
        return Failure("VC411", f"target {name} is {self.ordered_word} than the source's{at}",
                       f"use a target with {self.other} >= {self.show(s)}", self.show(s), self.show(t))


def _major(value: Any) -> int:
    return int(value[0]) if isinstance(value, tuple) else int(value.major)


class Equal(_Pairwise):
    """``target.field == source.field`` (whole maps and sets; ``parts``: the first N release components)."""

    test = "equal"
    default_code = "VC410"
    v2_keys: ClassVar[Tuple[str, ...]] = ("against", "parts")
    safe = True

    def describe(self, s: str, t: str) -> str:
        return f"{t} == {s}"

    def compare(self, s: Any, t: Any) -> bool:
        return bool(s == t)

    def explain(self, s: Any, t: Any, cut_s: Any, cut_t: Any) -> Failure:
        shown_s = self.show(s)
        return Failure(self.default_code, f"{self.field_words()} differs",
                       f"use a target whose {self.other} is {shown_s}", shown_s, self.show(t))


class TargetGeSource(_Pairwise):
    """``target >= source``; on a map, every source key in the target with a value not lower."""

    test = "target_ge_source"
    default_code = "VC411"
    v2_keys: ClassVar[Tuple[str, ...]] = ("against", "parts")
    types = (*_ORDERABLE, "map")
    safe = True

    def __init__(self, c: _Compiling) -> None:
        super().__init__(c)
        self.on_map = c.spec.type == "map"
        if self.on_map:
            self.description = f"target.{self.other} has every key of source.{self.field}, each value >= the source's"

    def describe(self, s: str, t: str) -> str:
        return f"{t} >= {s}"

    def compare(self, s: Any, t: Any) -> bool:
        return self._map_covers(s, t) if self.on_map else bool(s <= t)

    @staticmethod
    def _map_covers(s: Mapping[str, Any], t: Mapping[str, Any]) -> bool:
        for key, value in s.items():
            other = t.get(key, _MISSING)
            if other is _MISSING or other < value:
                return False
        return True

    def explain(self, s: Any, t: Any, cut_s: Any, cut_t: Any) -> Failure:
        if self.spec.type != "map":
            return self.older(s, t)
        name = self.field_words()
        lacking = sorted(key for key in s if key not in t)
        if lacking:
            keys = ", ".join(lacking)
            return Failure("VC415", f"target {name} lacks key {keys}, which the source has",
                           f"use a target whose {self.other} has {keys}", self.show(s), self.show(t))
        lower = sorted(key for key in s if t[key] < s[key])
        words = ", ".join(f"{key} {s[key]}" for key in lower)
        return Failure("VC411", f"target {name} is lower than the source's at {', '.join(lower)}",
                       f"use a target whose {self.other} is at least {words}", self.show(s), self.show(t))


class TargetGtSource(_Pairwise):
    """``target > source``."""

    test = "target_gt_source"
    default_code = "VC412"
    v2_keys: ClassVar[Tuple[str, ...]] = ("against", "parts")
    types = _ORDERABLE
    safe = True

    def describe(self, s: str, t: str) -> str:
        return f"{t} > {s}"

    def compare(self, s: Any, t: Any) -> bool:
        return bool(s < t)

    def explain(self, s: Any, t: Any, cut_s: Any, cut_t: Any) -> Failure:
        if cut_t == cut_s:
            return Failure(self.default_code, f"target {self.field_words()} is not newer than the source's",
                           f"use a target with {self.other} > {self.show(s)}", self.show(s), self.show(t))
        return self.older(s, t)


class SameMajorTargetGeSource(_Pairwise):
    """Same major version on both sides, target not older."""

    test = "same_major_target_ge_source"
    default_code = "VC413"
    v2_keys: ClassVar[Tuple[str, ...]] = ("against", "parts")
    types = ("version",)
    safe = True

    def describe(self, s: str, t: str) -> str:
        return f"{t} has source's major and >= {s}"

    def compare(self, s: Any, t: Any) -> bool:
        return bool(_major(s) == _major(t) and s <= t)

    def explain(self, s: Any, t: Any, cut_s: Any, cut_t: Any) -> Failure:
        major = _major(cut_s)
        if major != _major(cut_t):
            return Failure(self.default_code, f"{self.field_words()} major version differs",
                           f"use a target with {self.other} {major}.x, at least {self.show(s)}",
                           self.show(s), self.show(t))
        at = f" in its first {self.parts} parts" if self.parts else ""
        return Failure("VC411", f"target {self.field_words()} is older than the source's{at}",
                       f"use a target with {self.other} >= {self.show(s)} (same major {major})",
                       self.show(s), self.show(t))


class UpgradeWindow(_Pairwise):
    """``0 <= min_steps <= target - source <= max_steps`` (in major releases for versions)."""

    test = "upgrade_window"
    default_code = "VC414"
    keys = ("min_steps", "max_steps")
    types = _ORDERABLE
    safe = True

    def __init__(self, c: _Compiling) -> None:
        if "max_steps" not in c.data:
            raise ConditionError("'max_steps' is required", (), "VC503")
        self.low = _need_count(c.data.get("min_steps", 0), ("min_steps",))
        self.high = _need_count(c.data["max_steps"], ("max_steps",))
        if self.high < self.low:
            raise ConditionError("upgrade_window needs max_steps >= min_steps >= 0", ("max_steps",))
        self.by_version = c.spec.type == "version"
        self.unit = "major releases" if self.by_version else "steps"
        super().__init__(c)

    def describe(self, s: str, t: str) -> str:
        return f"{t} is {self.low}..{self.high} {self.unit} newer than {s}"

    def steps(self, s: Any, t: Any) -> int:
        """How many steps (majors) ``t`` is above ``s``."""
        return int(t.major) - int(s.major) if self.by_version else int(t) - int(s)

    def compare(self, s: Any, t: Any) -> bool:
        return bool(s <= t and self.low <= self.steps(s, t) <= self.high)

    def explain(self, s: Any, t: Any, cut_s: Any, cut_t: Any) -> Failure:
        if t < s:
            return self.older(s, t)
        steps = self.steps(s, t)
        return Failure(self.default_code, f"target {self.field_words()} is {steps} {self.unit} newer; the window"
                       f" is {self.low} to {self.high}",
                       f"use a target {self.low} to {self.high} {self.unit} newer than {self.show(s)}",
                       self.show(s), self.show(t))


class TargetSuperset(_Pairwise):
    """The target has every item (set) or bit (mask) the source has."""

    test = "target_superset"
    default_code = "VC415"
    types = ("set", "mask")

    def describe(self, s: str, t: str) -> str:
        return f"{t} is a superset of {s}"

    def compare(self, s: Any, t: Any) -> bool:
        return bool(s <= t) if isinstance(s, frozenset) else not s & ~t

    def explain(self, s: Any, t: Any, cut_s: Any, cut_t: Any) -> Failure:
        lacks = self.show((s - t) if isinstance(s, frozenset) else (s & ~t))
        return Failure(self.default_code, f"target {self.field_words()} lacks {lacks}, which the source has",
                       f"use a target whose {self.other} includes {lacks}", self.show(s), self.show(t))


class MapsTo(_Pairwise):
    """``(source, target)`` is one of the listed pairs."""

    test = "maps_to"
    default_code = "VC419"
    keys = ("pairs",)

    def __init__(self, c: _Compiling) -> None:
        raw = c.values.listed(c.data, "pairs")
        pairs = []
        for index, item in enumerate(raw):
            if not isinstance(item, list) or len(item) != 2:
                raise ConditionError("must be [source value, target value]", ("pairs", index), "VC503")
            pairs.append((c.values.convert(item[0], ("pairs", index, 0)),
                          c.values.convert(item[1], ("pairs", index, 1))))
        gathered: Dict[Any, set[Any]] = {}
        for s_value, t_value in pairs:
            # One set per source, frozen once: a union per pair would be quadratic in the pairs of a source.
            gathered.setdefault(s_value, set()).add(t_value)
        # A few targets are a tuple (56 bytes against a frozenset's 216, and as fast to search); many, a set.
        self.allowed: Dict[Any, Collection[Any]] = {
            key: tuple(targets) if len(targets) <= _SMALL else frozenset(targets) for key, targets in gathered.items()}
        self.pairs = tuple(pairs)
        super().__init__(c)
        self.pin = (sys.intern(f"source:{self.field}"), tuple(self.allowed))
        self.direction_safe = self.other == self.field and (
            not c.spec.ordered or all(b >= a for a, b in pairs))

    def describe(self, s: str, t: str) -> str:
        return f"{s} -> {t} in " + ", ".join(f"{self.show(a)}->{self.show(b)}" for a, b in self.pairs)

    def compare(self, s: Any, t: Any) -> bool:
        return t in self.allowed.get(s, ())

    def explain(self, s: Any, t: Any, cut_s: Any, cut_t: Any) -> Failure:
        targets = self.allowed.get(s)
        if targets is None:
            hint = "this rule maps only " + ", ".join(sorted(self.show(a) for a in self.allowed))
        else:
            hint = f"under this rule {self.show(s)} maps to " + ", ".join(sorted(self.show(b) for b in targets))
        return Failure(self.default_code, f"source {self.field} does not map to the target's {self.other}", hint,
                       self.show(s), self.show(t))


# -- unary tests -----------------------------------------------------------------------------------------


class _Unary(Condition):
    """A test of one side's value (``side``: source, target or both)."""

    pairwise = False

    def __init__(self, c: _Compiling) -> None:
        super().__init__(c)
        side = c.data.get("side")
        if side not in _SIDES:
            raise ConditionError(f"test {self.test!r} needs side = 'source', 'target' or 'both'", ("side",),
                                 "VC503")
        self.side = side
        self.sides = ("source", "target") if side == "both" else (side,)
        self.on_source = "source" in self.sides
        self.on_target = "target" in self.sides
        self.problem, self.wanted = self.complaint()
        self.description = f"{side}.{self.field} {self.describe()}"
        pinned = self.pinned()
        if pinned is not None:
            # A "both" condition pins the source too; the target half is still checked in full.
            self.pin = (sys.intern(f"{'target' if side == 'target' else 'source'}:{self.field}"), pinned)

    def describe(self) -> str:
        """What the side's value must be, in words."""
        raise NotImplementedError

    def complaint(self) -> Tuple[str, str]:
        """(what is wrong with a value, what the fix asks for)."""
        raise NotImplementedError

    def accepts(self, value: Any) -> bool:
        """The test on one value."""
        raise NotImplementedError

    def pinned(self) -> Optional[FrozenSet[Any]]:
        """The only values the test admits, for the rule index, when it lists them."""
        return None

    def holds(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
        name = self.field
        if self.on_source:
            value = source.get(name, _MISSING)
            if value is _MISSING or not self.accepts(value):
                return False
        if self.on_target:
            value = target.get(name, _MISSING)
            if value is _MISSING or not self.accepts(value):
                return False
        return True

    def failure(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Optional[Failure]:
        for which, values in (("source", source), ("target", target)):
            if which not in self.sides:
                continue
            if self.field not in values:
                return _missing(which, self.field)
            if not self.accepts(values[self.field]):
                text = self.show(values[self.field])
                return Failure(self.default_code, f"{which} {self.field} {text} {self.problem}",
                               f"use a {which} {self.wanted}",
                               text if which == "source" else None, text if which == "target" else None)
        return None


class OneOf(_Unary):
    """The side's value is one of ``values``."""

    test = "one_of"
    default_code = "VC416"
    keys = ("values",)

    def __init__(self, c: _Compiling) -> None:
        listed = c.values.listed(c.data, "values")
        self.allowed = frozenset(c.values.convert(v, ("values", i)) for i, v in enumerate(listed))
        self.listing = ", ".join(sorted(render(c.spec, v) for v in self.allowed))
        super().__init__(c)

    def accepts(self, value: Any) -> bool:
        return value in self.allowed

    def describe(self) -> str:
        return f"in [{self.listing}]"

    def complaint(self) -> Tuple[str, str]:
        return f"is not one of [{self.listing}]", f"with {self.field} in [{self.listing}]"

    def pinned(self) -> Optional[FrozenSet[Any]]:
        return self.allowed

    def bound(self) -> Optional[Bound]:
        if self.spec.type not in _ORDERABLE:
            return None
        return Bound(low=min(self.allowed), high=max(self.allowed))


class Glob(_Unary):
    """The side's string matches ``pattern`` (``*`` and ``?``)."""

    test = "glob"
    default_code = "VC417"
    keys = ("pattern",)
    types = ("string",)

    def __init__(self, c: _Compiling) -> None:
        if "pattern" not in c.data:
            raise ConditionError("'pattern' is required", (), "VC503")
        self.pattern = need_text(c.data["pattern"], ("pattern",), max_length=_MAX_PATTERN, printable=False)
        c.values.carried(self.pattern, ("pattern",))
        super().__init__(c)

    def describe(self) -> str:
        return f"matches {self.pattern!r}"

    def complaint(self) -> Tuple[str, str]:
        return f"does not match {self.pattern!r}", f"with {self.field} matching {self.pattern!r}"

    def accepts(self, value: Any) -> bool:
        return glob_match(self.pattern, value)


class Specifier(_Unary):
    """The side's PEP 440 version is in ``spec`` (``prereleases`` said explicitly)."""

    test = "specifier"
    default_code = "VC418"
    keys = ("spec", "prereleases")
    types = ("version",)

    def __init__(self, c: _Compiling) -> None:
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        if c.spec.scheme != "pep440":
            raise ConditionError("specifier works on pep440 versions; use range for other schemes")
        if "prereleases" not in c.data:
            raise ConditionError("specifier needs prereleases = true or false, said explicitly", (), "VC503")
        self.prereleases = need_bool(c.data["prereleases"], ("prereleases",))
        if "spec" not in c.data:
            raise ConditionError("'spec' is required", (), "VC503")
        self.text = need_text(c.data["spec"], ("spec",), max_length=_MAX_PATTERN, printable=False)
        # Spaces are the specifier's own syntax (">= 1.0, < 2"); any other character must be one a version has.
        c.values.carried(self.text.replace(" ", ""), ("spec",))
        try:
            self.specifier = SpecifierSet(self.text, prereleases=self.prereleases)
        except InvalidSpecifier:
            raise ConditionError(f"{self.text!r} is not a PEP 440 specifier", ("spec",)) from None
        if not self.text.strip():
            raise ConditionError("specifier needs a non-empty spec such as '>=535,<550'", ("spec",))
        super().__init__(c)

    def describe(self) -> str:
        return f"matches {self.text!r}"

    def complaint(self) -> Tuple[str, str]:
        return f"is outside {self.text!r}", f"with {self.field} in {self.text!r}"

    def accepts(self, value: Any) -> bool:
        return bool(self.specifier.contains(value.key, prereleases=self.prereleases))

    def bound(self) -> Optional[Bound]:
        from packaging.version import Version

        from ._versions import parse_version

        found = Bound()
        for clause in self.specifier:
            op, text = clause.operator, clause.version
            if op in ("===", "!=") or text.endswith(".*") or (op == "~=" and "!" in text):
                continue  # proves nothing a bound can say (or needs more care than it is worth: epochs)
            if op == "~=":
                # ~=X.Y.Z is >=X.Y.Z, ==X.Y.*: below X.(Y+1), strictly.
                release = Version(text).release[:-1]
                high = ".".join(map(str, (*release[:-1], release[-1] + 1)))
                found = tighter(found, Bound(low=parse_version(text, "pep440"),
                                              high=parse_version(high, "pep440"), high_strict=True))
                continue
            value = parse_version(text, "pep440")
            # <= and == compare public versions: 1.0+local passes '<=1.0' although it sorts above 1.0.
            loose = "+" not in text
            step = {
                ">=": Bound(low=value), ">": Bound(low=value, low_strict=True),
                "<": Bound(high=value, high_strict=True), "<=": Bound(high=value, loose_high=loose),
                "==": Bound(low=value, high=value, loose_high=loose),
            }.get(op)
            if step is not None:
                found = tighter(found, step)
        return found


class Range(_Unary):
    """``min <= value <= max`` (either may be absent)."""

    test = "range"
    default_code = "VC418"
    keys = ("min", "max")
    types = _ORDERABLE

    def __init__(self, c: _Compiling) -> None:
        self.low = c.values.convert(c.data["min"], ("min",)) if "min" in c.data else None
        self.high = c.values.convert(c.data["max"], ("max",)) if "max" in c.data else None
        if self.low is None and self.high is None:
            raise ConditionError("range needs min, max or both", (), "VC503")
        if self.low is not None and self.high is not None and self.high < self.low:
            raise ConditionError("range has max below min", ("max",))
        shown_low = render(c.spec, self.low) if self.low is not None else ""
        shown_high = render(c.spec, self.high) if self.high is not None else ""
        self.span = f"[{shown_low}, {shown_high}]"
        super().__init__(c)

    def describe(self) -> str:
        return f"in {self.span}"

    def complaint(self) -> Tuple[str, str]:
        return f"is outside {self.span}", f"with {self.field} in {self.span}"

    def accepts(self, value: Any) -> bool:
        return bool((self.low is None or value >= self.low) and (self.high is None or value <= self.high))

    def bound(self) -> Optional[Bound]:
        return Bound(low=self.low, high=self.high)


class Contains(_Unary):
    """The side's set holds every one of ``values`` (mask: has every bit of ``mask``)."""

    test = "contains"
    default_code = "VC415"
    keys = ("values", "mask")
    types = ("set", "mask")

    def __init__(self, c: _Compiling) -> None:
        data = c.data
        if ("values" in data) == ("mask" in data):
            raise ConditionError("contains needs values (a set field) or mask (a mask field), not both", (), "VC503")
        if c.spec.type == "set":
            if "values" not in data:
                raise ConditionError("contains on a set field needs values", ("mask",))
            listed = c.values.listed(data, "values")
            self.needed: Any = frozenset(c.values.item(v, ("values", i)) for i, v in enumerate(listed))
        else:
            if "mask" not in data:
                raise ConditionError("contains on a mask field needs mask", ("values",))
            self.needed = c.values.convert(need_match(data["mask"], ("mask",), _MASK, "a hex mask of 1 to 256 digits"),
                                           ("mask",))
        super().__init__(c)

    def describe(self) -> str:
        return f"contains {self.show(self.needed)}"

    def complaint(self) -> Tuple[str, str]:
        needed = self.show(self.needed)
        return f"lacks {needed}", f"whose {self.field} includes {needed}"

    def accepts(self, value: Any) -> bool:
        needed = self.needed
        return not ((needed - value) if isinstance(needed, frozenset) else (needed & ~value))


def tighter(a: Bound, b: Bound) -> Bound:
    """Both bounds at once: the higher low, the lower high (on a tie, the stricter)."""
    low, low_strict = a.low, a.low_strict
    if b.low is not None and (low is None or b.low > low or (b.low == low and b.low_strict)):
        low, low_strict = b.low, b.low_strict
    high, high_strict, loose = a.high, a.high_strict, a.loose_high
    if b.high is not None and (high is None or b.high < high or (b.high == high and b.high_strict)):
        high, high_strict, loose = b.high, b.high_strict, b.loose_high
    return Bound(low, low_strict, high, high_strict, loose and not high_strict)


#: Every test a condition can make, by name: adding a test is one class here and one schema entry.
TESTS: Dict[str, Type[Condition]] = {
    cls.test: cls for cls in (
        Equal, TargetGeSource, TargetGtSource, SameMajorTargetGeSource, UpgradeWindow, TargetSuperset, MapsTo,
        OneOf, Glob, Specifier, Range, Contains,
    )
}
PAIRWISE_TESTS = tuple(name for name, cls in TESTS.items() if cls.pairwise)
UNARY_TESTS = tuple(name for name, cls in TESTS.items() if not cls.pairwise)
#: Pairwise tests that never admit a target older than the source.
DIRECTION_SAFE_TESTS = frozenset(name for name, cls in TESTS.items() if cls.safe)
_CONDITION_KEYS = frozenset(_COMMON_KEYS).union(*(cls.keys + cls.v2_keys for cls in TESTS.values()))


def compile_condition(data: Mapping[str, Any], spec: FieldSpec, separators: Sequence[str] = (), *,
                      schema_version: int = LATEST_SCHEMA_VERSION,
                      field_of: Optional[Callable[[str], Optional[FieldSpec]]] = None) -> Condition:
    """Build a :class:`Condition` from one table entry; raise :class:`ConditionError`.

    ``separators``: what splits the proprietary string around this field, which no value can contain.
    ``field_of``: the format's other fields by name, for ``against``. ``schema_version``: the table's.
    """
    need_keys(data, _CONDITION_KEYS, ("field", "test"), ())
    test = data["test"]
    cls = TESTS.get(test) if isinstance(test, str) else None
    if cls is None:
        allowed = ", ".join(map(repr, TESTS))
        raise ConditionError(f"{shown(test)} is not one of {allowed}", ("test",), "VC503")
    for key in data:
        if key in _COMMON_KEYS:
            continue
        if key not in cls.keys and key not in cls.v2_keys:
            raise ConditionError(f"test {test!r} takes no {shown(key)}; the rule would ignore it", (key,))
        if key in cls.v2_keys and schema_version < 2:
            raise ConditionError(f"{key!r} is table language 2: declare schema_version = 2", (key,), "VC503")
    other = spec
    if "against" in data:
        name = data["against"]
        found = field_of(name) if (field_of is not None and isinstance(name, str)) else None
        if found is None and name == spec.name:
            found = spec
        if found is None:
            raise ConditionError(f"against names {shown(name)}, which the format does not declare", ("against",))
        other = found
    _need_types(test, spec, cls.types)
    if spec.type == "map" and test not in ("equal", "target_ge_source"):
        raise ConditionError(f"test {test!r} does not take a map field; maps take equal and target_ge_source")
    return cls(_Compiling(data, spec, _Values(spec, tuple(separators)), schema_version, other))
