"""vfiocompat.host.hook_install: the installed qemu.d/vfiocompat, run exactly as libvirt runs it.

libvirt starts hooks with ``LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root`` and nothing
else (docs/hooks.rst), so every run here goes through ``env -i`` with those three; the fixture
sysfs root reaches the hook through the configuration file the script names, never the environment.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Tuple

import pytest

from vfiocompat._cli import main
from vfiocompat.host.hook_install import hook_script, install_hook
from vfiocompat.host.libvirt_xml import parse_domain

from . import sysfs_fixtures as fx
from .test_libvirt_hook import PCI, UUID, domain_xml

LIBVIRT_ENV = ["LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "libvirt" / "qemu.d-vfiocompat"


def run(*argv: str) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


def libvirt_runs(script: str, args: List[str], stdin: bytes = b"") -> Any:
    """``SCRIPT GUEST OPERATION SUBOPERATION EXTRA`` in libvirt's environment, the XML on stdin."""
    return subprocess.run(["env", "-i", *LIBVIRT_ENV, script, *args], input=stdin, capture_output=True,
                          timeout=60, check=False)


@pytest.fixture()
def host(tmp_path: Path) -> Any:
    """A destination: the fixture sysfs of test_libvirt_hook, a config naming it, an interpreter that has the
    test plugin (the daemon's environment is empty, so the plugin's path is part of the interpreter)."""
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci(PCI, "0xfffd", "0x0001", attrs={"tv_model": "w1", "tv_fw": "2.0"}, driver="tv_vfio_pci")
    fs.add_mdev_parent("0000:00:02.0", "0xfffd", "0x0002", {"tv-w2": ("W2", 2, {"tv_model": "w2", "tv_fw": "2.0"})})
    fs.add_mdev("0000:00:02.0", UUID, "tv-w2")
    site = fx.plugin_site(tmp_path, fx.write_table(tmp_path))
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text(f"#!/bin/sh\nPYTHONPATH='{site}' exec '{sys.executable}' \"$@\"\n")
    python.chmod(0o755)
    config = tmp_path / "config.toml"
    config.write_text(f'sysfs_root = "{fs.root}"\n', encoding="utf-8")
    script = install_hook(str(tmp_path / "hooks"), python=str(python), config=str(config))
    return type("Host", (), {"fs": fs, "python": python, "config": config, "script": script, "tmp": tmp_path})


MIGRATE = ["vm-01", "migrate", "begin", "-"]
OTHER_CALLS = [["vm-01", "prepare", "begin", "-"], ["vm-01", "start", "begin", "-"],
               ["vm-01", "started", "begin", "-"], ["vm-01", "stopped", "end", "-"],
               ["vm-01", "release", "end", "shutdown"], ["vm-01", "reconnect", "begin", "-"],
               ["vm-01", "attach", "begin", "-"], ["vm-01", "restore", "begin", "-"],
               ["vm-01", "some-future-operation", "-", "-"], ["-h", "--json", "-", "-"]]


# -- installing ----------------------------------------------------------------------------------


