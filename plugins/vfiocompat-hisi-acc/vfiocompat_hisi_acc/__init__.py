"""vfiocompat plugin for HiSilicon ACC VFs (vendor 0x19e5): the match checks hisi_acc_vfio_pci makes on resume."""

from __future__ import annotations

from importlib import resources
from typing import Any, List

from vfiocompat import hookimpl

__all__ = ["TABLE_FILE", "vfiocompat_tables"]

#: The table shipped as package data.
TABLE_FILE = "hisi_acc.toml"


@hookimpl
def vfiocompat_tables() -> List[Any]:
    """The HiSilicon ACC VF table, shipped inside this package."""
    return [resources.files(__name__).joinpath(TABLE_FILE)]
