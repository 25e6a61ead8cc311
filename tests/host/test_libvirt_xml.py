"""vfiocompat.host.libvirt_xml: hostdevs and vfiocompat metadata from a domain XML, parsed defensively."""

from __future__ import annotations

import re
from typing import Any, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfiocompat.host.libvirt_xml import (
    MAX_DOMAIN_XML_BYTES,
    NAMESPACE,
    DomainXMLError,
    Hostdev,
    SourceVersion,
    mdev_uuid,
    metadata_xml,
    parse_domain,
    parse_metadata_element,
    pci_address,
    refresh_metadata,
)

UUID = "c2177883-f1bb-47f0-914d-32a22e3a8804"
CANONICAL_PCI = re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


def _domain(devices: str = "", metadata: str = "", name: str = "<name>vm</name>") -> bytes:
    return f"<domain type='kvm'>{name}<metadata>{metadata}</metadata><devices>{devices}</devices></domain>".encode()


def _pci_hostdev(bus: str = "0x3b", slot: str = "0x00", function: str = "0x1", alias: str = "",
                 attrs: str = "mode='subsystem' type='pci'") -> str:
    alias_element = f"<alias name='{alias}'/>" if alias else ""
    return (f"<hostdev {attrs}><source><address domain='0x0000' bus='{bus}' slot='{slot}' function='{function}'/>"
            f"</source>{alias_element}<address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/>"
            "</hostdev>")


# -- pci_address / mdev_uuid ---------------------------------------------------------------------------


def _spell(value: int, width: int, draw: Any) -> str:
    digits = f"{value:x}"
    digits = "0" * draw(st.integers(0, max(0, width - len(digits)))) + digits
    return "".join(c.upper() if draw(st.booleans()) else c for c in digits)


@st.composite
def pci_spellings(draw: Any) -> Any:
    domain = draw(st.integers(0, 0xFFFFFFFF))
    bus, slot, function = draw(st.integers(0, 0xFF)), draw(st.integers(0, 0xFF)), draw(st.integers(0, 7))
    text = f"{_spell(bus, 2, draw)}:{_spell(slot, 2, draw)}.{function}"
    if domain or draw(st.booleans()):
        text = f"{_spell(domain, 8, draw)}:{text}"
    text = draw(st.sampled_from(["", " ", "\t"])) + text + draw(st.sampled_from(["", " ", "\n"]))
    return text, f"{domain:04x}:{bus:02x}:{slot:02x}.{function}"


@settings(max_examples=300)
@given(pci_spellings())
def test_any_spelling_of_a_pci_address_is_canonicalised(case: Any) -> None:
    text, canonical = case
    assert pci_address(text) == canonical
    assert CANONICAL_PCI.match(canonical)
    assert pci_address(canonical) == canonical, "the canonical form is a fixed point"


@pytest.mark.parametrize("text", ["", "3b:00", "3b:00.8", "0000:3b:00", "0000:3b:100.1", "000000000:3b:00.1",
                                  "g0:00.1", "0000:3b:00.1.2", "0x3b:00.1", "eth0", "0000 :3b:00.1", "3b:0 0.1"])
def test_non_addresses_are_none(text: str) -> None:
    assert pci_address(text) is None


def test_mdev_uuid() -> None:
    assert mdev_uuid(UUID.upper()) == UUID
    assert mdev_uuid(f" {UUID}\n") == UUID
    for text in ("", UUID[:-1], UUID.replace("-", ""), "{" + UUID + "}", UUID + "0", UUID.replace("c", "g", 1)):
        assert mdev_uuid(text) is None, text


# -- parse_domain ---------------------------------------------------------------------------------------


