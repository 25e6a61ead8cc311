"""The libvirt QEMU hook: refuse an incoming migration whose VFIO devices cannot take the source's state.

libvirt runs ``/etc/libvirt/hooks/qemu.d/*`` on the destination as ``SCRIPT GUEST migrate begin -``
with the domain XML on stdin; a non-zero exit aborts the migration and libvirt reports stderr.
For each hostdev of the domain, the source's device_version (recorded in the domain's
``<metadata>`` under :data:`vfiocompat.host.libvirt_xml.NAMESPACE`) is checked against the local
device's, found by probing sysfs (the host configuration's ``sysfs_root``). Every hostdev that
blocks is named. An accepted migration's XML is printed back with the metadata rewritten to this
host's device_versions: the hook is a filter (libvirt's docs/hooks.rst), and the next migration
must be judged from where the VM is, not from where it first was. Any other hook call passes
through untouched: exit 0, no output, stdin not read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple

from .._verdict import Reason
from ..errors import VfiocompatError
from .config import DEFAULT_SYSFS_ROOT, SYSFS_ROOT_ENV, HostConfig, load_host_config, probe_configured
from .libvirt_xml import MAX_DOMAIN_XML_BYTES, Domain, DomainXMLError, SourceVersion, parse_domain, refresh_metadata

__all__ = ["SYSFS_ROOT_ENV", "DEFAULT_SYSFS_ROOT", "MAX_REFUSAL_CHARS", "Blocker", "HookResult", "run_hook",
           "refusal_line", "parse_assignments"]

#: The refusal is one line in libvirt's error message; past this, blockers are counted, not listed.
MAX_REFUSAL_CHARS = 1000
_MAX_ITEM_CHARS = 400
_MAX_GUEST_CHARS = 200


@dataclass(frozen=True)
class Blocker:
    """One reason the migration cannot go ahead, and the hostdev it concerns (None: the whole domain)."""

    hostdev: Optional[str]
    reason: Reason


@dataclass(frozen=True)
class HookResult:
    """The hook's answer: exit status, every blocker, and the domain XML to print (None: print nothing)."""

    status: int
    blockers: Tuple[Blocker, ...] = ()
    output: Optional[bytes] = None

    @property
    def refusal(self) -> Optional[Reason]:
        """The first blocker's reason (None when allowed or passed through)."""
        return self.blockers[0].reason if self.blockers else None

    @property
    def hostdev(self) -> Optional[str]:
        """The first blocker's hostdev."""
        return self.blockers[0].hostdev if self.blockers else None


def _refused(reason: Reason, hostdev: Optional[str] = None) -> HookResult:
    return HookResult(1, (Blocker(hostdev, reason),))


def run_hook(argv: Sequence[str], stdin: IO[bytes], registry: Callable[[], Any],
             sysfs_root: Optional[str] = None, *,
             config: Optional[Callable[[], HostConfig]] = None) -> HookResult:
    """Judge one libvirt hook call ``GUEST OPERATION SUBOPERATION EXTRA``.

    :param registry: called only when a check is needed (plugins load lazily).
    :param sysfs_root: default: the configuration's (``VFIOCOMPAT_SYSFS_ROOT``, the file, ``/sys``).
    :param config: called only for ``migrate``, so that a broken configuration refuses migrations
        and nothing else; default :func:`vfiocompat.host.config.load_host_config`.
    """
    if len(argv) < 2 or argv[1] != "migrate":
        return HookResult(0)
    data = stdin.read(MAX_DOMAIN_XML_BYTES + 1)
    try:
        domain = parse_domain(data)
    except DomainXMLError as error:
        return _refused(Reason(error.code, "host", error.message))
    if not domain.hostdevs:
        return HookResult(0)
    try:
        settings = (config or load_host_config)()
        loaded = registry()
        inventory = probe_configured(sysfs_root or settings.sysfs_root, loaded, settings)
    except VfiocompatError as error:
        return _refused(Reason(error.code, "host", f"vfiocompat cannot judge this migration: {error.message}"))
    return _judge(data, domain, loaded, inventory, settings)


