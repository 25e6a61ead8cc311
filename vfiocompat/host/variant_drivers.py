"""Which VFIO variant drivers can migrate which PCI functions: public facts from the kernel's sources.

Plain ``vfio-pci`` has no migration support of its own; a function migrates only when bound to
its vendor's variant driver. Each row cites the kernel file whose ``pci_device_id`` table lists
the ids (``PCI_DRIVER_OVERRIDE_DEVICE_VFIO``) and that wires the migration ops; ``driver`` is the
``pci_driver.name``, which is what the function's ``driver`` link names (``KBUILD_MODNAME`` for
most, ``"xe-vfio-pci"`` for Xe). Drivers whose sources set no migration ops
(``nvgrace_gpu_vfio_pci``, ``ism_vfio_pci``) are deliberately absent. Rows checked against
torvalds/linux master (drivers/vfio/pci/*/main.c, hisilicon/hisi_acc_vfio_pci.c, pds/pci_drv.c).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from .._verdict import Reason

__all__ = ["PLAIN_VFIO_PCI", "VariantDriver", "VARIANT_DRIVERS", "is_vfio_driver", "variant_for",
           "migration_support"]

PLAIN_VFIO_PCI = "vfio-pci"


@dataclass(frozen=True)
class VariantDriver:
    """A migration-capable variant driver, the PCI ids it binds, and where that is stated."""

    driver: str
    vendor: str
    devices: Tuple[str, ...]
    family: str
    source_url: str
    note: str = ""


VARIANT_DRIVERS: Tuple[VariantDriver, ...] = (
    # mlx5vf_pci_table: 15b3:101e "ConnectX Family mlx5Gen Virtual Function" (ConnectX-6 Dx, ConnectX-7 VFs).
    VariantDriver("mlx5_vfio_pci", "0x15b3", ("0x101e",), "NVIDIA ConnectX mlx5Gen VF",
                  "https://github.com/torvalds/linux/blob/master/drivers/vfio/pci/mlx5/main.c",
                  "the device firmware must also report the migratable capability"),
    # hisi_acc_vfio_pci_table: ZIP VF a251, SEC VF a256, HPRE VF a259; ids in include/linux/pci_ids.h.
    VariantDriver("hisi_acc_vfio_pci", "0x19e5", ("0xa251", "0xa256", "0xa259"), "HiSilicon ACC VF (ZIP/SEC/HPRE)",
                  "https://github.com/torvalds/linux/blob/master/drivers/vfio/pci/hisilicon/hisi_acc_vfio_pci.c",
                  "migration ops are used only when the PF's QM hardware is version 3 or later"),
    # qat_vf_vfio_pci_table: 4xxx VF 4941, 401xx VF 4943, 402xx VF 4945 (adf_accel_devices.h), 6xxx VF 4949.
    VariantDriver("qat_vfio_pci", "0x8086", ("0x4941", "0x4943", "0x4945", "0x4949"), "Intel QAT VF",
                  "https://github.com/torvalds/linux/blob/master/drivers/vfio/pci/qat/main.c",
                  "0x4949 (QAT 6xxx) was added to the table after the 4xxx ids; older kernels lack it"),
    # virtiovf_pci_table: 1af4:1041 virtio-net VF ("Only virtio-net is supported/tested so far").
    VariantDriver("virtio_vfio_pci", "0x1af4", ("0x1041",), "virtio-net VF",
                  "https://github.com/torvalds/linux/blob/master/drivers/vfio/pci/virtio/main.c",
                  "migration needs the PF to offer the virtio admin commands for it"),
    # pds_vfio_pci_table: 1dd8:1003 "Ethernet VF" (AMD/Pensando DSC).
    VariantDriver("pds_vfio_pci", "0x1dd8", ("0x1003",), "AMD/Pensando DSC Ethernet VF",
                  "https://github.com/torvalds/linux/blob/master/drivers/vfio/pci/pds/pci_drv.c"),
    # xe_vfio_pci_table: INTEL_PTL_IDS, INTEL_WCL_IDS, INTEL_BMG_IDS (include/drm/intel/pciids.h);
    # pci_driver.name is "xe-vfio-pci" (module xe_vfio_pci). Migration ops are set for VFs only.
    VariantDriver("xe-vfio-pci", "0x8086", (
        "0xb080", "0xb081", "0xb082", "0xb083", "0xb084", "0xb085", "0xb086", "0xb087", "0xb08f", "0xb090",
        "0xb0a0", "0xb0b0",  # PTL
        "0xfd80", "0xfd81",  # WCL
        "0xe202", "0xe209", "0xe20b", "0xe20c", "0xe20d", "0xe210", "0xe211", "0xe212", "0xe216",  # BMG G21
        "0xe220", "0xe221", "0xe222", "0xe223",  # BMG
    ), "Intel Xe GPU SR-IOV VF (Panther Lake, Wildcat Lake, Battlemage)",
        "https://github.com/torvalds/linux/blob/master/drivers/vfio/pci/xe/main.c",
        "migration ops are set only for VFs, and only when the PF's xe driver reports SR-IOV migration"
        " support (xe_sriov_vfio_migration_supported); ids from"
        " https://github.com/torvalds/linux/blob/master/include/drm/intel/pciids.h"),
)


def is_vfio_driver(driver: Optional[str]) -> bool:
    """Whether ``driver`` is ``vfio-pci`` or a variant driver (``*_vfio_pci``, or ``*-vfio-pci`` like Xe's)."""
    return driver is not None and (driver == PLAIN_VFIO_PCI or (
        driver.endswith(("_vfio_pci", "-vfio-pci")) and len(driver) > len("_vfio_pci")))


def variant_for(vendor: Optional[str], device: Optional[str]) -> Optional[VariantDriver]:
    """The migration-capable variant driver for a PCI function's ids, if the table knows one."""
    if vendor is None or device is None:
        return None
    for row in VARIANT_DRIVERS:
        if row.vendor == vendor and device in row.devices:
            return row
    return None


def migration_support(driver: Optional[str], vendor: Optional[str],
                      device: Optional[str]) -> Tuple[Optional[bool], Optional[VariantDriver], Optional[Reason]]:
    """Whether a PCI function bound to ``driver`` can migrate: yes, no (with a VC601 reason) or unknown (None)."""
    row = variant_for(vendor, device)
    ids = f"{vendor[2:] if vendor else '?'}:{device[2:] if device else '?'}"
    if driver == PLAIN_VFIO_PCI:
        if row is not None:
            return False, row, Reason(
                "VC601", "host",
                f"bound to vfio-pci, which cannot migrate; this {row.family} ({ids}) migrates only with the"
                f" variant driver {row.driver}",
                field="driver", target_value=PLAIN_VFIO_PCI,
                hint=f"bind the function to {row.driver} (e.g. driverctl set-override ADDRESS {row.driver});"
                     f" source: {row.source_url}",
            )
        return False, None, Reason(
            "VC601", "host",
            f"bound to vfio-pci, which cannot migrate, and no known variant driver migrates {ids}",
            field="driver", target_value=PLAIN_VFIO_PCI,
            hint="bind the vendor's migration-capable variant driver, if the vendor ships one",
        )
    if row is not None and driver == row.driver:
        return True, row, None
    return None, row, None
