"""Example plugin: the fictional ACME widget accelerators, showing every rule shape a table can state."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

from vfiocompat import hookimpl


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The ACME widget table, shipped inside this package."""
    return [Path(__file__).with_name("widgets.toml")]
