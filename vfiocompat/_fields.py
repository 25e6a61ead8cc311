"""How a proprietary string splits into named, typed fields.

A table declares the format; the split is linear and never uses a regular expression
from the table:

* ``delimited``: fields joined by one separator; one field may be ``rest = true`` and keep
  the separators it contains (fields before it are split from the left, after it from the right).
* ``keyvalue``: ``key=value`` pairs joined by a pair separator, in any order.
* ``hook``: the plugin's ``vfiocompat_parse_fields`` hook splits the string; the table still
  declares each field's type.

A ``map`` field (table schema 2) is ``key:value`` items joined by ``item_separator``; its values
are ``uint`` or ``version`` (:class:`MapValue`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple

from ._versions import parse_version
from .errors import FieldFormatError

__all__ = [
    "FIELD_TYPES",
    "ORDERED_BY_DEFAULT",
    "MAP_VALUE_TYPES",
    "FieldSpec",
    "MapValue",
    "StringFormat",
    "FieldValues",
    "ParseFieldsHook",
    "describe_character",
    "value_fault",
    "text_fault",
]

FIELD_TYPES = ("string", "uint", "hex", "version", "set", "mask", "map")
#: What a ``map`` field's values may be.
MAP_VALUE_TYPES = ("uint", "version")
#: Types whose values have a direction (older -> newer) unless the table says otherwise.
ORDERED_BY_DEFAULT = frozenset({"version"})
_DEC = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
#: Integers in proprietary strings are at most 64 bits wide (masks up to 1024 bits).
_MAX_INT_BITS = 64
_MAX_MASK_BITS = 1024

FieldValues = Mapping[str, Any]
ParseFieldsHook = Callable[[str], Optional[Mapping[str, str]]]


def describe_character(char: str) -> str:
    """``U+0421 CYRILLIC CAPITAL LETTER ES``; control characters, which have no name, by their category."""
    name = unicodedata.name(char, "")
    if not name:
        category = unicodedata.category(char)
        name = {"Cc": "a control character", "Cs": "a lone surrogate", "Co": "a private-use character",
                "Cn": "an unassigned code point"}.get(category, f"category {category}")
    return f"U+{ord(char):04X} {name}"


def value_fault(text: str) -> Optional[str]:
    """Why no device_version can carry ``text`` (printable ASCII without spaces), or ``None``."""
    for char in text:
        if not ("!" <= char <= "~"):
            return (f"has {describe_character(char)}; a device_version is printable ASCII without spaces,"
                    " so this value can never match")
    return None


def text_fault(text: str, *, lines: bool = False) -> Optional[str]:
    """Why ``text`` is not one line of printable text (``lines``: line breaks allowed), or ``None``."""
    if text.isprintable():
        return None
    for char in text:
        if not char.isprintable() and not (lines and char == "\n"):
            kind = "prose" if lines else "one line"
            return f"has {describe_character(char)}; table text is {kind} of printable characters"
    return None


class MapValue(Mapping[str, Any]):
    """A ``map`` field's value: keys to typed values, immutable and hashable (rules index on values)."""

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[str, Any]) -> None:
        self._items = dict(items)
        self._hash = hash(frozenset(self._items.items()))

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MapValue) and self._items == other._items

    def __repr__(self) -> str:
        return f"MapValue({self._items!r})"


@dataclass(frozen=True)
class FieldSpec:
    """One named field of a proprietary string and how to read it."""

    name: str
    type: str
    ordered: bool
    scheme: str = "pep440"
    item_separator: str = ","
    optional: bool = False
    rest: bool = False
    key_separator: str = ":"
    value_type: str = "uint"

    def convert(self, raw: str) -> Any:
        """Turn the raw text of this field into its typed value or raise ``ValueError``."""
        kind = self.type
        if kind == "string":
            if not raw:
                raise ValueError("is empty")
            return raw
        if kind == "uint":
            return _integer(raw, _DEC, 10, _MAX_INT_BITS, "a decimal integer")
        if kind == "hex":
            return _integer(_strip_0x(raw), _HEX, 16, _MAX_INT_BITS, "a hex integer")
        if kind == "mask":
            return _integer(_strip_0x(raw), _HEX, 16, _MAX_MASK_BITS, "a hex bit mask")
        if kind == "version":
            return parse_version(raw, self.scheme)
        if kind == "set":
            items = raw.split(self.item_separator) if raw else []
            if any(not item for item in items):
                raise ValueError(f"has an empty item in {raw!r}")
            return frozenset(items)
        if kind == "map":
            return self._map(raw)
        raise ValueError(f"has unknown type {kind!r}")


    def _map(self, raw: str) -> MapValue:
        items: Dict[str, Any] = {}
        for item in raw.split(self.item_separator) if raw else ():
            key, sep, text = item.partition(self.key_separator)
            if not key or not sep:
                raise ValueError(f"has {item!r}, which is not key{self.key_separator}value")
            if key in items:
                raise ValueError(f"has key {key!r} twice")
            if self.value_type == "version":
                items[key] = parse_version(text, self.scheme)
            else:
                items[key] = _integer(text, _DEC, 10, _MAX_INT_BITS, "a decimal integer")
        return MapValue(items)


