from __future__ import annotations

import copy
import errno
import os
import stat
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List

import pytest

from vfiocompat import Registry, hookimpl, table_loader, validation_cache
from vfiocompat.errors import TableError
from vfiocompat.table_loader import load_table, open_table

from .conftest import BASE_TABLE, dv

Write = Callable[..., Path]


def broken(change: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
    data = copy.deepcopy(BASE_TABLE)
    change(data)
    return data


def entry(cache: Path, raw: bytes) -> Path:
    return cache / validation_cache.digest(raw)


def forge(cache: Path, raw: bytes, content: bytes = b"vfiocompat: schema-valid\n") -> None:
    """Write an entry as another process might: by hand, not through remember()."""
    cache.mkdir(mode=0o700, exist_ok=True)
    path = entry(cache, raw)
    path.write_bytes(content)
    path.chmod(0o600)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(folder))
    return folder


def plugin_registry(*paths: Path) -> Registry:
    plugins = [(f"p{i}", SimpleNamespace(vfiocompat_tables=hookimpl(lambda p=p: [p]))) for i, p in enumerate(paths)]
    return Registry(plugins=plugins)


def test_the_key_covers_the_schema_and_every_byte() -> None:
    assert validation_cache.digest(b"a") != validation_cache.digest(b"b")
    assert validation_cache.digest(b"a") == validation_cache.digest(b"a")
    assert len(validation_cache.digest(b"")) == 64


def test_the_folder_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VFIOCOMPAT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert validation_cache.cache_dir() == tmp_path / "vfiocompat" / "validated"
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(tmp_path / "mine"))
    assert validation_cache.cache_dir() == tmp_path / "mine"


def test_valid_tables_are_remembered_by_content(write_table: Write, cache: Path) -> None:
    path = write_table(copy.deepcopy(BASE_TABLE))
    raw = path.read_bytes()
    assert not validation_cache.known_valid(raw)
    load_table(path, plugin="p")
    assert validation_cache.known_valid(raw)
    # A changed table has another key: it is validated again, never served from the cache.
    assert not validation_cache.known_valid(raw.replace(b'"t"', b'"t2"'))


def test_a_forged_entry_cannot_admit_an_invalid_table(write_table: Write, cache: Path) -> None:
    path = write_table(broken(lambda d: d["rules"][0]["conditions"].pop()))  # v unconstrained
    forge(cache, path.read_bytes())
    handle = open_table(path, plugin="p")  # skips the schema; compiled only when used
    with pytest.raises(TableError) as caught:
        handle.load()
    assert caught.value.code == "VC505"
    verdict = plugin_registry(path).check(dv(v="1"), dv(v="2"))
    assert verdict.codes == ("VC304", "VC304") and "'p0'" in verdict.reasons[0].message


def test_a_forged_entry_cannot_admit_a_pair_through_a_misspelt_key(write_table: Write, cache: Path) -> None:
    # "min_step" for "min_steps": the schema refuses it; the compiler must as well, or once the cache
    # says the schema passed, the window starts at 0 and a target of the same major is admitted.
    window = {"field": "v", "test": "upgrade_window", "min_step": 1, "max_steps": 1}
    path = write_table(broken(lambda d: d["rules"][0]["conditions"].__setitem__(1, window)))
    forge(cache, path.read_bytes())
    verdict = plugin_registry(path).check(dv(v="1.0"), dv(v="1.5"))
    assert not verdict.compatible
    assert verdict.codes[0] == "VC304" and "unknown key 'min_step'" in verdict.reasons[0].message


def test_a_forged_entry_cannot_hide_an_overlap(write_table: Write, cache: Path, tmp_path: Path) -> None:
    first = write_table(copy.deepcopy(BASE_TABLE))
    second = write_table(broken(lambda d: d["table"].update(id="t2")))
    registry = plugin_registry(first, second)
    assert registry.check(dv(v="1"), dv(v="2")).codes[0] == "VC206"
    # Entries for both tables exist now, and hold no claims: routing reads them from the bytes.
    for path in (first, second):
        assert validation_cache.known_valid(path.read_bytes())
    again = plugin_registry(first, second)
    assert {h.claims.prefixes for r in again.plugins for h in r.handles} == {("k=",)}
    assert again.check(dv(v="1"), dv(v="2")).codes[0] == "VC206"
    # An entry as the previous cache wrote it (claims to route by) is not an entry at all.
    for name in os.listdir(cache):
        (cache / name).write_bytes(b'{"id": "t2", "vendor": 65534, "prefixes": ["elsewhere="]}')
    assert not validation_cache.known_valid(first.read_bytes())
    assert plugin_registry(first, second).check(dv(v="1"), dv(v="2")).codes[0] == "VC206"