def test_install_writes_an_executable_script_with_this_interpreter(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    status, out, err = run("install-libvirt-hook", "--hooks-dir", str(hooks))
    assert (status, err) == (0, "")
    script = hooks / "qemu.d" / "vfiocompat"
    assert out.startswith(f"installed {script} (interpreter {sys.executable}); restart the libvirt daemon")
    assert stat.S_IMODE(os.stat(hooks / "qemu.d").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(script).st_mode) == 0o755
    text = script.read_text()
    assert text.startswith("#!/bin/sh\n") and f"python='{sys.executable}'\n" in text
    assert os.path.isabs(sys.executable) and "VFIOCOMPAT_CONFIG" not in text
    assert [p.name for p in (hooks / "qemu.d").iterdir()] == ["vfiocompat"], "no temporary file is left"


def test_an_existing_hook_is_kept_without_force(tmp_path: Path) -> None:
    folder = tmp_path / "hooks" / "qemu.d"
    folder.mkdir(parents=True)
    (folder / "vfiocompat").write_text("#!/bin/sh\n# the operator's own\n")
    status, out, err = run("install-libvirt-hook", "--hooks-dir", str(tmp_path / "hooks"))
    assert status == 2 and out == "" and err.count("\n") == 1
    destination = folder / "vfiocompat"
    assert err == f"vfiocompat: error[VC610]: {destination} exists; not replaced (pass --force to replace it)\n"
    assert (folder / "vfiocompat").read_text() == "#!/bin/sh\n# the operator's own\n"
    assert run("install-libvirt-hook", "--hooks-dir", str(tmp_path / "hooks"), "--force")[0] == 0
    assert (folder / "vfiocompat").read_text().startswith("#!/bin/sh\n# vfiocompat's libvirt qemu hook")


def test_a_symlink_at_the_destination_is_never_followed(tmp_path: Path) -> None:
    folder = tmp_path / "hooks" / "qemu.d"
    folder.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    os.symlink(victim, folder / "vfiocompat")
    assert run("install-libvirt-hook", "--hooks-dir", str(tmp_path / "hooks"))[0] == 2
    os.symlink(tmp_path / "nowhere", folder / "dangling")
    assert install_hook(str(tmp_path / "hooks"), force=True) == str(folder / "vfiocompat")
    assert victim.read_text() == "keep me\n", "the link was replaced, its target untouched"
    assert not os.path.islink(folder / "vfiocompat") and (folder / "vfiocompat").read_text().startswith("#!/bin/sh")


def test_a_directory_at_the_destination_or_a_bad_config_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "hooks" / "qemu.d" / "vfiocompat").mkdir(parents=True)
    status, _, err = run("install-libvirt-hook", "--hooks-dir", str(tmp_path / "hooks"), "--force")
    assert status == 2 and "is a directory; not replaced" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("sysfs_root = 'relative'\n")
    status, _, err = run("install-libvirt-hook", "--hooks-dir", str(tmp_path / "other"), "--config", str(bad))
    assert status == 2 and err.startswith("vfiocompat: error[VC609]: ") and not (tmp_path / "other").exists()
    status, _, err = run("install-libvirt-hook", "--hooks-dir", str(tmp_path / "x"), "--config", str(tmp_path / "no"))
    assert status == 2 and "no such configuration file" in err and not (tmp_path / "x").exists()


def test_the_config_file_is_baked_in_by_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert run("install-libvirt-hook", "--hooks-dir", "hooks", "--config", "config.toml")[0] == 0
    text = (tmp_path / "hooks" / "qemu.d" / "vfiocompat").read_text()
    assert f"VFIOCOMPAT_CONFIG='{tmp_path / 'config.toml'}'\nexport VFIOCOMPAT_CONFIG\n" in text


def test_paths_are_quoted_for_the_shell_and_must_be_plain(tmp_path: Path) -> None:
    odd = tmp_path / "it's $HOME `x`" / "python"
    text = hook_script(str(odd))
    assert "python='" + str(odd).replace("'", "'\\''") + "'\n" in text
    [line] = [line for line in text.splitlines() if line.startswith("python=")]
    done = subprocess.run(["sh", "-c", line + '; printf %s "$python"'], capture_output=True, check=True)
    assert done.stdout.decode() == str(odd)
    for bad in ("relative/python", "/usr/bin/py\nthon"):
        with pytest.raises(Exception, match="must be an absolute path without control characters"):
            hook_script(bad)


def test_the_example_is_what_the_installer_writes() -> None:
    assert EXAMPLE.read_text() == hook_script("/opt/vfiocompat/bin/python")


def test_the_script_is_posix_sh() -> None:
    dash = subprocess.run(["sh", "-n", str(EXAMPLE)], capture_output=True, check=False)
    assert dash.returncode == 0, dash.stderr


# -- running as libvirt runs it -------------------------------------------------------------------