def _judge(data: bytes, domain: Domain, loaded: Any, inventory: Any, settings: HostConfig) -> HookResult:
    local: Dict[str, Any] = {entry.device.id: entry for entry in inventory.devices}
    allow_unrecorded = settings.without_metadata == "allow"
    blockers: List[Blocker] = []
    fresh: List[SourceVersion] = []
    for hostdev in domain.hostdevs:
        recorded = domain.source_entry(hostdev)
        entry: Any = local.get(hostdev.id)
        if recorded is None:
            if not allow_unrecorded:
                blockers.append(Blocker(hostdev.id, Reason(
                    "VC606", "host", f"hostdev {hostdev.id} has no source device_version in the domain's vfiocompat"
                    " metadata; refusing rather than guessing",
                    hint="on the source host run `vfiocompat libvirt-metadata --probe --domain DOMAIN`",
                )))
            elif entry is not None and entry.device_version is not None:
                # Allowed unjudged; from here on the domain carries this host's version.
                fresh.append(SourceVersion(entry.device_version, address=hostdev.address, uuid=hostdev.uuid))
            continue
        blocker = _local_blocker(hostdev.id, entry)
        if blocker is not None:
            blockers.append(blocker)
            continue
        target = entry.device_version
        verdict = loaded.check(recorded.version, target)
        if not verdict.compatible:
            first = verdict.reasons[0] if verdict.reasons else Reason("VC401", "table", "not compatible")
            blockers.append(Blocker(hostdev.id, Reason(
                first.code, first.layer, f"{recorded.version} -> {target}: {first.message}", first.field,
                first.source_value, first.target_value, first.hint, first.rule, first.plugin,
            )))
            continue
        fresh.append(SourceVersion(target, address=recorded.address, uuid=recorded.uuid, alias=recorded.alias))
    if blockers:
        return HookResult(1, tuple(blockers))
    try:
        return HookResult(0, output=refresh_metadata(data, domain, fresh))
    except DomainXMLError as error:
        return _refused(Reason(error.code, "host", error.message))


def _local_blocker(hostdev: str, entry: Any) -> Optional[Blocker]:
    if entry is None:
        return Blocker(hostdev, Reason("VC606", "host", f"hostdev {hostdev} is not a VFIO device on this host",
                                       hint="bind the function to its VFIO driver (or create the mdev) before"
                                            " migrating"))
    if entry.can_migrate is False:
        return Blocker(hostdev, entry.reasons[0])
    if entry.device_version is None:
        why = entry.reasons[0] if entry.reasons else Reason("VC602", "host", "no device_version")
        return Blocker(hostdev, why)
    return None


def _item(blocker: Blocker) -> str:
    reason = blocker.reason
    where = f"hostdev {blocker.hostdev}: " if blocker.hostdev else ""
    text = " ".join(f"{where}error[{reason.code}]: {reason.message}".split())
    return text if len(text) <= _MAX_ITEM_CHARS else text[:_MAX_ITEM_CHARS - 3] + "..."


def refusal_line(guest: str, result: HookResult, limit: int = MAX_REFUSAL_CHARS) -> str:
    """The one line libvirt shows for a refused migration: every blocker that fits in ``limit``, then a count."""
    if not result.blockers:
        return ""
    shown_guest = guest if len(guest) <= _MAX_GUEST_CHARS else guest[:_MAX_GUEST_CHARS] + "..."
    head = " ".join(f"vfiocompat: refusing migration of {shown_guest!r}:".split())
    count = len(result.blockers)
    if count > 1:
        head += f" {count} hostdevs block it:"
    line = head
    for shown, blocker in enumerate(result.blockers):
        item = _item(blocker)
        after = count - shown - 1
        # Room is always kept for the count of what will not fit.
        tail = len(f"; and {after} more") if after else 0
        joiner = " " if shown == 0 else "; "
        if len(line) + len(joiner) + len(item) + tail > limit:
            if shown:
                return f"{line}; and {count - shown} more"
            item = item[:max(0, limit - len(line) - len(joiner) - tail - 3)] + "..."
        line += joiner + item
    return line


def parse_assignments(items: List[str]) -> List[Any]:
    """``KEY=DEVICE_VERSION`` items (KEY: a PCI address, an mdev UUID or ``alias:NAME``) as metadata entries."""
    from .._device_version import parse
    from ..errors import UsageError
    from .libvirt_xml import mdev_uuid, pci_address

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
