"""Read a pds_core PF's firmware and ASIC facts from saved ``devlink -j dev info`` output.

pds_core reports them only through devlink (``pdsc_dl_info_get()``), never in sysfs, so an operator
saves the tool's JSON to a file and names it in the host config; nothing here runs a tool. The
shape is iproute2's (devlink/devlink.c ``pr_out_info``/``pr_out_versions_single``)::

    {"info": {"pci/0000:b5:00.0": {"driver": "pds_core", "serial_number": "...",
              "versions": {"fixed": {"asic.id": "0x0", "asic.rev": "0x0"},
                           "running": {"fw": "1.60.0-73"}, "stored": {"fw.goldfw": "..."}}}}}
"""

from __future__ import annotations

from typing import Dict, Optional

__all__ = ["MAX_JSON_BYTES", "DevlinkFormatError", "pf_info"]

#: Largest devlink JSON read.
MAX_JSON_BYTES = 4 << 20


class DevlinkFormatError(ValueError):
    """The text is not ``devlink -j dev info`` output."""


def pf_info(text: str, pf_address: str) -> Optional[Dict[str, Optional[str]]]:
    """``{"driver", "fw", "asic_id", "asic_rev"}`` of ``pci/<pf_address>``, or None when not listed.

    A value the output lacks is None; a non-string value is a format error.
    """
    import json  # here, not at the top: a check loads this plugin and never reads devlink output

    try:
        document = json.loads(text)
    except ValueError as error:
        raise DevlinkFormatError(f"not JSON: {error}") from None
    info = document.get("info") if isinstance(document, dict) else None
    if not isinstance(info, dict):
        raise DevlinkFormatError("no top-level 'info' object: not `devlink -j dev info` output")
    device = info.get(f"pci/{pf_address}")
    if device is None:
        return None
    if not isinstance(device, dict):
        raise DevlinkFormatError(f"pci/{pf_address} is not an object")
    versions = device.get("versions", {})
    if not isinstance(versions, dict):
        raise DevlinkFormatError(f"pci/{pf_address}: 'versions' is not an object")
    fixed, running = versions.get("fixed", {}), versions.get("running", {})
    if not isinstance(fixed, dict) or not isinstance(running, dict):
        raise DevlinkFormatError(f"pci/{pf_address}: 'fixed' or 'running' is not an object")
    found = {"driver": device.get("driver"), "fw": running.get("fw"),
             "asic_id": fixed.get("asic.id"), "asic_rev": fixed.get("asic.rev")}
    for key, value in found.items():
        if value is not None and not isinstance(value, str):
            raise DevlinkFormatError(f"pci/{pf_address}: {key} is {type(value).__name__}, not text")
    return found
