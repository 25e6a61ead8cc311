"""vfiocompat.host.probe: VFIO devices found in a sysfs tree, confined to it, and their device_versions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import jsonschema
import pytest

from vfiocompat import DeviceFactMissing, Registry, hookimpl
from vfiocompat.errors import UsageError
from vfiocompat.host.probe import parse_count, probe
from vfiocompat.host.variant_drivers import VARIANT_DRIVERS

from . import sysfs_fixtures as fx

UUID = "4b20d080-1b54-4048-85b3-a6a62d165c01"
UUID2 = "9d2c1a3e-5f6b-4c7d-8e9f-0a1b2c3d4e5f"


@pytest.fixture()
def host(tmp_path: Path) -> Any:
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci("0000:3b:00.1", "0xfffd", "0x0001", attrs={"tv_model": "w1", "tv_fw": "1.2"})
    fs.add_pci("0000:3b:00.2", "0x8086", "0x4941")
    fs.add_pci("0000:3b:00.3", "0x8086", "0x4941", driver="qat_vfio_pci")
    fs.add_pci("0000:3b:00.4", "0x8086", "0x1533", driver="igb")
    fs.add_pci("0000:3b:00.5", "0x8086", "0x1533", driver=None)
    fs.add_mdev_parent("0000:00:02.0", "0xfffd", "0x0002",
                       {"tv-w2": ("W2 slice", 3, {"tv_model": "w2", "tv_fw": "2.0"}),
                        "tv-w4": ("W4 slice", 0, {"tv_model": "w4", "tv_fw": "2.0"})})
    fs.add_mdev("0000:00:02.0", UUID, "tv-w2")
    fs.add_mdev("0000:00:02.0", UUID2, "tv-w4", linked=False)
    return fs


def _by_id(inventory: Any) -> Any:
    return {entry.device.id: entry for entry in inventory.devices}


def test_finds_vfio_functions_mdevs_and_creatable_types(host: Any, tmp_path: Path) -> None:
    inventory = probe(str(host.root), fx.registry(tmp_path), host="h1")
    found = _by_id(inventory)
    assert sorted(found) == sorted([
        "pci:0000:3b:00.1", "pci:0000:3b:00.2", "pci:0000:3b:00.3",
        "mdev_type:0000:00:02.0/tv-w2", "mdev_type:0000:00:02.0/tv-w4", f"mdev:{UUID}", f"mdev:{UUID2}",
    ]), "igb-bound and unbound functions are not VFIO devices"
    pci = found["pci:0000:3b:00.1"]
    assert (pci.device.vendor, pci.device.device, pci.device.driver) == ("0xfffd", "0x0001", "vfio-pci")
    assert pci.device.iommu_group is not None
    assert pci.device_version == fx.dv("w1", "1.2") and pci.version_plugin == "testvendor"
    w2 = found["mdev_type:0000:00:02.0/tv-w2"]
    assert (w2.device.mdev_type_name, w2.device.available_instances, w2.device.device_api) == ("W2 slice", 3,
                                                                                               "vfio-pci")
    assert w2.device_version == fx.dv("w2", "2.0")
    mdev = found[f"mdev:{UUID}"]
    assert (mdev.device.parent, mdev.device.mdev_type, mdev.device.driver) == ("0000:00:02.0", "tv-w2", "vfio_mdev")
    # The plugin read tv_model through the mdev_type link, which stays inside the root.
    assert mdev.device_version == fx.dv("w2", "2.0")
    assert found[f"mdev:{UUID2}"].device.mdev_type == "tv-w4", "an mdev only under its parent is found too"
    assert inventory.issues == ()


def test_plain_vfio_pci_cannot_migrate_and_names_the_variant_driver(host: Any, tmp_path: Path) -> None:
    found = _by_id(probe(str(host.root), fx.registry(tmp_path)))
    plain = found["pci:0000:3b:00.2"]
    assert plain.can_migrate is False and plain.migration_driver == "qat_vfio_pci"
    reason = plain.reasons[0]
    assert (reason.code, reason.layer) == ("VC601", "host")
    assert "qat_vfio_pci" in reason.message and "drivers/vfio/pci/qat/main.c" in (reason.hint or "")
    variant = found["pci:0000:3b:00.3"]
    assert variant.can_migrate is True and not any(r.code == "VC601" for r in variant.reasons)
    unknown = found["pci:0000:3b:00.1"]
    assert unknown.can_migrate is False and "no known variant driver" in unknown.reasons[0].message


@pytest.mark.parametrize("row", VARIANT_DRIVERS, ids=lambda row: row.driver)
def test_every_variant_driver_row(row: Any, tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci("0000:01:00.1", row.vendor, row.devices[0])
    fs.add_pci("0000:01:00.2", row.vendor, row.devices[-1], driver=row.driver)
    found = _by_id(probe(str(fs.root), Registry()))
    plain, bound = found["pci:0000:01:00.1"], found["pci:0000:01:00.2"]
    assert plain.can_migrate is False and row.driver in plain.reasons[0].message
    assert bound.can_migrate is True
    assert row.source_url.startswith("https://github.com/torvalds/linux/blob/")


def test_symlink_escaping_the_root_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    fs = fx.FakeSysfs(tmp_path / "sys")
    # A complete-looking device outside the root, linked from bus/pci/devices.
    stray = outside / "0000:66:00.0"
    stray.mkdir(parents=True)
    for name, value in (("vendor", "0xfffd"), ("device", "0x0001"), ("tv_model", "w1"), ("tv_fw", "1.0")):
        (stray / name).write_text(value + "\n")
    os.symlink(stray, fs.root / "bus" / "pci" / "devices" / "0000:66:00.0")
    # A device inside whose vendor file and driver link leave the root.
    (outside / "vendor").write_text("0xfffd\n")
    inside = fs.add_pci("0000:3b:00.7", "0x8086", "0x4941")
    (inside / "vendor").unlink()
    os.symlink(outside / "vendor", inside / "vendor")
    other = fs.add_pci("0000:3b:00.6", "0x8086", "0x4941", driver=None)
    (outside / "drivers" / "vfio-pci").mkdir(parents=True)
    os.symlink(os.path.relpath(outside / "drivers" / "vfio-pci", other), other / "driver")

    inventory = probe(str(fs.root), fx.registry(tmp_path))
    found = _by_id(inventory)
    assert "pci:0000:66:00.0" not in found
    assert "pci:0000:3b:00.6" not in found, "a driver link leaving the root is not believed"
    assert found["pci:0000:3b:00.7"].device.vendor is None, "the vendor file outside the root was not read"
    escapes = [issue for issue in inventory.issues if issue.code == "VC603"]
    messages = " ".join(issue.message for issue in escapes)
    assert "0000:66:00.0" in messages and "0000:3b:00.6" in messages and "0000:3b:00.7/vendor" in messages


class _Leaky:
    """A plugin that tries to read outside its device's folder."""

    def __init__(self, name: str) -> None:
        self.name = name

    @hookimpl
    def vfiocompat_device_version(self, device: Any) -> Optional[str]:
        if device.kind != "pci" or device.address != "0000:3b:00.1":
            return None
        secret = device.read_attribute(self.name)
        return f"0xfffd:1:model={secret};fw=1.0"