def test_parse_domain_reads_interface_hostdevs_aliases_and_libvirt_namespacing() -> None:
    xml = f"""<domain type='kvm'><name>v</name>
      <metadata><vfiocompat:devices xmlns:vfiocompat="{NAMESPACE}">
        <vfiocompat:device alias='ua-nic' version='0xfffd:1:model=w1;fw=1.0'/>
        <vfiocompat:device address='3b:00.2' version='0xfffd:1:model=w1;fw=1.1'/>
      </vfiocompat:devices><other:devices xmlns:other="https://example.com/x">
        <other:device address='0000:3b:00.2' version='0xfffd:1:spoofed'/></other:devices></metadata>
      <devices>
        <interface type='hostdev' managed='yes'>
          <source><address type='pci' domain='0x0000' bus='0x3b' slot='0x10' function='0x3'/></source>
          <alias name='ua-nic'/>
        </interface>
        <hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0x3b' slot='0' function='2'/></source>
        </hostdev>
        <hostdev mode='capabilities' type='storage'><source><block>/dev/sdb</block></source></hostdev>
      </devices></domain>""".encode()
    domain = parse_domain(xml)
    assert domain.name == "v"
    assert [h.id for h in domain.hostdevs] == ["pci:0000:3b:10.3", "pci:0000:3b:00.2"]
    assert domain.source_version(domain.hostdevs[0]) == "0xfffd:1:model=w1;fw=1.0"
    assert domain.source_version(domain.hostdevs[1]) == "0xfffd:1:model=w1;fw=1.1", "other namespaces are ignored"
    with pytest.raises(DomainXMLError):
        parse_domain(b"<network><name>n</name></network>")


def test_mdev_and_pci_hostdevs_with_their_aliases() -> None:
    mdev = (f"<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='{UUID.upper()}'/>"
            "</source><alias name='hostdev0'/></hostdev>")
    domain = parse_domain(_domain(mdev + _pci_hostdev(alias="hostdev1")))
    assert domain.hostdevs == (Hostdev("mdev", uuid=UUID, alias="hostdev0"),
                               Hostdev("pci", address="0000:3b:00.1", alias="hostdev1"))
    assert [h.id for h in domain.hostdevs] == [f"mdev:{UUID}", "pci:0000:3b:00.1"]


@pytest.mark.parametrize("devices", [
    _pci_hostdev(attrs="mode='capabilities' type='pci'"),
    _pci_hostdev(attrs="mode='subsystem' type='usb'"),
    _pci_hostdev(attrs="mode='subsystem'"),
    "<interface type='network'><source network='default'/></interface>",
    "<disk type='file'><source file='/x'/></disk>",
])
def test_other_devices_are_not_hostdevs(devices: str) -> None:
    assert parse_domain(_domain(devices)).hostdevs == ()


def test_hostdevs_outside_devices_are_ignored() -> None:
    xml = _domain(metadata=_pci_hostdev(), devices="").replace(b"<devices>", b"<devices><x>" + _pci_hostdev().encode()
                                                                + b"</x>")
    assert parse_domain(xml).hostdevs == ()


def test_default_mode_is_subsystem_and_missing_domain_is_zero() -> None:
    xml = _domain("<hostdev type='pci'><source><address bus='3b' slot='0' function='1'/></source></hostdev>")
    assert parse_domain(xml).hostdevs == (Hostdev("pci", address="0000:3b:00.1"),)


def test_incomplete_source_addresses_give_no_address() -> None:
    xml = _domain(_pci_hostdev(bus="") + _pci_hostdev(slot="zz")
                  + "<hostdev type='mdev'><source><address uuid='not-a-uuid'/></source></hostdev>")
    hostdevs = parse_domain(xml).hostdevs
    assert [(h.kind, h.address, h.uuid) for h in hostdevs] == [("pci", None, None)] * 2 + [("mdev", None, None)]


@pytest.mark.parametrize(("bus", "function"), [("0x1ff", "0x1"), ("0x3b", "9"), ("-1", "0")])
def test_out_of_range_source_addresses_are_not_invented(bus: str, function: str) -> None:
    [hostdev] = parse_domain(_domain(_pci_hostdev(bus=bus, function=function))).hostdevs
    assert hostdev.address is None or pci_address(hostdev.address) == hostdev.address


def test_name_is_stripped_and_optional() -> None:
    assert parse_domain(_domain(name="<name>\n  vm-01 \n</name>")).name == "vm-01"
    assert parse_domain(_domain(name="")).name is None
    assert parse_domain(_domain(name="<name> </name>")).name is None