def test_a_cached_table_is_compiled_only_when_a_check_needs_it(write_table: Write, cache: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_table(copy.deepcopy(BASE_TABLE))
    load_table(path, plugin="p")  # validated once: remembered
    compiled: List[str] = []
    real = table_loader.compile_document

    def counting(document: Any, plugin: str) -> Any:
        compiled.append(plugin)
        return real(document, plugin)

    def no_schema(document: Any, limit: int = 0) -> Any:
        raise AssertionError("the schema ran on remembered bytes")

    monkeypatch.setattr(table_loader, "compile_document", counting)
    monkeypatch.setattr(table_loader, "schema_errors", no_schema)
    registry = plugin_registry(path)
    assert compiled == []
    assert registry.check("0x1234:1:x", "0x1234:1:x").codes[0] == "VC203"
    assert compiled == []
    assert registry.check(dv(v="1"), dv(v="2")).compatible
    assert compiled == ["p0"]


def test_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", "off")
    assert validation_cache.cache_dir() is None
    assert not validation_cache.known_valid(b"x")
    validation_cache.remember(b"x")  # a no-op, and no error


def test_unwritable_cache_is_ignored(write_table: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(blocker / "sub"))
    table = load_table(write_table(copy.deepcopy(BASE_TABLE)), plugin="p")
    assert table.id == "t"


# -- only what this user alone could have written is trusted ---------------------------------------------


def test_folders_are_created_0700_under_umask_000(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VFIOCOMPAT_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg" / "cache"))
    old = os.umask(0)
    try:
        validation_cache.remember(b"table")
    finally:
        os.umask(old)
    for folder in (tmp_path / "xdg", tmp_path / "xdg" / "cache", tmp_path / "xdg" / "cache" / "vfiocompat",
                   tmp_path / "xdg" / "cache" / "vfiocompat" / "validated"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    written = entry(tmp_path / "xdg" / "cache" / "vfiocompat" / "validated", b"table")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert validation_cache.known_valid(b"table")


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_an_entry_others_can_write_is_not_trusted(cache: Path, mode: int) -> None:
    validation_cache.remember(b"table")
    assert validation_cache.known_valid(b"table")
    entry(cache, b"table").chmod(mode)
    assert not validation_cache.known_valid(b"table")


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_folder_others_can_write_is_not_trusted(cache: Path, mode: int) -> None:
    validation_cache.remember(b"table")
    cache.chmod(mode)
    assert not validation_cache.known_valid(b"table")


def test_an_entry_owned_by_another_user_is_not_trusted(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    validation_cache.remember(b"table")
    assert validation_cache.known_valid(b"table")
    real = os.stat(entry(cache, b"table")).st_uid
    monkeypatch.setattr(validation_cache.os, "geteuid", lambda: real + 1)
    assert not validation_cache.known_valid(b"table")


def test_a_symlinked_cache_folder_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    forge(elsewhere, b"table")
    link = tmp_path / "cache"
    link.symlink_to(elsewhere)
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(link))
    assert not validation_cache.known_valid(b"table")
    validation_cache.remember(b"other")
    assert sorted(os.listdir(elsewhere)) == [validation_cache.digest(b"table")]


def test_a_symlinked_entry_is_not_followed(cache: Path, tmp_path: Path) -> None:
    validation_cache.remember(b"seed")
    target = tmp_path / "target"
    target.write_bytes(b"vfiocompat: schema-valid\n")
    target.chmod(0o600)
    entry(cache, b"table").symlink_to(target)
    assert not validation_cache.known_valid(b"table")


def test_a_fifo_planted_as_an_entry_does_not_block(cache: Path) -> None:
    validation_cache.remember(b"seed")
    os.mkfifo(entry(cache, b"table"), 0o600)
    answer: List[bool] = []
    worker = threading.Thread(target=lambda: answer.append(validation_cache.known_valid(b"table")), daemon=True)
    worker.start()
    worker.join(5)
    assert answer == [False], "known_valid blocked on a FIFO"


def test_a_link_to_dev_zero_is_not_read(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    validation_cache.remember(b"seed")
    entry(cache, b"table").symlink_to("/dev/zero")
    reads: List[int] = []
    real_read = os.read
    monkeypatch.setattr(validation_cache.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    assert not validation_cache.known_valid(b"table")
    assert reads == []


def test_an_oversized_or_foreign_entry_is_not_trusted(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forge(cache, b"big", b"x" * (validation_cache.MAX_ENTRY_BYTES + 1))
    forge(cache, b"json", b'{"id": "t"}')
    reads: List[int] = []
    real_read = os.read
    monkeypatch.setattr(validation_cache.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    assert not validation_cache.known_valid(b"big") and not validation_cache.known_valid(b"json")
    assert reads == [validation_cache.MAX_ENTRY_BYTES + 1]  # only the small one was read, boundedly


def test_a_hard_linked_entry_is_not_trusted(cache: Path) -> None:
    validation_cache.remember(b"table")
    os.link(entry(cache, b"table"), cache / "another-name")
    assert not validation_cache.known_valid(b"table")


def test_a_failed_write_leaves_no_temporary_file(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    validation_cache.remember(b"seed")

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(validation_cache.os, "write", full)
    validation_cache.remember(b"table")
    assert sorted(os.listdir(cache)) == [validation_cache.digest(b"seed")]
    monkeypatch.undo()
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(cache))

    def refused(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(validation_cache.os, "replace", refused)
    validation_cache.remember(b"table")
    assert sorted(os.listdir(cache)) == [validation_cache.digest(b"seed")]


def test_claims_that_differ_from_the_compiled_table_refuse_it(write_table: Write, cache: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_table(copy.deepcopy(BASE_TABLE))
    validation_cache.remember(path.read_bytes())
    monkeypatch.setattr(table_loader, "decode_head",
                        lambda raw, name: {"id": "t", "vendor": "0xfffe", "prefixes": ["k=", "extra="]})
    handle = open_table(path, plugin="p")
    with pytest.raises(TableError, match="differ from the compiled table's") as caught:
        handle.load()
    assert caught.value.code == "VC504"
