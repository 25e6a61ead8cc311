"""vfiocompat.host.probe: VFIO devices found in a sysfs tree, confined to it, and their device_versions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import jsonschema
import pytest

from vfiocompat import Registry, hookimpl
from vfiocompat.host.probe import probe
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
