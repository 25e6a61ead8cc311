"""The device_version of a QAT VF on this host: sysfs for what the kernel shows, operator facts for the rest.

What the PF driver compares when a VF's migration state loads (adf_gen4_vf_mig.c) is only partly
visible from the host: the VF id, the PF's configured services and whether rate limiting is on are
in sysfs; the state version (a compile-time constant) and the capability masks are not exposed at
all, so the operator supplies them as facts, or the VF gets no device_version (VC608). Every path
read and every fact is listed with its kernel source in this plugin's README.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional, Tuple

from vfiocompat import DeviceFactMissing

__all__ = [
    "INTERFACE",
    "VF_FAMILIES",
    "PF_OF_VF",
    "SLA_SERVICES",
    "FACT_MSTATE",
    "FACT_GENCAP",
    "FACT_EXTDC",
    "FACT_SLA",
    "qat_device_version",
]

#: The migration interface version of every string this plugin builds.
INTERFACE = "1"

#: VF device ids bound by qat_vfio_pci (qat_vf_vfio_pci_table in drivers/vfio/pci/qat/main.c), by family.
VF_FAMILIES: Dict[str, str] = {"0x4941": "gen4", "0x4943": "gen4", "0x4945": "gen4", "0x4949": "gen6"}
#: The PF device id each VF id belongs to (adf_accel_devices.h, pci_ids.h): 4xxx, 401xx, 402xx, 6xxx.
PF_OF_VF: Dict[str, str] = {"0x4941": "0x4940", "0x4943": "0x4942", "0x4945": "0x4944", "0x4949": "0x4948"}
#: Rate-limiting services as qat_rl/srv names them; their enum adf_base_services values are stable (0..3).
SLA_SERVICES = ("asym", "sym", "dc", "decomp")

FACT_MSTATE = "qat_mstate_version"
FACT_GENCAP = "qat_gencap"
FACT_EXTDC = "qat_extdc"
FACT_SLA = "qat_sla"

#: At most this many SLAs touch one VF: each of its 4 ring pairs is in at most one leaf SLA (adf_rl.c).
_MAX_SLAS = 4
_MAX_FACT = 256
_SERVICE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
_HEX = re.compile(r"^0x[0-9a-f]{1,16}$")
_DEC = re.compile(r"^[0-9]{1,10}$")

_FACT_HINTS = {
    FACT_MSTATE: "ADF_MSTATE_VERSION of this host's kernel (drivers/crypto/intel/qat/qat_common/adf_mstate_mgr.c;"
                 " 1 in mainline v6.10 and later as read), decimal",
    FACT_GENCAP: "the PF's accel_capabilities_mask (the 'gencap' section of this VF's migration setup data), hex",
    FACT_EXTDC: "the PF's extended_dc_capabilities (the 'extdc' section of this VF's migration setup data), hex",
}


def qat_device_version(device: Any) -> Optional[str]:
    """The device_version of a QAT VF that qat_vfio_pci can bind, or None for any other device."""
    if getattr(device, "kind", None) != "pci" or getattr(device, "vendor", None) != "0x8086":
        return None
    family = VF_FAMILIES.get(getattr(device, "device", None) or "")
    if family is None:
        return None
    pf = _physfn(device)
    services = _services(device, pf)
    # No qat_rl/ group on the PF means accel_dev->rate_limiting is NULL (adf_rl_start() removes the group
    # and frees it on any failure), so the driver saves no SLA. With the group, the leaves can be read
    # only by writing qat_rl/id and qat_rl/sla_op, which a probe must not do: the operator says.
    rate_limited = bool(device.list_attribute("physfn/qat_rl"))
    _require_facts(device, pf, rate_limited)
    sla, cir, pir = _slas(device, pf, rate_limited)
    mstate, gencap, extdc = _fact_values(device)
    fields = [("qat", family), ("dev", device.device[2:]), ("mstate", mstate), ("gencap", gencap),
              ("extdc", extdc), ("svc", services), ("sla", sla), ("cir", cir), ("pir", pir)]
    return f"0x8086:{INTERFACE}:" + ";".join(f"{key}={value}" for key, value in fields)


def _missing(device: Any, message: str, fact: str, hint: str) -> DeviceFactMissing:
    return DeviceFactMissing(f"QAT VF {device.id}: {message}", fact=fact, hint=hint)


def _physfn(device: Any) -> str:
    pf: Optional[str] = device.link_name("physfn")
    pf_id = device.read_attribute("physfn/device")
    expected = PF_OF_VF[device.device]
    if pf is None or pf_id is None or pf_id.strip().lower() != expected:
        raise _missing(device, f"no physfn link to its PF (a {expected} device); the PF's services and rate"
                               " limiting decide the migration", "physfn",
                       "probe a sysfs tree where the VF's physfn link leads to its PF (drivers/pci/iov.c)")
    return str(pf)


def _services(device: Any, pf: str) -> str:
    # ring_to_svc_map is computed by the PF driver from its configured services: equal services, equal map.
    state = device.read_attribute("physfn/qat/state")
    if state is not None and state.strip() != "up":
        raise _missing(device, f"its PF {pf} is {state.strip()!r}, and a down PF's services may change before it"
                               " is up again", "state",
                       f"bring the PF up: echo up > /sys/bus/pci/devices/{pf}/qat/state")
    text = device.read_attribute("physfn/qat/cfg_services")
    items = sorted({item.strip() for item in (text or "").split(";") if item.strip()})
    if not items or len(items) > 4 or not all(_SERVICE.match(item) for item in items):
        what = "has no qat/cfg_services" if text is None else f"reports qat/cfg_services {text[:64]!r}"
        raise _missing(device, f"its PF {pf} {what}, which decides its ring_to_svc_map", "cfg_services",
                       f"bind the PF {pf} to its QAT driver (4xxx or 6xxx) on a kernel with the qat/ sysfs group"
                       " (Documentation/ABI/testing/sysfs-driver-qat)")
    return ",".join(items)


def _sla_hint(device: Any, pf: str) -> str:
    return (f"query each SLA on PF {pf} (echo ID > qat_rl/id; echo get > qat_rl/sla_op; cat qat_rl/srv rp cir pir)"
            f" and set {FACT_SLA} = \"SRV:RP:CIR:PIR,...\" for those whose rp has a ring pair of this VF"
            " (\"none\" when there is none); SLAs may have different rates")


def _require_facts(device: Any, pf: str, rate_limited: bool) -> None:
    needed = [FACT_MSTATE, FACT_GENCAP, FACT_EXTDC] + ([FACT_SLA] if rate_limited else [])
    missing = [name for name in needed if device.fact(name) is None]
    if not missing:
        return
    hints = {**_FACT_HINTS, FACT_SLA: _sla_hint(device, pf)}
    why = "the kernel does not show " + ("them" if len(missing) > 1 else "it") + " in sysfs"
    if FACT_SLA in missing:
        why += (f" (its PF {pf} has rate limiting, qat_rl/, whose SLAs are read only by writing qat_rl/id and"
                " qat_rl/sla_op)")
    snippet = " ".join(f'{name} = "..."' for name in missing)
    raise _missing(device, f"{', '.join(missing)} not known: {why}", missing[0],
                   f"set [facts.\"{device.id}\"] {snippet} in the host config; "
                   + "; ".join(f"{name}: {hints[name]}" for name in missing))


def _slas(device: Any, pf: str, rate_limited: bool) -> Tuple[str, str, str]:
    fact = device.fact(FACT_SLA)
    if not rate_limited:
        if fact is not None and fact.strip() not in ("", "none"):
            raise _missing(device, f"fact {FACT_SLA} = {fact[:64]!r}, but its PF {pf} has no qat_rl/ (rate limiting"
                                   " is off, so the driver saves no SLA)", FACT_SLA,
                           f"remove {FACT_SLA} from [facts.\"{device.id}\"] or enable rate limiting on the PF")
        return "", "", ""
    return _parse_slas(device, fact or "", _sla_hint(device, pf))


def _parse_slas(device: Any, fact: str, hint: str) -> Tuple[str, str, str]:
    """The ``sla`` set and the ``cir`` and ``pir`` maps, keyed ``srv/0xrpmask`` as the driver matches SLAs."""
    text = fact.strip()
    if text in ("", "none"):
        return "", "", ""
    entries = text.split(",")
    if len(fact) > _MAX_FACT or len(entries) > _MAX_SLAS:
        raise _missing(device, f"fact {FACT_SLA} lists more than {_MAX_SLAS} SLAs or is longer than {_MAX_FACT}"
                               " characters", FACT_SLA, hint)
    rates: Dict[str, Tuple[int, int]] = {}
    used = 0
    for entry in entries:
        parts = [part.strip().lower() for part in entry.split(":")]
        if (len(parts) != 4 or parts[0] not in SLA_SERVICES or not _HEX.match(parts[1]) or int(parts[1], 16) == 0
                or not all(_DEC.match(p) and int(p) < 1 << 32 for p in parts[2:])):
            raise _missing(device, f"fact {FACT_SLA} item {entry[:64]!r} is not SRV:RP:CIR:PIR (SRV one of"
                                   f" {', '.join(SLA_SERVICES)}, RP a non-zero hex mask, CIR and PIR decimal)",
                           FACT_SLA, hint)
        mask = int(parts[1], 16)
        if mask & used:
            # prepare_rp_ids() refuses a ring pair already in another SLA, so no two SLAs share one (adf_rl.c).
            raise _missing(device, f"fact {FACT_SLA} puts a ring pair of {parts[1]} in two SLAs, which the driver"
                                   " never allows (RP already assigned to other SLA)", FACT_SLA, hint)
        used |= mask
        rates[f"{parts[0]}/{hex(mask)}"] = (int(parts[2]), int(parts[3]))
    keys = sorted(rates)
    return (",".join(keys), ",".join(f"{key}:{rates[key][0]}" for key in keys),
            ",".join(f"{key}:{rates[key][1]}" for key in keys))


def _fact_values(device: Any) -> Tuple[str, str, str]:
    mstate = (device.fact(FACT_MSTATE) or "").strip()
    if not _DEC.match(mstate) or int(mstate) >= 1 << 32:
        raise _missing(device, f"fact {FACT_MSTATE} = {mstate[:32]!r} is not a decimal u32", FACT_MSTATE,
                       _FACT_HINTS[FACT_MSTATE])
    masks = []
    for name in (FACT_GENCAP, FACT_EXTDC):
        raw = (device.fact(name) or "").strip().lower()
        if not _HEX.match(raw):
            # The driver refuses a capability section wider than 8 bytes (adf_mstate_check_cap_size).
            raise _missing(device, f"fact {name} = {raw[:32]!r} is not a hex mask of at most 64 bits (0x...)", name,
                           _FACT_HINTS[name])
        masks.append(hex(int(raw, 16)))
    return str(int(mstate)), masks[0], masks[1]
