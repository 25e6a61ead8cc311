"""Every exception vfiocompat raises, each with a stable code.

Codes are part of the public interface: callers match on ``error.code``, never on
the message text. ``vfiocompat explain CODE`` documents each one.
"""

from __future__ import annotations

from typing import Optional

__all__ = [
    "VfiocompatError",
    "DeviceVersionError",
    "FieldFormatError",
    "TableError",
    "PluginError",
    "UsageError",
    "LimitError",
    "SysfsEscape",
    "DomainXMLError",
    "ScaffoldError",
    "DeviceFactMissing",
    "HostConfigError",
    "HookInstallError",
    "VirshError",
]


class VfiocompatError(Exception):
    """Base class: every error has a stable ``code`` and a one-line ``message``."""

    code = "VC000"

    def __init__(self, message: str, *, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message

    def one_line(self) -> str:
        """The error as pip/rustc style diagnostics print it: ``error[CODE]: message``."""
        return f"error[{self.code}]: {' '.join(self.message.split())}"


class DeviceVersionError(VfiocompatError, ValueError):
    """A device_version string is malformed; ``position`` is the 0-based offset of the fault."""

    code = "VC100"

    def __init__(self, message: str, *, code: str, text: str, position: int) -> None:
        super().__init__(f"{message} (column {position + 1})", code=code)
        self.text = text
        self.position = position


class FieldFormatError(VfiocompatError, ValueError):
    """A proprietary string does not fit its table's declared format."""

    code = "VC111"

    def __init__(self, message: str, *, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.field = field


class TableError(VfiocompatError, ValueError):
    """A compatibility table is unreadable, malformed or inconsistent.

    ``location`` is ``file:line`` (or just ``file``) and ``path`` the JSON path in the table.
    """

    code = "VC503"

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        location: Optional[str] = None,
        path: Optional[str] = None,
        rule: Optional[str] = None,
    ) -> None:
        parts = [p for p in (location, _rule_words(rule), path) if p]
        full = ": ".join([*parts, message])
        super().__init__(full, code=code)
        self.detail = message
        self.location = location
        self.path = path
        self.rule = rule


def _rule_words(rule: Optional[str]) -> Optional[str]:
    return f"rule {rule!r}" if rule else None


class PluginError(VfiocompatError):
    """A plugin failed to load, raised in a hook or returned something unusable."""

    code = "VC301"

    def __init__(self, message: str, *, plugin: str, code: Optional[str] = None) -> None:
        super().__init__(f"plugin {plugin!r}: {message}", code=code)
        self.plugin = plugin


class LimitError(VfiocompatError, ValueError):
    """An input exceeds a documented size, count or depth limit."""

    code = "VC507"


class UsageError(VfiocompatError):
    """The command line or an API call is malformed."""

    code = "VC001"


class ScaffoldError(UsageError):
    """A scaffold request that cannot be carried out: a bad name or vendor id, or a non-empty destination."""


class SysfsEscape(VfiocompatError, ValueError):
    """A sysfs path or symlink leads outside the probed root; it was not followed."""

    code = "VC603"


class DomainXMLError(VfiocompatError, ValueError):
    """The domain XML is refused: too large, malformed, or carrying DOCTYPE/ENTITY declarations."""

    code = "VC607"


class DeviceFactMissing(VfiocompatError):
    """A plugin cannot build a device's device_version: a deciding fact is not exposed by this host.

    Plugins raise it from ``vfiocompat_device_version`` rather than guess; ``fact`` names what is
    missing and ``hint`` how an operator supplies it (``[facts]`` in the host config file).
    """

    code = "VC608"

    def __init__(self, message: str, *, fact: str, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.fact = fact
        self.hint = hint


class HostConfigError(VfiocompatError):
    """The host configuration file is missing (when named) or invalid; the message names file:line or the key."""

    code = "VC609"


class HookInstallError(VfiocompatError):
    """The libvirt hook was not installed: the destination exists or is a symlink, or the folder is unusable."""

    code = "VC610"


class VirshError(VfiocompatError):
    """virsh is missing, failed, or read back metadata other than what was set."""

    code = "VC612"