def test_source_version_prefers_alias_then_address_or_uuid() -> None:
    meta = (f"<v:devices xmlns:v='{NAMESPACE}'>"
            "<v:device address='0000:3b:00.1' version='0xfffd:1:by-address'/>"
            "<v:device alias='hostdev1' version='0xfffd:1:by-alias'/>"
            "<v:device alias='other' address='0000:3b:00.2' version='0xfffd:1:aliased-address'/>"
            f"<v:device uuid='{UUID.upper()}' version='0xfffd:1:by-uuid'/>"
            "<v:device address='0000:3b:00.3'/>"
            "</v:devices>")
    domain = parse_domain(_domain(meta, metadata=meta))
    assert domain.source_version(Hostdev("pci", "0000:3b:00.1", alias="hostdev1")) == "0xfffd:1:by-alias"
    assert domain.source_version(Hostdev("pci", "0000:3b:00.1", alias="nomatch")) == "0xfffd:1:by-address"
    assert domain.source_version(Hostdev("pci", "0000:3b:00.1")) == "0xfffd:1:by-address"
    assert domain.source_version(Hostdev("pci", "0000:3b:00.2")) is None, "an entry keyed by alias needs the alias"
    assert domain.source_version(Hostdev("mdev", uuid=UUID)) == "0xfffd:1:by-uuid"
    assert domain.source_version(Hostdev("pci", "0000:3b:00.3")) is None, "an entry without version is skipped"
    assert len(domain.versions) == 4


def test_metadata_outside_the_namespace_or_place_is_ignored() -> None:
    spoof = ("<devices><device address='0000:3b:00.1' version='0xfffd:1:spoofed'/></devices>"
             f"<v:other xmlns:v='{NAMESPACE}'><v:device address='0000:3b:00.1' version='0xfffd:1:x'/></v:other>")
    deep = (f"<wrap><v:devices xmlns:v='{NAMESPACE}'><v:device address='0000:3b:00.1' version='0xfffd:1:x'/>"
            "</v:devices></wrap>")
    assert parse_domain(_domain(metadata=spoof)).versions == ()
    assert parse_domain(_domain(metadata=deep)).versions == ()


@pytest.mark.parametrize(("payload", "words"), [
    (b"<?xml version='1.0'?><!DOCTYPE domain><domain/>", "DOCTYPE or ENTITY"),
    (b"<!DOCTYPE domain [<!ENTITY x 'y'>]><domain><name>&x;</name></domain>", "DOCTYPE or ENTITY"),
    ("<!DOCTYPE domain><domain/>".encode("utf-16"), "DOCTYPE or ENTITY"),
    # expat cannot read UTF-32 at all: refused as malformed before any declaration is looked at.
    ("<!DOCTYPE domain><domain/>".encode("utf-32"), "malformed"),
])
def test_declarations_are_refused(payload: bytes, words: str) -> None:
    with pytest.raises(DomainXMLError, match=words) as caught:
        parse_domain(payload)
    assert caught.value.code == "VC607"


def test_size_limit_is_exact() -> None:
    base = _domain()
    pad = MAX_DOMAIN_XML_BYTES - len(base)
    at_limit = base.replace(b"<devices>", b"<devices>" + b" " * pad)
    assert len(at_limit) == MAX_DOMAIN_XML_BYTES and parse_domain(at_limit).name == "vm"
    with pytest.raises(DomainXMLError, match=f"larger than {MAX_DOMAIN_XML_BYTES} bytes"):
        parse_domain(at_limit + b" ")


def test_malformed_xml_says_where() -> None:
    with pytest.raises(DomainXMLError, match=r"malformed: mismatched tag at line 2, column \d+"):
        parse_domain(b"<domain>\n<devices></domain>")
    with pytest.raises(DomainXMLError, match="malformed"):
        parse_domain(b"")
    with pytest.raises(DomainXMLError, match="root element 'x'"):
        parse_domain(b"<x/>")


# -- metadata_xml -------------------------------------------------------------------------------------


def test_metadata_xml_element_shape() -> None:
    element = metadata_xml([SourceVersion("0xfffd:1:a&b<c>\"'", address="0000:3b:00.1", alias="ua-x")])
    assert element.startswith("<devices><device alias=\"ua-x\" address=\"0000:3b:00.1\" version=")
    assert element.endswith("/></devices>") and "a&amp;b&lt;c&gt;" in element
    assert metadata_xml([]) == "<devices></devices>"


