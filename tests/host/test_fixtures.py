"""Every sysfs fixture under examples/sysfs/ probes, with the installed plugins, to its expected.json.

A fixture is ``examples/sysfs/NAME/``: ``sys/`` (a sysfs root laid out as the kernel lays it out),
``expected.json`` (``{"devices": {id: device_version}, "pairs": [...]}``), ``SOURCES.md``, and
optionally ``config.toml`` + ``expected-config.json`` (the same host probed with the config's
``[facts]``). The harness functions are tested on a small tree made here, so they can fail.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import pytest

from vfiocompat import Registry
from vfiocompat.host.probe import probe

from . import sysfs_fixtures as fx

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9/3.10
    import tomli as tomllib

FIXTURES = Path(__file__).resolve().parents[2] / "examples" / "sysfs"
#: The fixtures issue 10 asks for; each must exist (a missing one fails by its name).
REQUIRED = ("qat-4xxx", "hisi-acc", "nvidia-vgpu-mdev", "nvidia-vgpu-sriov", "intel-gvt", "intel-xe", "mlx5", "pds",
            "virtio-net")
NAMES = sorted(set(REQUIRED) | {p.parent.name for p in FIXTURES.glob("*/expected.json")})

_PCI_ADDRESS = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")
# drivers/pci/pci-sysfs.c: vendor/device "0x%04x\n", class "0x%06x\n", revision "0x%02x\n".
_PCI_FILES = {"vendor": re.compile(r"0x[0-9a-f]{4}\n"), "device": re.compile(r"0x[0-9a-f]{4}\n"),
              "class": re.compile(r"0x[0-9a-f]{6}\n"), "revision": re.compile(r"0x[0-9a-f]{2}\n")}


# -- the harness ----------------------------------------------------------------------------------


def structure_problems(fixture: Path) -> List[str]:
    """What is wrong with a fixture's layout: links leaving (or dangling in) ``sys/``, PCI files, SOURCES.md."""
    problems: List[str] = []
    root = fixture / "sys"
    if not root.is_dir():
        return [f"{fixture.name}: no sys/ folder"]
    if not (fixture / "SOURCES.md").is_file():
        problems.append(f"{fixture.name}: no SOURCES.md")
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                continue
            target = os.path.realpath(path)
            shown = os.path.relpath(path, root)
            if target != real_root and not target.startswith(real_root + os.sep):
                problems.append(f"{shown} -> {os.readlink(path)} leaves the root")
            elif not os.path.exists(target):
                problems.append(f"{shown} -> {os.readlink(path)} dangles")
    for dirpath, _dirnames, _filenames in os.walk(root / "devices"):
        if not _PCI_ADDRESS.fullmatch(os.path.basename(dirpath)):
            continue
        for name, form in _PCI_FILES.items():
            path = Path(dirpath) / name
            shown = os.path.relpath(path, root)
            if not path.is_file():
                problems.append(f"{shown} is missing")
            elif not form.fullmatch(path.read_text(encoding="ascii", errors="replace")):
                problems.append(f"{shown} holds {path.read_text(errors='replace')!r}, not the kernel's format")
    return problems


def probed_versions(root: Path, registry: Any, facts: Optional[Mapping[str, Mapping[str, str]]] = None
                    ) -> Dict[str, str]:
    """{probe device id: device_version} for the devices that got one."""
    inventory = probe(str(root), registry, facts=facts)
    return {d.device.id: d.device_version for d in inventory.devices if d.device_version}


def pair_problems(expected: Mapping[str, Any], registry: Any) -> List[str]:
    """Listed device_versions not compatible with themselves, and pairs not decided as stated."""
    problems: List[str] = []
    for version in sorted(set(expected.get("devices", {}).values())):
        verdict = registry.check(version, version)
        if not verdict.compatible:
            problems.append(f"{version} is not compatible with itself: {list(verdict.codes)}")
    for index, pair in enumerate(expected.get("pairs", [])):
        verdict = registry.check(pair["source"], pair["target"])
        if verdict.compatible is not pair["compatible"]:
            problems.append(f"pairs[{index}]: compatible is {verdict.compatible}, expected {pair['compatible']}"
                            f" ({list(verdict.codes)})")
        elif "code" in pair and pair["code"] not in verdict.codes:
            problems.append(f"pairs[{index}]: {pair['code']} not among {list(verdict.codes)}")
    return problems


def _facts_of(config: Path) -> Dict[str, Dict[str, str]]:
    data = tomllib.loads(config.read_text(encoding="utf-8"))
    facts = data.get("facts", {})
    return {device_id: {k: str(v) for k, v in table.items()} for device_id, table in facts.items()}


@pytest.fixture()
def installed(monkeypatch: pytest.MonkeyPatch) -> Registry:
    monkeypatch.delenv("VFIOCOMPAT_DISABLE_PLUGINS", raising=False)
    return Registry.from_environment()


# -- every fixture ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_fixture_is_laid_out_as_the_kernel_lays_it_out(name: str) -> None:
    fixture = FIXTURES / name
    assert (fixture / "expected.json").is_file(), f"fixture {name} is missing (examples/sysfs/{name}/expected.json)"
    assert structure_problems(fixture) == []


@pytest.mark.parametrize("name", NAMES)
def test_fixture_probes_to_its_expected_devices(name: str, installed: Registry) -> None:
    fixture = FIXTURES / name
    assert (fixture / "expected.json").is_file(), f"fixture {name} is missing"
    expected = json.loads((fixture / "expected.json").read_text(encoding="utf-8"))
    assert probed_versions(fixture / "sys", installed) == expected["devices"]
    assert pair_problems(expected, installed) == []


