"""vfiocompat.host.config: the host configuration file, its errors, and the variables that win over it."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any, Dict, List

import pytest

from vfiocompat._cli import main
from vfiocompat.errors import HostConfigError, UsageError
from vfiocompat.host import cli as host_cli
from vfiocompat.host.config import DEFAULT_CONFIG, HostConfig, config_of, load_host_config

FULL = """\
sysfs_root = "/srv/sys"
disable_plugins = ["acme", "nvidia-vgpu"]
plugin_timeout = 2.5

[hook]
without_metadata = "allow"

[facts."pci:0000:3b:00.1"]
fw_version = "22.39.1002"

[facts."mdev_type:0000:00:02.0/nvidia-474"]
board = "A100"
"""


def write(tmp_path: Path, text: str, name: str = "config.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_every_setting_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    config = load_host_config(path, environ={})
    assert config.path == path
    assert config.sysfs_root == "/srv/sys"
    assert config.disable_plugins == ("acme", "nvidia-vgpu")
    assert config.plugin_timeout == 2.5
    assert config.without_metadata == "allow"
    assert {k: dict(v) for k, v in config.facts.items()} == {
        "pci:0000:3b:00.1": {"fw_version": "22.39.1002"},
        "mdev_type:0000:00:02.0/nvidia-474": {"board": "A100"},
    }
    with pytest.raises(TypeError):
        config.facts["pci:0000:3b:00.1"]["fw_version"] = "x"  # type: ignore[index]


def test_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default file is optional: a host without one gets the defaults.
    monkeypatch.setattr("vfiocompat.host.config.DEFAULT_CONFIG", str(tmp_path / "absent.toml"))
    config = load_host_config(environ={})
    assert config == HostConfig()
    assert (config.path, config.sysfs_root, config.without_metadata, config.plugin_timeout) == (None, "/sys",
                                                                                                "refuse", None)
    assert DEFAULT_CONFIG == "/etc/vfiocompat/config.toml"


def test_the_environment_names_the_file_and_wins_over_it(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    assert load_host_config(environ={"VFIOCOMPAT_CONFIG": path}).sysfs_root == "/srv/sys"
    config = load_host_config(environ={"VFIOCOMPAT_CONFIG": path, "VFIOCOMPAT_SYSFS_ROOT": "/other",
                                       "VFIOCOMPAT_DISABLE_PLUGINS": "x, y", "VFIOCOMPAT_PLUGIN_TIMEOUT": "7"})
    assert (config.sysfs_root, config.disable_plugins, config.plugin_timeout) == ("/other", ("x", "y"), 7.0)
    # Set but empty, the list variable still replaces the file's list.
    assert load_host_config(path, environ={"VFIOCOMPAT_DISABLE_PLUGINS": ""}).disable_plugins == ()
    # "off" is the registry's to read: the file's value must not stand in for it.
    assert load_host_config(path, environ={"VFIOCOMPAT_PLUGIN_TIMEOUT": "off"}).plugin_timeout is None
    # --config (the path argument) wins over VFIOCOMPAT_CONFIG.
    other = write(tmp_path, 'sysfs_root = "/third"\n', "other.toml")
    assert load_host_config(other, environ={"VFIOCOMPAT_CONFIG": path}).sysfs_root == "/third"


@pytest.mark.parametrize(("text", "words"), [
    ('sysfs_root = "/x"\nplugin_timeout = \n', "config.toml:2: invalid TOML: "),
    ("[hook]\nwithout_metadata = 'allow'\n[hook]\n", "config.toml:3: invalid TOML"),
    ('sysfs_root = "/x"\ndisable_plugins = [\n', "config.toml:2: invalid TOML: "),
    ('sysfs-root = "/x"\n', "unknown key 'sysfs-root'"),
    ('sysfs_root = "relative/sys"\n', "sysfs_root: must be an absolute path"),
    ("sysfs_root = 1\n", "sysfs_root: must be an absolute path"),
    ('disable_plugins = "acme"\n', "disable_plugins: must be a list"),
    ('disable_plugins = ["acme", 3]\n', "disable_plugins[1]: must be a plugin name"),
    ("plugin_timeout = 0\n", "plugin_timeout: must be seconds"),
    ("plugin_timeout = -1.5\n", "plugin_timeout: must be seconds"),
    ("plugin_timeout = true\n", "plugin_timeout: must be seconds"),
    ("plugin_timeout = nan\n", "plugin_timeout: must be seconds"),
    ('plugin_timeout = "5"\n', "plugin_timeout: must be seconds"),
    ('[hook]\nwithout_metadata = "warn"\n', "hook.without_metadata: must be one of 'refuse', 'allow', not 'warn'"),
    ('[hook]\nwithout-metadata = "allow"\n', "hook.without-metadata: unknown key"),
    ('hook = "allow"\n', "hook: must be a table"),
    ('[facts."0000:3b:00.1"]\nfw = "1"\n', 'facts."0000:3b:00.1": not a probe device id'),
    ('[facts."pci:0000:3B:00.1"]\nfw = "1"\n', 'facts."pci:0000:3B:00.1": not a probe device id'),
    ('[facts."pci:0000:3b:00.1"]\nfw = 22.39\n', 'facts."pci:0000:3b:00.1".fw: must be a string'),
    ('[facts."pci:0000:3b:00.1"]\n"fw version" = "1"\n', 'facts."pci:0000:3b:00.1".fw version: not a fact name'),
    ('facts = ["x"]\n', "facts: must be tables"),
])
def test_invalid_files_are_one_line_errors_naming_line_or_key(text: str, words: str, tmp_path: Path) -> None:
    path = write(tmp_path, text)
    with pytest.raises(HostConfigError) as caught:
        load_host_config(path, environ={})
    assert caught.value.code == "VC609"
    line = caught.value.one_line()
    assert line.startswith(f"error[VC609]: {path}") and words in line and "\n" not in line, line


def test_a_named_file_must_exist_and_be_text(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.toml")
    for call in (lambda: load_host_config(missing, environ={}),
                 lambda: load_host_config(environ={"VFIOCOMPAT_CONFIG": missing})):
        with pytest.raises(HostConfigError, match=r"nope\.toml: no such configuration file"):
            call()
    (tmp_path / "bin.toml").write_bytes(b'sysfs_root = "/\xff"\n')
    with pytest.raises(HostConfigError, match=r"bin\.toml: not UTF-8 \(byte 15\)"):
        load_host_config(str(tmp_path / "bin.toml"), environ={})
    with pytest.raises(HostConfigError, match="cannot read"):
        load_host_config(str(tmp_path), environ={})
    (tmp_path / "big.toml").write_bytes(b"#" * ((1 << 20) + 1))
    with pytest.raises(HostConfigError, match="larger than 1048576 bytes"):
        load_host_config(str(tmp_path / "big.toml"), environ={})


def test_config_of_loads_once_per_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'sysfs_root = "/a"\n')
    args = argparse.Namespace(config=path)
    first = config_of(args)
    Path(path).write_text('sysfs_root = "/b"\n')
    assert config_of(args) is first and first.sysfs_root == "/a"


# -- the host commands' two helpers ------------------------------------------------------------


def _args(**values: Any) -> argparse.Namespace:
    base: Dict[str, Any] = {"table": [], "disable_plugin": [], "no_plugins": True, "config": None,
                            "sysfs_root": None}
    base.update(values)
    return argparse.Namespace(**base)


def test_sysfs_root_order_option_environment_file_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 'sysfs_root = "/from/file"\n')
    monkeypatch.delenv("VFIOCOMPAT_SYSFS_ROOT", raising=False)
    monkeypatch.delenv("VFIOCOMPAT_CONFIG", raising=False)
    assert host_cli.sysfs_root(_args(config=path)) == "/from/file"
    assert host_cli.sysfs_root(_args(config=path, sysfs_root="/opt")) == "/opt"
    monkeypatch.setenv("VFIOCOMPAT_SYSFS_ROOT", "/from/env")
    assert host_cli.sysfs_root(_args(config=path)) == "/from/env"
    monkeypatch.delenv("VFIOCOMPAT_SYSFS_ROOT")
    monkeypatch.setenv("VFIOCOMPAT_CONFIG", path)
    # The older calling form, with just the option's value, still honours the file.
    assert host_cli.sysfs_root(None) == "/from/file" and host_cli.sysfs_root("/x") == "/x"


def test_registry_of_disables_the_files_plugins_and_passes_its_timeout(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from vfiocompat._registry import Registry

    calls: List[Dict[str, Any]] = []

    def record(cls: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return SimpleNamespace(plugins=[SimpleNamespace(name="gvt")])

    monkeypatch.setattr(Registry, "from_environment", classmethod(record))
    for name in ("VFIOCOMPAT_DISABLE_PLUGINS", "VFIOCOMPAT_PLUGIN_TIMEOUT", "VFIOCOMPAT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    path = write(tmp_path, 'disable_plugins = ["acme"]\nplugin_timeout = 1.5\n')
    host_cli.registry_of(_args(config=path, disable_plugin=["gvt"], no_plugins=False))
    [call] = calls
    assert list(call["disabled"]) == ["gvt", "acme"] and call["entry_points"] is True
    assert call["plugin_timeout"] == 1.5
    # The file may name a plugin this host lacks; the command line may not.
    with pytest.raises(UsageError, match="--disable-plugin 'nosuch': no installed plugin"):
        host_cli.registry_of(_args(config=path, disable_plugin=["nosuch"], no_plugins=False))


def test_a_bad_config_is_exit_2_for_host_commands(tmp_path: Path) -> None:
    path = write(tmp_path, 'sysfs_root = "/x"\nbogus = 1\n')
    out, err = io.StringIO(), io.StringIO()
    status = main(["libvirt-metadata", "--probe", "--no-plugins", "--config", path], out, err)
    assert status == 2 and out.getvalue() == ""
    assert err.getvalue() == f"vfiocompat: error[VC609]: {path}: unknown key 'bogus' (known: sysfs_root," \
                             " disable_plugins, plugin_timeout, [hook], [facts])\n"


def test_the_files_facts_reach_the_plugins(tmp_path: Path) -> None:
    from vfiocompat import Registry, hookimpl
    from vfiocompat.host.config import probe_configured

    from . import sysfs_fixtures as fx

    class ReadsAFact:
        @hookimpl
        def vfiocompat_device_version(self, device: Any) -> Any:
            fw = device.fact("fw_version")
            return None if fw is None else f"0xfffd:1:model=w1;fw={fw}"

    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci("0000:3b:00.1", "0xfffd", "0x0001", driver="tv_vfio_pci")
    fs.add_pci("0000:3b:00.2", "0xfffd", "0x0001", driver="tv_vfio_pci")
    path = write(tmp_path, '[facts."pci:0000:3b:00.1"]\nfw_version = "22.39"\n')
    registry = Registry(plugins=[("facts", ReadsAFact())])
    inventory = probe_configured(str(fs.root), registry, load_host_config(path, environ={}))
    versions = {entry.device.id: entry.device_version for entry in inventory.devices}
    assert versions == {"pci:0000:3b:00.1": "0xfffd:1:model=w1;fw=22.39", "pci:0000:3b:00.2": None}
