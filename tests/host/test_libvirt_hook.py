"""The libvirt hook, driven exactly as libvirt drives it: `SCRIPT GUEST migrate begin -`, XML on stdin, exit status."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from vfiocompat.host.libvirt_xml import NAMESPACE, parse_domain

from . import sysfs_fixtures as fx

UUID = "c2177883-f1bb-47f0-914d-32a22e3a8804"
PCI = "0000:3b:00.1"


def domain_xml(versions: Dict[str, str], *, hostdevs: bool = True, metadata: bool = True) -> bytes:
    """A domain XML as `virsh dumpxml --migratable` prints it, with an mdev and a PCI hostdev."""
    entries = "".join(
        f"<vfiocompat:device {'uuid' if '-' in key else 'address'}='{key}' version='{value}'/>"
        for key, value in versions.items()
    )
    meta = f"""
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://rhel.redhat.com/rhel/9.2"/>
    </libosinfo:libosinfo>
    <vfiocompat:devices xmlns:vfiocompat="{NAMESPACE}">{entries}</vfiocompat:devices>
  </metadata>""" if metadata else ""
    devices = f"""
    <hostdev mode='subsystem' type='mdev' managed='no' model='vfio-pci' display='off'>
      <source>
        <address uuid='{UUID}'/>
      </source>
      <alias name='hostdev0'/>
      <address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/>
    </hostdev>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'/>
      <source>
        <address domain='0x0000' bus='0x3b' slot='0x00' function='0x1'/>
      </source>
      <alias name='hostdev1'/>
      <address type='pci' domain='0x0000' bus='0x08' slot='0x00' function='0x0'/>
    </hostdev>""" if hostdevs else ""
    return f"""<domain type='kvm' id='7'>
  <name>vm-01</name>
  <uuid>5d6b1f1e-2c1a-4f0e-9d8c-7b6a5f4e3d2c</uuid>{meta}
  <memory unit='KiB'>8388608</memory>
  <vcpu placement='static'>4</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-8.2'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='host-passthrough' check='none' migratable='on'/>
  <devices>
    <emulator>/usr/libexec/qemu-kvm</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/vm-01.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:6b:3c:58'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>{devices}
  </devices>
