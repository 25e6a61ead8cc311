from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable, Dict

import pytest

from vfiocompat import validation_cache
from vfiocompat.errors import TableError
from vfiocompat.table_loader import load_table

from .conftest import BASE_TABLE

Write = Callable[..., Path]


def broken(change: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
    data = copy.deepcopy(BASE_TABLE)
    change(data)
    return data


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


def test_valid_tables_are_remembered_by_content(write_table: Write, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(cache))
    path = write_table(copy.deepcopy(BASE_TABLE))
    raw = path.read_bytes()
    assert not validation_cache.is_known_valid(raw)
    load_table(path, plugin="p")
    assert validation_cache.is_known_valid(raw)
    # A changed table has another key: it is validated again, never served from the cache.
    path.write_bytes(raw.replace(b'"t"', b'"t2"'))
    assert not validation_cache.is_known_valid(path.read_bytes())


def test_a_forged_cache_entry_cannot_admit_an_invalid_table(write_table: Write, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(cache))
    path = write_table(broken(lambda d: d["rules"][0]["conditions"].pop()))  # v unconstrained
    cache.mkdir()
    (cache / validation_cache.digest(path.read_bytes())).touch()
    with pytest.raises(TableError) as caught:
        load_table(path, plugin="p")
    assert caught.value.code == "VC505"


def test_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", "off")
    assert validation_cache.cache_dir() is None
    assert not validation_cache.is_known_valid(b"x")
    validation_cache.remember_valid(b"x")  # a no-op, and no error


def test_unwritable_cache_is_ignored(write_table: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(blocker / "sub"))
    table = load_table(write_table(copy.deepcopy(BASE_TABLE)), plugin="p")
    assert table.id == "t"
