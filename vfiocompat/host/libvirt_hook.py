"""The libvirt QEMU hook: refuse an incoming migration whose VFIO devices cannot take the source's state.

libvirt runs ``/etc/libvirt/hooks/qemu.d/*`` on the destination as ``SCRIPT GUEST migrate begin -``
with the domain XML on stdin; a non-zero exit aborts the migration and libvirt reports stderr.
For each hostdev of the domain, the source's device_version (recorded in the domain's
``<metadata>`` under :data:`vfiocompat.host.libvirt_xml.NAMESPACE`) is checked against the local
device's, found by probing sysfs (``VFIOCOMPAT_SYSFS_ROOT``, default ``/sys``). Any other hook
call passes through untouched: exit 0, no output, stdin not read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO, Any, Callable, Dict, List, Optional, Sequence

from ..verdict import Reason
from .libvirt_xml import MAX_DOMAIN_XML_BYTES, DomainXMLError, parse_domain

__all__ = ["SYSFS_ROOT_ENV", "DEFAULT_SYSFS_ROOT", "HookResult", "run_hook", "refusal_line", "parse_assignments"]

SYSFS_ROOT_ENV = "VFIOCOMPAT_SYSFS_ROOT"
DEFAULT_SYSFS_ROOT = "/sys"


@dataclass(frozen=True)
class HookResult:
    """The hook's answer: exit status, and the one-line refusal (None when allowed or passed through)."""

    status: int
    refusal: Optional[Reason] = None
    hostdev: Optional[str] = None


def run_hook(argv: Sequence[str], stdin: IO[bytes], registry: Callable[[], Any],
             sysfs_root: Optional[str] = None) -> HookResult:
    """Judge one libvirt hook call ``GUEST OPERATION SUBOPERATION EXTRA``.

    :param registry: called only when a check is needed (plugins load lazily).
    :param sysfs_root: default: ``$VFIOCOMPAT_SYSFS_ROOT`` or ``/sys``.
    """
    if len(argv) < 2 or argv[1] != "migrate":
        return HookResult(0)
    data = stdin.read(MAX_DOMAIN_XML_BYTES + 1)
    try:
        domain = parse_domain(data)
    except DomainXMLError as error:
        return HookResult(1, Reason(error.code, "host", error.message))
    if not domain.hostdevs:
        return HookResult(0)
    missing = [h for h in domain.hostdevs if domain.source_version(h) is None]
    if missing:
        return HookResult(1, Reason(
            "VC606", "host", f"hostdev {missing[0].id} has no source device_version in the domain's vfiocompat"
            " metadata; refusing rather than guessing",
            hint="on the source host run `virsh metadata DOMAIN --uri https://vfiocompat.readthedocs.io/xmlns/1"
                 " --key vfiocompat --set \"$(vfiocompat libvirt-metadata --probe)\"`",
        ), missing[0].id)
    from .probe import probe

    root = sysfs_root or os.environ.get(SYSFS_ROOT_ENV) or DEFAULT_SYSFS_ROOT
    loaded = registry()
    inventory = probe(root, loaded)
    local: Dict[str, Any] = {entry.device.id: entry for entry in inventory.devices}
    for hostdev in domain.hostdevs:
        source = domain.source_version(hostdev) or ""
        entry = local.get(hostdev.id)
        if entry is None:
            return HookResult(1, Reason(
                "VC606", "host", f"hostdev {hostdev.id} is not a VFIO device on this host",
                hint="bind the function to its VFIO driver (or create the mdev) before migrating",
            ), hostdev.id)
        if entry.can_migrate is False:
            return HookResult(1, entry.reasons[0], hostdev.id)
        if entry.device_version is None:
            why = entry.reasons[0] if entry.reasons else Reason("VC602", "host", "no device_version")
            return HookResult(1, why, hostdev.id)
        verdict = loaded.check(source, entry.device_version)
        if not verdict.compatible:
            first = verdict.reasons[0] if verdict.reasons else Reason("VC401", "table", "not compatible")
            return HookResult(1, Reason(
                first.code, first.layer, f"{source} -> {entry.device_version}: {first.message}", first.field,
                first.source_value, first.target_value, first.hint, first.rule, first.plugin,
            ), hostdev.id)
    return HookResult(0)


def refusal_line(guest: str, result: HookResult) -> str:
    """The one line libvirt shows for a refused migration."""
    reason = result.refusal
    if reason is None:
        return ""
    where = f" hostdev {result.hostdev}:" if result.hostdev else ""
    line = f"vfiocompat: refusing migration of {guest!r}:{where} error[{reason.code}]: {reason.message}"
    return " ".join(line.split())



def parse_assignments(items: List[str]) -> List[Any]:
    """``KEY=DEVICE_VERSION`` items (KEY: a PCI address, an mdev UUID or ``alias:NAME``) as metadata entries."""
    from ..device_version import parse
    from ..errors import UsageError
    from .libvirt_xml import SourceVersion, mdev_uuid, pci_address

    entries = []
    for item in items:
        key, sep, version = item.partition("=")
        if not sep or not version:
            raise UsageError(f"--device {item!r}: expected ADDRESS=DEVICE_VERSION, UUID=... or alias:NAME=...")
        text = str(parse(version))
        key = key.strip()
        if key.startswith("alias:") and key[6:]:
            entries.append(SourceVersion(text, alias=key[6:]))
        elif pci_address(key) is not None:
            entries.append(SourceVersion(text, address=pci_address(key)))
        elif mdev_uuid(key) is not None:
            entries.append(SourceVersion(text, uuid=mdev_uuid(key)))
        else:
            raise UsageError(f"--device {item!r}: {key!r} is not a PCI address, an mdev UUID nor alias:NAME")
    return entries
