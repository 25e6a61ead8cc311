"""The host's settings: ``/etc/vfiocompat/config.toml``, overridden by ``VFIOCOMPAT_*`` variables.

One file serves every host command and the libvirt hook, whose environment libvirt wipes
(``LC_ALL``, ``PATH`` and ``HOME`` only), so nothing a hook needs may come from the environment
alone. A missing default file is an empty configuration; a file that was named (``--config`` or
``VFIOCOMPAT_CONFIG``) and is missing, or any invalid file, is an error: every key is checked, so
a misspelt one is refused rather than silently ignored.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Dict, Mapping, Optional, Tuple

from ..errors import HostConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9 and 3.10
    import tomli as tomllib

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "DEFAULT_SYSFS_ROOT",
    "MAX_CONFIG_BYTES",
    "WITHOUT_METADATA",
    "HostConfig",
    "load_host_config",
    "config_of",
    "probe_configured",
]

#: Names another configuration file.
CONFIG_ENV = "VFIOCOMPAT_CONFIG"
DEFAULT_CONFIG = "/etc/vfiocompat/config.toml"
DEFAULT_SYSFS_ROOT = "/sys"
SYSFS_ROOT_ENV = "VFIOCOMPAT_SYSFS_ROOT"
DISABLE_ENV = "VFIOCOMPAT_DISABLE_PLUGINS"
TIMEOUT_ENV = "VFIOCOMPAT_PLUGIN_TIMEOUT"
#: A host configuration is a few lines; facts for a few hundred devices stay far below this.
MAX_CONFIG_BYTES = 1 << 20
#: ``[hook] without_metadata``: what the hook does with a hostdev whose source device_version is not recorded.
WITHOUT_METADATA = ("refuse", "allow")
_MAX_TIMEOUT = 3600.0
_MAX_NAME = 256

# Probe device ids, as `vfiocompat probe` prints them.
_DEVICE_ID = re.compile(
    r"^(?:pci:[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]"
    r"|mdev:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|mdev_type:[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]/[A-Za-z0-9][A-Za-z0-9._:+-]{0,127})$"
)
_FACT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_TOML_WHERE = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


@dataclass(frozen=True)
class HostConfig:
    """The effective host settings; ``path`` is the file they came from (None: no file)."""

    path: Optional[str] = None
    sysfs_root: str = DEFAULT_SYSFS_ROOT
    disable_plugins: Tuple[str, ...] = ()
    #: Seconds one plugin call may take; None: the registry's default (or ``VFIOCOMPAT_PLUGIN_TIMEOUT``).
    plugin_timeout: Optional[float] = None
    without_metadata: str = "refuse"
    #: ``{probe device id: {fact name: value}}``, read by plugins through ``HostDevice.fact``.
    facts: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))


def load_host_config(path: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> HostConfig:
    """The settings from ``path`` (else ``$VFIOCOMPAT_CONFIG``, else the default file), then the environment.

    Raises :class:`vfiocompat.errors.HostConfigError` (one line naming file:line or the key) for
    a named file that is missing and for any invalid file.
    """
    env = os.environ if environ is None else environ
    named = path if path is not None else (env.get(CONFIG_ENV) or None)
    chosen = named if named is not None else DEFAULT_CONFIG
    data = _read(chosen, required=named is not None)
    values: Dict[str, Any] = {} if data is None else _settings(chosen, data)
    if data is not None:
        values["path"] = chosen
    root = env.get(SYSFS_ROOT_ENV)
    if root:
        values["sysfs_root"] = root
    if env.get(DISABLE_ENV) is not None:
        # Set, even to nothing, the variable replaces the file's list.
        values["disable_plugins"] = tuple(n.strip() for n in env[DISABLE_ENV].split(",") if n.strip())
    timeout = env.get(TIMEOUT_ENV)
    if timeout is not None and timeout.strip():
        # The registry reads the variable itself (it also takes "off"); the file's value stands aside.
        values["plugin_timeout"] = _env_timeout(timeout)
    return HostConfig(**values)


def config_of(args: Any) -> HostConfig:
    """The configuration a parsed command line asks for (its ``--config``), loaded once per command."""
    cached = getattr(args, "_vfiocompat_host_config", None)
    if isinstance(cached, HostConfig):
        return cached
    config = load_host_config(getattr(args, "config", None))
    args._vfiocompat_host_config = config
    return config


def _read(path: str, *, required: bool) -> Optional[Dict[str, Any]]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        if required:
            raise HostConfigError(f"{path}: no such configuration file") from None
        return None
    except OSError as error:
        raise HostConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise HostConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; refused")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise HostConfigError(f"{path}: not UTF-8 (byte {error.start})") from None
    try:
        data: Dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        if message.endswith("(at end of document)"):
            line = text.count("\n") + (0 if text.endswith("\n") else 1)
            raise HostConfigError(f"{path}:{max(line, 1)}: invalid TOML: {message[:-20].rstrip()}"
                                  " (at end of file)") from None
        where = _TOML_WHERE.search(message)
        if where is None:
            raise HostConfigError(f"{path}: invalid TOML: {message}") from None
        raise HostConfigError(f"{path}:{where.group(1)}: invalid TOML: {message[:where.start()]}"
                              f" (column {where.group(2)})") from None
    return data


def _settings(path: str, data: Dict[str, Any]) -> Dict[str, Any]:
    values: Dict[str, Any] = {}
    for key, value in data.items():
        if key == "sysfs_root":
            values["sysfs_root"] = _path_value(path, key, value)
        elif key == "disable_plugins":
            values["disable_plugins"] = _names(path, key, value)
        elif key == "plugin_timeout":
            values["plugin_timeout"] = _timeout(path, key, value)
        elif key == "hook":
            values.update(_hook(path, value))
        elif key == "facts":
            values["facts"] = _facts(path, value)
        else:
            raise HostConfigError(f"{path}: unknown key {key!r} (known: sysfs_root, disable_plugins, plugin_timeout,"
                                  " [hook], [facts])")
    return values


def _fail(path: str, key: str, message: str) -> HostConfigError:
    return HostConfigError(f"{path}: {key}: {message}")


def _path_value(path: str, key: str, value: Any) -> str:
    # Relative to what? The hook runs with whatever working directory libvirt gives it.
    if not isinstance(value, str) or not os.path.isabs(value) or "\x00" in value:
        raise _fail(path, key, "must be an absolute path (a directory)")
    return value


def _names(path: str, key: str, value: Any) -> Tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(path, key, "must be a list of plugin names")
    for index, name in enumerate(value):
        if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME:
            raise _fail(path, f"{key}[{index}]", "must be a plugin name (a non-empty string)")
    return tuple(name.strip() for name in value)


def _timeout(path: str, key: str, value: Any) -> float:
    # bool is an int in Python; `plugin_timeout = true` is a mistake, not one second.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or not 0 < value <= _MAX_TIMEOUT:
        raise _fail(path, key, f"must be seconds, a number in (0, {_MAX_TIMEOUT:g}]")
    return float(value)


def _env_timeout(text: str) -> Optional[float]:
    try:
        seconds = float(text)
    except ValueError:
        return None  # "off", or an error the registry reports with its own words
    return seconds if 0 < seconds <= _MAX_TIMEOUT else None


def _hook(path: str, value: Any) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, "hook", "must be a table ([hook])")
    values: Dict[str, Any] = {}
    for key, item in value.items():
        if key != "without_metadata":
            raise _fail(path, f"hook.{key}", "unknown key (known: without_metadata)")
        if item not in WITHOUT_METADATA:
            raise _fail(path, "hook.without_metadata", f"must be one of {', '.join(map(repr, WITHOUT_METADATA))},"
                        f" not {item!r}")
        values["without_metadata"] = item
    return values


def _facts(path: str, value: Any) -> Mapping[str, Mapping[str, str]]:
    if not isinstance(value, dict):
        raise _fail(path, "facts", 'must be tables [facts."<device id>"]')
    facts: Dict[str, Mapping[str, str]] = {}
    for device, table in value.items():
        where = f'facts."{device}"'
        if not _DEVICE_ID.match(device):
            raise _fail(path, where, "not a probe device id (pci:0000:3b:00.1, mdev:UUID or"
                        " mdev_type:PARENT/TYPE, lower case, as `vfiocompat probe` prints it)")
        if not isinstance(table, dict):
            raise _fail(path, where, "must be a table of name = \"value\"")
        entries: Dict[str, str] = {}
        for name, fact in table.items():
            if not _FACT_NAME.match(name):
                raise _fail(path, f"{where}.{name}", "not a fact name (letters, digits, _ . -)")
            if not isinstance(fact, str) or len(fact) > 1024:
                raise _fail(path, f"{where}.{name}", "must be a string of at most 1024 characters"
                            " (quote numbers: \"22.39\")")
            entries[name] = fact
        facts[device] = MappingProxyType(entries)
    return MappingProxyType(facts)


def probe_configured(root: str, registry: Any, config: HostConfig, **options: Any) -> Any:
    """:func:`vfiocompat.host.probe.probe` of ``root`` with the configuration's device facts."""
    from .probe import probe

    return probe(root, registry, facts=config.facts, **options)
