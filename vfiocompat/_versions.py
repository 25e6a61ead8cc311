"""Version schemes a table may declare for a ``version`` field.

Versions keep their raw string; comparison uses a key from a documented scheme, never a
loose guess:

* ``pep440``: :class:`packaging.version.Version` (``535.104.05``, ``1.2rc1``). Prereleases only
  match specifiers when the condition says ``prereleases = true``.
* ``dotted``: dot-separated decimal integers of any length (``17.0.0.1234``), compared
  component by component with missing components read as zero.

A test may compare only the first N release components (:meth:`VersionValue.release`): the
table then says the later components carry no state format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Tuple, Union

if TYPE_CHECKING:
    from packaging.version import Version

__all__ = ["SCHEMES", "VersionValue", "parse_version"]

SCHEMES = ("pep440", "dotted")
_DEC = frozenset("0123456789")
_MAX_DOTTED_COMPONENTS = 16


@dataclass(frozen=True, order=False)
class VersionValue:
    """A version with its raw text, its scheme and a sort key."""

    raw: str
    scheme: str
    key: Union[Version, Tuple[int, ...]] = field(repr=False)
    major: int = field(repr=False)
    # Versions key memo dictionaries on every explanation: hash once, not on each look-up.
    _hash: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.scheme, self.key)))

    def _same_scheme(self, other: Any) -> bool:
        return isinstance(other, VersionValue) and other.scheme == self.scheme

    def __eq__(self, other: object) -> bool:
        return self is other or (self._same_scheme(other) and self.key == other.key)  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: VersionValue) -> bool:
        return self.key < other.key  # type: ignore[operator]

    def __le__(self, other: VersionValue) -> bool:
        return self.key <= other.key  # type: ignore[operator]

    def __gt__(self, other: VersionValue) -> bool:
        return self.key > other.key  # type: ignore[operator]

    def __ge__(self, other: VersionValue) -> bool:
        return self.key >= other.key  # type: ignore[operator]

    def __str__(self) -> str:
        return self.raw

    def release(self, parts: int) -> Tuple[int, ...]:
        """The first ``parts`` release components, missing ones read as zero (``2`` -> ``(2, 0)`` for 2 parts)."""
        numbers: Tuple[int, ...] = self.key.release if self.scheme == "pep440" else self.key  # type: ignore[union-attr,assignment]
        numbers = numbers[:parts]
        return numbers + (0,) * (parts - len(numbers))


def parse_version(raw: str, scheme: str) -> VersionValue:
    """Read ``raw`` under ``scheme``; raise ``ValueError`` saying why it cannot be read."""
    if scheme == "pep440":
        # Imported here: tables with only dotted versions never pay for packaging at start-up.
        from packaging.version import InvalidVersion, Version

        try:
            version = Version(raw)
        except InvalidVersion:
            raise ValueError(f"{raw!r} is not a PEP 440 version") from None
        return VersionValue(raw, scheme, version, version.release[0])
    if scheme == "dotted":
        parts = raw.split(".")
        if len(parts) > _MAX_DOTTED_COMPONENTS or not all(p and set(p) <= _DEC for p in parts):
            raise ValueError(f"{raw!r} is not a dotted version (decimal integers separated by dots)")
        numbers = [int(p) for p in parts]
        while len(numbers) > 1 and numbers[-1] == 0:
            numbers.pop()
        return VersionValue(raw, scheme, tuple(numbers), numbers[0])
    raise ValueError(f"unknown version scheme {scheme!r}; known: {', '.join(SCHEMES)}")
