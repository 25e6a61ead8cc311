"""vfiocompat.host.cli: probe, place, labels, libvirt-metadata and libvirt-hook driven in-process through cli.main."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any, List, Tuple

import jsonschema
import pytest

from vfiocompat._cli import main
from vfiocompat._schema import schema
from vfiocompat.host import cli as host_cli
from vfiocompat.host.inventory import HostDevice, Inventory, InventoryDevice, inventory_form
from vfiocompat.host.libvirt_xml import NAMESPACE

from . import sysfs_fixtures as fx

UUID = "4b20d080-1b54-4048-85b3-a6a62d165c01"
PCI = "0000:3b:00.1"


def run(*argv: str) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


def assert_one_line_error(status: int, out: str, err: str, words: str) -> None:
    assert status == 2 and out == ""
    assert err.startswith("vfiocompat: error[") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err and words in err, err


@pytest.fixture()
def tables(tmp_path: Path) -> List[str]:
    """Options that load only the test vendor's table (enough for place and labels)."""
    return ["--no-plugins", "--table", str(fx.write_table(tmp_path / "table"))]


@pytest.fixture()
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that probe get the test plugin (whose probe hook reads tv_model/tv_fw)."""
    registry = fx.registry(tmp_path / "plugin")
    monkeypatch.setattr(host_cli, "registry_of", lambda args: registry)
    monkeypatch.delenv("VFIOCOMPAT_SYSFS_ROOT", raising=False)


@pytest.fixture()
def sysfs(tmp_path: Path) -> Any:
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci(PCI, "0xfffd", "0x0001", attrs={"tv_model": "w1", "tv_fw": "1.2"}, driver="tv_vfio_pci")
    fs.add_pci("0000:3b:00.2", "0x8086", "0x4941")
    fs.add_mdev_parent("0000:00:02.0", "0xfffd", "0x0002", {"tv-w2": ("W2 slice", 3, {"tv_model": "w2",
                                                                                       "tv_fw": "2.0"})})
    fs.add_mdev("0000:00:02.0", UUID, "tv-w2")
    return fs


def _pci(address: str, version: str) -> InventoryDevice:
    return InventoryDevice(HostDevice("pci", address=address, vendor="0xfffd", device="0x0001",
                                      driver="tv_vfio_pci"), version, "testvendor", True)


@pytest.fixture()
def fleet(tmp_path: Path) -> Tuple[str, str]:
    """fits.json: a host with w1 fw 2.0 and 1.5; fleet.json: an array holding a host with w1 fw 2.0 only."""
    fits = Inventory("fits", (_pci("0000:01:00.0", fx.dv("w1", "2.0")), _pci("0000:01:00.1", fx.dv("w1", "1.5"))))
    small = Inventory("small", (_pci("0000:01:00.0", fx.dv("w1", "2.0")),))
    (tmp_path / "fits.json").write_text(json.dumps(inventory_form(fits)))
    (tmp_path / "fleet.json").write_text(json.dumps([inventory_form(small)]))
    return str(tmp_path / "fits.json"), str(tmp_path / "fleet.json")


# -- argument errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "words"), [
    (["place", "x.json"], "the following arguments are required: --vm"),
    (["place", "--vm", fx.dv("w1", "1")], "the following arguments are required: INVENTORY.json"),
    (["labels"], "the following arguments are required"),
    (["labels", "x.json", "--format", "yaml"], "invalid choice: 'yaml'"),
    (["probe", "--bogus"], "unrecognized arguments: --bogus"),
    (["libvirt-metadata"], "needs --device KEY=DEVICE_VERSION or --probe"),
    (["libvirt-metadata", "--device", f"{PCI}=0xfffd:1:x", "--connect", "test:///default"],
     "--connect needs --domain"),
    (["libvirt-metadata", "--device", "eth0=0xfffd:1:x"], "'eth0' is not a PCI address"),
    (["libvirt-metadata", "--device", PCI], "expected ADDRESS=DEVICE_VERSION"),
    (["libvirt-metadata", "--device", f"{PCI}="], "expected ADDRESS=DEVICE_VERSION"),
    (["libvirt-metadata", "--device", f"{PCI}=not a version"], "error[VC1"),
    (["libvirt-metadata", "--device", "alias:=0xfffd:1:x"], "is not a PCI address"),
])
def test_argument_errors_are_one_line_and_exit_2(argv: List[str], words: str) -> None:
    assert_one_line_error(*run(argv[0], "--no-plugins", *argv[1:]), words)


@pytest.mark.parametrize("argv", [[], ["vm-01"], ["--"], ["--", "vm-01"], ["vm-01", "migrate", "begin"],
                                  ["--", "vm-01", "migrate", "begin", "-", "x"]])
def test_libvirt_hook_needs_libvirts_words(argv: List[str]) -> None:
    assert_one_line_error(*run("libvirt-hook", *argv), "libvirt-hook expects GUEST OPERATION SUBOPERATION EXTRA")


def test_place_refuses_bad_versions_and_inventories(tables: List[str], tmp_path: Path,
                                                    fleet: Tuple[str, str]) -> None:
    assert_one_line_error(*run("place", "--vm", "not a version", fleet[0], *tables), "error[VC1")
    assert_one_line_error(*run("place", "--vm", fx.dv("w1", "1"), str(tmp_path / "nope.json"), *tables),
                          "cannot read inventory")
    (tmp_path / "bad.json").write_text('{"schema_version": 1}')
    assert_one_line_error(*run("place", "--vm", fx.dv("w1", "1"), str(tmp_path / "bad.json"), *tables),
                          "not an inventory document")
    assert_one_line_error(*run("labels", str(tmp_path / "bad.json"), *tables), "not an inventory document")


def test_probe_refuses_a_missing_root(tmp_path: Path, plugin: None) -> None:
    assert_one_line_error(*run("probe", "--sysfs-root", str(tmp_path / "nope")), "error[VC001]")


@pytest.mark.parametrize("host", ["node 7", "", "node-7\nnode-8 vfiocompat.io/forged=true", "node\x1b[2J", "-x",
                                  "node_7", "a" * 64])
def test_probe_refuses_a_host_name_that_would_break_the_fleet_forms(sysfs: Any, plugin: None, host: str) -> None:
    status, out, err = run("probe", "--sysfs-root", str(sysfs.root), f"--host={host}")
    assert_one_line_error(status, out, err, "--host: ")
    assert "is not a host name" in err or "is empty" in err


def test_probe_refuses_this_hosts_own_name_when_it_is_not_one(sysfs: Any, plugin: None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.setattr(socket, "gethostname", lambda: "my host")
    assert_one_line_error(*run("probe", "--sysfs-root", str(sysfs.root)),
                          "this host's name (pass --host NAME): 'my host' is not a host name")
    monkeypatch.setattr(socket, "gethostname", lambda: "node-7.example.org")
    status, out, err = run("probe", "--sysfs-root", str(sysfs.root), "--json")
    assert (status, err) == (0, "") and json.loads(out)["host"] == "node-7.example.org"


def test_place_and_labels_refuse_one_host_given_twice(tables: List[str], tmp_path: Path,
                                                     fleet: Tuple[str, str]) -> None:
    again = tmp_path / "again.json"
    # The same host name, differently cased (DNS names are case-insensitive), in a second file's array.
    other = Inventory("other", ())
    again.write_text(json.dumps([inventory_form(other), inventory_form(Inventory("FITS", ()))]))
    for command in (["labels"], ["place", "--vm", fx.dv("w1", "1.0")]):
        status, out, err = run(*command, *fleet, str(again), *tables)
        assert_one_line_error(status, out, err, f"host 'FITS' has two inventories: {fleet[0]} and {again}[1]")
    status, _, err = run("labels", fleet[0], fleet[0], *tables)
    assert status == 2 and f"has two inventories: {fleet[0]} and {fleet[0]}" in err


def test_place_and_labels_refuse_an_inventory_whose_host_is_not_a_host_name(tables: List[str],
                                                                            tmp_path: Path) -> None:
    bad = tmp_path / "bad-host.json"
    bad.write_text(json.dumps(inventory_form(Inventory("node 7", ()))))
    for command in (["labels"], ["place", "--vm", fx.dv("w1", "1.0")]):
        assert_one_line_error(*run(*command, str(bad), *tables), f"{bad}: host name 'node 7' is not a host name")


# -- probe -----------------------------------------------------------------------------------------


def test_probe_json(sysfs: Any, plugin: None) -> None:
    status, out, err = run("probe", "--sysfs-root", str(sysfs.root), "--json", "--host", "node-7")
    assert (status, err) == (0, "")
    form = json.loads(out)
    jsonschema.Draft202012Validator(fx.load_schema("inventory")).validate(form)
    assert form["host"] == "node-7" and form["sysfs_root"] == os.path.realpath(sysfs.root)
    versions = {d["id"]: (d["device_version"], d["can_migrate"]) for d in form["devices"]}
    assert versions == {
        f"pci:{PCI}": (fx.dv("w1", "1.2"), None),
        "pci:0000:3b:00.2": (None, False),
        "mdev_type:0000:00:02.0/tv-w2": (fx.dv("w2", "2.0"), None),
        f"mdev:{UUID}": (fx.dv("w2", "2.0"), None),
    }


def test_probe_text(sysfs: Any, plugin: None) -> None:
    status, out, err = run("probe", "--sysfs-root", str(sysfs.root))
    assert (status, err) == (0, "")
    assert f"pci:{PCI} [fffd:0001] driver=tv_vfio_pci migrate=unknown\n  device_version: {fx.dv('w1', '1.2')}\n" \
        in out
    assert "pci:0000:3b:00.2 [8086:4941] driver=vfio-pci migrate=no\n  device_version: (none)\n" in out
    assert "  host error[VC601]: bound to vfio-pci" in out
    assert "mdev_type:0000:00:02.0/tv-w2 [fffd:0002] driver=- instances=3 migrate=unknown" in out


def test_probe_text_reports_issues_on_stderr_and_empty_hosts(tmp_path: Path, plugin: None) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", fs.root / "bus" / "pci" / "devices" / "0000:66:00.0")
    status, out, err = run("probe", "--sysfs-root", str(fs.root), "--host", "empty-1")
    assert status == 0
    assert out == f"empty-1: no VFIO devices under {os.path.realpath(fs.root)}\n"
    assert err.startswith("warning[VC603]: ") and "0000:66:00.0" in err


def test_probe_root_comes_from_the_environment_unless_given(sysfs: Any, tmp_path: Path, plugin: None,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    empty = fx.FakeSysfs(tmp_path / "empty").root
    monkeypatch.setenv("VFIOCOMPAT_SYSFS_ROOT", str(sysfs.root))
    status, out, _ = run("probe", "--json")
    assert status == 0 and json.loads(out)["sysfs_root"] == os.path.realpath(sysfs.root)
    status, out, _ = run("probe", "--json", "--sysfs-root", str(empty))
    assert status == 0 and json.loads(out)["devices"] == []


def test_probe_text_marks_unknown_ids(tmp_path: Path, plugin: None) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    folder = fs.add_pci("0000:3b:00.7", "0x8086", "0x4941")
    (folder / "vendor").unlink()
    status, out, _ = run("probe", "--sysfs-root", str(fs.root))
    assert status == 0 and "pci:0000:3b:00.7 [?:4941]" in out


# -- place ---------------------------------------------------------------------------------------


def test_place_json_shape_and_exit_codes(tables: List[str], fleet: Tuple[str, str]) -> None:
    vm = ["--vm", fx.dv("w1", "1.0"), "--vm", fx.dv("w1", "2.0")]
    status, out, err = run("place", *vm, *fleet, "--json", *tables)
    assert (status, err) == (0, "")
    form = json.loads(out)
    jsonschema.Draft202012Validator(fx.load_schema("placement")).validate(form)
    assert form["vm_devices"] == [fx.dv("w1", "1.0"), fx.dv("w1", "2.0")] and form["fits"] == ["fits"]
    fits, small = form["hosts"]
    assert (fits["host"], fits["fits"], fits["unmatched"]) == ("fits", True, [])
    assert sorted((a["vm_index"], a["target"]) for a in fits["assignment"]) == [
        (0, "pci:0000:01:00.1"), (1, "pci:0000:01:00.0")]
    assert (small["host"], small["fits"]) == ("small", False)
    assert [u["code"] for u in small["unmatched"]] == ["VC605"]
    status, out, _ = run("place", *vm, fleet[1], "--json", *tables)
    assert status == 1 and json.loads(out)["fits"] == []


def test_place_text(tables: List[str], fleet: Tuple[str, str]) -> None:
    status, out, _ = run("place", "--vm", fx.dv("w1", "1.0"), "--vm", fx.dv("w1", "2.0"), *fleet, *tables)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "fits: fits (vm[0] -> pci:0000:01:00.1, vm[1] -> pci:0000:01:00.0)"
    assert lines[1] == "small: does not fit" and lines[2].startswith("  host error[VC605]: ")
    status, out, _ = run("place", "--vm", fx.dv("w9", "1.0"), fleet[1], *tables)
    assert status == 1 and out.startswith("small: does not fit\n  host error[VC604]: ")


# -- labels --------------------------------------------------------------------------------------


def test_labels_json_and_text_formats(tables: List[str], fleet: Tuple[str, str]) -> None:
    status, out, err = run("labels", *fleet, "--json", *tables)
    assert (status, err) == (0, "")
    form = json.loads(out)
    jsonschema.Draft202012Validator(fx.load_schema("labels")).validate(form)
    hosts = {h["host"]: h for h in form["hosts"]}
    assert set(hosts) == {"fits", "small"}
    assert set(hosts["small"]["accepts"]) <= set(hosts["fits"]["accepts"]), "fits has every device small has"
    status, k8s, _ = run("labels", *fleet, *tables)
    status2, traits, _ = run("labels", *fleet, "--format", "placement", *tables)
    assert status == status2 == 0
    for line, host in zip(k8s.splitlines(), form["hosts"]):
        name, *labels = line.split()
        assert name == host["host"] and labels and all(label.endswith("=true") for label in labels)
        assert all(label.startswith("vfiocompat.io/") for label in labels)
    for line, host in zip(traits.splitlines(), form["hosts"]):
        name, *names = line.split()
        assert name == host["host"] and names and all(t.startswith("CUSTOM_VFIOCOMPAT_") for t in names)
    assert len(k8s.splitlines()) == len(traits.splitlines()) == 2


# -- libvirt-metadata ----------------------------------------------------------------------------


def test_libvirt_metadata_from_devices() -> None:
    status, out, err = run("libvirt-metadata", "--no-plugins", "--device", f"3B:00.1={fx.dv('w1', '1.0')}",
                           "--device", f"{UUID.upper()}={fx.dv('w2', '2.0')}", "--device", "alias:ua-x=0xfffd:1:a")
    assert (status, err) == (0, "")
    assert out == ("<devices>"
                   f"<device address=\"{PCI}\" version=\"{fx.dv('w1', '1.0')}\"/>"
                   f"<device uuid=\"{UUID}\" version=\"{fx.dv('w2', '2.0')}\"/>"
                   "<device alias=\"ua-x\" version=\"0xfffd:1:a\"/>"
                   "</devices>\n")


def test_libvirt_metadata_probe_lists_functions_and_mdevs_not_types(sysfs: Any, plugin: None) -> None:
    status, out, err = run("libvirt-metadata", "--probe", "--sysfs-root", str(sysfs.root))
    assert (status, err) == (0, "")
    assert f"<device address=\"{PCI}\" version=\"{fx.dv('w1', '1.2')}\"/>" in out
    assert f"<device uuid=\"{UUID}\" version=\"{fx.dv('w2', '2.0')}\"/>" in out
    assert out.count("<device ") == 2, "types and devices without a device_version are left out"


def test_libvirt_metadata_probe_with_nothing_found_is_an_error(tmp_path: Path, plugin: None) -> None:
    root = fx.FakeSysfs(tmp_path / "empty").root
    status, out, err = run("libvirt-metadata", "--probe", "--sysfs-root", str(root))
    assert_one_line_error(status, out, err, f"--probe: no device was found with a device_version under {root}")
    assert "needs --device" not in err


def test_libvirt_metadata_json_is_json(sysfs: Any, plugin: None) -> None:
    status, out, err = run("libvirt-metadata", "--probe", "--sysfs-root", str(sysfs.root), "--json")
    assert (status, err) == (0, "")
    form = json.loads(out)
    jsonschema.validate(form, schema("libvirt-metadata"))
    assert (form["schema_version"], form["namespace"], form["key"]) == (1, NAMESPACE, "vfiocompat")
    assert (form["domain"], form["recorded"]) == (None, False)
    assert {(d["address"], d["uuid"], d["version"]) for d in form["devices"]} == {
        (PCI, None, fx.dv("w1", "1.2")), (None, UUID, fx.dv("w2", "2.0"))}
    assert form["element"].startswith("<devices><device ") and "<" not in out.split("{", 1)[0]


def test_libvirt_metadata_takes_the_sysfs_root_from_the_config_file(sysfs: Any, plugin: None,
                                                                    tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'sysfs_root = "{sysfs.root}"\n')
    status, out, _ = run("libvirt-metadata", "--probe", "--config", str(config))
    assert status == 0 and f"<device address=\"{PCI}\" version=\"{fx.dv('w1', '1.2')}\"/>" in out


# -- libvirt-hook --------------------------------------------------------------------------------


class _Untouchable:
    """A stdin (and its buffer) that fails the test if the hook reads it."""

    @property
    def buffer(self) -> Any:
        return self

    def read(self, *args: Any) -> bytes:
        raise AssertionError("the hook read stdin for a call that is not 'migrate'")


def test_libvirt_hook_passes_other_operations_without_reading_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Untouchable())
    assert run("libvirt-hook", "vm-01", "started", "begin", "-") == (0, "", "")
    assert run("libvirt-hook", "--", "vm-01", "release", "end", "shutdown") == (0, "", "")
    assert run("libvirt-hook", "--", "vm-01", "future-operation", "-") == (0, "", ""), "any word count but migrate's"


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_libvirt_hook_refuses_with_one_line(sysfs: Any, plugin: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VFIOCOMPAT_SYSFS_ROOT", str(sysfs.root))
    xml = (f"<domain><name>vm-01</name><metadata><v:devices xmlns:v='{NAMESPACE}'>"
           f"<v:device address='{PCI}' version='{fx.dv('w1', '3.0')}'/></v:devices></metadata><devices>"
           "<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0x3b' slot='0' function='1'/>"
           "</source></hostdev></devices></domain>").encode()
    _stdin(monkeypatch, xml)
    status, out, err = run("libvirt-hook", "vm-01", "migrate", "begin", "-")
    assert status == 1 and out == ""
    assert err.startswith(f"vfiocompat: refusing migration of 'vm-01': hostdev pci:{PCI}: error[VC411]")
    assert err.count("\n") == 1
    accepted = xml.replace(b"3.0", b"1.0")
    _stdin(monkeypatch, accepted)
    raw = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    status = main(["libvirt-hook", "vm-01", "migrate", "begin", "-"], raw, io.StringIO())
    assert status == 0
    # The domain XML went out unescaped, the metadata now this host's (1.2).
    written = raw.buffer.getvalue()  # type: ignore[attr-defined]
    assert written == accepted.replace(f"<v:devices xmlns:v='{NAMESPACE}'><v:device address='{PCI}' version='"
                                  f"{fx.dv('w1', '1.0')}'/></v:devices>".encode(),
                                  f'<vfiocompat:devices xmlns:vfiocompat="{NAMESPACE}"><vfiocompat:device'
                                  f' address="{PCI}" version="{fx.dv("w1", "1.2")}"/></vfiocompat:devices>'.encode())


GUEST_NAMES_THAT_LOOK_LIKE_OPTIONS = ["--json", "--no-plugins", "-h", "--help", "--version", "--table=X",
                                      "--table", "--disable-plugin=testvendor", "--config=/nonexistent", "--", "-"]


@pytest.mark.parametrize("guest", GUEST_NAMES_THAT_LOOK_LIKE_OPTIONS)
@pytest.mark.parametrize("separator", [["--"], []])
@pytest.mark.usefixtures("plugin")
def test_a_guest_name_is_data_never_an_option(guest: str, separator: List[str], sysfs: Any,
                                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Issue 9 item 2: "--table=X" could load a table that passes anything, "-h" exited 0 with help.
    monkeypatch.setenv("VFIOCOMPAT_SYSFS_ROOT", str(sysfs.root))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "X").write_text("not a table")
    xml = (f"<domain><name>{guest}</name><metadata><v:devices xmlns:v='{NAMESPACE}'>"
           f"<v:device address='{PCI}' version='{fx.dv('w1', '3.0')}'/></v:devices></metadata><devices>"
           "<hostdev mode='subsystem' type='pci'><source><address domain='0' bus='0x3b' slot='0' function='1'/>"
           "</source></hostdev></devices></domain>").encode()
    if separator == [] and guest == "--":
        pytest.skip("without the separator a guest named '--' is the separator; the installed hook always passes one")
    _stdin(monkeypatch, xml)
    status, out, err = run("libvirt-hook", *separator, guest, "migrate", "begin", "-")
    assert status == 1 and out == ""
    assert err.startswith(f"vfiocompat: refusing migration of {guest!r}: hostdev pci:{PCI}: error[VC411]"), err
    _stdin(monkeypatch, xml.replace(b"3.0", b"1.0"))
    status, out, err = run("libvirt-hook", *separator, guest, "migrate", "begin", "-")
    assert (status, err) == (0, "") and f"version=\"{fx.dv('w1', '1.2')}\"" in out


def test_libvirt_hook_refuses_hostile_xml_without_probing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_registry(args: Any) -> Any:
        raise AssertionError("plugins were loaded for a document that is refused anyway")

    monkeypatch.setattr(host_cli, "registry_of", no_registry)
    _stdin(monkeypatch, b"<!DOCTYPE domain [<!ENTITY x 'y'>]><domain/>")
    status, out, err = run("libvirt-hook", "vm-01", "migrate", "begin", "-")
    assert status == 1 and out == ""
    assert err.startswith("vfiocompat: refusing migration of 'vm-01': error[VC607]") and err.count("\n") == 1


def test_probe_gives_plugins_the_config_files_facts(tmp_path: Path) -> None:
    # `vfiocompat probe --config` read the file's sysfs_root but not its [facts]: every device needing one
    # stayed VC608 although the README tells operators to supply facts there.
    import importlib.util

    if importlib.util.find_spec("vfiocompat_mlx5") is None:
        pytest.skip("the vfiocompat-mlx5 plugin is not installed")
    fixture = Path(__file__).resolve().parents[2] / "examples" / "sysfs" / "mlx5"
    expected = json.loads((fixture / "expected-config.json").read_text())["devices"]
    status, out, err = run("probe", "--json", "--host", "h1", "--sysfs-root", str(fixture / "sys"),
                           "--config", str(fixture / "config.toml"))
    assert (status, err) == (0, "")
    found = {d["id"]: d["device_version"] for d in json.loads(out)["devices"] if d["device_version"]}
    assert found == expected