_VERSION = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60)
_ALIAS = st.from_regex(r"\Aua-[a-z0-9_-]{1,10}\Z")


@st.composite
def source_versions(draw: Any) -> Any:
    key = draw(st.sampled_from(["address", "uuid", "alias"]))
    version = draw(_VERSION)
    if key == "address":
        return SourceVersion(version, address=draw(pci_spellings())[1])
    if key == "uuid":
        return SourceVersion(version, uuid=str(draw(st.uuids())))
    return SourceVersion(version, alias=draw(_ALIAS))


@settings(max_examples=150, deadline=None)
@given(st.lists(source_versions(), max_size=5))
def test_metadata_round_trips_through_libvirt_namespacing(entries: List[SourceVersion]) -> None:
    # `virsh metadata --uri NS --set ELEMENT` stores the element with NS as its namespace.
    stored = metadata_xml(entries).replace("<devices>", f"<devices xmlns='{NAMESPACE}'>", 1)
    assert parse_domain(_domain(metadata=stored)).versions == tuple(entries)


# -- refresh_metadata ---------------------------------------------------------------------------------

_NEW = [SourceVersion("0xfffd:1:model=w1;fw=2.0", address="0000:3b:00.1")]
_NEW_XML = (f'<vfiocompat:devices xmlns:vfiocompat="{NAMESPACE}"><vfiocompat:device address="0000:3b:00.1"'
            ' version="0xfffd:1:model=w1;fw=2.0"/></vfiocompat:devices>').encode()


@pytest.mark.parametrize("ours", [
    f"<v:devices xmlns:v='{NAMESPACE}'><v:device address='0000:3b:00.1' version='0xfffd:1:old'/></v:devices>",
    f"<v:devices xmlns:v='{NAMESPACE}'/>",
    f'<v:devices xmlns:v="{NAMESPACE}" note="a>b/>"><!-- > --><v:device address="3b:00.1" version="x>"/></v:devices >',
    f"<devices xmlns='{NAMESPACE}'>\n  <device address='0000:3b:00.1' version='0xfffd:1:old'/>\n</devices>",
])
def test_refresh_replaces_only_our_element(ours: str) -> None:
    before = "<domain type='kvm'>\n <name>vm</name>\n <metadata>\n  <o:x xmlns:o='urn:other'>&amp;<!-- k --></o:x>\n  "
    after = "\n </metadata>\n <devices>" + _pci_hostdev() + "</devices>\n</domain>\n"
    data = (before + ours + after).encode()
    refreshed = refresh_metadata(data, parse_domain(data), _NEW)
    assert refreshed == before.encode() + _NEW_XML + after.encode()
    assert parse_domain(refreshed).source_version(parse_domain(refreshed).hostdevs[0]) == "0xfffd:1:model=w1;fw=2.0"


def test_refresh_replaces_every_element_of_ours_and_keeps_others() -> None:
    first = f"<v:devices xmlns:v='{NAMESPACE}'><v:device address='0000:3b:00.1' version='0xfffd:1:a'/></v:devices>"
    second = f"<w:other xmlns:w='{NAMESPACE}'/>"
    spoof = "<devices><device address='0000:3b:00.1' version='0xfffd:1:spoofed'/></devices>"
    data = _domain(_pci_hostdev(), metadata=first + spoof + second)
    refreshed = refresh_metadata(data, parse_domain(data), _NEW)
    assert refreshed == data.replace(first.encode(), _NEW_XML).replace(second.encode(), b"")


