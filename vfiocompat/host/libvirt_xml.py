"""Reading a libvirt domain XML safely: its hostdevs and vfiocompat's metadata, nothing else.

The document comes from whoever asked libvirt to migrate, so it is parsed defensively with the
stdlib expat parser: at most :data:`MAX_DOMAIN_XML_BYTES` (1 MiB), and any DOCTYPE or ENTITY
declaration is refused outright, so no entity is ever expanded and no external entity fetched
(there is no DTD processing at all). defusedxml is not needed for this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

from ..errors import DomainXMLError

__all__ = [
    "MAX_DOMAIN_XML_BYTES",
    "NAMESPACE",
    "METADATA_KEY",
    "DomainXMLError",
    "Hostdev",
    "SourceVersion",
    "Domain",
    "parse_domain",
    "pci_address",
    "mdev_uuid",
    "metadata_xml",
]

#: Largest domain XML accepted (a domain with hundreds of devices is a few tens of KiB).
MAX_DOMAIN_XML_BYTES = 1 << 20
#: vfiocompat's namespace in a domain's ``<metadata>``.
NAMESPACE = "https://vfiocompat.readthedocs.io/xmlns/1"
#: The prefix ``virsh metadata --key`` gives that namespace.
METADATA_KEY = "vfiocompat"

_SEP = " "
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_PCI = re.compile(r"^(?:([0-9a-f]{1,8}):)?([0-9a-f]{1,2}):([0-9a-f]{1,2})\.([0-7])$")


@dataclass(frozen=True)
class Hostdev:
    """A VFIO device the domain uses: a PCI function (``address``) or an mdev (``uuid``), and its alias."""

    kind: str
    address: Optional[str] = None
    uuid: Optional[str] = None
    alias: Optional[str] = None

    @property
    def id(self) -> str:
        """``pci:ADDRESS`` or ``mdev:UUID``, as in an inventory."""
        return f"pci:{self.address}" if self.kind == "pci" else f"mdev:{self.uuid}"


@dataclass(frozen=True)
class SourceVersion:
    """One ``<vfiocompat:device>`` entry: which hostdev (address, uuid or alias) had which device_version."""

    version: str
    address: Optional[str] = None
    uuid: Optional[str] = None
    alias: Optional[str] = None


@dataclass(frozen=True)
class Domain:
    """What vfiocompat reads from a domain XML."""

    name: Optional[str]
    hostdevs: Tuple[Hostdev, ...]
    versions: Tuple[SourceVersion, ...]

    def source_version(self, hostdev: Hostdev) -> Optional[str]:
        """The source device_version recorded for ``hostdev``: by alias first, then by address or uuid."""
        if hostdev.alias:
            for entry in self.versions:
                if entry.alias == hostdev.alias:
                    return entry.version
        for entry in self.versions:
            if entry.alias is None and ((hostdev.address and entry.address == hostdev.address)
                                        or (hostdev.uuid and entry.uuid == hostdev.uuid)):
                return entry.version
        return None


def pci_address(text: str) -> Optional[str]:
    """``0000:3b:00.1`` from ``0000:3b:00.1`` or ``3b:00.1`` (any case); None if it is not one."""
    found = _PCI.match(text.strip().lower())
    if found is None:
        return None
    domain, bus, slot, function = found.groups()
    return f"{int(domain or '0', 16):04x}:{int(bus, 16):02x}:{int(slot, 16):02x}.{int(function, 16):x}"


def mdev_uuid(text: str) -> Optional[str]:
    """The lower-case UUID, or None if ``text`` is not one."""
    lowered = text.strip().lower()
    return lowered if _UUID.match(lowered) else None


def _hex(value: Optional[str]) -> Optional[int]:
    if value is None:
        return None
    text = value.strip().lower()
    text = text[2:] if text.startswith("0x") else text
    # int(x, 16) would accept signs, underscores and spaces; an address field is plain hex.
    if not text or len(text) > 8 or not set(text) <= set("0123456789abcdef"):
        return None
    return int(text, 16)


def _refuse_declaration(*_args: object) -> None:
    raise DomainXMLError("domain XML has a DOCTYPE or ENTITY declaration; refused (no DTDs, no entities)")


def parse_domain(data: bytes) -> Domain:
    """The hostdevs and vfiocompat metadata of a domain XML, or :class:`DomainXMLError`."""
    if len(data) > MAX_DOMAIN_XML_BYTES:
        raise DomainXMLError(f"domain XML is larger than {MAX_DOMAIN_XML_BYTES} bytes; refused")
    # Cheap first guard; the expat handlers below also catch declarations in other encodings.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        _refuse_declaration()
    reader = _Reader()
    parser = expat.ParserCreate(namespace_separator=_SEP)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_declaration
    parser.EntityDeclHandler = _refuse_declaration
    parser.UnparsedEntityDeclHandler = _refuse_declaration
    parser.ExternalEntityRefHandler = _refuse_external
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise DomainXMLError(f"domain XML is malformed: {expat.ErrorString(error.code)}"
                             f" at line {error.lineno}, column {error.offset + 1}") from None
    if reader.root != "domain":
        raise DomainXMLError(f"not a libvirt domain XML (root element {reader.root!r})")
    return Domain(reader.name, tuple(reader.hostdevs), tuple(reader.versions))


def _is_vfio_hostdev(tag: str, attrs: Dict[str, str]) -> bool:
    if tag == "interface":
        return attrs.get("type") == "hostdev"
    return tag == "hostdev" and attrs.get("mode", "subsystem") == "subsystem" and attrs.get("type") in ("pci", "mdev")


def _refuse_external(*_args: object) -> int:
    _refuse_declaration()
    return 0


class _Reader:
    """Collects hostdevs (domain/devices/hostdev, interface type=hostdev) and metadata entries."""

    def __init__(self) -> None:
        self.stack: List[str] = []
        self.root: Optional[str] = None
        self.name: Optional[str] = None
        self.hostdevs: List[Hostdev] = []
        self.versions: List[SourceVersion] = []
        self._current: Optional[Dict[str, Optional[str]]] = None
        self._text: Optional[List[str]] = None

    def start(self, tag: str, attrs: Dict[str, str]) -> None:
        path = self.stack
        if not path:
            self.root = tag
        depth = len(path)
        if depth == 2 and path[1] == "devices" and _is_vfio_hostdev(tag, attrs):
            self._current = {"kind": attrs.get("type") if tag == "hostdev" else "pci", "address": None,
                             "uuid": None, "alias": None}
        elif self._current is not None and depth == 3 and tag == "alias":
            self._current["alias"] = attrs.get("name")
        elif self._current is not None and depth == 4 and path[3] == "source" and tag == "address":
            self._source_address(attrs)
        elif depth == 1 and tag == "name" and path[0] == "domain":
            self._text = []
        elif depth == 3 and path[1] == "metadata" and path[2] == f"{NAMESPACE}{_SEP}devices" and tag in (
            f"{NAMESPACE}{_SEP}device", "device"
        ):
            self._metadata_entry(attrs)
        path.append(tag)

    def _source_address(self, attrs: Dict[str, str]) -> None:
        assert self._current is not None
        if self._current["kind"] == "mdev":
            self._current["uuid"] = mdev_uuid(attrs.get("uuid") or "")
            return
        parts = [_hex(attrs.get(k)) for k in ("domain", "bus", "slot", "function")]
        if parts[0] is None:
            parts[0] = 0
        if all(p is not None for p in parts):
            domain, bus, slot, function = (p or 0 for p in parts)
            if domain <= 0xFFFF and bus <= 0xFF and slot <= 0x1F and function <= 7:
                self._current["address"] = f"{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"

    def _metadata_entry(self, attrs: Dict[str, str]) -> None:
        version = attrs.get("version")
        if not version:
            return
        address = pci_address(attrs["address"]) if attrs.get("address") else None
        uuid = mdev_uuid(attrs.get("uuid") or "")
        self.versions.append(SourceVersion(version, address, uuid, attrs.get("alias") or None))

    def end(self, tag: str) -> None:
        self.stack.pop()
        depth = len(self.stack)
        if depth == 2 and self._current is not None and tag in ("hostdev", "interface"):
            current = self._current
            self._current = None
            kind = current["kind"] or "pci"
            self.hostdevs.append(Hostdev(kind, current["address"], current["uuid"], current["alias"]))
        elif depth == 1 and tag == "name" and self._text is not None:
            self.name = "".join(self._text).strip() or None
            self._text = None

    def text(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def metadata_xml(entries: List[SourceVersion]) -> str:
    """The element ``virsh metadata DOMAIN --uri NAMESPACE --key vfiocompat --set XML`` takes.

    libvirt puts the element and its children in the namespace given by ``--uri``.
    """
    items = []
    for entry in entries:
        attrs = []
        for key in ("alias", "address", "uuid"):
            value = getattr(entry, key)
            if value:
                attrs.append(f"{key}={quoteattr(value)}")
        attrs.append(f"version={quoteattr(entry.version)}")
        items.append(f"<device {' '.join(attrs)}/>")
    return f"<devices>{''.join(items)}</devices>"