@pytest.mark.parametrize("name", [n for n in NAMES if (FIXTURES / n / "expected-config.json").is_file()])
def test_fixture_with_its_config_facts_probes_to_expected_config(name: str, installed: Registry) -> None:
    fixture = FIXTURES / name
    expected = json.loads((fixture / "expected-config.json").read_text(encoding="utf-8"))
    facts = _facts_of(fixture / "config.toml")
    assert probed_versions(fixture / "sys", installed, facts) == expected["devices"]
    assert pair_problems(expected, installed) == []


# -- the harness itself, on a tree made here ----------------------------------------------------------


def _tiny_fixture(base: Path) -> Path:
    fixture = base / "tiny"
    fs = fx.FakeSysfs(fixture / "sys")
    fs.add_pci("0000:3b:00.0", "0xfffd", "0x0000", driver="tv_pf")
    fs.add_pci("0000:3b:00.1", "0xfffd", "0x0001", physfn=("0000:3b:00.0", 0),
               attrs={"tv_model": "w1", "tv_fw": "1.2"})
    fs.add_pci("0000:3b:00.2", "0xfffd", "0x0001", physfn=("0000:3b:00.0", 1), attrs={"tv_model": "w1"})
    (fixture / "SOURCES.md").write_text("made by the test\n", encoding="utf-8")
    return fixture


def test_harness_accepts_a_well_made_fixture_and_reads_its_devices(tmp_path: Path) -> None:
    fixture = _tiny_fixture(tmp_path)
    registry = fx.registry(tmp_path)
    assert structure_problems(fixture) == []
    assert probed_versions(fixture / "sys", registry) == {"pci:0000:3b:00.1": fx.dv("w1", "1.2")}, \
        "a device without a device_version is absent"
    expected = {"devices": {"pci:0000:3b:00.1": fx.dv("w1", "1.2")}, "pairs": [
        {"source": fx.dv("w1", "1.2"), "target": fx.dv("w1", "1.3"), "compatible": True},
        {"source": fx.dv("w1", "1.2"), "target": fx.dv("w1", "2.5"), "compatible": False, "code": "TV_FW_ERRATA"},
    ]}
    assert pair_problems(expected, registry) == []


def test_harness_reports_wrong_pairs_and_codes(tmp_path: Path) -> None:
    registry = fx.registry(tmp_path)
    expected = {"devices": {"x": "0xfffd:1:model=w1;fw=not-a-version"}, "pairs": [
        {"source": fx.dv("w1", "1.3"), "target": fx.dv("w1", "1.2"), "compatible": True},
        {"source": fx.dv("w1", "1.2"), "target": fx.dv("w1", "2.5"), "compatible": False, "code": "TV_OTHER"},
    ]}
    problems = pair_problems(expected, registry)
    assert len(problems) == 3
    assert "not compatible with itself" in problems[0]
    assert problems[1].startswith("pairs[0]: compatible is False") and problems[2].startswith("pairs[1]: TV_OTHER")


def test_harness_sees_a_probe_result_that_differs(tmp_path: Path) -> None:
    fixture = _tiny_fixture(tmp_path)
    (fixture / "sys" / "devices" / "pci0000:00" / "0000:00:01.0" / "0000:3b:00.2" / "tv_fw").write_text("1.0\n")
    assert probed_versions(fixture / "sys", fx.registry(tmp_path)) == {
        "pci:0000:3b:00.1": fx.dv("w1", "1.2"), "pci:0000:3b:00.2": fx.dv("w1", "1.0")}
    facts = {"pci:0000:3b:00.1": {"fw": "9"}}
    listed = probe(str(fixture / "sys"), fx.registry(tmp_path), facts=facts).devices
    assert [(d.device.id, d.device.fact("fw")) for d in listed] == [("pci:0000:3b:00.1", "9"),
                                                                   ("pci:0000:3b:00.2", None)], \
        "the PF (not VFIO) is not listed; facts go to the device of that id only"


@pytest.mark.parametrize(("damage", "problem"), [
    (lambda vf, root, fixture: (vf / "vendor").write_text("0x8086"), "vendor holds '0x8086'"),
    (lambda vf, root, fixture: (vf / "revision").write_text("0x1\n"), "revision holds '0x1\\n'"),
    (lambda vf, root, fixture: (vf / "class").write_text("0x0200\n"), "class holds"),
    (lambda vf, root, fixture: (vf / "device").unlink(), "device is missing"),
    (lambda vf, root, fixture: os.symlink("../../../../../../etc", vf / "escape"), "leaves the root"),
    (lambda vf, root, fixture: os.symlink("/etc", vf / "absolute"), "leaves the root"),
    (lambda vf, root, fixture: os.symlink("../nowhere", vf / "gone"), "dangles"),
    (lambda vf, root, fixture: (fixture / "SOURCES.md").unlink(), "no SOURCES.md"),
])
def test_harness_finds_each_structural_fault(damage: Any, problem: str, tmp_path: Path) -> None:
    fixture = _tiny_fixture(tmp_path)
    root = fixture / "sys"
    vf = root / "devices" / "pci0000:00" / "0000:00:01.0" / "0000:3b:00.1"
    damage(vf, root, fixture)
    problems = structure_problems(fixture)
    assert len(problems) == 1 and problem in problems[0], problems


def test_facts_of_a_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('sysfs_root = "/sys"\n[facts."pci:0000:3b:00.1"]\nfw = "1.2"\n', encoding="utf-8")
    assert _facts_of(config) == {"pci:0000:3b:00.1": {"fw": "1.2"}}
