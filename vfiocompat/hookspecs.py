"""The hooks a vfiocompat plugin may implement, one by one.

A plugin is a module (or object) registered under the ``vfiocompat`` entry-point group::

    [project.entry-points.vfiocompat]
    acme = "vfiocompat_acme"

and implements hooks with :data:`vfiocompat.hookimpl`. Every hook is optional; a plugin with
no table serves no device. Each call is isolated: an exception or a wrong return type is
recorded against the plugin (``vfiocompat plugins`` shows it) and its devices fail closed.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import pluggy

__all__ = ["hookspec", "hookimpl", "vfiocompat_tables", "vfiocompat_parse_fields", "vfiocompat_device_version"]

hookspec = pluggy.HookspecMarker("vfiocompat")
hookimpl = pluggy.HookimplMarker("vfiocompat")


@hookspec
def vfiocompat_tables() -> Sequence[Any]:
    """Return the compatibility tables this plugin ships.

    Each item is a path (``str`` or :class:`os.PathLike`) or an ``importlib.resources`` file
    (anything with ``name`` and ``read_bytes()``), holding a TOML or JSON table. The tables'
    ``[table]`` sections say which vendor id and which proprietary strings they claim.
    """
    return []


@hookspec
def vfiocompat_parse_fields(table_id: str, proprietary: str) -> Optional[Mapping[str, str]]:
    """Split ``proprietary`` into raw field texts, for this plugin's tables of format kind ``hook``.

    :param table_id: the id of the table (of this plugin) whose format asks for the hook.
    :param proprietary: the vendor part of a device_version.
    Return a mapping of field name to raw text (the table types each field), or ``None`` when
    the string is not one this plugin recognises. Only the plugin that ships the table is asked.
    """


@hookspec
def vfiocompat_device_version(device: Any) -> Optional[str]:
    """Return the device_version of a host device found by ``vfiocompat probe``, or ``None``.

    :param device: a :class:`vfiocompat.host.HostDevice`; its ``read_attribute(name)`` reads
        further sysfs attributes of the device, confined to the probed sysfs root.
    Return the full ``VENDOR:INTERFACE:PROPRIETARY`` text for devices this plugin serves.
    """
