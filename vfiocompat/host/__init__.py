"""The host side of vfiocompat: sysfs probing, inventories, placement, labels and the libvirt hook.

Nothing in the core imports this package. Its public names are loaded on first use, so a
``vfiocompat check`` that never touches a host pays nothing for them.
"""

from __future__ import annotations

from typing import Any

from vfiocompat import _load_lazily

__all__ = [
    "HostDevice",
    "InventoryDevice",
    "Inventory",
    "probe",
    "load_inventories",
    "inventory_form",
    "place",
    "Placement",
    "labels",
    "parse_domain",
    "metadata_xml",
    "SysfsRoot",
]

_WHERE = {
    "HostDevice": "inventory",
    "InventoryDevice": "inventory",
    "Inventory": "inventory",
    "load_inventories": "inventory",
    "inventory_form": "inventory",
    "probe": "probe",
    "place": "placement",
    "Placement": "placement",
    "labels": "labels",
    "parse_domain": "libvirt_xml",
    "metadata_xml": "libvirt_xml",
    "SysfsRoot": "sysfs",
}


def __getattr__(name: str) -> Any:
    return _load_lazily(__name__, _WHERE, globals(), name)