def test_refresh_adds_the_element_to_metadata_or_a_new_metadata() -> None:
    data = _domain(_pci_hostdev(), metadata="<o:x xmlns:o='urn:other'/>")
    assert refresh_metadata(data, parse_domain(data), _NEW) == data.replace(b"</metadata>", _NEW_XML + b"</metadata>")
    empty = data.replace(b"<metadata><o:x xmlns:o='urn:other'/></metadata>", b"<metadata/>")
    assert refresh_metadata(empty, parse_domain(empty), _NEW) == empty.replace(
        b"<metadata/>", b"<metadata>" + _NEW_XML + b"</metadata>")
    bare = data.replace(b"<metadata><o:x xmlns:o='urn:other'/></metadata>", b"")
    refreshed = refresh_metadata(bare, parse_domain(bare), _NEW)
    assert refreshed == bare.replace(b"</domain>", b"  <metadata>" + _NEW_XML + b"</metadata>\n</domain>")
    assert parse_domain(refreshed).versions == tuple(_NEW)


def test_refresh_keeps_non_ascii_bytes_and_refuses_other_encodings() -> None:
    data = _domain(_pci_hostdev(), metadata="<o:d xmlns:o='urn:x'>Grüße — 東京</o:d>")
    assert refresh_metadata(data, parse_domain(data), _NEW).startswith(data.split(b"</metadata>")[0])
    utf16 = data.decode().encode("utf-16")
    with pytest.raises(DomainXMLError, match="not UTF-8"):
        refresh_metadata(utf16, parse_domain(utf16), _NEW)
    latin = b"<?xml version='1.0' encoding='ISO-8859-1'?>" + data.replace("ü".encode(), b"\xfc")
    with pytest.raises(DomainXMLError, match="not UTF-8"):
        refresh_metadata(latin, parse_domain(latin), _NEW)


@settings(max_examples=100, deadline=None)
@given(st.lists(source_versions(), max_size=4), st.text(alphabet="ab <>&;'\"\n\t/=-", max_size=30))
def test_refresh_is_a_splice(entries: List[SourceVersion], noise: str) -> None:
    from xml.sax.saxutils import escape

    comment = escape(noise).replace("--", "- -")
    data = _domain(_pci_hostdev(), metadata=f"<!-- {comment} -->"
                   f"<v:devices xmlns:v='{NAMESPACE}'><v:device address='0000:3b:00.1' version='x'/></v:devices>"
                   f"<o:y xmlns:o='urn:y'>{escape(noise)}</o:y>")
    refreshed = refresh_metadata(data, parse_domain(data), entries)
    head, tail = data.split(f"<v:devices xmlns:v='{NAMESPACE}'>".encode())[0], data.split(b"</v:devices>")[1]
    assert refreshed.startswith(head) and refreshed.endswith(tail)
    assert parse_domain(refreshed).versions == tuple(entries)


def test_parse_metadata_element_reads_what_virsh_prints() -> None:
    printed = (b'<devices>\n  <device address="0000:3b:00.1" version="0xfffd:1:a&amp;b"/>\n'
               b'  <device alias="ua-x" version="0xfffd:1:c"/>\n  <device uuid="x"/>\n</devices>\n')
    assert parse_metadata_element(printed) == (SourceVersion("0xfffd:1:a&b", address="0000:3b:00.1"),
                                               SourceVersion("0xfffd:1:c", alias="ua-x"))
    for bad, words in ((b"<other/>", "root element"), (b"<devices>", "malformed"),
                       (b"<!DOCTYPE d><devices/>", "DOCTYPE")):
        with pytest.raises(DomainXMLError, match=words):
            parse_metadata_element(bad)


def test_source_entry_finds_each_of_thousands_of_hostdevs() -> None:
    # As many entries as hostdevs: a scan per hostdev (the old way) was quadratic; each lookup must hit its own.
    count = 5_000
    entries = "".join(f"<v:device address='0000:{n >> 8:02x}:{n >> 3 & 0x1f:02x}.{n & 7}' version='0xfffd:1:{n}'/>"
                      for n in range(count))
    hostdevs = "".join(f"<hostdev type='pci'><source><address bus='{n >> 8:#x}' slot='{n >> 3 & 0x1f:#x}'"
                       f" function='{n & 7}'/></source></hostdev>" for n in range(count))
    domain = parse_domain(_domain(hostdevs, metadata=f"<v:devices xmlns:v='{NAMESPACE}'>{entries}</v:devices>"))
    assert [domain.source_version(h) for h in domain.hostdevs] == [f"0xfffd:1:{n}" for n in range(count)]
