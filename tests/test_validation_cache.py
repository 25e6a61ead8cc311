from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Dict, List

import pytest

from vfiocompat import Registry, hookimpl, table_loader, validation_cache
from vfiocompat.errors import TableError
from vfiocompat.table_loader import load_table, open_table
from vfiocompat.tables import TableClaims

from .conftest import BASE_TABLE, dv

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
    assert validation_cache.known_claims(raw) is None
    load_table(path, plugin="p")
    assert validation_cache.known_claims(raw) == TableClaims("t", 0xFFFE, ("k=",))
    # A changed table has another key: it is validated again, never served from the cache.
    path.write_bytes(raw.replace(b'"t"', b'"t2"'))
    assert validation_cache.known_claims(path.read_bytes()) is None


def forge(cache: Path, raw: bytes, claims: TableClaims) -> None:
    cache.mkdir(exist_ok=True)
    validation_cache.remember(raw, claims)


def test_a_forged_cache_entry_cannot_admit_an_invalid_table(write_table: Write, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(cache))
    path = write_table(broken(lambda d: d["rules"][0]["conditions"].pop()))  # v unconstrained
    forge(cache, path.read_bytes(), TableClaims("t", 0xFFFE, ("k=",)))
    handle = open_table(path, plugin="p")  # routed by the (forged) claims, compiled only when used
    with pytest.raises(TableError) as caught:
        handle.load()
    assert caught.value.code == "VC505"
    registry = Registry(plugins=[("p", SimpleNamespace(vfiocompat_tables=hookimpl(lambda: [path])))])
    verdict = registry.check(dv(v="1"), dv(v="2"))
    assert verdict.codes == ("VC304", "VC304") and "'p'" in verdict.reasons[0].message


def test_forged_claims_cannot_route_strings_to_a_table(write_table: Write, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(cache))
    path = write_table(copy.deepcopy(BASE_TABLE))
    forge(cache, path.read_bytes(), TableClaims("t", 0xFFFE, ("x=",)))
    with pytest.raises(TableError, match="claims differ from the validation cache"):
        open_table(path, plugin="p").load()


def test_a_cached_table_is_compiled_only_when_a_check_needs_it(write_table: Write, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(tmp_path / "cache"))
    path = write_table(copy.deepcopy(BASE_TABLE))
    load_table(path, plugin="p")  # validated once: remembered
    compiled: List[str] = []
    real = table_loader.compile_document

    def counting(document: Any, plugin: str) -> Any:
        compiled.append(plugin)
        return real(document, plugin)

    monkeypatch.setattr(table_loader, "compile_document", counting)
    registry = Registry(plugins=[("p", SimpleNamespace(vfiocompat_tables=hookimpl(lambda: [path])))])
    assert compiled == []
    assert registry.check("0x1234:1:x", "0x1234:1:x").codes[0] == "VC203"
    assert compiled == []
    assert registry.check(dv(v="1"), dv(v="2")).compatible
    assert compiled == ["p"]


def test_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", "off")
    assert validation_cache.cache_dir() is None
    assert validation_cache.known_claims(b"x") is None
    validation_cache.remember(b"x", TableClaims("t", 1, ("a",)))  # a no-op, and no error


def test_unwritable_cache_is_ignored(write_table: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("VFIOCOMPAT_CACHE_DIR", str(blocker / "sub"))
    table = load_table(write_table(copy.deepcopy(BASE_TABLE)), plugin="p")
    assert table.id == "t"
