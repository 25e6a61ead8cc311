"""Which source device classes each host accepts, as Kubernetes node labels and OpenStack Placement traits.

A device class is one distinct device_version found in the fleet. A host accepts a class when
at least one device that can receive a migration (see :func:`vfiocompat.host.inventory.targets`)
accepts it as a source. Names are deterministic: a readable part of the device_version plus the
first 12 hex digits of its SHA-256, so the same fleet gives the same labels on every run.

The same answer is also written as files the schedulers' agents load as they are: one OpenStack
Nova provider config per host (``nova-provider-config``, read from ``[compute]
provider_config_location``) and one node-feature-discovery feature file per host (``nfd``, read
by nfd-worker's ``local`` source from ``/etc/kubernetes/node-feature-discovery/features.d/``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

from ..errors import LimitError, UsageError
from .inventory import Inventory, targets

__all__ = ["FILE_FORMATS", "FILE_MARKER", "HOST_NAME_MAX", "LABEL_PREFIX", "NFD_MAX_FILE_BYTES",
           "NOVA_NAME_MAX", "TRAIT_PREFIX", "DeviceClass", "HostLabels", "Labels", "WrittenFile",
           "device_class", "host_file_name", "host_name_problem", "labels", "labels_form", "nfd_expiry_time",
           "nfd_feature_file", "nova_provider_config", "write_host_files"]

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
    """Each host's accepted classes, the classes being the fleet's distinct device_versions.

    A host's answer depends only on the set of device_versions it can receive, so each distinct
    receiving device_version is judged against every class once, and each distinct set is answered once.
    """
    versions = sorted({e.device_version for inv in inventories for e in inv.devices if e.device_version})
    classes = [device_class(v) for v in versions]
    digests: Dict[str, str] = {}
    for cls in classes:
        other = digests.setdefault(cls.digest, cls.device_version)
        if other != cls.device_version:  # pragma: no cover - 48-bit collision; refuse rather than merge
            raise ValueError(f"device_versions {other!r} and {cls.device_version!r} share hash {cls.digest}")
    accepted_by: Dict[str, FrozenSet[int]] = {}
    answers: Dict[Tuple[str, ...], Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]] = {}
    hosts: List[HostLabels] = []
    for inventory in sorted(inventories, key=lambda inv: inv.host):
        receivers = tuple(sorted({t.device.device_version for t in targets(inventory)[0] if t.device.device_version}))
        answer = answers.get(receivers)
        if answer is None:
            taken: Set[int] = set()
            for target in receivers:
                found = accepted_by.get(target)
                if found is None:
                    # The verdict alone: no reasons are built for the class x device pairs.
                    found = accepted_by[target] = frozenset(
                        i for i, cls in enumerate(classes) if registry.is_compatible(cls.device_version, target))
                taken |= found
            accepted = sorted((classes[i] for i in taken), key=lambda c: c.digest)
            answer = answers[receivers] = (tuple(c.digest for c in accepted), tuple(sorted(c.label for c in accepted)),
                                           tuple(sorted(c.trait for c in accepted)))
        hosts.append(HostLabels(inventory.host, *answer))
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


# -- host names ------------------------------------------------------------------------------

#: Longest host name (RFC 1123 section 2.1; a Kubernetes node name, a DNS subdomain, is as long).
HOST_NAME_MAX = 253
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def host_name_problem(name: object) -> Optional[str]:
    """Why ``name`` cannot name a host in labels, traits and file names, or None if it can.

    A host name is an RFC 1123 name: dot-separated labels of 1 to 63 letters, digits and ``-``,
    neither first nor last ``-``, at most 253 characters in all. Anything else (a space, a control
    character, an empty name) would break the one-line-per-host text forms and the file names.
    """
    if not isinstance(name, str) or not name:
        return "is empty"
    if len(name) > HOST_NAME_MAX:
        return f"is longer than {HOST_NAME_MAX} characters"
    if not all(_HOST_LABEL.fullmatch(part) for part in name.split(".")):
        return ("is not a host name (RFC 1123: dot-separated labels of 1 to 63 letters, digits and '-',"
                " not starting or ending with '-')")
    return None


# -- files for the schedulers' agents --------------------------------------------------------

#: ``--format`` values written as one file per host into ``--output-dir``.
FILE_FORMATS = ("nova-provider-config", "nfd")
#: First line of every file vfiocompat writes; a file without it is the user's and is not replaced.
FILE_MARKER = "# Written by vfiocompat labels"
#: nfd-worker ignores a feature file larger than this (source/local/local.go, MaxFeatureFileSize).
NFD_MAX_FILE_BYTES = 65536
#: Nova's provider config schema: ``identification.name`` is 1 to 200 characters (nova/compute/provider_config.py).
NOVA_NAME_MAX = 200
_SUFFIXES = {"nova-provider-config": ".yaml", "nfd": ".features"}
_NAME_MAX_BYTES = 255
# RFC 3339 section 5.6 date-time; Go's time.RFC3339 layout, which nfd parses with, reads the same.
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class WrittenFile:
    """A file for one host: its path, how many labels or traits it holds, and whether it was (re)written."""

    host: str
    path: str
    entries: int
    changed: bool


def _yaml_string(text: str) -> str:
    """``text`` as a YAML double-quoted scalar (escapes YAML 1.1 and 1.2 both read)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def nova_provider_config(host: HostLabels) -> str:
    """A Nova provider config (schema 1.0) giving the provider named ``host.host`` the host's traits.

    Nova identifies the compute node's root provider by name (its hypervisor host name) and takes
    only ``CUSTOM_`` traits in ``traits.additional``; every string is double-quoted.
    """
    if len(host.host) > NOVA_NAME_MAX:
        raise UsageError(f"host {host.host!r}: longer than the {NOVA_NAME_MAX} characters Nova allows in"
                         " a provider config's identification.name")
    lines = [
        f"{FILE_MARKER} --format nova-provider-config for host {host.host}; rewritten on every run.",
        "# The device classes this compute node accepts as migration sources, as Placement traits;",
        "# Nova reads this file from [compute]provider_config_location (default /etc/nova/provider_config/).",
        "meta:",
        f"  schema_version: {_yaml_string('1.0')}",
        "providers:",
        "  - identification:",
        f"      name: {_yaml_string(host.host)}",
        "    traits:",
    ]
    if host.traits:
        lines.append("      additional:")
        lines.extend(f"        - {_yaml_string(trait)}" for trait in host.traits)
    else:
        lines.append("      additional: []")
    return "\n".join(lines) + "\n"


