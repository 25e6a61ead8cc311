"""Read a VF's ``migratable`` port-function attribute from saved ``devlink -j port show`` output.

The attribute lives only in devlink (netlink), never in sysfs, so an operator saves the tool's JSON
to a file and names it in the host config; nothing here runs a tool. The JSON shape is iproute2's
(devlink/devlink.c ``pr_out_port``/``pr_out_port_function``)::

    {"port": {"pci/0000:3b:00.0/1": {"flavour": "pcivf", "pfnum": 0, "vfnum": 0,
                                     "function": {"hw_addr": "...", "migratable": "enable"}}}}
"""

from __future__ import annotations

from typing import Any, List, Optional

__all__ = ["MAX_JSON_BYTES", "DevlinkFormatError", "migratable_of"]

#: Largest devlink JSON read (thousands of ports stay far below this).
MAX_JSON_BYTES = 4 << 20


class DevlinkFormatError(ValueError):
    """The text is not ``devlink -j port show`` output, or names this VF's port ambiguously."""


def migratable_of(text: str, pf_address: str, vf_index: int) -> Optional[str]:
    """The ``migratable`` value ("enable"/"disable") of VF ``vf_index`` of PF ``pf_address``, or None.

    None when the VF's port is not listed or has no ``migratable`` attribute (the PF is not in
    switchdev mode, its firmware lacks the migration capability, or iproute2 is older than 6.2).
    """
    import json  # here, not at the top: a check loads this plugin and never reads devlink output

    try:
        document = json.loads(text)
    except ValueError as error:
        raise DevlinkFormatError(f"not JSON: {error}") from None
    ports = document.get("port") if isinstance(document, dict) else None
    if not isinstance(ports, dict):
        raise DevlinkFormatError("no top-level 'port' object: not `devlink -j port show` output")
    prefix = f"pci/{pf_address}/"
    found: List[Any] = []
    for handle, port in ports.items():
        if not (isinstance(handle, str) and handle.startswith(prefix) and isinstance(port, dict)):
            continue
        # External controllers' VFs (SmartNIC host side) share vfnum values with local ones.
        if port.get("flavour") != "pcivf" or port.get("vfnum") != vf_index or port.get("external") is True:
            continue
        found.append(port)
    if len(found) > 1:
        raise DevlinkFormatError(f"{len(found)} ports of {pf_address} claim VF {vf_index}")
    if not found:
        return None
    function = found[0].get("function")
    value = function.get("migratable") if isinstance(function, dict) else None
    if value is None:
        return None
    if value not in ("enable", "disable"):
        raise DevlinkFormatError(f"migratable is {value!r}, not 'enable' or 'disable'")
    return str(value)
