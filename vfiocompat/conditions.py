"""The tests a rule's conditions can make, compiled from table data into checks.

Pairwise tests compare the source's field with the target's and read source -> target;
unary tests look at one side (``source``, ``target`` or ``both``). Nothing here evaluates
table text as code: globs are matched by a linear matcher, versions by a declared scheme.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from dataclasses import dataclass
from typing import Any, Callable, Collection, Dict, FrozenSet, List, Mapping, Optional, Pattern, Sequence, Tuple, Union

from .fields import FieldSpec, text_fault, value_fault
from .versions import VersionValue

__all__ = [
    "PAIRWISE_TESTS",
    "UNARY_TESTS",
    "DIRECTION_SAFE_TESTS",
    "Failure",
    "Condition",
    "compile_condition",
    "glob_match",
    "render",
    "PathParts",
    "ConditionError",
    "MAX_LIST_ITEMS",
    "shown",
]

PAIRWISE_TESTS = (
    "equal",
    "target_ge_source",
    "target_gt_source",
    "same_major_target_ge_source",
    "upgrade_window",
    "target_superset",
    "maps_to",
)
UNARY_TESTS = ("one_of", "glob", "specifier", "range", "contains")
#: Pairwise tests that never admit a target older than the source.
DIRECTION_SAFE_TESTS = frozenset(
    {"equal", "target_ge_source", "target_gt_source", "same_major_target_ge_source", "upgrade_window"}
)
_ORDERABLE = frozenset({"uint", "hex", "version"})
_DEFAULT_CODES = {
    "equal": "VC410",
    "target_ge_source": "VC411",
    "target_gt_source": "VC412",
    "same_major_target_ge_source": "VC413",
    "upgrade_window": "VC414",
    "target_superset": "VC415",
    "maps_to": "VC419",
    "one_of": "VC416",
    "glob": "VC417",
    "specifier": "VC418",
    "range": "VC418",
    "contains": "VC415",
}
_SIDES = ("source", "target", "both")
#: Most ``values`` or ``pairs`` in one condition (the schema's ``maxItems``).
MAX_LIST_ITEMS = 10_000
_MAX_SCALAR = 1024
_MAX_TEXT = 2000
_MAX_PATTERN = 256
#: The keys each test reads besides the common ones; any other key is a mistake the rule would ignore.
_TEST_KEYS: Dict[str, Tuple[str, ...]] = {
    "equal": (), "target_ge_source": (), "target_gt_source": (), "same_major_target_ge_source": (),
    "upgrade_window": ("min_steps", "max_steps"), "target_superset": (), "maps_to": ("pairs",),
    "one_of": ("values",), "glob": ("pattern",), "specifier": ("spec", "prereleases"), "range": ("min", "max"),
    "contains": ("values", "mask"),
}
_COMMON_KEYS = ("field", "test", "side", "code", "message", "hint")
_CONDITION_KEYS = frozenset(_COMMON_KEYS).union(*_TEST_KEYS.values())
REASON_CODE = re.compile(r"[A-Z][A-Z0-9_-]{1,63}")
_CORE_CODE = re.compile(r"VC[0-9]")
_MASK = re.compile(r"(0[xX])?[0-9a-fA-F]{1,256}")

PathParts = Tuple[Union[str, int], ...]


@dataclass(frozen=True)
class Failure:
    """Why one condition failed, before it becomes a :class:`~vfiocompat.verdict.Reason`."""

    code: str
    message: str
    hint: str
    source_value: Optional[str] = None
    target_value: Optional[str] = None


Check = Callable[[Mapping[str, Any], Mapping[str, Any]], Optional[Failure]]
Holds = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]
_MISSING = object()


@dataclass(frozen=True)
class Condition:
    """A compiled condition: what it tests, in words, a fast ``holds`` and a ``check`` that says why not."""

    test: str
    field: str
    side: Optional[str]
    description: str
    code: Optional[str]
    message: Optional[str]
    hint: Optional[str]
    direction_safe: bool
    #: For the rule index: ``"side:field"`` and the values it admits, when the test pins one side.
    pin: Optional[Tuple[str, FrozenSet[Any]]] = dataclasses.field(default=None, compare=False)
    holds: Holds = dataclasses.field(default=lambda s, t: True, repr=False, compare=False)
    check: Check = dataclasses.field(default=lambda s, t: None, repr=False, compare=False)

    def evaluate(self, source: Mapping[str, Any], target: Mapping[str, Any]) -> Optional[Failure]:
        """Evaluate on typed field values; ``None`` when the condition holds."""
        if self.holds(source, target):
            return None
        failure = self.check(source, target)
        if failure is None:  # pragma: no cover - holds and check agree by construction
            return None
        if failure.code == "VC420":
            # A missing field is the core's finding, whatever the table calls a wrong value.
            return failure
        return Failure(
            code=self.code or failure.code,
            message=self.message or failure.message,
            hint=self.hint or failure.hint,
            source_value=failure.source_value,
            target_value=failure.target_value,
        )


def render(spec: FieldSpec, value: Any) -> str:
    """Spell a typed value as a person reads it: hex fields in hex, sets sorted."""
    if isinstance(value, VersionValue):
        return value.raw
    if isinstance(value, frozenset):
        return ",".join(sorted(value)) if value else "(none)"
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


def _need_count(value: Any, at: PathParts) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConditionError(f"{shown(value)} is not a whole number >= 0", at, "VC503")
    return value


def _need_scalar(value: Any, at: PathParts) -> Union[str, int]:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ConditionError(f"{shown(value)} is not a string or a whole number", at, "VC503")
    if isinstance(value, int) and value < 0:
        raise ConditionError(f"{value} is negative", at, "VC503")
    if isinstance(value, str) and len(value) > _MAX_SCALAR:
        raise ConditionError(f"is {len(value)} characters, over the limit of {_MAX_SCALAR}", at, "VC507")
    return value


def compile_condition(data: Mapping[str, Any], spec: FieldSpec, separators: Sequence[str] = ()) -> Condition:
    """Build a :class:`Condition` from one table entry; raise :class:`ConditionError`.

    ``separators``: what splits the proprietary string around this field, which no value can contain.
    """
    need_keys(data, _CONDITION_KEYS, ("field", "test"), ())
    test = data["test"]
    if test not in _TEST_KEYS:
        allowed = ", ".join(map(repr, _TEST_KEYS))
        raise ConditionError(f"{shown(test)} is not one of {allowed}", ("test",), "VC503")
    common = {
        "code": need_code(data["code"], ("code",)) if "code" in data else None,
        "message": need_text(data["message"], ("message",), max_length=_MAX_TEXT) if "message" in data else None,
        "hint": need_text(data["hint"], ("hint",), max_length=_MAX_TEXT) if "hint" in data else None,
    }
    for key in data:
        if key not in _COMMON_KEYS and key not in _TEST_KEYS[test]:
            raise ConditionError(f"test {test!r} takes no {shown(key)}; the rule would ignore it", (key,))
    reader = _Values(spec, tuple(separators))
    if test in PAIRWISE_TESTS:
        if "side" in data:
            raise ConditionError(f"test {test!r} compares source with target; it takes no 'side'", ("side",),
                                 "VC503")
        return _compile_pairwise(test, data, spec, common, reader)
    side = data.get("side")
    if side not in _SIDES:
        raise ConditionError(f"test {test!r} needs side = 'source', 'target' or 'both'", ("side",), "VC503")
    return _compile_unary(test, side, data, spec, common, reader=reader)


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


def _missing(side: str, name: str) -> Failure:
    return Failure("VC420", f"{side} has no field {name!r}", f"use a {side} device_version that carries {name!r}")


def _need_types(test: str, spec: FieldSpec, allowed: Sequence[str]) -> None:
    if spec.type not in allowed:
        raise ConditionError(
            f"test {test!r} needs a field of type {' or '.join(allowed)}; {spec.name!r} is {spec.type!r}"
        )


def _compile_pairwise(test: str, data: Mapping[str, Any], spec: FieldSpec, common: Dict[str, Any],
                      reader: _Values) -> Condition:
    name = spec.name
    code = _DEFAULT_CODES[test]

    def show(value: Any) -> str:
        return render(spec, value)

    ordered_word = "older" if spec.ordered else "lower"
    pin: Optional[Tuple[str, FrozenSet[Any]]] = None
    safe = test in DIRECTION_SAFE_TESTS
    predicate: Callable[[Any, Any], bool]

    def older(s: Any, t: Any) -> Failure:
        return Failure("VC411", f"target {name} is {ordered_word} than the source's",
                       f"use a target with {name} >= {show(s)}", show(s), show(t))

    if test == "equal":
        description = f"target.{name} == source.{name}"
        predicate = operator.eq

        def failure(s: Any, t: Any) -> Failure:
            return Failure(code, f"{name} differs", f"use a target whose {name} is {show(s)}", show(s), show(t))

    elif test == "target_ge_source":
        _need_types(test, spec, ("uint", "hex", "version"))
        description = f"target.{name} >= source.{name}"
        predicate = operator.le
        failure = older

    elif test == "target_gt_source":
        _need_types(test, spec, ("uint", "hex", "version"))
        description = f"target.{name} > source.{name}"
        predicate = operator.lt

        def failure(s: Any, t: Any) -> Failure:
            if t == s:
                return Failure(code, f"target {name} is not newer than the source's",
                               f"use a target with {name} > {show(s)}", show(s), show(t))
            return older(s, t)

    elif test == "same_major_target_ge_source":
        _need_types(test, spec, ("version",))
        description = f"target.{name} has source's major and >= source.{name}"

        def predicate(s: Any, t: Any) -> bool:
            return bool(s.major == t.major and s <= t)

        def failure(s: Any, t: Any) -> Failure:
            if s.major != t.major:
                return Failure(code, f"{name} major version differs",
                               f"use a target with {name} {s.major}.x, at least {show(s)}", show(s), show(t))
            return Failure("VC411", f"target {name} is older than the source's",
                           f"use a target with {name} >= {show(s)} (same major {s.major})", show(s), show(t))

    elif test == "upgrade_window":
        _need_types(test, spec, ("uint", "hex", "version"))
        if "max_steps" not in data:
            raise ConditionError("'max_steps' is required", (), "VC503")
        low = _need_count(data.get("min_steps", 0), ("min_steps",))
        high = _need_count(data["max_steps"], ("max_steps",))
        if high < low:
            raise ConditionError("upgrade_window needs max_steps >= min_steps >= 0", ("max_steps",))
        unit = "major releases" if spec.type == "version" else "steps"
        description = f"target.{name} is {low}..{high} {unit} newer than source.{name}"
        by_version = spec.type == "version"

        def major(value: Any) -> int:
            return int(value.major) if by_version else int(value)

        def predicate(s: Any, t: Any) -> bool:
            return bool(s <= t and low <= major(t) - major(s) <= high)

        def failure(s: Any, t: Any) -> Failure:
            if t < s:
                return older(s, t)
            steps = major(t) - major(s)
            return Failure(code, f"target {name} is {steps} {unit} newer; the window is {low} to {high}",
                           f"use a target {low} to {high} {unit} newer than {show(s)}", show(s), show(t))

    elif test == "target_superset":
        _need_types(test, spec, ("set", "mask"))
        description = f"target.{name} is a superset of source.{name}"
        if spec.type == "set":
            predicate = operator.le
        else:
            def predicate(s: Any, t: Any) -> bool:
                return not s & ~t

        def failure(s: Any, t: Any) -> Failure:
            lacks = render(spec, (s - t) if isinstance(s, frozenset) else (s & ~t))
            return Failure(code, f"target {name} lacks {lacks}, which the source has",
                           f"use a target whose {name} includes {lacks}", show(s), show(t))

    elif test == "maps_to":
        pairs = _pairs(data, reader)
        gathered: Dict[Any, set[Any]] = {}
        for s_value, t_value in pairs:
            # One set per source, frozen once: a union per pair would be quadratic in the pairs of a source.
            gathered.setdefault(s_value, set()).add(t_value)
        allowed = {key: frozenset(targets) for key, targets in gathered.items()}
        pin = (f"source:{name}", frozenset(allowed))
        safe = not spec.ordered or all(b >= a for a, b in pairs)
        description = f"source.{name} -> target.{name} in " + ", ".join(
            f"{show(a)}->{show(b)}" for a, b in pairs
        )

        def predicate(s: Any, t: Any) -> bool:
            return t in allowed.get(s, ())

        def failure(s: Any, t: Any) -> Failure:
            targets = allowed.get(s)
            if targets is None:
                hint = "this rule maps only " + ", ".join(sorted(show(a) for a in allowed))
            else:
                hint = f"under this rule {show(s)} maps to " + ", ".join(sorted(show(b) for b in targets))
            return Failure(code, f"source {name} does not map to the target's", hint, show(s), show(t))

    else:  # pragma: no cover - PAIRWISE_TESTS is exhaustive above
        raise ConditionError(f"unknown test {test!r}")

    def holds(source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
        s = source.get(name, _MISSING)
        t = target.get(name, _MISSING)
        return s is not _MISSING and t is not _MISSING and predicate(s, t)

    def check(source: Mapping[str, Any], target: Mapping[str, Any]) -> Optional[Failure]:
        if name not in source:
            return _missing("source", name)
        if name not in target:
            return _missing("target", name)
        s, t = source[name], target[name]
        return None if predicate(s, t) else failure(s, t)

    return Condition(test, name, None, description, direction_safe=safe, pin=pin, holds=holds, check=check,
                     **common)


def _pairs(data: Mapping[str, Any], reader: _Values) -> Tuple[Tuple[Any, Any], ...]:
    raw = reader.listed(data, "pairs")
    pairs = []
    for index, item in enumerate(raw):
        if not isinstance(item, list) or len(item) != 2:
            raise ConditionError("must be [source value, target value]", ("pairs", index), "VC503")
        pairs.append((reader.convert(item[0], ("pairs", index, 0)), reader.convert(item[1], ("pairs", index, 1))))
    return tuple(pairs)


def _item(reader: _Values, raw: Any, at: PathParts) -> str:
    text = reader.carried(str(_need_scalar(raw, at)), at)
    separator = reader.spec.item_separator
    if separator in text:
        raise ConditionError(f"{text!r} holds {separator!r}, which separates the items of set field"
                             f" {reader.spec.name!r}: it can never be one item", at)
    return text


def _compile_unary(
    test: str, side: str, data: Mapping[str, Any], spec: FieldSpec, common: Dict[str, Any], *, reader: _Values
) -> Condition:
    name = spec.name
    code = _DEFAULT_CODES[test]
    def show(value: Any) -> str:
        return render(spec, value)

    pin_values: Optional[FrozenSet[Any]] = None
    accepts: Callable[[Any], bool]
    complaint: Tuple[str, str]

    if test == "one_of":
        listed = reader.listed(data, "values")
        allowed = frozenset(reader.convert(v, ("values", i)) for i, v in enumerate(listed))
        pin_values = allowed
        listing = ", ".join(sorted(show(v) for v in allowed))
        description = f"{side}.{name} in [{listing}]"
        accepts = allowed.__contains__
        complaint = f"is not one of [{listing}]", f"with {name} in [{listing}]"

    elif test == "glob":
        _need_types(test, spec, ("string",))
        if "pattern" not in data:
            raise ConditionError("'pattern' is required", (), "VC503")
        pattern = need_text(data["pattern"], ("pattern",), max_length=_MAX_PATTERN, printable=False)
        reader.carried(pattern, ("pattern",))
        description = f"{side}.{name} matches {pattern!r}"

        def accepts(value: Any) -> bool:
            return glob_match(pattern, value)

        complaint = f"does not match {pattern!r}", f"with {name} matching {pattern!r}"

    elif test == "specifier":
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        _need_types(test, spec, ("version",))
        if spec.scheme != "pep440":
            raise ConditionError("specifier works on pep440 versions; use range for other schemes")
        if "prereleases" not in data:
            raise ConditionError("specifier needs prereleases = true or false, said explicitly", (), "VC503")
        prereleases = need_bool(data["prereleases"], ("prereleases",))
        if "spec" not in data:
            raise ConditionError("'spec' is required", (), "VC503")
        text = need_text(data["spec"], ("spec",), max_length=_MAX_PATTERN, printable=False)
        # Spaces are the specifier's own syntax (">= 1.0, < 2"); any other character must be one a version has.
        reader.carried(text.replace(" ", ""), ("spec",))
        try:
            specifier = SpecifierSet(text, prereleases=prereleases)
        except InvalidSpecifier:
            raise ConditionError(f"{text!r} is not a PEP 440 specifier", ("spec",)) from None
        if not text.strip():
            raise ConditionError("specifier needs a non-empty spec such as '>=535,<550'", ("spec",))
        description = f"{side}.{name} matches {text!r}"

        def accepts(value: Any) -> bool:
            return bool(specifier.contains(value.key, prereleases=prereleases))

        complaint = f"is outside {text!r}", f"with {name} in {text!r}"

    elif test == "range":
        _need_types(test, spec, ("uint", "hex", "version"))
        low = reader.convert(data["min"], ("min",)) if "min" in data else None
        high = reader.convert(data["max"], ("max",)) if "max" in data else None
        if low is None and high is None:
            raise ConditionError("range needs min, max or both", (), "VC503")
        if low is not None and high is not None and high < low:
            raise ConditionError("range has max below min", ("max",))
        span = f"[{show(low) if low is not None else ''}, {show(high) if high is not None else ''}]"
        description = f"{side}.{name} in {span}"

        def accepts(value: Any) -> bool:
            return bool((low is None or value >= low) and (high is None or value <= high))

        complaint = f"is outside {span}", f"with {name} in {span}"

    elif test == "contains":
        _need_types(test, spec, ("set", "mask"))
        if ("values" in data) == ("mask" in data):
            raise ConditionError("contains needs values (a set field) or mask (a mask field), not both", (), "VC503")
        if spec.type == "set":
            if "values" not in data:
                raise ConditionError("contains on a set field needs values", ("mask",))
            listed = reader.listed(data, "values")
            needed: Any = frozenset(_item(reader, v, ("values", i)) for i, v in enumerate(listed))
        else:
            if "mask" not in data:
                raise ConditionError("contains on a mask field needs mask", ("values",))
            needed = reader.convert(need_match(data["mask"], ("mask",), _MASK, "a hex mask of 1 to 256 digits"),
                                    ("mask",))
        description = f"{side}.{name} contains {show(needed)}"

        def accepts(value: Any) -> bool:
            return not ((needed - value) if isinstance(needed, frozenset) else (needed & ~value))

        complaint = f"lacks {show(needed)}", f"whose {name} includes {show(needed)}"

    else:  # pragma: no cover - UNARY_TESTS is exhaustive above
        raise ConditionError(f"unknown test {test!r}")

    sides = ("source", "target") if side == "both" else (side,)
    on_source = "source" in sides
    on_target = "target" in sides

    def holds(source: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
        if on_source:
            value = source.get(name, _MISSING)
            if value is _MISSING or not accepts(value):
                return False
        if on_target:
            value = target.get(name, _MISSING)
            if value is _MISSING or not accepts(value):
                return False
        return True

    def check(source: Mapping[str, Any], target: Mapping[str, Any]) -> Optional[Failure]:
        for which, values in (("source", source), ("target", target)):
            if which not in sides:
                continue
            if name not in values:
                return _missing(which, name)
            if not accepts(values[name]):
                problem, wanted = complaint
                shown = show(values[name])
                return Failure(
                    code, f"{which} {name} {shown} {problem}", f"use a {which} {wanted}",
                    shown if which == "source" else None, shown if which == "target" else None,
                )
        return None

    # A "both" condition pins the source too; the target half is still checked in full.
    pin_side = "target" if side == "target" else "source"
    pin = (f"{pin_side}:{name}", pin_values) if pin_values is not None else None
    return Condition(test, name, side, description, direction_safe=False, pin=pin, holds=holds, check=check,
                     **common)
