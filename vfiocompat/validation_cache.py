"""A record of the table files whose exact bytes already passed the JSON Schema, to keep jsonschema off start-up.

An entry is keyed by the SHA-256 of the schema and the table's bytes and says nothing else: the
claims and rules are always read from the bytes and compiled by a compiler that refuses all the
schema refuses, so a forged entry can at worst skip a diagnostic, never admit a pair.

Only what this user alone could have written is trusted, as ssh and pip treat their own files:
the folders the cache creates (0700 whatever the umask) and each entry must be owned by the
effective user, with no group or other write bit, and not be links; an entry must be a small
regular file (opened without following links and without blocking, then checked with fstat).
Set ``VFIOCOMPAT_CACHE_DIR`` to a folder, or to ``off``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path
from typing import List, Optional, Tuple

from .schema import schema_text

__all__ = ["cache_dir", "digest", "known_valid", "remember", "MAX_ENTRY_BYTES"]

_SALT = b"vfiocompat-table-schema-v2\0"
#: The whole content of an entry; anything else in an entry's place is not one.
_ENTRY = b"vfiocompat: schema-valid\n"
#: Largest entry read (an entry is ``_ENTRY``); a bigger file is ignored unread.
MAX_ENTRY_BYTES = 64
_FOLDER_MODE = 0o700
_FILE_MODE = 0o600
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_schema_digest: Optional[bytes] = None


def cache_dir() -> Optional[Path]:
    """Where entries live, or ``None`` when the cache is off."""
    chain = _chain()
    return None if chain is None else chain[0].joinpath(*chain[1])


def _chain() -> Optional[Tuple[Path, List[str]]]:
    """The folder the cache lives under (the user's to choose) and the folders below it that the cache owns."""
    configured = os.environ.get("VFIOCOMPAT_CACHE_DIR")
    if configured is not None:
        if configured.strip().lower() in ("", "off", "0", "no"):
            return None
        path = Path(configured)
        return (path.parent, [path.name]) if path.name else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base), ["vfiocompat", "validated"]


def digest(raw: bytes) -> str:
    """The cache key of a table's bytes under the shipped schema."""
    global _schema_digest
    if _schema_digest is None:
        _schema_digest = hashlib.sha256(schema_text("table").encode("utf-8")).digest()
    return hashlib.sha256(_SALT + _schema_digest + raw).hexdigest()


def _mine(status: os.stat_result) -> bool:
    # Owned by us and writable by nobody else: only this user (or root) could have put it there.
    return status.st_uid == os.geteuid() and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _open_folder(create: bool) -> Optional[int]:
    """A descriptor of the cache folder, reached without following links below the base; ``None`` if untrusted."""
    chain = _chain()
    if chain is None:
        return None
    base, names = chain
    if create and not base.is_dir():
        _make_folders(base)
    folder = os.open(base, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        for name in names:
            flags = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
            made = False
            try:
                child = os.open(name, flags, dir_fd=folder)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(name, _FOLDER_MODE, dir_fd=folder)
                child = os.open(name, flags, dir_fd=folder)
                made = True
            os.close(folder)
            folder = child
            if made:
                os.fchmod(folder, _FOLDER_MODE)  # the umask may have taken bits away, never added: say it exactly
            status = os.fstat(folder)
            if not stat.S_ISDIR(status.st_mode) or not _mine(status):
                raise PermissionError("untrusted cache folder")
        return folder
    except BaseException:
        os.close(folder)
        raise


def _make_folders(path: Path) -> None:
    """Create ``path`` and its missing parents, each 0700 whatever the umask.

    ``os.makedirs`` gives the mode to the last folder only; its parents get 0777 & ~umask.
    """
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        os.mkdir(folder, _FOLDER_MODE)
        os.chmod(folder, _FOLDER_MODE)


def known_valid(raw: bytes) -> bool:
    """Whether these exact bytes passed the schema before, by an entry only this user could have written."""
    try:
        folder = _open_folder(create=False)
    except OSError:
        return False
    if folder is None:
        return False
    try:
        entry = os.open(digest(raw), os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK | _CLOEXEC, dir_fd=folder)
    except OSError:
        return False
    finally:
        os.close(folder)
    try:
        status = os.fstat(entry)
        # A FIFO, a device (/dev/zero) or a hard link is not an entry, whatever its name: never read it.
        if not stat.S_ISREG(status.st_mode) or not _mine(status) or status.st_nlink != 1 \
                or status.st_size > MAX_ENTRY_BYTES:
            return False
        return os.read(entry, MAX_ENTRY_BYTES + 1) == _ENTRY
    except OSError:
        return False
    finally:
        os.close(entry)


def remember(raw: bytes) -> None:
    """Record that these bytes passed the schema; failures to write are ignored and leave no file behind."""
    try:
        folder = _open_folder(create=True)
    except OSError:
        return
    if folder is None:
        return
    temporary = f".tmp-{os.getpid()}-{os.urandom(8).hex()}"
    written = False
    try:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, _FILE_MODE,
                         dir_fd=folder)
        try:
            os.fchmod(handle, _FILE_MODE)
            if os.write(handle, _ENTRY) != len(_ENTRY):
                raise OSError("short write")
        finally:
            os.close(handle)
        os.replace(temporary, digest(raw), src_dir_fd=folder, dst_dir_fd=folder)
        written = True
    except OSError:
        pass
    finally:
        if not written:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=folder)
        os.close(folder)