@pytest.mark.parametrize("args", OTHER_CALLS, ids=lambda a: a[1])
@pytest.mark.parametrize("interpreter", ["working", "missing"])
def test_every_call_but_migrate_passes_in_the_shell(args: List[str], interpreter: str, host: Any) -> None:
    script = host.script
    if interpreter == "missing":
        script = install_hook(str(host.tmp / "broken"), python=str(host.tmp / "gone" / "python"),
                              config=str(host.config))
    # stdin stays open and unread: a hook that read it would block until the timeout.
    process = subprocess.Popen(["env", "-i", *LIBVIRT_ENV, script, *args], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        status = process.wait(timeout=30)
    finally:
        assert process.stdin is not None
        process.stdin.close()
    assert process.stdout is not None and process.stderr is not None
    assert (status, process.stdout.read(), process.stderr.read()) == (0, b"", b"")


def test_migrate_is_refused_when_the_interpreter_is_gone(host: Any) -> None:
    script = install_hook(str(host.tmp / "broken"), python=str(host.tmp / "gone" / "python"))
    result = libvirt_runs(script, MIGRATE, domain_xml({PCI: fx.dv("w1", "1.0"), UUID: fx.dv("w2", "2.0")}))
    assert result.returncode == 1 and result.stdout == b"" and result.stderr.count(b"\n") == 1
    assert result.stderr.startswith(b"vfiocompat: refusing migration: error[VC611]: the interpreter ")
    assert str(host.tmp / "gone" / "python").encode() in result.stderr


def test_migrate_is_refused_when_vfiocompat_cannot_be_imported(host: Any) -> None:
    broken = host.tmp / "shadow" / "vfiocompat"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('vfiocompat was half uninstalled')\n")
    python = host.tmp / "bin" / "python-broken"
    python.write_text(f"#!/bin/sh\nPYTHONPATH='{broken.parent}' exec '{sys.executable}' \"$@\"\n")
    python.chmod(0o755)
    script = install_hook(str(host.tmp / "broken"), python=str(python))
    result = libvirt_runs(script, MIGRATE, domain_xml({PCI: fx.dv("w1", "1.0")}))
    assert result.returncode == 1 and result.stdout == b"" and result.stderr.count(b"\n") == 1
    assert result.stderr.startswith(b"vfiocompat: refusing migration: error[VC611]: vfiocompat cannot be imported")
    assert b"half uninstalled" in result.stderr and b"Traceback" not in result.stderr


def test_an_accepted_migration_prints_the_refreshed_domain(host: Any) -> None:
    xml = domain_xml({PCI: fx.dv("w1", "1.5"), UUID: fx.dv("w2", "2.0")})
    result = libvirt_runs(host.script, MIGRATE, xml)
    assert (result.returncode, result.stderr) == (0, b""), result.stderr
    domain = parse_domain(result.stdout)
    assert [domain.source_version(h) for h in domain.hostdevs] == [fx.dv("w2", "2.0"), fx.dv("w1", "2.0")]
    head = xml.split(b"<vfiocompat:devices")[0]
    assert result.stdout.startswith(head) and result.stdout.endswith(xml.split(b"</vfiocompat:devices>")[1])


def test_a_refused_migration_is_one_line_on_stderr_and_nothing_on_stdout(host: Any) -> None:
    result = libvirt_runs(host.script, MIGRATE, domain_xml({PCI: fx.dv("w1", "3.0"), UUID: fx.dv("w2", "9.0")}))
    assert result.returncode == 1 and result.stdout == b"" and result.stderr.count(b"\n") == 1
    line = result.stderr.decode()
    assert line.startswith("vfiocompat: refusing migration of 'vm-01': 2 hostdevs block it: ")
    assert f"hostdev mdev:{UUID}: error[VC411]" in line and f"hostdev pci:{PCI}: error[VC411]" in line


def test_the_config_file_and_not_the_environment_decides(host: Any) -> None:
    bare = domain_xml({}, metadata=False)
    assert libvirt_runs(host.script, MIGRATE, bare).returncode == 1
    host.config.write_text(f'sysfs_root = "{host.fs.root}"\n[hook]\nwithout_metadata = "allow"\n')
    allowed = libvirt_runs(host.script, MIGRATE, bare)
    assert allowed.returncode == 0 and f'address="{PCI}" version="{fx.dv("w1", "2.0")}"'.encode() in allowed.stdout
    host.config.write_text("sysfs_root = [\n")
    broken = libvirt_runs(host.script, MIGRATE, bare)
    assert broken.returncode == 1 and b"error[VC609]" in broken.stderr and b"config.toml:1" in broken.stderr
    assert libvirt_runs(host.script, ["vm-01", "start", "begin", "-"]).returncode == 0


@pytest.mark.parametrize("guest", ["--json", "--no-plugins", "-h", "--help", "--table=X", "--disable-plugin=X",
                                   "--disable-plugin=testvendor", "--", "-", "--version", "-c", "$(id)"])
def test_a_guest_name_is_never_an_option_to_the_real_script(guest: str, host: Any) -> None:
    (host.tmp / "X").write_text("not a table")
    refused = domain_xml({PCI: fx.dv("w1", "3.0"), UUID: fx.dv("w2", "2.0")}).replace(b"vm-01", guest.encode())
    result = libvirt_runs(host.script, [guest, "migrate", "begin", "-"], refused)
    assert result.returncode == 1 and result.stdout == b""
    expected = f"vfiocompat: refusing migration of {guest!r}: hostdev pci:{PCI}: error[VC411]"
    assert result.stderr.decode().startswith(expected), result.stderr
    accepted = refused.replace(b"fw=3.0", b"fw=1.0")
    result = libvirt_runs(host.script, [guest, "migrate", "begin", "-"], accepted)
    assert result.returncode == 0 and result.stderr == b"" and parse_domain(result.stdout).versions
