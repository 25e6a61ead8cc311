"""The device_version of a HiSilicon ACC VF on this host: what sysfs tells, and the facts only the operator has.

hisi_acc_vfio_pci saves the match data ``acc_magic`` (and ``major_ver`` for V2), ``dev_id``,
``qp_num`` and ``que_iso_cfg`` (drivers/vfio/pci/hisilicon/hisi_acc_vfio_pci.c,
``vf_qm_get_match_data``). Of these only ``dev_id`` is a sysfs attribute (the VF's ``device``).
The magic follows the driver build, ``qp_num`` the PF's VF table (hardware queue counts are read
from QM registers), ``que_iso_cfg`` a PF register: no sysfs or debugfs file shows them before a
migration, so they are operator facts (host config ``[facts."pci:ADDR"]``), never guessed.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from vfiocompat import DeviceFactMissing

__all__ = [
    "VENDOR",
    "VARIANT_DRIVER",
    "VF_PF_DRIVERS",
    "QM_HW_V3",
    "ACC_DEV_MAGIC_V1",
    "ACC_DEV_MAGIC_V2",
    "FACTS",
    "device_version",
]

VENDOR = "0x19e5"
VARIANT_DRIVER = "hisi_acc_vfio_pci"
#: VF device id -> the PF driver hisi_acc_get_pf_qm() asks for it (hisi_zip/sec2/hpre pci_driver names).
VF_PF_DRIVERS: Dict[str, str] = {"0xa251": "hisi_zip", "0xa256": "hisi_sec2", "0xa259": "hisi_hpre"}
#: hisi_acc_vfio_pci_probe() uses the migration ops only when the PF's qm->ver >= QM_HW_V3 (0x30);
#: qm->ver is the PF's PCI revision (raised, never lowered, by QM_SUB_VERSION_ID on revision 0x30).
QM_HW_V3 = 0x30
ACC_DEV_MAGIC_V1 = 0xCDCDCDCDFEEDAACC
ACC_DEV_MAGIC_V2 = 0xAACCFEEDDECADEDE
#: The facts an operator supplies per VF, in the order the device_version carries them.
FACTS = ("acc_magic", "major_ver", "qp_num", "que_iso_cfg")
# qp_num comes from the VFT's 10-bit count field plus one (QM_SQC_VFT_NUM_MASK_V2 = GENMASK(9, 0)).
_QP_NUM_MAX = 1024
_MAX_FACT_CHARS = 32


def device_version(device: Any) -> Optional[str]:
    """``0x19e5:1:acc_magic=..;[major_ver=..;]dev_id=..;qp_num=..;que_iso_cfg=..`` for a migratable VF, else None.

    Raises :class:`vfiocompat.DeviceFactMissing` when the VF migrates but a deciding fact is
    neither in sysfs nor supplied (or supplied malformed).
    """
    if getattr(device, "kind", None) != "pci" or device.vendor != VENDOR or device.device not in VF_PF_DRIVERS:
        return None
    # Plain vfio-pci cannot migrate these VFs (probe reports VC601); another driver is not VFIO.
    if device.driver != VARIANT_DRIVER:
        return None
    # Without a PF bound to its accelerator driver the variant driver registers no migration ops.
    if device.link_name("physfn") is None or device.link_name("physfn/driver") != VF_PF_DRIVERS[device.device]:
        return None
    revision = _hex(device.read_attribute("physfn/revision"), 0xFF)
    if revision is None:
        raise DeviceFactMissing(
            "the PF's PCI revision (physfn/revision) is unreadable, so whether"
            " hisi_acc_vfio_pci migrates this VF (QM hardware >= 0x30) is unknown",
            fact="physfn/revision",
            hint="probe a complete sysfs tree: drivers/pci/pci-sysfs.c creates 'revision' for every PCI function",
        )
    if revision < QM_HW_V3:
        return None
    magic, major, qp_num, iso = _facts(device)
    pairs = [f"acc_magic=0x{magic:016x}"]
    if major is not None:
        pairs.append(f"major_ver={major}")
    pairs += [f"dev_id={device.device}", f"qp_num={qp_num}", f"que_iso_cfg=0x{iso:x}"]
    return f"{VENDOR}:1:" + ";".join(pairs)


def _facts(device: Any) -> Tuple[int, Optional[int], int, int]:
    """The operator's facts for ``device``, checked; every missing or malformed one is named at once."""
    raw = {name: device.fact(name) for name in FACTS}
    problems: List[str] = []
    magic = _hex(raw["acc_magic"], 0xFFFFFFFFFFFFFFFF)
    if raw["acc_magic"] is None:
        problems.append("acc_magic (missing)")
    elif magic not in (ACC_DEV_MAGIC_V1, ACC_DEV_MAGIC_V2):
        problems.append(f"acc_magic {raw['acc_magic'][:_MAX_FACT_CHARS]!r} (not 0x{ACC_DEV_MAGIC_V1:016x} or"
                        f" 0x{ACC_DEV_MAGIC_V2:016x})")
    major = _uint(raw["major_ver"], 0xFFFF)
    if magic == ACC_DEV_MAGIC_V2 and raw["major_ver"] is None:
        problems.append("major_ver (missing; a V2 driver writes ACC_DRV_MAJOR_VER)")
    elif magic == ACC_DEV_MAGIC_V2 and major is None:
        problems.append(f"major_ver {raw['major_ver'][:_MAX_FACT_CHARS]!r} (not a decimal 0..65535)")
    elif magic == ACC_DEV_MAGIC_V1 and raw["major_ver"] is not None:
        problems.append("major_ver (given, but a V1 driver writes no version)")
    qp_num = _uint(raw["qp_num"], _QP_NUM_MAX)
    if raw["qp_num"] is None:
        problems.append("qp_num (missing)")
    elif qp_num is None or qp_num < 1:
        problems.append(f"qp_num {raw['qp_num'][:_MAX_FACT_CHARS]!r} (not a decimal 1..{_QP_NUM_MAX})")
    iso = _hex(raw["que_iso_cfg"], 0xFFFFFFFF)
    if raw["que_iso_cfg"] is None:
        problems.append("que_iso_cfg (missing)")
    elif iso is None:
        problems.append(f"que_iso_cfg {raw['que_iso_cfg'][:_MAX_FACT_CHARS]!r} (not a 32-bit hex value)")
    if problems:
        first = problems[0].split(" ", 1)[0]
        raise DeviceFactMissing(
            "hisi_acc_vfio_pci compares facts no host file shows before migration: "
            + "; ".join(problems),
            fact=first,
            hint=f'supply them in the host config: [facts."{device.id}"] acc_magic = "0x{ACC_DEV_MAGIC_V2:016x}",'
                 ' major_ver = "1", qp_num = "<the VF\'s queue pairs>", que_iso_cfg = "<the PF\'s QM_QUE_ISO_CFG_V>"'
                 " (see the vfiocompat-hisi-acc README)",
        )
    assert magic is not None and qp_num is not None and iso is not None
    return magic, (major if magic == ACC_DEV_MAGIC_V2 else None), qp_num, iso


def _hex(text: Optional[str], limit: int) -> Optional[int]:
    """``0x``-prefixed hex text as a number not above ``limit``, or None."""
    if text is None:
        return None
    text = text.strip().lower()
    digits = text[2:]
    if not text.startswith("0x") or not 0 < len(digits) <= 16 or any(c not in "0123456789abcdef" for c in digits):
        return None
    value = int(digits, 16)
    return value if value <= limit else None


def _uint(text: Optional[str], limit: int) -> Optional[int]:
    """Decimal text (no sign, at most 5 digits) as a number not above ``limit``, or None."""
    if text is None:
        return None
    text = text.strip()
    if not 0 < len(text) <= 5 or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= limit else None