@pytest.mark.parametrize("name", ["../0000:3b:00.2/vendor", "/etc/hostname", "leak", "sub/../../x", ""])
def test_read_attribute_is_confined(name: str, tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    folder = fs.add_pci("0000:3b:00.1", "0xfffd", "0x0001")
    (tmp_path / "secret").write_text("s3cret\n")
    os.symlink(tmp_path / "secret", folder / "leak")
    found = _by_id(probe(str(fs.root), Registry(plugins=[("leaky", _Leaky(name))])))
    entry = found["pci:0000:3b:00.1"]
    assert entry.device_version is None
    failure = [r for r in entry.reasons if r.code == "VC302"]
    assert failure and failure[0].plugin == "leaky"
    assert "s3cret" not in failure[0].message
    expected = "SysfsEscape" if name == "leak" else "UsageError"
    assert expected in failure[0].message


class _Raises:
    @hookimpl
    def vfiocompat_device_version(self, device: Any) -> Optional[str]:
        raise RuntimeError("firmware query failed")


class _Returns:
    def __init__(self, value: Any) -> None:
        self.value = value

    @hookimpl
    def vfiocompat_device_version(self, device: Any) -> Any:
        return self.value


@pytest.mark.parametrize(("plugin", "code", "kept"), [
    (_Raises(), "VC302", True),
    (_Returns(42), "VC303", True),
    (_Returns("0xfffd:x:bad"), "VC107", True),
    (_Returns("0xfffd:1:model=other;fw=9"), "VC602", False),
])
def test_plugin_failures_are_isolated(plugin: Any, code: str, kept: bool, host: Any, tmp_path: Path) -> None:
    registry = fx.registry(tmp_path, ("other", plugin))
    entry = _by_id(probe(str(host.root), registry))["pci:0000:3b:00.1"]
    assert code in [r.code for r in entry.reasons]
    # A broken plugin never stops the probe; two plugins that disagree leave the device without a version.
    assert entry.device_version == (fx.dv("w1", "1.2") if kept else None)


def test_cli_probe_json(host: Any, tmp_path: Path) -> None:
    result = fx.run_cli(["probe", "--sysfs-root", str(host.root), "--json", "--host", "node-7"], fx.cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    form = json.loads(result.stdout)
    jsonschema.Draft202012Validator(fx.load_schema("inventory")).validate(form)
    assert form["host"] == "node-7"
    versions = {d["id"]: d["device_version"] for d in form["devices"]}
    assert versions["pci:0000:3b:00.1"] == fx.dv("w1", "1.2"), "the installed (entry-point) plugin was used"
    text = fx.run_cli(["probe", "--sysfs-root", str(host.root)], fx.cli_env(tmp_path))
    assert "pci:0000:3b:00.2" in text.stdout.decode() and "error[VC601]" in text.stdout.decode()


def test_cli_probe_bad_root(tmp_path: Path) -> None:
    result = fx.run_cli(["probe", "--sysfs-root", str(tmp_path / "nope")], fx.cli_env(tmp_path))
    assert result.returncode == 2
    assert result.stderr.decode().startswith("vfiocompat: error[VC001]") and b"Traceback" not in result.stderr


# -- what real hosts have: SR-IOV links, revision and class, driver modules, NVIDIA vGPU 17+ VFs ----


def test_records_revision_class_physfn_vf_index_and_driver_module(tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci("0000:3b:00.0", "0x15b3", "0x101d", driver="mlx5_core", revision="0x00")
    fs.add_pci("0000:3b:00.2", "0x15b3", "0x101e", driver="mlx5_vfio_pci", revision="0x00", pci_class="0x020000",
               physfn=("0000:3b:00.0", 0))
    fs.add_pci("0000:3b:00.3", "0x15b3", "0x101e", driver="vfio-pci", physfn=("0000:3b:00.0", 1))
    fs.add_pci("0000:3b:00.4", "0x15b3", "0x101e", driver="mlx5_core", physfn=("0000:3b:00.0", 2))
    found = _by_id(probe(str(fs.root), Registry()))
    assert sorted(found) == ["pci:0000:3b:00.2", "pci:0000:3b:00.3"], "the PF and the VF on mlx5_core are not VFIO"
    vf = found["pci:0000:3b:00.2"].device
    assert (vf.revision, vf.pci_class, vf.physfn, vf.vf_index, vf.driver_module) == (
        "0x00", "0x020000", "0000:3b:00.0", 0, "mlx5_vfio_pci")
    plain = found["pci:0000:3b:00.3"].device
    assert (plain.physfn, plain.vf_index, plain.driver_module) == ("0000:3b:00.0", 1, "vfio_pci")
    # A plugin reads through the PF link, as HostDevice promises.
    assert vf.read_attribute("physfn/device") == "0x101d" and vf.link_name("physfn") == "0000:3b:00.0"


def test_a_vf_index_is_only_what_the_pf_links_back(tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    pf = fs.add_pci("0000:3b:00.0", "0x8086", "0x4940", driver="4xxx")
    vf = fs.add_pci("0000:3b:00.1", "0x8086", "0x4941", driver="qat_vfio_pci")
    other = fs.add_pci("0000:3b:00.2", "0x8086", "0x4941", driver="qat_vfio_pci", physfn=("0000:3b:00.0", 7))
    os.symlink("../0000:3b:00.0", vf / "physfn")  # a VF whose PF has no virtfnN for it
    os.symlink("../0000:3b:00.2", pf / "virtfn²")  # not an index the kernel writes
    os.symlink("../0000:3b:00.2", pf / ("virtfn" + "9" * 40))
    found = _by_id(probe(str(fs.root), Registry()))
    assert found["pci:0000:3b:00.1"].device.physfn == "0000:3b:00.0"
    assert found["pci:0000:3b:00.1"].device.vf_index is None
    assert found["pci:0000:3b:00.2"].device.vf_index == 7 and other.exists()


def test_finds_nvidia_vgpu_17_sriov_vfs_whatever_their_driver(tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci("0000:41:00.0", "0x10de", "0x26b9", driver="nvidia", pci_class="0x030200")
    fs.add_pci("0000:41:00.4", "0x10de", "0x26b9", driver="nvidia", pci_class="0x030200",
               physfn=("0000:41:00.0", 0), attrs={"nvidia/current_vgpu_type": "557",
                                                  "nvidia/creatable_vgpu_types": "ID : vGPU Name"})
    fs.add_pci("0000:41:00.5", "0x10de", "0x26b9", driver=None, physfn=("0000:41:00.0", 1),
               attrs={"nvidia/current_vgpu_type": "0"})
    found = _by_id(probe(str(fs.root), Registry()))
    assert sorted(found) == ["pci:0000:41:00.4", "pci:0000:41:00.5"], "the PF itself has no current_vgpu_type"
    vf = found["pci:0000:41:00.4"]
    assert (vf.device.driver, vf.device.physfn, vf.device.vf_index) == ("nvidia", "0000:41:00.0", 0)
    assert vf.can_migrate is None and vf.device.read_attribute("nvidia/current_vgpu_type") == "557"


def test_finds_functions_on_dash_named_variant_drivers(tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci("0000:03:00.1", "0x8086", "0xe20b", driver="xe-vfio-pci", pci_class="0x030000")
    entry = _by_id(probe(str(fs.root), Registry()))["pci:0000:03:00.1"]
    assert (entry.device.driver, entry.device.driver_module, entry.can_migrate) == ("xe-vfio-pci", "xe_vfio_pci",
                                                                                   True)


# -- odd attribute contents: one line and a reason, never a traceback ------------------------------

ODD_COUNTS = ["²", "٣", "1" * 5000, "-1", "+3", "3_0", "0x10", "3 4", "1e3", "", "\x00", "9999999999"]


@pytest.mark.parametrize("text", ODD_COUNTS, ids=lambda t: repr(t[:12]))
def test_odd_available_instances_is_unknown_with_a_reason(text: str, tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    folder = fs.add_mdev_parent("0000:00:02.0", "0xfffd", "0x0002", {"tv-w2": ("W2", 3, {"tv_model": "w2",
                                                                                          "tv_fw": "2.0"})})
    (folder / "mdev_supported_types" / "tv-w2" / "available_instances").write_text(text + "\n", encoding="utf-8")
    inventory = probe(str(fs.root), fx.registry(tmp_path))
    entry = _by_id(inventory)["mdev_type:0000:00:02.0/tv-w2"]
    assert entry.device.available_instances is None
    odd = [issue for issue in inventory.issues if issue.code == "VC613"]
    assert len(odd) == 1 and odd[0].field == "available_instances" and "\n" not in odd[0].message
    assert len(odd[0].message) < 300, "the bad text is cut, not echoed whole"


@pytest.mark.parametrize(("text", "count"), [("0", 0), ("3", 3), (" 12 ", 12), ("123456789", 123456789)])
def test_plain_counts_parse(text: str, count: int) -> None:
    assert parse_count(text) == count
    assert parse_count(None) is None and parse_count("1234567890") is None


@pytest.mark.parametrize(("name", "text"), [
    ("vendor", "0x80866"), ("vendor", "\uff18\uff10\uff18\uff16"), ("device", "²"), ("revision", "0x1"),
    ("revision", "0x001"), ("class", "0x0200"), ("class", "0x02000g"), ("subsystem_vendor", "1" * 5000),
])
def test_odd_pci_attributes_are_unknown_with_a_reason(name: str, text: str, tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    folder = fs.add_pci("0000:3b:00.1", "0xfffd", "0x0001")
    (folder / name).write_text(text + "\n", encoding="utf-8")
    inventory = probe(str(fs.root), Registry())
    device = _by_id(inventory)["pci:0000:3b:00.1"].device
    attribute = {"class": "pci_class"}.get(name, name)
    assert getattr(device, attribute) is None
    assert [issue.field for issue in inventory.issues if issue.code == "VC613"] == [name]


def test_names_with_newlines_are_not_devices(tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    folder = fs.add_pci("0000:3b:00.1", "0xfffd", "0x0001")
    os.symlink(os.path.relpath(folder, fs.root / "bus" / "pci" / "devices"),
               fs.root / "bus" / "pci" / "devices" / "0000:3b:00.2\nforged")
    parent = fs.add_mdev_parent("0000:00:02.0", "0xfffd", "0x0002", {"t\n": ("T", 1, {})})
    (parent / (UUID + "\n")).mkdir()
    found = _by_id(probe(str(fs.root), Registry()))
    assert all("\n" not in device_id for device_id in found)
    assert "pci:0000:3b:00.1" in found and len(found) == 1


def test_cli_probe_with_odd_counts_prints_one_warning_line(tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    folder = fs.add_mdev_parent("0000:00:02.0", "0xfffd", "0x0002", {"tv-w2": ("W2", 3, {})})
    (folder / "mdev_supported_types" / "tv-w2" / "available_instances").write_text("²\n", encoding="utf-8")
    result = fx.run_cli(["probe", "--sysfs-root", str(fs.root)], fx.cli_env(tmp_path))
    assert result.returncode == 0 and b"Traceback" not in result.stderr
    warnings = [line for line in result.stderr.decode().splitlines() if "VC613" in line]
    assert len(warnings) == 1 and "available_instances" in warnings[0]
    assert "mdev_type:0000:00:02.0/tv-w2" in result.stdout.decode()


# -- operator facts ---------------------------------------------------------------------------------


class _NeedsFact:
    """A plugin whose device_version needs the operator's 'fw' fact."""

    @hookimpl
    def vfiocompat_device_version(self, device: Any) -> Optional[str]:
        if device.vendor != "0xfffd" or device.kind != "pci":
            return None
        fw = device.fact("fw")
        if fw is None:
            raise DeviceFactMissing("the firmware version is not in sysfs", fact="fw",
                                    hint=f'add [facts."{device.id}"] fw = "X.Y" to the host config')
        return fx.dv("w1", fw)


def test_facts_reach_each_device_by_its_id(tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci("0000:3b:00.1", "0xfffd", "0x0001")
    fs.add_pci("0000:3b:00.2", "0xfffd", "0x0001")
    registry = Registry(plugins=[("needs-fact", _NeedsFact())])
    inventory = probe(str(fs.root), registry, facts={"pci:0000:3b:00.1": {"fw": "2.4"}, "pci:0000:99:00.0": {}})
    found = _by_id(inventory)
    given = found["pci:0000:3b:00.1"]
    assert given.device.fact("fw") == "2.4" and given.device_version == fx.dv("w1", "2.4")
    missing = found["pci:0000:3b:00.2"]
    assert missing.device_version is None and missing.device.fact("fw") is None
    reason = next(r for r in missing.reasons if r.code == "VC608")
    assert (reason.layer, reason.plugin, reason.field) == ("host", "needs-fact", "fw")
    assert reason.hint == 'add [facts."pci:0000:3b:00.2"] fw = "X.Y" to the host config'
    assert "VC302" not in [r.code for r in missing.reasons], "a missing fact is the host's, not a plugin fault"


@pytest.mark.parametrize("facts", [{"pci:0000:3b:00.1": {"fw": 2}}, {"pci:0000:3b:00.1": "fw=2"}, ["x"],
                                   {1: {"fw": "2"}}])
def test_facts_that_are_not_text_are_refused_in_one_line(facts: Any, tmp_path: Path) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    with pytest.raises(UsageError) as caught:
        probe(str(fs.root), Registry(), facts=facts)
    assert "\n" not in caught.value.message and "fact" in caught.value.message
