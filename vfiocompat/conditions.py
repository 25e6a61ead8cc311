"""The tests a rule's conditions can make, compiled from table data into checks.

Pairwise tests compare the source's field with the target's and read source -> target;
unary tests look at one side (``source``, ``target`` or ``both``). Nothing here evaluates
table text as code: globs are matched by a linear matcher, versions by a declared scheme.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Mapping, Optional, Sequence, Tuple

from .fields import FieldSpec
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
    """A condition's data is inconsistent with its field; the message says why."""


def compile_condition(data: Mapping[str, Any], spec: FieldSpec) -> Condition:
    """Build a :class:`Condition` from one table entry; raise :class:`ConditionError`."""
    test = data["test"]
    common = {
        "code": data.get("code"),
        "message": data.get("message"),
        "hint": data.get("hint"),
    }
    if test in PAIRWISE_TESTS:
        if "side" in data:
            raise ConditionError(f"test {test!r} compares source with target; it takes no 'side'")
        return _compile_pairwise(test, data, spec, common)
    if test in UNARY_TESTS:
        side = data.get("side")
        if side not in _SIDES:
            raise ConditionError(f"test {test!r} needs side = 'source', 'target' or 'both'")
        return _compile_unary(test, side, data, spec, common)
    raise ConditionError(f"unknown test {test!r}")


def _missing(side: str, name: str) -> Failure:
    return Failure("VC420", f"{side} has no field {name!r}", f"use a {side} device_version that carries {name!r}")


def _need_types(test: str, spec: FieldSpec, allowed: Sequence[str]) -> None:
    if spec.type not in allowed:
        raise ConditionError(
            f"test {test!r} needs a field of type {' or '.join(allowed)}; {spec.name!r} is {spec.type!r}"
        )


def _compile_pairwise(test: str, data: Mapping[str, Any], spec: FieldSpec, common: Dict[str, Any]) -> Condition:
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
        low = _count(data, "min_steps", 0) or 0
        high = _count(data, "max_steps", None)
        if high is None or high < low:
            raise ConditionError("upgrade_window needs max_steps >= min_steps >= 0")
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
        pairs = _pairs(data, spec)
        allowed: Dict[Any, FrozenSet[Any]] = {}
        for s_value, t_value in pairs:
            allowed[s_value] = allowed.get(s_value, frozenset()) | {t_value}
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


def _count(data: Mapping[str, Any], key: str, default: Optional[int]) -> Optional[int]:
    value = data.get(key, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConditionError(f"{key} must be a whole number >= 0")
    return value


def _convert(spec: FieldSpec, raw: Any, where: str) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise ConditionError(f"{where}: {raw!r} must be text or a whole number")
    if isinstance(raw, int) and spec.type in ("uint", "hex", "mask"):
        if raw < 0:
            raise ConditionError(f"{where}: {raw} is negative")
        return raw
    try:
        return spec.convert(str(raw))
    except ValueError as error:
        raise ConditionError(f"{where}: field {spec.name!r} {error}") from None


def _pairs(data: Mapping[str, Any], spec: FieldSpec) -> Tuple[Tuple[Any, Any], ...]:
    raw = data.get("pairs")
    if not isinstance(raw, list) or not raw:
        raise ConditionError("maps_to needs pairs = [[source value, target value], ...]")
    pairs = []
    for index, item in enumerate(raw):
        if not isinstance(item, list) or len(item) != 2:
            raise ConditionError(f"pairs[{index}] must be [source value, target value]")
        pairs.append((_convert(spec, item[0], f"pairs[{index}][0]"), _convert(spec, item[1], f"pairs[{index}][1]")))
    return tuple(pairs)


def _compile_unary(
    test: str, side: str, data: Mapping[str, Any], spec: FieldSpec, common: Dict[str, Any]
) -> Condition:
    name = spec.name
    code = _DEFAULT_CODES[test]
    def show(value: Any) -> str:
        return render(spec, value)

    pin_values: Optional[FrozenSet[Any]] = None
    accepts: Callable[[Any], bool]
    complaint: Tuple[str, str]

    if test == "one_of":
        values = data.get("values")
        if not isinstance(values, list) or not values:
            raise ConditionError("one_of needs a non-empty list of values")
        allowed = frozenset(_convert(spec, v, f"values[{i}]") for i, v in enumerate(values))
        pin_values = allowed
        listing = ", ".join(sorted(show(v) for v in allowed))
        description = f"{side}.{name} in [{listing}]"
        accepts = allowed.__contains__
        complaint = f"is not one of [{listing}]", f"with {name} in [{listing}]"

    elif test == "glob":
        _need_types(test, spec, ("string",))
        pattern = data.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ConditionError("glob needs a non-empty pattern")
        description = f"{side}.{name} matches {pattern!r}"

        def accepts(value: Any) -> bool:
            return glob_match(pattern, value)

        complaint = f"does not match {pattern!r}", f"with {name} matching {pattern!r}"

    elif test == "specifier":
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        _need_types(test, spec, ("version",))
        if spec.scheme != "pep440":
            raise ConditionError("specifier works on pep440 versions; use range for other schemes")
        text = data.get("spec")
        prereleases = data.get("prereleases")
        if not isinstance(prereleases, bool):
            raise ConditionError("specifier needs prereleases = true or false, said explicitly")
        try:
            specifier = SpecifierSet(text if isinstance(text, str) else "", prereleases=prereleases)
        except InvalidSpecifier:
            raise ConditionError(f"{text!r} is not a PEP 440 specifier") from None
        if not isinstance(text, str) or not text.strip():
            raise ConditionError("specifier needs a non-empty spec such as '>=535,<550'")
        description = f"{side}.{name} matches {text!r}"

        def accepts(value: Any) -> bool:
            return bool(specifier.contains(value.key, prereleases=prereleases))

        complaint = f"is outside {text!r}", f"with {name} in {text!r}"

    elif test == "range":
        _need_types(test, spec, ("uint", "hex", "version"))
        low = _convert(spec, data["min"], "min") if "min" in data else None
        high = _convert(spec, data["max"], "max") if "max" in data else None
        if low is None and high is None:
            raise ConditionError("range needs min, max or both")
        if low is not None and high is not None and high < low:
            raise ConditionError("range has max below min")
        span = f"[{show(low) if low is not None else ''}, {show(high) if high is not None else ''}]"
        description = f"{side}.{name} in {span}"

        def accepts(value: Any) -> bool:
            return bool((low is None or value >= low) and (high is None or value <= high))

        complaint = f"is outside {span}", f"with {name} in {span}"

    elif test == "contains":
        _need_types(test, spec, ("set", "mask"))
        if spec.type == "set":
            raw_values = data.get("values")
            if not isinstance(raw_values, list) or not raw_values:
                raise ConditionError("contains on a set needs a non-empty list of values")
            needed: Any = frozenset(str(v) for v in raw_values)
        else:
            needed = _convert(spec, data.get("mask", ""), "mask")
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
