from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest

from vfiocompat.plugins import (
    HookFailed,
    call_plugin,
    disabled_from_environment,
    find_plugins,
    load_plugins,
)


def install(site: Path, dist: str, version: str, entries: Dict[str, str], *, module: str = "", code: str = "") -> None:
    """A real-looking installed distribution: a dist-info folder (and optionally a module)."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n\nbody\nName: no\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entries.items())
    (info / "entry_points.txt").write_text(f"[console_scripts]\nx = y:z\n\n[vfiocompat]\n{lines}\n")
    if module:
        (site / f"{module}.py").write_text(code)


def test_finds_entry_points_with_distribution_name_and_version(tmp_path: Path) -> None:
    install(tmp_path, "vfiocompat-one", "1.2.3", {"one": "mod_one"})
    install(tmp_path, "unrelated", "9", {})
    (tmp_path / "unrelated-9.dist-info" / "entry_points.txt").write_text("[console_scripts]\na = b\n")
    found = find_plugins(path=[str(tmp_path)])
    assert [(p.name, p.distribution, p.version) for p in found] == [("one", "vfiocompat-one", "1.2.3")]


def test_entry_point_targets_may_name_attributes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, "vfiocompat-two", "1", {"two": "mod_two:holder.plugin [extra]"}, module="mod_two",
            code="class holder:\n    plugin = 'the plugin object'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    (plugin,) = find_plugins(path=[str(tmp_path)])
    assert plugin.load() == "the plugin object"


def test_the_first_copy_of_a_distribution_on_the_path_wins(tmp_path: Path) -> None:
    install(tmp_path / "a", "vfiocompat-one", "2.0", {"one": "first"})
    install(tmp_path / "b", "vfiocompat-one", "1.0", {"one": "second"})
    (plugin,) = find_plugins(path=[str(tmp_path / "a"), str(tmp_path / "b")])
    assert plugin.version == "2.0"


def test_one_plugin_name_from_two_distributions_loads_neither(tmp_path: Path) -> None:
    install(tmp_path, "vendor-a", "1", {"gpu": "mod_a"})
    install(tmp_path, "vendor-b", "1", {"gpu": "mod_b"})
    found = find_plugins(path=[str(tmp_path)])
    loaded = load_plugins(found)
    (record,) = loaded.records
    assert record.name == "gpu" and record.distribution == "vendor-a, vendor-b"
    assert [f.code for f in record.failures] == ["VC301"]
    assert "more than one distribution" in record.failures[0].message


def test_missing_or_unreadable_path_entries_are_skipped(tmp_path: Path) -> None:
    install(tmp_path, "vfiocompat-one", "1", {"one": "mod_one"})
    found = find_plugins(path=[str(tmp_path / "absent"), str(tmp_path), str(tmp_path / "absent.zip")])
    assert [p.name for p in found] == ["one"]


def test_disabled_names_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VFIOCOMPAT_DISABLE_PLUGINS", " a, ,b ,")
    assert disabled_from_environment() == ["a", "b"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), SystemExit(0), GeneratorExit()])
def test_call_plugin_contains_everything_but_keyboard_interrupt(error: BaseException) -> None:
    def raising() -> Any:
        raise error

    with pytest.raises(HookFailed) as caught:
        call_plugin(raising)
    assert caught.value.error is error
    with pytest.raises(KeyboardInterrupt):
        call_plugin(lambda: (_ for _ in ()).throw(KeyboardInterrupt()))