def _strip_0x(raw: str) -> str:
    return raw[2:] if raw[:2] in ("0x", "0X") else raw


def _integer(raw: str, alphabet: frozenset[str], base: int, bits: int, what: str) -> int:
    if not raw or not set(raw) <= alphabet:
        raise ValueError(f"{raw!r} is not {what}")
    value = int(raw, base)
    if value.bit_length() > bits:
        raise ValueError(f"{raw!r} is wider than {bits} bits")
    return value


@dataclass(frozen=True)
class StringFormat:
    """A table's declared format for its proprietary strings."""

    kind: str
    fields: Tuple[FieldSpec, ...]
    separator: str = "-"
    pair_separator: str = ";"
    kv_separator: str = "="
    unknown_keys: str = "reject"
    # Looked up for every key of every keyvalue string and every condition of a table: a dict, not a scan.
    _by_name: Dict[str, FieldSpec] = dataclass_field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {spec.name: spec for spec in self.fields})

    def field(self, name: str) -> Optional[FieldSpec]:
        """The declared field called ``name``, if any."""
        return self._by_name.get(name)

    def separators_of(self, spec: FieldSpec) -> Tuple[str, ...]:
        """The separators no value of ``spec`` can contain, since they split the string around it."""
        if self.kind == "delimited":
            return () if spec.rest else (self.separator,)
        if self.kind == "keyvalue":
            return (self.pair_separator,)
        return ()

    def split(self, proprietary: str, hook: Optional[ParseFieldsHook] = None) -> Dict[str, str]:
        """Split ``proprietary`` into raw field texts; raise :class:`FieldFormatError`."""
        if self.kind == "delimited":
            return self._split_delimited(proprietary)
        if self.kind == "keyvalue":
            return self._split_keyvalue(proprietary)
        if hook is None:
            raise FieldFormatError("the table's format is 'hook' but no plugin hook parses it")
        raw = hook(proprietary)
        if raw is None:
            raise FieldFormatError("the plugin's parse hook does not recognise the string")
        return dict(raw)

    def parse(self, proprietary: str, hook: Optional[ParseFieldsHook] = None) -> Dict[str, Any]:
        """Split and type ``proprietary``; raise :class:`FieldFormatError` naming the field."""
        raw = self.split(proprietary, hook)
        values: Dict[str, Any] = {}
        for spec in self.fields:
            text = raw.get(spec.name)
            if text is None:
                if spec.optional:
                    continue
                raise FieldFormatError(f"field {spec.name!r} is missing", field=spec.name)
            if not isinstance(text, str):
                raise FieldFormatError(
                    f"field {spec.name!r} came back as {type(text).__name__}, not text", field=spec.name
                )
            try:
                values[spec.name] = spec.convert(text)
            except ValueError as error:
                raise FieldFormatError(f"field {spec.name!r} {error}", field=spec.name) from None
        return values

    def _split_delimited(self, proprietary: str) -> Dict[str, str]:
        parts = proprietary.split(self.separator)
        count = len(self.fields)
        rest_at = next((i for i, spec in enumerate(self.fields) if spec.rest), None)
        if rest_at is None:
            if len(parts) != count:
                raise FieldFormatError(
                    f"expected {count} fields separated by {self.separator!r}, found {len(parts)}"
                )
            return {spec.name: part for spec, part in zip(self.fields, parts)}
        after = count - rest_at - 1
        if len(parts) < count:
            raise FieldFormatError(
                f"expected at least {count} fields separated by {self.separator!r}, found {len(parts)}"
            )
        middle = self.separator.join(parts[rest_at : len(parts) - after])
        ordered = [*parts[:rest_at], middle, *parts[len(parts) - after :]]
        return {spec.name: part for spec, part in zip(self.fields, ordered)}

    def _split_keyvalue(self, proprietary: str) -> Dict[str, str]:
        raw: Dict[str, str] = {}
        for pair in proprietary.split(self.pair_separator):
            key, sep, value = pair.partition(self.kv_separator)
            if not sep:
                raise FieldFormatError(f"{pair!r} is not key{self.kv_separator}value")
            if key in raw:
                raise FieldFormatError(f"key {key!r} appears twice", field=key)
            if self.field(key) is None and self.unknown_keys == "reject":
                raise FieldFormatError(f"unknown key {key!r}", field=key)
            raw[key] = value
        return raw
