"""vfiocompat.host.doctor: each check tells the truth about the sysfs fixtures, an empty root, the hook, the config."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import jsonschema
import pytest

from vfiocompat import __version__
from vfiocompat._cli import main
from vfiocompat._registry import Registry
from vfiocompat.host.config import load_host_config, probe_configured
from vfiocompat.host.hook_install import install_hook

from . import sysfs_fixtures as fx

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = sorted(p.parent.name for p in (ROOT / "examples" / "sysfs").glob("*/sys"))


def run(*argv: str) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture()
def empty_config(tmp_path: Path) -> str:
    path = tmp_path / "config.toml"
    path.write_text("# nothing set\n")
    return str(path)


def doctor_json(*argv: str) -> Tuple[int, Dict[str, Any]]:
    status, out, err = run("doctor", *argv, "--json")
    assert err == "", err
    form = json.loads(out)
    jsonschema.Draft202012Validator(fx.load_schema("doctor")).validate(form)
    return status, form


def by_subject(form: Dict[str, Any], check: str) -> Dict[str, Dict[str, Any]]:
    return {c["subject"]: c for c in form["checks"] if c["check"] == check}


def test_fixtures_exist() -> None:
    assert {"qat-4xxx", "mlx5", "nvidia-vgpu-mdev", "intel-gvt"} <= set(FIXTURES)


@pytest.mark.parametrize("name", FIXTURES)
def test_each_fixture_device_is_judged_as_probe_and_its_expected_json_say(name: str, tmp_path: Path,
                                                                         empty_config: str) -> None:
    root = ROOT / "examples" / "sysfs" / name / "sys"
    status, form = doctor_json("--sysfs-root", str(root), "--hooks-dir", str(tmp_path / "hooks"),
                               "--config", empty_config)
    expected = json.loads((root.parent / "expected.json").read_text())["devices"]
    inventory = probe_configured(str(root), Registry.from_environment(), load_host_config(empty_config), host="h")
    drivers, versions = by_subject(form, "driver"), by_subject(form, "device-version")
    assert set(versions) == {e.device.id for e in inventory.devices}
    for entry in inventory.devices:
        device_id = entry.device.id
        version = versions[device_id]
        if device_id in expected:
            assert (version["status"], version["message"].split(" ")[0]) == ("ok", expected[device_id])
        else:
            assert version["status"] == "fail" and version["code"] in ("VC602", "VC608"), version
            assert version["fix"], "a failure says how to fix it"
        if entry.device.kind == "mdev_type":
            assert device_id not in drivers, "a type is not bound to a driver"
            continue
        want = {True: "ok", False: "fail", None: "warn"}[entry.can_migrate]
        assert drivers[device_id]["status"] == want, drivers[device_id]
        if entry.can_migrate is False:
            assert drivers[device_id]["code"] == "VC601" and entry.migration_driver in drivers[device_id]["fix"]
    kernel = {c["check"]: c["status"] for c in form["checks"] if c["subject"] is None}
    assert kernel["vfio-core"] == kernel["vfio-pci"] == kernel["iommu"] == "ok"
    failing = [c for c in form["checks"] if c["status"] == "fail"]
    assert form["counts"]["fail"] == len(failing)
    assert status == (1 if failing else 0) and form["status"] == ("fail" if failing else form["status"])


def test_qat_vfs_on_plain_vfio_pci_and_without_facts_fail_with_their_fixes(tmp_path: Path, empty_config: str) -> None:
    root = ROOT / "examples" / "sysfs" / "qat-4xxx" / "sys"
    status, out, err = run("doctor", "--sysfs-root", str(root), "--hooks-dir", str(tmp_path), "--config",
                           empty_config)
    assert status == 1 and err == ""
    lines = out.splitlines()
    assert "ok   driver pci:0000:6b:00.1: bound to qat_vfio_pci, a driver that migrates" in lines
    plain = next(i for i, line in enumerate(lines) if line.startswith("FAIL driver pci:0000:6b:00.3: [VC601] bound"
                                                                       " to vfio-pci, which cannot migrate"))
    assert lines[plain + 1].startswith("     fix: bind the function to qat_vfio_pci")
    facts = next(i for i, line in enumerate(lines) if line.startswith("FAIL device-version pci:0000:6b:00.1: [VC608]"))
    assert lines[facts + 1].startswith('     fix: set [facts."pci:0000:6b:00.1"] qat_mstate_version = "..."')
    assert lines[-1].endswith(" failing") and " 0 failing" not in lines[-1]


def test_facts_from_the_config_file_give_the_device_versions(tmp_path: Path) -> None:
    fixture = ROOT / "examples" / "sysfs" / "mlx5"
    _, without = doctor_json("--sysfs-root", str(fixture / "sys"), "--hooks-dir", str(tmp_path),
                             "--config", str(tmp_path / "none.toml"))
    assert by_subject(without, "config")[str(tmp_path / "none.toml")]["status"] == "fail"
    _, form = doctor_json("--sysfs-root", str(fixture / "sys"), "--hooks-dir", str(tmp_path),
                          "--config", str(fixture / "config.toml"))
    expected = json.loads((fixture / "expected-config.json").read_text())["devices"]
    versions = by_subject(form, "device-version")
    assert expected and all(versions[d]["status"] == "ok" and versions[d]["message"].startswith(v)
                            for d, v in expected.items())
    assert by_subject(form, "config")[str(fixture / "config.toml")]["status"] == "ok"


def test_an_empty_sysfs_root_fails_the_kernel_checks(tmp_path: Path, empty_config: str) -> None:
    root = tmp_path / "sys"
    root.mkdir()
    status, form = doctor_json("--sysfs-root", str(root), "--hooks-dir", str(tmp_path), "--config", empty_config)
    assert status == 1 and form["status"] == "fail"
    host = {c["check"]: c for c in form["checks"] if c["subject"] is None}
    assert {k: host[k]["status"] for k in ("vfio-core", "vfio-pci", "iommu", "devices")} == {
        "vfio-core": "fail", "vfio-pci": "fail", "iommu": "fail", "devices": "warn"}
    assert "modprobe vfio-pci" in host["vfio-core"]["fix"] and "intel_iommu=on" in host["iommu"]["fix"]
    assert not by_subject(form, "driver") and not by_subject(form, "device-version")


def test_a_missing_root_is_a_failed_check_not_a_crash(tmp_path: Path, empty_config: str) -> None:
    status, form = doctor_json("--sysfs-root", str(tmp_path / "nope"), "--hooks-dir", str(tmp_path),
                               "--config", empty_config)
    assert status == 1
    [sysfs] = [c for c in form["checks"] if c["check"] == "sysfs"]
    assert sysfs["status"] == "fail" and str(tmp_path / "nope") in sysfs["message"]


def test_nothing_failing_exits_0(tmp_path: Path, empty_config: str) -> None:
    hooks = tmp_path / "hooks"
    install_hook(str(hooks), python=sys.executable)
    status, form = doctor_json("--sysfs-root", str(ROOT / "examples" / "sysfs" / "nvidia-vgpu-mdev" / "sys"),
                               "--hooks-dir", str(hooks), "--config", empty_config)
    assert form["counts"]["fail"] == 0 and status == 0 and form["status"] == "warn"
    [hook] = [c for c in form["checks"] if c["check"] == "libvirt-hook"]
    assert hook["status"] == "ok" and f"imports vfiocompat {__version__}" in hook["message"]


# -- the libvirt hook ------------------------------------------------------------------------------


def hook_check(tmp_path: Path, hooks: Path, empty_config: str) -> Dict[str, Any]:
    root = tmp_path / "sys"
    root.mkdir(exist_ok=True)
    _, form = doctor_json("--sysfs-root", str(root), "--hooks-dir", str(hooks), "--config", empty_config)
    [hook] = [c for c in form["checks"] if c["check"] == "libvirt-hook"]
    assert hook["subject"] == str(hooks / "qemu.d" / "vfiocompat")
    return hook


def test_hook_missing_or_not_executable_fails(tmp_path: Path, empty_config: str) -> None:
    hooks = tmp_path / "hooks"
    assert hook_check(tmp_path, hooks, empty_config)["status"] == "warn", "no hooks folder: no libvirt here"
    hooks.mkdir()
    missing = hook_check(tmp_path, hooks, empty_config)
    assert (missing["status"], missing["code"]) == ("fail", "VC611") and "install-libvirt-hook" in missing["fix"]
    path = install_hook(str(hooks), python=sys.executable)
    os.chmod(path, 0o644)
    assert "not executable" in hook_check(tmp_path, hooks, empty_config)["message"]


def test_hook_whose_interpreter_is_gone_fails(tmp_path: Path, empty_config: str) -> None:
    hooks = tmp_path / "hooks"
    install_hook(str(hooks), python=str(tmp_path / "gone" / "bin" / "python"))
    hook = hook_check(tmp_path, hooks, empty_config)
    assert hook["status"] == "fail" and f"{tmp_path}/gone/bin/python is missing" in hook["message"]


def _fake_python(tmp_path: Path, body: str) -> Path:
    fake = tmp_path / "bin with space" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\n" + body)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return fake


def test_hook_is_tried_in_libvirts_bare_environment(tmp_path: Path, empty_config: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    seen = tmp_path / "env.txt"
    fake = _fake_python(tmp_path, f"env > '{seen}'\necho {__version__}\n")
    monkeypatch.setenv("VFIOCOMPAT_CANARY", "leaked")
    hooks = tmp_path / "hooks"
    install_hook(str(hooks), python=str(fake))
    hook = hook_check(tmp_path, hooks, empty_config)
    assert hook["status"] == "ok", hook
    env = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    assert (env["LC_ALL"], env["PATH"], env["HOME"]) == ("C", "/usr/sbin:/usr/bin:/sbin:/bin", "/root")
    assert "VFIOCOMPAT_CANARY" not in env and "PYTHONPATH" not in env and "VIRTUAL_ENV" not in env


def test_hook_whose_interpreter_cannot_import_vfiocompat_fails(tmp_path: Path, empty_config: str) -> None:
    fake = _fake_python(tmp_path, "echo \"ModuleNotFoundError: No module named 'vfiocompat'\" >&2\nexit 1\n")
    hooks = tmp_path / "hooks"
    install_hook(str(hooks), python=str(fake))
    hook = hook_check(tmp_path, hooks, empty_config)
    assert (hook["status"], hook["code"]) == ("fail", "VC611")
    assert hook["message"].endswith("ModuleNotFoundError: No module named 'vfiocompat'")


def test_hook_of_another_vfiocompat_version_warns(tmp_path: Path, empty_config: str) -> None:
    fake = _fake_python(tmp_path, "echo 0.0.1\n")
    hooks = tmp_path / "hooks"
    install_hook(str(hooks), python=str(fake))
    hook = hook_check(tmp_path, hooks, empty_config)
    assert hook["status"] == "warn" and f"runs vfiocompat 0.0.1 ({fake}), this is {__version__}" in hook["message"]


def test_a_hook_vfiocompat_did_not_write_is_not_run(tmp_path: Path, empty_config: str) -> None:
    ran = tmp_path / "ran"
    hook = tmp_path / "hooks" / "qemu.d" / "vfiocompat"
    hook.parent.mkdir(parents=True)
    hook.write_text(f"#!/bin/sh\ntouch '{ran}'\npython=/usr/bin/python3\n")
    hook.chmod(0o755)
    result = hook_check(tmp_path, tmp_path / "hooks", empty_config)
    assert result["status"] == "warn" and "not written by vfiocompat install-libvirt-hook" in result["message"]
    assert not ran.exists()


# -- the configuration file -------------------------------------------------------------------------


def test_an_invalid_config_fails_and_the_other_checks_still_run(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('sysfs_root = "/sys"\nplugin_timout = 3\n')
    status, form = doctor_json("--sysfs-root", str(ROOT / "examples" / "sysfs" / "nvidia-vgpu-mdev" / "sys"),
                               "--hooks-dir", str(tmp_path), "--config", str(bad))
    assert status == 1
    config = by_subject(form, "config")[str(bad)]
    assert (config["status"], config["code"]) == ("fail", "VC609")
    assert "unknown key 'plugin_timout'" in config["message"]
    assert by_subject(form, "device-version"), "devices were still checked"


def test_facts_for_devices_the_host_lacks_warn(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[facts."pci:0000:99:00.1"]\nfw = "1"\n')
    _, form = doctor_json("--sysfs-root", str(ROOT / "examples" / "sysfs" / "nvidia-vgpu-mdev" / "sys"),
                          "--hooks-dir", str(tmp_path), "--config", str(config))
    check = by_subject(form, "config")[str(config)]
    assert check["status"] == "warn" and check["message"].endswith("this host does not have: pci:0000:99:00.1")


def test_the_config_the_hook_names_is_checked_too(tmp_path: Path, empty_config: str) -> None:
    other = tmp_path / "hook-config.toml"
    other.write_text("sysfs_root = 'relative'\n")
    hooks = tmp_path / "hooks"
    install_hook(str(hooks), python=sys.executable, config=str(other))
    _, form = doctor_json("--sysfs-root", str(tmp_path), "--hooks-dir", str(hooks), "--config", empty_config)
    checks: List[Dict[str, Any]] = [c for c in form["checks"] if c["check"] == "config"]
    assert [c["status"] for c in checks] == ["ok", "fail"]
    assert checks[1]["subject"] == f"{other} (named by the hook)" and "absolute path" in checks[1]["message"]
