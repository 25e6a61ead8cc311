"""Example plugin: the fictional ACME widget accelerators, showing every rule shape a table can state."""

from __future__ import annotations

from importlib import resources
from typing import Any, List

from vfiocompat import hookimpl


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The ACME widget table, shipped inside this package."""
    return [resources.files(__name__).joinpath("widgets.toml")]
