"""vfiocompat.host.virsh and ``libvirt-metadata --domain``, against libvirt's own test driver.

Each virsh process starts the test driver afresh, so what is set is gone for the next process:
round trips through libvirt run in one virsh invocation, and read-back checks use a test driver
file of our own whose domain already holds the metadata (``test:///PATH``).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Tuple

import pytest

from vfiocompat._cli import main
from vfiocompat.errors import VirshError
from vfiocompat.host import cli as host_cli
from vfiocompat.host.libvirt_xml import NAMESPACE, SourceVersion, metadata_xml, parse_domain, parse_metadata_element
from vfiocompat.host.virsh import find_virsh, metadata_command

from . import sysfs_fixtures as fx

VIRSH = shutil.which("virsh")
needs_virsh = pytest.mark.skipif(VIRSH is None, reason="virsh is not installed (apt-get install libvirt-clients)")
PCI = "0000:3b:00.1"


def run(*argv: str) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture()
def probed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A host with one w1 fw 1.2 function; commands that probe get the test plugin."""
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci(PCI, "0xfffd", "0x0001", attrs={"tv_model": "w1", "tv_fw": "1.2"}, driver="tv_vfio_pci")
    registry = fx.registry(tmp_path / "plugin")
    monkeypatch.setattr(host_cli, "registry_of", lambda args: registry)
    monkeypatch.delenv("VFIOCOMPAT_SYSFS_ROOT", raising=False)
    return fs.root


def node(tmp_path: Path, name: str, version: str) -> str:
    """A test driver file: one running domain whose vfiocompat metadata already says ``version`` for PCI."""
    path = tmp_path / "node.xml"
    path.write_text(f"""<node>
  <domain type='test'>
    <name>{name}</name>
    <memory>1048576</memory>
    <os><type>hvm</type></os>
    <metadata>
      <vfiocompat:devices xmlns:vfiocompat="{NAMESPACE}">
        <vfiocompat:device address="{PCI}" version="{version}"/>
      </vfiocompat:devices>
    </metadata>
  </domain>
</node>
""", encoding="utf-8")
    return f"test://{path}"


@needs_virsh
def test_the_element_round_trips_through_libvirt(tmp_path: Path) -> None:
    entries = [SourceVersion("0xfffd:1:model=w1;fw=1.2&x<y", address=PCI), SourceVersion("0xfffd:1:a", alias="ua-x")]
    element = metadata_xml(entries)
    # One virsh process, several commands (its own command-line syntax, quoted for virsh, not a shell).
    quoted = element.replace("\\", "\\\\").replace("'", "\\'")
    script = (f"metadata test --uri {NAMESPACE} --key vfiocompat --set '{quoted}' --live --config;"
              f" metadata test --uri {NAMESPACE} --live; metadata test --uri {NAMESPACE} --config; dumpxml test")
    done = subprocess.run([str(VIRSH), "--quiet", "-c", "test:///default", script], capture_output=True, timeout=60,
                          check=True)
    text = done.stdout.decode()
    live, persistent = (chunk.strip() for chunk in text.split("</devices>")[:2])
    assert parse_metadata_element((live + "</devices>").encode()) == tuple(entries)
    assert parse_metadata_element((persistent + "</devices>").encode()) == tuple(entries)
    domain = parse_domain(text[text.index("<domain"):].encode())
    assert domain.versions == tuple(entries), "the hook reads what libvirt stored"


@needs_virsh
def test_record_sets_and_verifies_live_and_persistent(probed: Path, tmp_path: Path) -> None:
    uri = node(tmp_path, "vm-01", fx.dv("w1", "1.2"))
    status, out, err = run("libvirt-metadata", "--probe", "--sysfs-root", str(probed), "--domain", "vm-01",
                           "--connect", uri)
    assert (status, err) == (0, "")
    assert out == "recorded 1 device_version(s) in domain 'vm-01' (live and persistent), read back and verified\n"
    status, out, _ = run("libvirt-metadata", "--probe", "--sysfs-root", str(probed), "--domain", "vm-01",
                         "--connect", uri, "--json")
    form = json.loads(out)
    assert status == 0 and (form["domain"], form["recorded"]) == ("vm-01", True)
    assert form["devices"] == [{"alias": None, "address": PCI, "uuid": None, "version": fx.dv("w1", "1.2")}]


@needs_virsh
def test_a_read_back_that_differs_is_an_error(probed: Path, tmp_path: Path) -> None:
    # The file's domain keeps 1.0 whatever is set: each virsh process reloads it, like a rewriter would.
    uri = node(tmp_path, "vm-01", fx.dv("w1", "1.0"))
    status, out, err = run("libvirt-metadata", "--probe", "--sysfs-root", str(probed), "--domain", "vm-01",
                           "--connect", uri)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"vfiocompat: error[VC612]: {find_virsh()}: the live metadata of domain 'vm-01' read back")


@needs_virsh
def test_virsh_failures_are_one_line_with_virshs_words(probed: Path, tmp_path: Path) -> None:
    uri = node(tmp_path, "vm-01", fx.dv("w1", "1.2"))
    status, _, err = run("libvirt-metadata", "--probe", "--sysfs-root", str(probed), "--domain", "nosuch",
                         "--connect", uri)
    assert status == 2 and err.count("\n") == 1
    assert err.startswith(f"vfiocompat: error[VC612]: {find_virsh()} metadata failed (exit 1): ")
    assert "nosuch" in err


@needs_virsh
def test_a_domain_named_like_an_option_is_a_name(probed: Path, tmp_path: Path) -> None:
    uri = node(tmp_path, "--live", fx.dv("w1", "1.2"))
    status, out, err = run("libvirt-metadata", "--probe", "--sysfs-root", str(probed), "--domain=--live",
                           "--connect", uri)
    assert (status, err) == (0, ""), err
    assert "domain '--live'" in out


def test_missing_virsh_names_where_it_looked(probed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(VirshError, match=r"virsh not found on PATH \(.*empty-bin\); install libvirt-clients"):
        find_virsh()
    status, out, err = run("libvirt-metadata", "--probe", "--sysfs-root", str(probed), "--domain", "vm-01")
    assert status == 2 and out == "" and err.startswith("vfiocompat: error[VC612]: virsh not found on PATH")


def test_the_command_is_an_argument_vector() -> None:
    element = "<devices><device version=\"a'b;c $(x)\"/></devices>"
    assert metadata_command("/usr/bin/virsh", "-h", connect="qemu:///system", element=element) == [
        "/usr/bin/virsh", "--quiet", "--connect", "qemu:///system", "metadata", "--domain=-h", f"--uri={NAMESPACE}",
        "--key=vfiocompat", f"--set={element}", "--live", "--config"]
    assert metadata_command("/usr/bin/virsh", "vm", scope="--config")[-1] == "--config"
