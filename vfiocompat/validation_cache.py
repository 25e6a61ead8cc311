"""A cache of table contents that already passed the JSON Schema, to keep jsonschema off start-up.

An entry is keyed by the SHA-256 of the schema and the table's exact bytes, so a changed table
is never served from it. The cache holds no table data: tables are always read and compiled
from their files, and compilation re-checks every value, so a forged entry can at worst skip
the schema's wording of an error, never admit a pair. Set ``VFIOCOMPAT_CACHE_DIR`` to a folder,
or to ``off`` to disable the cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Optional

from .schema import schema_text

__all__ = ["cache_dir", "digest", "is_known_valid", "remember_valid"]

_SALT = b"vfiocompat-table-schema-v1\0"
_schema_digest: Optional[bytes] = None


def cache_dir() -> Optional[Path]:
    """Where entries live, or ``None`` when the cache is off."""
    configured = os.environ.get("VFIOCOMPAT_CACHE_DIR")
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "no") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "vfiocompat" / "validated"


def digest(raw: bytes) -> str:
    """The cache key of a table's bytes under the shipped schema."""
    global _schema_digest
    if _schema_digest is None:
        _schema_digest = hashlib.sha256(schema_text("table").encode("utf-8")).digest()
    return hashlib.sha256(_SALT + _schema_digest + raw).hexdigest()


def is_known_valid(raw: bytes) -> bool:
    """Whether these exact bytes passed the schema before."""
    folder = cache_dir()
    return folder is not None and (folder / digest(raw)).is_file()


def remember_valid(raw: bytes) -> None:
    """Record that these bytes passed the schema; failures to write are ignored."""
    folder = cache_dir()
    if folder is None:
        return
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        entry = folder / digest(raw)
        if entry.exists():
            return
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        os.close(handle)
        os.replace(temporary, entry)
    except OSError:
        pass
