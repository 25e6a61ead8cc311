from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from vfiocompat import hookimpl
from vfiocompat._plugins import (
    FoundPlugin,
    HookFailed,
    PluginRecord,
    call_plugin,
    disabled_from_environment,
    find_plugins,
    load_plugins,
)

from .conftest import BASE_TABLE, to_toml


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


class Source:
    """A table a plugin returns as an object (as importlib.resources does): its reads are plugin code."""

    def __init__(self, name: str, data: bytes, release: Optional[threading.Event] = None) -> None:
        self.name = name
        self.data = data
        self.release = release
        self.threads: List[str] = []

    def read_bytes(self) -> bytes:
        self.threads.append(threading.current_thread().name)
        if self.release is not None:
            self.release.wait(30)
        return self.data


class TablesPlugin:
    def __init__(self, sources: Any) -> None:
        self.sources = sources

    @hookimpl
    def vfiocompat_tables(self) -> Any:
        if isinstance(self.sources, BaseException):
            raise self.sources
        return self.sources


GOOD = to_toml(BASE_TABLE).encode()
# Its [table] head is read, its prefixes are not strings: it may claim every string of vendor 0xfffe.
BROKEN = b'schema_version = 1\n[table]\nid = "b"\nvendor = "0xfffe"\nprefixes = [1]\n'


def load_one(plugin: Any, timeout: Optional[float] = 5.0) -> PluginRecord:
    (record,) = load_plugins([FoundPlugin("p", lambda: plugin, "vfiocompat-p", "1")], timeout=timeout).records
    return record


@pytest.mark.parametrize("timeout", [5.0, None])
def test_a_bad_table_costs_only_itself_and_its_claims_are_read_in_the_sandbox(timeout: Optional[float]) -> None:
    good, broken, other = Source("good.toml", GOOD), Source("broken.toml", BROKEN), Source("other.toml", GOOD)
    record = load_one(TablesPlugin([good, broken, other]), timeout)
    assert [h.origin for h in record.handles] == [str(good), str(other)]
    (failure,) = record.failures
    assert failure.code == "VC304" and failure.message.startswith("table invalid: ")
    assert (failure.vendor_id, failure.prefixes) == (0xFFFE, ("",))
    # The broken table was read twice (opened, then its claims), both times on the loading worker.
    worker = "vfiocompat-plugin-loader" if timeout else threading.current_thread().name
    assert broken.threads == [worker, worker] and good.threads == [worker]


@pytest.mark.parametrize("sources, code, words", [
    (RuntimeError("no tables today"), "VC302", "vfiocompat_tables raised RuntimeError: no tables today"),
    (SystemExit(0), "VC302", "vfiocompat_tables raised SystemExit: 0"),
    ("a.toml", "VC303", "vfiocompat_tables: returned str, not a list of table files"),
    ([42], "VC303", "vfiocompat_tables: returned a int, not a path or file"),
])
def test_tables_hook_failures_are_named_by_stage(sources: Any, code: str, words: str) -> None:
    record = load_one(TablesPlugin(sources))
    assert record.handles == () and [(f.code, f.message) for f in record.failures] == [(code, words)]


class MisnamedArgument:
    @hookimpl
    def vfiocompat_parse_fields(self, nonsense: Any) -> Any:
        return None


def test_a_plugin_that_fails_to_import_or_register_is_vc301() -> None:
    def load() -> Any:
        raise ImportError("no module named vendor_sdk")

    (record,) = load_plugins([FoundPlugin("p", load)]).records
    assert [(f.code, f.message) for f in record.failures] == [("VC301", "failed to load: ImportError: no module"
                                                                          " named vendor_sdk")]
    (record,) = load_plugins([FoundPlugin("p", MisnamedArgument)]).records
    assert [f.code for f in record.failures] == ["VC301"] and "PluginValidationError" in record.failures[0].message


def test_a_table_read_that_overruns_fails_it_and_the_tables_after_it() -> None:
    release = threading.Event()
    good, slow, after = Source("good.toml", GOOD), Source("slow.toml", GOOD, release), Source("after.toml", GOOD)
    try:
        record = load_one(TablesPlugin([good, slow, after]), timeout=0.2)
    finally:
        release.set()
    assert [h.origin for h in record.handles] == [str(good)]
    assert [f.code for f in record.failures] == ["VC306", "VC306"]
    assert all("did not answer within 0.2 s" in f.message for f in record.failures)
    assert after.threads == []
