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
    """Return the device_version of a host device found by ``vfiocompat probe``, or ``None`` if not yours.

    No mainline kernel publishes such a string: build it from what the host shows. ``device`` is a
    :class:`vfiocompat.host.HostDevice`: a PCI function bound to ``vfio-pci`` or a variant driver, an
    NVIDIA vGPU 17+ SR-IOV VF, an mdev, or an mdev type (``kind``), with the kernel's own sysfs text
    in ``vendor``, ``device``, ``revision``, ``pci_class``, ``physfn``/``vf_index``, ``driver``,
    ``driver_module``, ``mdev_type``... For more, confined to the probed sysfs root:
    ``device.read_attribute("physfn/device")`` (text or None), ``device.list_attribute("physfn/qat_rl")``,
    ``device.link_name("physfn")`` (a symlink's target basename), and ``device.fact("fw_version")``
    (the operator's ``[facts."<device id>"]`` in the host config, or None).

    Return the full ``VENDOR:INTERFACE:PROPRIETARY`` text for devices this plugin serves. When a
    deciding fact cannot be known on this host, raise :class:`vfiocompat.DeviceFactMissing`
    (``fact=``, ``hint=``): probe reports it as a VC608 host reason, never a guessed version.
    See docs/writing-a-plugin.md, "vfiocompat_device_version".
    """
