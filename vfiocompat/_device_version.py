"""The canonical device_version text form: ``VENDOR:INTERFACE:PROPRIETARY``.

* ``VENDOR``: the 32-bit vendor id in hex, ``0x`` prefix optional (canonical: ``0x%04x``).
* ``INTERFACE``: the migration interface version, dotted decimal integers (``1``, ``2.1``);
  a target's must be >= the source's.
* ``PROPRIETARY``: the vendor's own string, printable ASCII without spaces; it may contain ``:``.

The whole text is at most :data:`MAX_LENGTH` characters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Tuple

from .errors import DeviceVersionError

__all__ = [
    "MAX_LENGTH",
    "MAX_INTERFACE_COMPONENTS",
    "DeviceVersion",
    "parse",
    "format_vendor",
]

#: Longest accepted device_version text (a sysfs attribute page is 4096; this leaves room).
MAX_LENGTH = 1024
#: Most components in an interface version (``1.2.3.4``).
MAX_INTERFACE_COMPONENTS = 4
_MAX_COMPONENT_DIGITS = 9
_HEX = frozenset("0123456789abcdefABCDEF")
_DEC = frozenset("0123456789")


@dataclass(frozen=True)
class DeviceVersion:
    """A parsed device_version; ``str()`` gives the canonical text."""

    vendor_id: int
    interface: str
    proprietary: str
    interface_key: Tuple[int, ...] = field(repr=False, compare=False, default=())

    def __post_init__(self) -> None:
        if not self.interface_key:
            object.__setattr__(self, "interface_key", _interface_key(self.interface))

    @property
    def vendor(self) -> str:
        """The vendor id in canonical hex, e.g. ``0x8086``."""
        return format_vendor(self.vendor_id)

    def __str__(self) -> str:
        return f"{self.vendor}:{self.interface}:{self.proprietary}"


def format_vendor(vendor_id: int) -> str:
    """Canonical hex spelling of a vendor id."""
    return f"0x{vendor_id:04x}"


def _interface_key(interface: str) -> Tuple[int, ...]:
    parts = [int(p) for p in interface.split(".")]
    # 1 and 1.0 are the same interface version.
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _fail(text: str, code: str, message: str, position: int) -> DeviceVersionError:
    return DeviceVersionError(message, code=code, text=text, position=position)


def parse(text: str) -> DeviceVersion:
    """Parse a device_version text; raise :class:`DeviceVersionError` with the fault's position."""
    if not isinstance(text, str):
        raise _fail(repr(text), "VC101", f"device_version must be text, not {type(text).__name__}", 0)
    if not text:
        raise _fail(text, "VC101", "device_version is empty", 0)
    if len(text) > MAX_LENGTH:
        raise _fail(
            text, "VC102", f"device_version is {len(text)} characters, over the maximum of {MAX_LENGTH}",
            MAX_LENGTH,
        )
    for index, char in enumerate(text):
        if not ("!" <= char <= "~"):
            raise _fail(
                text, "VC103",
                f"device_version has forbidden character U+{ord(char):04X}; only printable ASCII"
                " without spaces is allowed",
                index,
            )
    first = text.find(":")
    second = text.find(":", first + 1) if first >= 0 else -1
    if first < 0 or second < 0:
        raise _fail(
            text, "VC104",
            "device_version needs three parts, VENDOR:INTERFACE:PROPRIETARY (e.g. 0x8086:1:...)",
            len(text),
        )
    vendor_text = text[:first]
    digits = vendor_text[2:] if vendor_text[:2] in ("0x", "0X") else vendor_text
    digits_at = len(vendor_text) - len(digits)
    if not digits:
        raise _fail(text, "VC105", "vendor id is empty; expected hex such as 0x8086", digits_at)
    for index, char in enumerate(digits):
        if char not in _HEX:
            raise _fail(text, "VC105", f"vendor id has non-hex character {char!r}", digits_at + index)
    stripped = digits.lstrip("0") or "0"
    if len(stripped) > 8:
        raise _fail(text, "VC106", f"vendor id {vendor_text} does not fit in 32 bits", digits_at)
    interface = text[first + 1 : second]
    _check_interface(text, interface, first + 1)
    proprietary = text[second + 1 :]
    if not proprietary:
        raise _fail(text, "VC108", "proprietary part is empty", second + 1)
    return DeviceVersion(int(stripped, 16), interface, proprietary)


def _check_interface(text: str, interface: str, offset: int) -> None:
    if not interface:
        raise _fail(text, "VC107", "migration interface version is empty; expected e.g. 1 or 1.2", offset)
    components = interface.split(".")
    if len(components) > MAX_INTERFACE_COMPONENTS:
        raise _fail(
            text, "VC107",
            f"migration interface version has {len(components)} components, at most"
            f" {MAX_INTERFACE_COMPONENTS} allowed",
            offset,
        )
    at = offset
    for component in components:
        if not component or any(c not in _DEC for c in component):
            raise _fail(
                text, "VC107",
                f"migration interface version {interface!r} must be dotted decimal integers",
                at,
            )
        if len(component) > 1 and component[0] == "0":
            raise _fail(text, "VC107", "migration interface version has a leading zero", at)
        if len(component) > _MAX_COMPONENT_DIGITS:
            raise _fail(text, "VC107", "migration interface version component is too large", at)
        at += len(component) + 1
