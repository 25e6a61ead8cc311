"""The probe side of the plugin: a device's device_version from sysfs and the operator's facts.

Imported on the first probe, not by a check (see ``vfiocompat_device_version`` in the package).
"""

from __future__ import annotations

import re
from typing import Any, Optional, Set, Tuple

from vfiocompat import DeviceFactMissing

from . import DRIVER, INTERFACE, VENDOR
from .devlink import MAX_JSON_BYTES, DevlinkFormatError, migratable_of

# board_id is MLX5_BOARD_ID_LEN (64) bytes at most; PSIDs are like MT_0000000838.
_PSID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# fw_ver is "%d.%d.%04d" (drivers/infiniband/hw/mlx5/main.c get_dev_fw_str).
_FW = re.compile(r"^[0-9]{1,5}\.[0-9]{1,5}\.[0-9]{1,5}$")
_MIGRATABLE = ("enable", "disable")
# A PF has one RDMA device; a few more (LAG, planes) are tolerated, not hundreds.
_MAX_IB_DEVICES = 16


def device_version(device: Any) -> Optional[str]:
    """``0x15b3:1:mlx5=vf;dev=...;psid=...;fw=...;migratable=...`` for a VF bound to mlx5_vfio_pci."""
    if device.kind != "pci" or device.vendor != VENDOR or device.driver != DRIVER:
        return None
    if device.device is None:
        raise DeviceFactMissing(f"{device.id}: no readable PCI device id", fact="device",
                                hint="check that the sysfs 'device' attribute of the function is readable")
    pf = device.link_name("physfn")
    if pf is None:
        raise DeviceFactMissing(
            f"{device.id} has no physfn link: mlx5_vfio_pci migrates SR-IOV VFs only", fact="physfn",
            hint="create the VF with sriov_numvfs on a PF bound to mlx5_core and bind the VF to mlx5_vfio_pci")
    psid, fw = _adapter_identity(device, pf)
    migratable = _migratable(device, pf)
    return f"{VENDOR}:{INTERFACE}:mlx5=vf;dev={device.device[2:]};psid={psid};fw={fw};migratable={migratable}"


def _adapter_identity(device: Any, pf: str) -> Tuple[str, str]:
    """(PSID, firmware) from the PF's RDMA devices in sysfs, else from the operator's facts."""
    found: Set[Tuple[str, str]] = set()
    for name in device.list_attribute("physfn/infiniband")[:_MAX_IB_DEVICES]:
        psid = device.read_attribute(f"physfn/infiniband/{name}/board_id")
        fw = device.read_attribute(f"physfn/infiniband/{name}/fw_ver")
        if psid is not None and fw is not None and _PSID.match(psid.strip()) and _FW.match(fw.strip()):
            found.add((psid.strip(), fw.strip()))
    if len(found) > 1:
        shown = ", ".join(f"{p} {f}" for p, f in sorted(found))
        raise DeviceFactMissing(f"the RDMA devices of PF {pf} disagree on PSID and firmware ({shown})",
                                fact="fw_version", hint="report this layout; vfiocompat will not choose one")
    if found:
        return found.pop()
    psid = _fact(device, "psid", _PSID, f"the PSID (`devlink dev info pci/{pf}`: fw.psid)")
    fw = _fact(device, "fw_version", _FW, f"the running firmware (`devlink dev info pci/{pf}`: fw.version)")
    return psid, fw


def _fact(device: Any, name: str, pattern: re.Pattern[str], what: str) -> str:
    value = device.fact(name)
    if value is None:
        raise DeviceFactMissing(
            f"{device.id}: the PF has no RDMA device in sysfs (mlx5_ib not loaded?), so {what} is unknown",
            fact=name, hint=f'load mlx5_ib, or set [facts."{device.id}"] {name} = "..." in the host config')
    if not pattern.match(value):
        raise DeviceFactMissing(f"{device.id}: fact {name} = {value[:80]!r} is not in the expected form",
                                fact=name, hint=f"give {what} exactly as devlink prints it")
    return str(value)


def _migratable(device: Any, pf: str) -> str:
    """The VF's devlink ``migratable``: a fact, or read from a saved ``devlink -j port show``."""
    how = (f'set [facts."{device.id}"] migratable = "enable" (or "disable") as `devlink port show` prints it'
           f' for this VF\'s port on pci/{pf}, or devlink_port_json = "<file with `devlink -j port show` output>"')
    value = device.fact("migratable")
    if value is not None:
        if value not in _MIGRATABLE:
            raise DeviceFactMissing(f"{device.id}: fact migratable = {value[:80]!r} is not 'enable' or 'disable'",
                                    fact="migratable", hint=how)
        return str(value)
    path = device.fact("devlink_port_json")
    if path is None:
        raise DeviceFactMissing(f"{device.id}: whether the VF is migratable is shown only by devlink, not sysfs",
                                fact="migratable", hint=how)
    # N of the PF's virtfnN link back to this VF (probe reads it), the devlink port's vfnum.
    index = device.vf_index
    if index is None:
        raise DeviceFactMissing(f"{device.id}: no virtfnN link of PF {pf} points at this VF", fact="migratable",
                                hint=how)
    text = device.read_fact_file("devlink_port_json", MAX_JSON_BYTES, fact="migratable", hint=how)
    try:
        value = migratable_of(text, pf, index)
    except DevlinkFormatError as error:
        raise DeviceFactMissing(f"{device.id}: cannot use devlink_port_json {path[:200]!r}: {error}",
                                fact="migratable", hint=how) from None
    if value is None:
        raise DeviceFactMissing(
            f"{device.id}: {path[:200]!r} shows no migratable attribute for VF {index} of pci/{pf} (eswitch not in"
            " switchdev mode, firmware without the migration capability, or iproute2 older than 6.2)",
            fact="migratable", hint=how)
    return value
