"""Reading a libvirt domain XML safely: its hostdevs and vfiocompat's metadata, nothing else.

The document comes from whoever asked libvirt to migrate, so it is parsed defensively with the
stdlib expat parser: at most :data:`MAX_DOMAIN_XML_BYTES` (1 MiB), and any DOCTYPE or ENTITY
declaration is refused outright, so no entity is ever expanded and no external entity fetched
(there is no DTD processing at all). defusedxml is not needed for this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple
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
    "metadata_element",
    "refresh_metadata",
    "parse_metadata_element",
]

#: Largest domain XML accepted (a domain with hundreds of devices is a few tens of KiB).
MAX_DOMAIN_XML_BYTES = 1 << 20
#: vfiocompat's namespace in a domain's ``<metadata>``.
NAMESPACE = "https://vfiocompat.readthedocs.io/xmlns/1"
#: The prefix ``virsh metadata --key`` gives that namespace.
METADATA_KEY = "vfiocompat"

_SEP = " "
_OURS = f"{NAMESPACE}{_SEP}"
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
class Spans:
    """Byte offsets in the document, for rewriting vfiocompat's element and nothing else.

    ``ours``: ``[start, end)`` of each element in :data:`NAMESPACE` directly under ``<metadata>``;
    ``metadata``: ``<metadata>``'s start-tag span and the offset of its end tag (None if empty);
    ``domain_end``: the offset of ``</domain>``. ``utf8``: the offsets index UTF-8 text.
    """

    ours: Tuple[Tuple[int, int], ...] = ()
    metadata: Optional[Tuple[int, int, Optional[int]]] = None
    domain_end: Optional[int] = None
    utf8: bool = True


@dataclass(frozen=True)
class Domain:
    """What vfiocompat reads from a domain XML."""

    name: Optional[str]
    hostdevs: Tuple[Hostdev, ...]
    versions: Tuple[SourceVersion, ...]
    spans: Spans = field(default_factory=Spans, repr=False, compare=False)
    _index: Dict[Tuple[str, str], SourceVersion] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One pass over the entries: looking each hostdev up by scanning them all was quadratic.
        index: Dict[Tuple[str, str], SourceVersion] = {}
        for entry in self.versions:
            if entry.alias is not None:
                index.setdefault(("alias", entry.alias), entry)
                continue
            if entry.address:
                index.setdefault(("address", entry.address), entry)
            if entry.uuid:
                index.setdefault(("uuid", entry.uuid), entry)
        object.__setattr__(self, "_index", index)

    def source_entry(self, hostdev: Hostdev) -> Optional[SourceVersion]:
        """The metadata entry recorded for ``hostdev``: by alias first, then by address or uuid."""
        index = self._index
        found = index.get(("alias", hostdev.alias)) if hostdev.alias else None
        if found is None and hostdev.address:
            found = index.get(("address", hostdev.address))
        if found is None and hostdev.uuid:
            found = index.get(("uuid", hostdev.uuid))
        return found

    def source_version(self, hostdev: Hostdev) -> Optional[str]:
        """The source device_version recorded for ``hostdev``: by alias first, then by address or uuid."""
        entry = self.source_entry(hostdev)
        return None if entry is None else entry.version


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


def _hardened_parser() -> Any:
    parser = expat.ParserCreate(namespace_separator=_SEP)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_declaration
    parser.EntityDeclHandler = _refuse_declaration
    parser.UnparsedEntityDeclHandler = _refuse_declaration
    parser.ExternalEntityRefHandler = _refuse_external
    return parser


def parse_metadata_element(data: bytes) -> Tuple[SourceVersion, ...]:
    """The entries of the element ``virsh metadata DOMAIN --uri NAMESPACE`` prints (no namespace on it)."""
    if len(data) > MAX_DOMAIN_XML_BYTES:
        raise DomainXMLError(f"metadata is larger than {MAX_DOMAIN_XML_BYTES} bytes; refused")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        _refuse_declaration()
    names = ("devices", f"{NAMESPACE}{_SEP}devices"), ("device", f"{NAMESPACE}{_SEP}device")
    depth: List[str] = []
    entries: List[SourceVersion] = []

    def start(tag: str, attrs: Dict[str, str]) -> None:
        if len(depth) == 0 and tag not in names[0]:
            raise DomainXMLError(f"vfiocompat metadata has root element {tag!r}, not 'devices'")
        if len(depth) == 1 and tag in names[1] and attrs.get("version"):
            address = pci_address(attrs["address"]) if attrs.get("address") else None
            entries.append(SourceVersion(attrs["version"], address, mdev_uuid(attrs.get("uuid") or ""),
                                         attrs.get("alias") or None))
        depth.append(tag)

    parser = _hardened_parser()
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda tag: depth.pop()
    try:
        parser.Parse(data, True)
    except expat.ExpatError as error:
        raise DomainXMLError(f"vfiocompat metadata is malformed: {expat.ErrorString(error.code)}"
                             f" at line {error.lineno}, column {error.offset + 1}") from None
    return tuple(entries)


def parse_domain(data: bytes) -> Domain:
    """The hostdevs and vfiocompat metadata of a domain XML, or :class:`DomainXMLError`."""
    if len(data) > MAX_DOMAIN_XML_BYTES:
        raise DomainXMLError(f"domain XML is larger than {MAX_DOMAIN_XML_BYTES} bytes; refused")
    # Cheap first guard; the expat handlers below also catch declarations in other encodings.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        _refuse_declaration()
    reader = _Reader(data)
    parser = _hardened_parser()
    reader.parser = parser
    parser.XmlDeclHandler = reader.declaration
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
    utf8 = reader.utf8 and not data.startswith((b"\xfe\xff", b"\xff\xfe"))
    spans = Spans(tuple(reader.ours), reader.metadata, reader.domain_end, utf8)
    return Domain(reader.name, tuple(reader.hostdevs), tuple(reader.versions), spans)


def _is_vfio_hostdev(tag: str, attrs: Dict[str, str]) -> bool:
    if tag == "interface":
        return attrs.get("type") == "hostdev"
    return tag == "hostdev" and attrs.get("mode", "subsystem") == "subsystem" and attrs.get("type") in ("pci", "mdev")


def _refuse_external(*_args: object) -> int:
    _refuse_declaration()
    return 0


def _tag_end(data: bytes, start: int) -> int:
    """The offset just past the tag that opens at ``start``: its first ``>`` outside quoted attribute values."""
    quote = 0
    for index in range(start, len(data)):
        byte = data[index]
        if quote:
            if byte == quote:
                quote = 0
        elif byte in (0x22, 0x27):
            quote = byte
        elif byte == 0x3E:
            return index + 1
    return len(data)  # unreachable for a document expat accepted


class _Reader:
    """Collects hostdevs (domain/devices/hostdev, interface type=hostdev), metadata entries and their spans."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.parser: Any = None
        self.stack: List[str] = []
        self.root: Optional[str] = None
        self.name: Optional[str] = None
        self.hostdevs: List[Hostdev] = []
        self.versions: List[SourceVersion] = []
        self.ours: List[Tuple[int, int]] = []
        self.metadata: Optional[Tuple[int, int, Optional[int]]] = None
        self.domain_end: Optional[int] = None
        self.utf8 = True
        self._domain_empty = 0
        self._open: Optional[Tuple[int, bool]] = None
        self._metadata_open: Optional[Tuple[int, int]] = None
        self._current: Optional[Dict[str, Optional[str]]] = None
        self._text: Optional[List[str]] = None

    def declaration(self, version: str, encoding: Optional[str], standalone: int) -> None:
        if encoding is not None and encoding.lower().replace("_", "-") not in ("utf-8", "utf8", "us-ascii", "ascii"):
            self.utf8 = False

    def start(self, tag: str, attrs: Dict[str, str]) -> None:
        path = self.stack
        if not path:
            self.root = tag
            self._domain_empty = _tag_end(self.data, self.parser.CurrentByteIndex) - 2
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
        elif depth == 1 and tag == "metadata" and self.metadata is None and self._metadata_open is None:
            offset = self.parser.CurrentByteIndex
            self._metadata_open = (offset, _tag_end(self.data, offset))
        elif depth == 2 and path[1] == "metadata" and tag.startswith(_OURS):
            offset = self.parser.CurrentByteIndex
            end = _tag_end(self.data, offset)
            self._open = (offset, self.data[end - 2:end] == b"/>")
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
        elif depth == 2 and self._open is not None:
            start, empty = self._open
            self._open = None
            offset = self.parser.CurrentByteIndex
            # An empty element's end event stands just past it; an end tag's at its "</".
            self.ours.append((start, offset if empty else _tag_end(self.data, offset)))
        elif depth == 1 and tag == "metadata" and self._metadata_open is not None:
            start, start_end = self._metadata_open
            self._metadata_open = None
            empty = self.data[start_end - 2:start_end] == b"/>"
            self.metadata = (start, start_end, None if empty else self.parser.CurrentByteIndex)
        elif depth == 0 and self.data[self._domain_empty:self._domain_empty + 2] != b"/>":
            self.domain_end = self.parser.CurrentByteIndex

    def text(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def metadata_xml(entries: Sequence[SourceVersion]) -> str:
    """The element ``virsh metadata DOMAIN --uri NAMESPACE --key vfiocompat --set XML`` takes.

    libvirt puts the element and its children in the namespace given by ``--uri``.
    """
    return f"<devices>{_entries_xml(entries, '')}</devices>"


def _entries_xml(entries: Sequence[SourceVersion], prefix: str) -> str:
    items = []
    for entry in entries:
        attrs = []
        for key in ("alias", "address", "uuid"):
            value = getattr(entry, key)
            if value:
                attrs.append(f"{key}={quoteattr(value)}")
        attrs.append(f"version={quoteattr(entry.version)}")
        items.append(f"<{prefix}device {' '.join(attrs)}/>")
    return "".join(items)


def metadata_element(entries: Sequence[SourceVersion]) -> str:
    """The element as libvirt keeps it in a domain's ``<metadata>``: in :data:`NAMESPACE`, prefix ``vfiocompat``."""
    prefix = f"{METADATA_KEY}:"
    return (f"<{prefix}devices xmlns:{METADATA_KEY}={quoteattr(NAMESPACE)}>{_entries_xml(entries, prefix)}"
            f"</{prefix}devices>")


def refresh_metadata(data: bytes, domain: Domain, entries: Sequence[SourceVersion]) -> bytes:
    """``data`` with vfiocompat's metadata element replaced by ``entries`` (or added), every other byte kept.

    ``domain`` must be ``parse_domain(data)``: the element's place is taken from the parser's byte
    offsets, never from a re-serialised tree, so comments, quoting and whitespace elsewhere survive.
    Raises :class:`DomainXMLError` for a document whose bytes are not UTF-8.
    """
    spans = domain.spans
    if not spans.utf8:
        raise DomainXMLError("domain XML is not UTF-8; vfiocompat cannot rewrite its metadata, refused")
    element = metadata_element(entries).encode("utf-8")
    if spans.ours:
        # The first of our elements becomes the new one; any others (libvirt keeps one per namespace) go.
        pieces, last = [], 0
        for number, (start, end) in enumerate(spans.ours):
            pieces.append(data[last:start])
            if number == 0:
                pieces.append(element)
            last = end
        pieces.append(data[last:])
        return b"".join(pieces)
    if spans.metadata is not None:
        start, start_end, end_tag = spans.metadata
        if end_tag is not None:
            return data[:end_tag] + element + data[end_tag:]
        return data[:start] + b"<metadata>" + element + b"</metadata>" + data[start_end:]
    if spans.domain_end is None:
        raise DomainXMLError("domain XML has no place for metadata; refused")
    at = spans.domain_end
    return data[:at] + b"  <metadata>" + element + b"</metadata>\n" + data[at:]
