"""vfiocompat.host.variant_drivers: which variant driver migrates which PCI function, and what plain vfio-pci means."""

from __future__ import annotations

import re
from typing import Optional

import pytest

from vfiocompat._codes import CODES
from vfiocompat.host import variant_drivers as vd
from vfiocompat.host.variant_drivers import (
    PLAIN_VFIO_PCI,
    VARIANT_DRIVERS,
    VariantDriver,
    is_vfio_driver,
    migration_support,
    variant_for,
)

PCI_ID = re.compile(r"^0x[0-9a-f]{4}$")


def test_public_names_exist() -> None:
    assert all(hasattr(vd, name) for name in vd.__all__)
    assert PLAIN_VFIO_PCI == "vfio-pci"


@pytest.mark.parametrize("row", VARIANT_DRIVERS, ids=lambda row: row.driver)
def test_every_row_is_well_formed_and_cites_the_kernel(row: VariantDriver) -> None:
    assert PCI_ID.match(row.vendor) and row.devices and all(PCI_ID.match(d) for d in row.devices)
    assert len(set(row.devices)) == len(row.devices)
    assert is_vfio_driver(row.driver) and row.driver != PLAIN_VFIO_PCI
    assert row.source_url.startswith("https://github.com/torvalds/linux/blob/master/drivers/vfio/pci/")
    assert row.family


def test_no_function_is_claimed_by_two_drivers() -> None:
    pairs = [(row.vendor, device) for row in VARIANT_DRIVERS for device in row.devices]
    assert len(pairs) == len(set(pairs))
    assert len({row.driver for row in VARIANT_DRIVERS}) == len(VARIANT_DRIVERS)


@pytest.mark.parametrize(("driver", "expected"), [
    ("vfio-pci", True), ("mlx5_vfio_pci", True), ("some_future_vfio_pci", True), ("xe-vfio-pci", True),
    (None, False), ("", False), ("igb", False), ("vfio_pci", False), ("vfio_mdev", False), ("vfio-pci-x", False),
    ("_vfio_pci", False), ("-vfio-pci", False), ("nvidia", False), ("xe", False),
])
def test_is_vfio_driver(driver: Optional[str], expected: bool) -> None:
    assert is_vfio_driver(driver) is expected


def test_variant_for_every_listed_function() -> None:
    for row in VARIANT_DRIVERS:
        for device in row.devices:
            assert variant_for(row.vendor, device) is row


@pytest.mark.parametrize(("vendor", "device"), [
    (None, "0x101e"), ("0x15b3", None), (None, None), ("0x15b3", "0x1017"),
    ("0x8086", "0x101e"),  # mlx5's device id under another vendor
    ("0x15B3", "0x101e"), ("15b3", "101e"),  # ids are compared in their canonical form only
])
def test_variant_for_unknown_ids(vendor: Optional[str], device: Optional[str]) -> None:
    assert variant_for(vendor, device) is None


def test_known_function_on_plain_vfio_pci_names_its_variant_driver() -> None:
    can, row, reason = migration_support("vfio-pci", "0x19e5", "0xa256")
    assert can is False and row is not None and row.driver == "hisi_acc_vfio_pci"
    assert reason is not None
    assert (reason.code, reason.layer, reason.field, reason.target_value) == ("VC601", "host", "driver", "vfio-pci")
    assert "(19e5:a256)" in reason.message and "hisi_acc_vfio_pci" in reason.message
    assert reason.hint is not None and "driverctl set-override ADDRESS hisi_acc_vfio_pci" in reason.hint
    assert row.source_url in reason.hint
    assert "VC601" in CODES


def test_unknown_function_on_plain_vfio_pci_cannot_migrate() -> None:
    can, row, reason = migration_support("vfio-pci", "0x10de", "0x2236")
    assert (can, row) == (False, None)
    assert reason is not None and reason.code == "VC601"
    assert "no known variant driver migrates 10de:2236" in reason.message


def test_bound_to_its_variant_driver_migrates() -> None:
    for row in VARIANT_DRIVERS:
        assert migration_support(row.driver, row.vendor, row.devices[-1]) == (True, row, None)


@pytest.mark.parametrize(("driver", "vendor", "device", "known"), [
    ("qat_vfio_pci", "0x15b3", "0x101e", True),  # another variant driver than the table's
    ("tv_vfio_pci", "0xfffd", "0x0001", False),  # a variant driver the table does not know
    ("igb", "0x8086", "0x1533", False),
    (None, "0x8086", "0x4941", True),
])
def test_other_drivers_are_unknown_not_refused(driver: Optional[str], vendor: str, device: str, known: bool) -> None:
    can, row, reason = migration_support(driver, vendor, device)
    assert can is None and reason is None
    assert (row is not None) is known


def test_missing_ids_are_shown_as_question_marks() -> None:
    _, _, reason = migration_support("vfio-pci", None, None)
    assert reason is not None and "?:?" in reason.message


def test_xe_row_names_the_driver_as_its_sysfs_link_does() -> None:
    # drivers/vfio/pci/xe/main.c: .name = "xe-vfio-pci"; the table is PTL, WCL and BMG ids.
    row = variant_for("0x8086", "0xe20b")
    assert row is not None and row.driver == "xe-vfio-pci"
    assert variant_for("0x8086", "0xb080") is row and variant_for("0x8086", "0xfd81") is row
    assert variant_for("0x8086", "0x56a0") is None, "DG2 is not in xe_vfio_pci_table"
    assert migration_support("xe-vfio-pci", "0x8086", "0xe223") == (True, row, None)
    can, _, reason = migration_support("vfio-pci", "0x8086", "0xe20b")
    assert can is False and reason is not None and "xe-vfio-pci" in reason.message
