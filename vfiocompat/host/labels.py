"""Which source device classes each host accepts, as Kubernetes node labels and OpenStack Placement traits.

A device class is one distinct device_version found in the fleet. A host accepts a class when
at least one device that can receive a migration (see :func:`vfiocompat.host.inventory.targets`)
accepts it as a source. Names are deterministic: a readable part of the device_version plus the
first 12 hex digits of its SHA-256, so the same fleet gives the same labels on every run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

from .inventory import Inventory, targets

__all__ = ["LABEL_PREFIX", "TRAIT_PREFIX", "DeviceClass", "HostLabels", "Labels", "device_class", "labels",
           "labels_form"]

#: Kubernetes label prefix (a DNS subdomain, at most 253 characters).
LABEL_PREFIX = "vfiocompat.io"
#: OpenStack Placement custom trait prefix.
TRAIT_PREFIX = "CUSTOM_VFIOCOMPAT_"
_HASH_DIGITS = 12
_LABEL_NAME_MAX = 63
_TRAIT_MAX = 255
_NOT_LABEL = re.compile(r"[^A-Za-z0-9._-]+")
_NOT_TRAIT = re.compile(r"[^A-Z0-9_]+")


@dataclass(frozen=True)
class DeviceClass:
    """A source device class: its device_version, short hash, label key and trait name."""

    device_version: str
    digest: str
    label: str
    trait: str


@dataclass(frozen=True)
class HostLabels:
    """The classes one host accepts (by digest), as label keys (value ``"true"``) and traits."""

    host: str
    accepts: Tuple[str, ...]
    labels: Tuple[str, ...]
    traits: Tuple[str, ...]


@dataclass(frozen=True)
class Labels:
    """Every class in the fleet and each host's labels, all sorted."""

    classes: Tuple[DeviceClass, ...]
    hosts: Tuple[HostLabels, ...]


def device_class(device_version: str) -> DeviceClass:
    """The class of ``device_version``: label ``vfiocompat.io/<readable>-<hash>`` and its Placement trait."""
    digest = hashlib.sha256(device_version.encode("utf-8")).hexdigest()[:_HASH_DIGITS]
    text = device_version[2:] if device_version.lower().startswith("0x") else device_version
    readable = _NOT_LABEL.sub("-", text)
    room = _LABEL_NAME_MAX - _HASH_DIGITS - 1
    # A label name must begin and end with an alphanumeric; the hash supplies the end.
    readable = readable[:room].strip("-._")
    name = f"{readable}-{digest}" if readable else digest
    trait_readable = _NOT_TRAIT.sub("_", text.upper())[:64].strip("_")
    trait = f"{TRAIT_PREFIX}{trait_readable}_{digest.upper()}" if trait_readable else f"{TRAIT_PREFIX}{digest.upper()}"
    return DeviceClass(device_version, digest, f"{LABEL_PREFIX}/{name}", trait[:_TRAIT_MAX])


def labels(inventories: Sequence[Inventory], registry: Any) -> Labels:
    """Each host's accepted classes, the classes being the fleet's distinct device_versions."""
    versions = sorted({e.device_version for inv in inventories for e in inv.devices if e.device_version})
    classes = [device_class(v) for v in versions]
    digests: Dict[str, str] = {}
    for cls in classes:
        other = digests.setdefault(cls.digest, cls.device_version)
        if other != cls.device_version:  # pragma: no cover - 48-bit collision; refuse rather than merge
            raise ValueError(f"device_versions {other!r} and {cls.device_version!r} share hash {cls.digest}")
    verdicts: Dict[Tuple[str, str], bool] = {}
    hosts: List[HostLabels] = []
    for inventory in sorted(inventories, key=lambda inv: inv.host):
        receivers = sorted({t.device.device_version for t in targets(inventory)[0] if t.device.device_version})
        accepted = []
        for cls in classes:
            for target in receivers:
                key = (cls.device_version, target)
                if key not in verdicts:
                    verdicts[key] = registry.check(cls.device_version, target).compatible
                if verdicts[key]:
                    accepted.append(cls)
                    break
        accepted.sort(key=lambda c: c.digest)
        hosts.append(HostLabels(inventory.host, tuple(c.digest for c in accepted),
                                tuple(sorted(c.label for c in accepted)), tuple(sorted(c.trait for c in accepted))))
    return Labels(tuple(sorted(classes, key=lambda c: c.digest)), tuple(hosts))


def labels_form(result: Labels) -> Dict[str, Any]:
    """``vfiocompat labels --json`` (schemas/labels.schema.json)."""
    return {
        "schema_version": 1,
        "classes": [{"class": c.digest, "device_version": c.device_version, "label": c.label, "trait": c.trait}
                    for c in result.classes],
        "hosts": [{"host": h.host, "accepts": list(h.accepts), "labels": {key: "true" for key in h.labels},
                   "traits": list(h.traits)} for h in result.hosts],
    }
