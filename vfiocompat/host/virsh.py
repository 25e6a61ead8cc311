"""Recording vfiocompat's metadata in a domain with ``virsh metadata``, and reading it back to verify.

virsh is run as an argument vector (never through a shell), found on ``PATH``. It is called by
the operator's command on the source host, never from the hook: libvirt's docs/hooks.rst forbids
calling back into libvirt from a hook (the daemon is waiting for it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import List, Optional, Sequence, Tuple

from ..errors import VirshError
from .libvirt_xml import METADATA_KEY, NAMESPACE, DomainXMLError, SourceVersion, parse_metadata_element

__all__ = ["VIRSH_TIMEOUT", "find_virsh", "metadata_command", "record_metadata"]

#: Seconds one virsh call may take; a hung daemon must not hang the operator's command forever.
VIRSH_TIMEOUT = 60.0
_MAX_MESSAGE = 300


def find_virsh() -> str:
    """The absolute path of ``virsh`` on ``PATH``; :class:`VirshError` naming where it looked if absent."""
    found = shutil.which("virsh")
    if found is None:
        raise VirshError(f"virsh not found on PATH ({os.environ.get('PATH', '')}); install libvirt-clients"
                         " (Debian, Ubuntu) or libvirt-client (RHEL, Fedora)")
    return os.path.abspath(found)


def metadata_command(virsh: str, domain: str, *, connect: Optional[str] = None, element: Optional[str] = None,
                     scope: str = "--live") -> List[str]:
    """The argument vector of ``virsh metadata`` that sets ``element`` (live and persistent) or reads ``scope``."""
    command = [virsh, "--quiet"]
    if connect is not None:
        command += ["--connect", connect]
    # --domain=NAME keeps a domain named like an option from being read as one.
    command += ["metadata", f"--domain={domain}", f"--uri={NAMESPACE}"]
    if element is not None:
        return [*command, f"--key={METADATA_KEY}", f"--set={element}", "--live", "--config"]
    return [*command, scope]


def _run(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(list(command), capture_output=True, timeout=VIRSH_TIMEOUT, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise VirshError(f"{command[0]} did not answer within {VIRSH_TIMEOUT:g} s") from None
    except OSError as error:
        raise VirshError(f"cannot run {command[0]}: {error.strerror}") from None
    if done.returncode != 0:
        said = " ".join(done.stderr.decode("utf-8", "replace").split())[:_MAX_MESSAGE] or "no message"
        raise VirshError(f"{command[0]} metadata failed (exit {done.returncode}): {said}")
    return done.stdout.decode("utf-8", "replace")


def record_metadata(domain: str, element: str, entries: Sequence[SourceVersion], *,
                    connect: Optional[str] = None) -> None:
    """Set ``element`` in ``domain``'s live and persistent metadata, then read both back and compare."""
    virsh = find_virsh()
    _run(metadata_command(virsh, domain, connect=connect, element=element))
    expected = sorted(entries, key=_key)
    for scope, words in (("--live", "live"), ("--config", "persistent")):
        text = _run(metadata_command(virsh, domain, connect=connect, scope=scope))
        try:
            stored = sorted(parse_metadata_element(text.strip().encode("utf-8")), key=_key)
        except DomainXMLError as error:
            raise VirshError(f"{virsh}: the {words} metadata of domain {domain!r} read back is unusable:"
                             f" {error.message}") from None
        if stored != expected:
            raise VirshError(f"{virsh}: the {words} metadata of domain {domain!r} read back holds {len(stored)}"
                             f" entries other than the {len(expected)} set; something else rewrites it")


def _key(entry: SourceVersion) -> Tuple[str, str, str, str]:
    return (entry.alias or "", entry.address or "", entry.uuid or "", entry.version)
