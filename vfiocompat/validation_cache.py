"""A cache of the tables that already passed validation, to keep jsonschema and parsing off start-up.

An entry is keyed by the SHA-256 of the schema and the table's exact bytes, so a changed table is
never served from it, and holds only what the table claims (id, vendor id, prefixes): enough to
route a device_version to its table without parsing the others. Rules are always compiled from
the file itself, and the compiled claims must equal the cached ones, so a forged entry can at worst
refuse a device, never admit a pair. Set ``VFIOCOMPAT_CACHE_DIR`` to a folder, or to ``off``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Optional

from .schema import schema_text
from .tables import TableClaims

__all__ = ["cache_dir", "digest", "known_claims", "remember"]

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


def known_claims(raw: bytes) -> Optional[TableClaims]:
    """The claims of a table whose exact bytes passed validation before, or ``None``."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        entry = json.loads((folder / digest(raw)).read_text("utf-8"))
        claims = TableClaims(str(entry["id"]), int(entry["vendor"]), tuple(str(p) for p in entry["prefixes"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return claims


def remember(raw: bytes, claims: TableClaims) -> None:
    """Record that these bytes passed validation, with their claims; failures to write are ignored."""
    folder = cache_dir()
    if folder is None:
        return
    import tempfile

    text = json.dumps({"id": claims.table_id, "vendor": claims.vendor_id, "prefixes": list(claims.prefixes)})
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, folder / digest(raw))
    except OSError:
        pass