</domain>
""".encode()


@pytest.fixture()
def destination(tmp_path: Path) -> Any:
    """A destination host: a w1 fw 2.0 function on a variant driver and an mdev of type w2 fw 2.0."""
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci(PCI, "0xfffd", "0x0001", attrs={"tv_model": "w1", "tv_fw": "2.0"}, driver="tv_vfio_pci")
    fs.add_mdev_parent("0000:00:02.0", "0xfffd", "0x0002", {"tv-w2": ("W2", 2, {"tv_model": "w2", "tv_fw": "2.0"})})
    fs.add_mdev("0000:00:02.0", UUID, "tv-w2")
    return fs


def hook(tmp_path: Path, root: Path, stdin: bytes, args: Optional[List[str]] = None,
         config: Optional[str] = None) -> Any:
    env = fx.cli_env(tmp_path, root)
    if config is not None:
        (tmp_path / "config.toml").write_text(config, encoding="utf-8")
        env["VFIOCOMPAT_CONFIG"] = str(tmp_path / "config.toml")
    return fx.run_cli(["libvirt-hook", "--", *(args or ["vm-01", "migrate", "begin", "-"])], env, stdin=stdin)


def _ours(entries: str) -> str:
    return f'<vfiocompat:devices xmlns:vfiocompat="{NAMESPACE}">{entries}</vfiocompat:devices>'


def test_accepted_migration_prints_the_domain_with_this_hosts_versions(destination: Any, tmp_path: Path) -> None:
    xml = domain_xml({PCI: fx.dv("w1", "1.5"), UUID: fx.dv("w2", "2.0")})
    result = hook(tmp_path, destination.root, xml)
    assert (result.returncode, result.stderr) == (0, b"")
    old = _ours(f"<vfiocompat:device address='{PCI}' version='{fx.dv('w1', '1.5')}'/>"
                f"<vfiocompat:device uuid='{UUID}' version='{fx.dv('w2', '2.0')}'/>")
    new = _ours(f'<vfiocompat:device uuid="{UUID}" version="{fx.dv("w2", "2.0")}"/>'
                f'<vfiocompat:device address="{PCI}" version="{fx.dv("w1", "2.0")}"/>')
    assert old.encode() in xml
    # Byte for byte the input outside vfiocompat's element: libosinfo's, the quoting, the whitespace.
    assert result.stdout == xml.replace(old.encode(), new.encode())
    assert [parse_domain(result.stdout).source_version(h) for h in parse_domain(result.stdout).hostdevs] == [
        fx.dv("w2", "2.0"), fx.dv("w1", "2.0")]


def test_incompatible_migration_is_refused_with_one_line(destination: Any, tmp_path: Path) -> None:
    xml = domain_xml({PCI: fx.dv("w1", "3.0"), UUID: fx.dv("w2", "2.0")})
    result = hook(tmp_path, destination.root, xml)
    assert result.returncode == 1 and result.stdout == b""
    line = result.stderr.decode()
    assert line.count("\n") == 1 and "Traceback" not in line
    assert line.startswith("vfiocompat: refusing migration of 'vm-01': hostdev pci:0000:3b:00.1: error[VC411]")
    assert fx.dv("w1", "3.0") in line


def test_every_blocking_hostdev_is_named_on_one_line(destination: Any, tmp_path: Path) -> None:
    (destination.root / "devices/pci0000:00/0000:00:01.0/0000:00:02.0/mdev_supported_types/tv-w2/tv_fw").write_text(
        "2.5\n")
    xml = domain_xml({PCI: fx.dv("w1", "3.0"), UUID: fx.dv("w2", "2.0")})
    result = hook(tmp_path, destination.root, xml)
    assert result.returncode == 1 and result.stdout == b""
    line = result.stderr.decode()
    assert line.count("\n") == 1
    assert line.startswith("vfiocompat: refusing migration of 'vm-01': 2 hostdevs block it: ")
    assert f"hostdev mdev:{UUID}: error[TV_FW_ERRATA]" in line and f"hostdev pci:{PCI}: error[VC411]" in line


def test_refusal_line_is_bounded_and_counts_the_rest() -> None:
    from vfiocompat._verdict import Reason
    from vfiocompat.host.libvirt_hook import MAX_REFUSAL_CHARS, Blocker, HookResult, refusal_line

    blockers = tuple(Blocker(f"pci:0000:3b:{n // 8:02x}.{n % 8}", Reason("VC606", "host", "x" * (n % 50)))
                     for n in range(500))
    line = refusal_line("vm-01", HookResult(1, blockers))
    assert len(line) <= MAX_REFUSAL_CHARS and "\n" not in line
    shown = line.count("hostdev pci:")
    assert 1 < shown < 500 and line.endswith(f"; and {500 - shown} more")
    # One enormous reason is cut to fit, never dropped.
    huge = HookResult(1, (Blocker("pci:0000:3b:00.1", Reason("VC411", "table", "y" * 5000)),
                          Blocker("pci:0000:3b:00.2", Reason("VC411", "table", "z"))))
    line = refusal_line("g" * 1000, huge)
    assert len(line) <= MAX_REFUSAL_CHARS and "hostdev pci:0000:3b:00.1: error[VC411]: yyy" in line
    assert line.endswith("...; hostdev pci:0000:3b:00.2: error[VC411]: z")
    line = refusal_line("vm-01", huge, limit=200)
    assert len(line) <= 200 and "hostdev pci:0000:3b:00.1: error[VC411]: yyy" in line
    assert line.endswith("...; and 1 more")


def test_deny_rule_refuses_the_mdev(destination: Any, tmp_path: Path) -> None:
    (destination.root / "devices/pci0000:00/0000:00:01.0/0000:00:02.0/mdev_supported_types/tv-w2/tv_fw").write_text(
        "2.5\n")
    xml = domain_xml({PCI: fx.dv("w1", "1.0"), UUID: fx.dv("w2", "2.0")})
    result = hook(tmp_path, destination.root, xml)
    assert result.returncode == 1
    assert f"hostdev mdev:{UUID}: error[TV_FW_ERRATA]" in result.stderr.decode()


def test_destination_on_plain_vfio_pci_is_refused(tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci(PCI, "0x15b3", "0x101e")
    fs.add_mdev_parent("0000:00:02.0", "0xfffd", "0x0002", {"tv-w2": ("W2", 2, {"tv_model": "w2", "tv_fw": "2.0"})})
    fs.add_mdev("0000:00:02.0", UUID, "tv-w2")
    result = hook(tmp_path, fs.root, domain_xml({PCI: "0x15b3:1:x", UUID: fx.dv("w2", "2.0")}))
    assert result.returncode == 1
    assert b"hostdev pci:0000:3b:00.1: error[VC601]" in result.stderr and b"mlx5_vfio_pci" in result.stderr


def test_hostdev_absent_on_destination_is_refused(tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci(PCI, "0xfffd", "0x0001", attrs={"tv_model": "w1", "tv_fw": "2.0"}, driver="tv_vfio_pci")
    result = hook(tmp_path, fs.root, domain_xml({PCI: fx.dv("w1", "1.0"), UUID: fx.dv("w2", "2.0")}))
    assert result.returncode == 1
    assert f"hostdev mdev:{UUID}: error[VC606]: hostdev mdev:{UUID} is not a VFIO device".encode() in result.stderr


def test_hostdev_without_metadata_is_refused(destination: Any, tmp_path: Path) -> None:
    result = hook(tmp_path, destination.root, domain_xml({PCI: fx.dv("w1", "1.0")}))
    assert result.returncode == 1 and f"hostdev mdev:{UUID}: error[VC606]".encode() in result.stderr
    result = hook(tmp_path, destination.root, domain_xml({}, metadata=False))
    assert result.returncode == 1 and b"error[VC606]" in result.stderr


def test_without_metadata_allowed_by_config_adds_this_hosts_versions(destination: Any, tmp_path: Path) -> None:
    allow = '[hook]\nwithout_metadata = "allow"\n'
    # Inside the existing <metadata>, after libosinfo's element, nothing else touched.
    xml = domain_xml({}).replace(f'<vfiocompat:devices xmlns:vfiocompat="{NAMESPACE}"></vfiocompat:devices>'.encode(),
                                 b"")
    result = hook(tmp_path, destination.root, xml, config=allow)
    assert (result.returncode, result.stderr) == (0, b"")
    added = _ours(f'<vfiocompat:device uuid="{UUID}" version="{fx.dv("w2", "2.0")}"/>'
                  f'<vfiocompat:device address="{PCI}" version="{fx.dv("w1", "2.0")}"/>').encode()
    assert result.stdout == xml.replace(b"\n  </metadata>", b"\n  " + added + b"</metadata>")
    # No <metadata> at all: one is created, every other byte kept.
    bare = domain_xml({}, metadata=False)
    result = hook(tmp_path, destination.root, bare, config=allow)
    assert result.returncode == 0
    assert result.stdout == bare.replace(b"</domain>", b"  <metadata>" + added + b"</metadata>\n</domain>")
    assert [parse_domain(result.stdout).source_version(h) for h in parse_domain(result.stdout).hostdevs] == [
        fx.dv("w2", "2.0"), fx.dv("w1", "2.0")]
    # The default is to refuse.
    assert hook(tmp_path, destination.root, bare, config="").returncode == 1


def test_a_round_trip_onto_the_older_device_is_refused_on_the_way_back(tmp_path: Path) -> None:
    hosts = {}
    for name, fw in (("h1", "1.0"), ("h2", "2.0")):
        fs = fx.FakeSysfs(tmp_path / name / "sys")
        fs.add_pci(PCI, "0xfffd", "0x0001", attrs={"tv_model": "w1", "tv_fw": fw}, driver="tv_vfio_pci")
        hosts[name] = fs.root
    xml = domain_xml({PCI: fx.dv("w1", "1.0")}).replace(b"<hostdev mode='subsystem' type='mdev'", b"<!--", 1)
    xml = xml.replace(b"</hostdev>", b"-->", 1)
    assert len(parse_domain(xml).hostdevs) == 1
    # h1 -> h2: 1.0 -> 2.0 is forward; the domain now says 2.0, the truth on h2.
    there = hook(tmp_path, hosts["h2"], xml)
    assert there.returncode == 0 and there.stdout
    assert parse_domain(there.stdout).versions[0].version == fx.dv("w1", "2.0")
    # h2 -> h1: what runs is 2.0; 2.0 -> 1.0 is backwards. Without the rewrite it would pass as 1.0 -> 1.0.
    back = hook(tmp_path, hosts["h1"], there.stdout)
    assert back.returncode == 1 and back.stdout == b""
    assert f"hostdev pci:{PCI}: error[VC411]: {fx.dv('w1', '2.0')} -> {fx.dv('w1', '1.0')}".encode() in back.stderr
    assert hook(tmp_path, hosts["h1"], xml).returncode == 0, "the first leg's source is still fine on h1"


def test_an_invalid_config_refuses_migrations_and_nothing_else(destination: Any, tmp_path: Path) -> None:
    xml = domain_xml({PCI: fx.dv("w1", "1.5"), UUID: fx.dv("w2", "2.0")})
    result = hook(tmp_path, destination.root, xml, config="[hook]\nwithout_metadata = 'maybe'\n")
    assert result.returncode == 1 and result.stdout == b"" and result.stderr.count(b"\n") == 1
    assert b"error[VC609]" in result.stderr and b"hook.without_metadata" in result.stderr
    started = hook(tmp_path, destination.root, b"", args=["vm-01", "started", "begin", "-"], config="nonsense = [")
    assert (started.returncode, started.stdout, started.stderr) == (0, b"", b"")


def test_a_large_domain_is_judged_whole_with_a_count(tmp_path: Path) -> None:
    # 1 MiB, ~25,000 hostdevs (issue 9 item 12c). A bound on time is in examples/libvirt/bench_large_domain.py.
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci(PCI, "0xfffd", "0x0001", attrs={"tv_model": "w1", "tv_fw": "2.0"}, driver="tv_vfio_pci")
    hostdevs = b"<hostdev type='pci'/>" * 25_000
    xml = domain_xml({PCI: fx.dv("w1", "1.0")}).replace(b"</devices>", hostdevs + b"</devices>")
    assert len(xml) <= 1 << 20 and len(parse_domain(xml).hostdevs) == 25_002
    result = hook(tmp_path, fs.root, xml)
    assert result.returncode == 1 and result.stderr.count(b"\n") == 1
    line = result.stderr.decode()
    # The mdev has no device here, the 25,000 have no address: every one is counted, the good PCI one is not.
    assert line.startswith(f"vfiocompat: refusing migration of 'vm-01': 25001 hostdevs block it: hostdev mdev:{UUID}")
    shown = line.count("; hostdev ") + 1
    assert line.endswith(f"; and {25_001 - shown} more\n") and len(line) <= 1001


def test_domain_without_hostdevs_passes(destination: Any, tmp_path: Path) -> None:
    result = hook(tmp_path, destination.root, domain_xml({}, hostdevs=False, metadata=False))
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")


@pytest.mark.parametrize("args", [["vm-01", "started", "begin", "-"], ["vm-01", "prepare", "begin", "-"],
                                  ["vm-01", "release", "end", "-"], ["vm-01", "restore", "begin", "-"]])
def test_other_calls_pass_through_without_reading_stdin(args: List[str], destination: Any, tmp_path: Path) -> None:
    # stdin stays open and empty: a hook that read it would block until the timeout.
    process = subprocess.Popen([fx.console_script(), "libvirt-hook", *args], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=fx.cli_env(tmp_path, destination.root))
    try:
        status = process.wait(timeout=60)
    finally:
        assert process.stdin is not None
        process.stdin.close()
    assert process.stdout is not None and process.stderr is not None
    assert (status, process.stdout.read(), process.stderr.read()) == (0, b"", b"")


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE domain [
  <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
  <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
  <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
  <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
  <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
  <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<domain type='kvm'><name>&f;</name></domain>
"""
EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE domain [ <!ENTITY x SYSTEM "file:///etc/passwd"> ]>
<domain type='kvm'><name>&x;</name></domain>
"""


def _oversize() -> bytes:
    xml = domain_xml({PCI: fx.dv("w1", "1.0"), UUID: fx.dv("w2", "2.0")})
    return xml.replace(b"<devices>", b"<devices><!--" + b"x" * (1 << 20) + b"-->")


@pytest.mark.parametrize(("name", "payload", "words"), [
    ("entity bomb", BOMB, b"DOCTYPE or ENTITY"),
    ("external entity", EXTERNAL, b"DOCTYPE or ENTITY"),
    ("utf-16 doctype", BOMB.replace(b'<?xml version="1.0"?>', b"").decode().encode("utf-16"), b"DOCTYPE or ENTITY"),
    ("oversize", _oversize(), b"larger than 1048576 bytes"),
    ("malformed", b"<domain><devices></domain>", b"malformed"),
    ("undeclared entity", b"<domain><name>&x;</name></domain>", b"malformed"),
], ids=lambda value: value if isinstance(value, str) else "")  # a 1 MiB id would not fit in the environment
def test_hostile_xml_is_refused(name: str, payload: bytes, words: bytes, destination: Any, tmp_path: Path) -> None:
    result = hook(tmp_path, destination.root, payload)
    assert result.returncode == 1, name
    assert b"error[VC607]" in result.stderr and words in result.stderr
    assert b"root:" not in result.stderr and b"aaaa" not in result.stderr
    assert result.stderr.count(b"\n") == 1


def test_libvirt_metadata_round_trips_through_libvirt_namespacing(destination: Any, tmp_path: Path) -> None:
    env = fx.cli_env(tmp_path, destination.root)
    result = fx.run_cli(["libvirt-metadata", "--device", f"{PCI}={fx.dv('w1', '1.0')}",
                         "--device", f"{UUID.upper()}={fx.dv('w2', '2.0')}",
                         "--device", "alias:ua-x=0xfffd:1:a=b"], env)
    assert result.returncode == 0, result.stderr
    element = result.stdout.decode().strip()
    assert element.startswith("<devices><device ") and element.endswith("</devices>")
    # What `virsh metadata --uri NS --key vfiocompat --set ELEMENT` stores: the same element, namespaced.
    stored = element.replace("<devices>", f'<vfiocompat:devices xmlns:vfiocompat="{NAMESPACE}">').replace(
        "<device ", "<vfiocompat:device ").replace("</devices>", "</vfiocompat:devices>")
    domain = parse_domain(domain_xml({}, metadata=False).replace(b"<memory", f"<metadata>{stored}</metadata><memory"
                                                                                .encode(), 1))
    assert [domain.source_version(h) for h in domain.hostdevs] == [fx.dv("w2", "2.0"), fx.dv("w1", "1.0")]
    probed = fx.run_cli(["libvirt-metadata", "--probe"], env)
    assert probed.returncode == 0
    assert f"address=\"{PCI}\" version=\"{fx.dv('w1', '2.0')}\"" in probed.stdout.decode()
    bad = fx.run_cli(["libvirt-metadata", "--device", "eth0=0xfffd:1:x"], env)
    assert bad.returncode == 2 and b"not a PCI address" in bad.stderr