def nfd_expiry_time(text: str) -> str:
    """An RFC 3339 time for nfd's ``# +expiry-time`` directive, as UTC whole seconds (``2026-12-01T10:00:00Z``)."""
    match = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise UsageError(f"--expiry-time {text!r}: not an RFC 3339 time with its offset, e.g. 2026-12-01T10:00:00Z")
    offset = "+00:00" if match.group(3) in ("Z", "z") else match.group(3)
    try:
        moment = datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}{offset}")
    except ValueError:
        raise UsageError(f"--expiry-time {text!r}: not a valid date and time") from None
    # Dropping the fraction moves the expiry at most a second earlier: never later than asked.
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def nfd_feature_file(host: HostLabels, expiry_time: Optional[str] = None) -> str:
    """A node-feature-discovery feature file: one ``vfiocompat.io/<class>=true`` line per accepted class.

    ``expiry_time`` (RFC 3339) becomes a ``# +expiry-time=`` directive: nfd drops the labels after
    it, so a node whose file stops being refreshed loses them instead of advertising stale ones.
    """
    lines = [
        f"{FILE_MARKER} --format nfd for host {host.host}; rewritten on every run.",
        "# The device classes this node accepts as migration sources, as node labels; nfd-worker's",
        "# local source reads this file from /etc/kubernetes/node-feature-discovery/features.d/.",
    ]
    if expiry_time is not None:
        lines.append(f"# +expiry-time={nfd_expiry_time(expiry_time)}")
    lines.extend(f"{label}=true" for label in host.labels)
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if len(data) > NFD_MAX_FILE_BYTES:
        raise LimitError(f"host {host.host}: its feature file would be {len(data)} bytes, over the"
                         f" {NFD_MAX_FILE_BYTES} bytes nfd-worker reads (it would ignore the whole file)")
    return data.decode("utf-8")


def host_file_name(host: str, file_format: str) -> str:
    """The file written for ``host``: ``<host>.yaml`` (Nova) or ``<host>.features`` (nfd)."""
    problem = host_name_problem(host)
    if problem is not None:
        raise UsageError(f"host name {host!r} {problem}")
    name = host + _SUFFIXES[file_format]
    if len(name.encode("utf-8")) > _NAME_MAX_BYTES:
        raise UsageError(f"host {host}: the file name {name!r} is longer than {_NAME_MAX_BYTES} bytes")
    return name


def _existing(path: str) -> Tuple[bool, Optional[bytes]]:
    """(may ``path`` be replaced, its bytes when it is a regular file), never following a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return True, None
    except OSError:
        return False, None  # a symlink (ELOOP), no permission: not ours to judge
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False, None
        chunks = []
        size = 0
        # Our files are at most a few hundred kilobytes; a larger one is not ours.
        while size <= 16 * NFD_MAX_FILE_BYTES:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return data.startswith(FILE_MARKER.encode("ascii")), data


def _replace(directory: str, name: str, content: bytes) -> None:
    """Write ``content`` to ``directory/name`` through a hidden temporary file and one rename.

    nfd-worker skips dot files and Nova reads only ``*.yaml``, so neither sees a half-written file.
    """
    temporary = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                 0o644)
    try:
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, os.path.join(directory, name))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_host_files(result: Labels, file_format: str, directory: str, *, force: bool = False,
                     expiry_time: Optional[str] = None) -> List[WrittenFile]:
    """Write one ``file_format`` file per host into ``directory`` (made if missing); return what was done.

    Every file is built and checked before any is written. A file already there is replaced only
    if vfiocompat wrote it (its first line starts with :data:`FILE_MARKER`) or ``force`` is set;
    one that already holds the same bytes is left untouched.
    """
    if file_format not in FILE_FORMATS:
        raise UsageError(f"unknown file format {file_format!r}; known: {', '.join(FILE_FORMATS)}")
    planned: List[Tuple[WrittenFile, str, bytes]] = []
    for host in result.hosts:
        name = host_file_name(host.host, file_format)
        path = os.path.join(directory, name)
        if file_format == "nfd":
            content, entries = nfd_feature_file(host, expiry_time).encode("utf-8"), len(host.labels)
        else:
            content, entries = nova_provider_config(host).encode("utf-8"), len(host.traits)
        replaceable, old = _existing(path)
        if not replaceable and not force:
            raise UsageError(f"{path}: exists and was not written by vfiocompat labels (it does not start with"
                             f" {FILE_MARKER!r}); move it away, or pass --force to replace it")
        planned.append((WrittenFile(host.host, path, entries, old != content), name, content))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise UsageError(f"{directory}: cannot create the output directory: {error.strerror or error}") from None
    for done, name, content in planned:
        if done.changed:
            try:
                _replace(directory, name, content)
            except OSError as error:
                raise UsageError(f"{done.path}: cannot write: {error.strerror or error}") from None
    return [done for done, _, _ in planned]
