"""Tests of the installed Example Vendor plugin, loaded alone through its entry point.

Run them after installing the plugin (``pip install -e .`` or ``pip install .``): they judge
what users get, so a table missing from the wheel or a misnamed entry point fails here.
"""

from __future__ import annotations

import pytest

from vfiocompat import Registry
from vfiocompat.testing import RegistryFactory, assert_compatible, assert_examples_pass, assert_refused

# Skipped, not failed, in a checkout where the plugin is not installed yet.
pytest.importorskip("vfiocompat_example_vendor", reason="the plugin is not installed: run `pip install -e .` first")

PLUGIN = "example-vendor"
VENDOR = "0xfffd"


def dv(model: str = "m100", fw: str = "2.3.0", features: str = "3f", queues: int = 16, interface: str = "1") -> str:
    """A device_version of this family."""
    return f"{VENDOR}:{interface}:exv1-{model}-{fw}-{features}-{queues}"


@pytest.fixture
def registry(vfiocompat_registry: RegistryFactory) -> Registry:
    """This plugin alone, as its entry point installs it; no other installed plugin takes part."""
    return vfiocompat_registry(PLUGIN)


def test_every_table_example_holds(registry: Registry) -> None:
    assert_examples_pass(registry)


def test_plugin_ships_one_table_claiming_its_family(registry: Registry) -> None:
    assert [(t.id, t.vendor_id, t.prefixes) for t in registry.tables] == [
        ("example-vendor-devices", int(VENDOR, 16), ("exv1-",)),
    ]


def test_firmware_update_within_a_major_release(registry: Registry) -> None:
    assert_compatible(registry, dv(fw="2.3.0"), dv(fw="2.9.1"), rule="same-model-fw-forward")


def test_next_model_with_next_major_firmware(registry: Registry) -> None:
    assert_compatible(registry, dv("m100", "2.3.0"), dv("m200", "3.1.0", queues=32), rule="m100-to-m200")


def test_firmware_downgrade_is_refused(registry: Registry) -> None:
    assert_refused(registry, dv(fw="2.3.1"), dv(fw="2.3.0"), code="VC411")


def test_next_model_two_majors_ahead_is_refused(registry: Registry) -> None:
    assert_refused(registry, dv("m100", "2.3.0"), dv("m200", "4.0.0"), code="VC414")


def test_lost_feature_or_queues_are_refused(registry: Registry) -> None:
    assert_refused(registry, dv(features="3f"), dv(features="1f"), code="VC415")
    assert_refused(registry, dv(queues=16), dv(queues=8), code="EXAMPLE_VENDOR_QUEUES")


def test_errata_firmware_is_denied_even_when_an_allow_rule_holds(registry: Registry) -> None:
    assert_refused(registry, dv(fw="2.3.0"), dv(fw="2.4.0"), code="EXAMPLE_VENDOR_FW_ERRATA",
                   rule="fw-2-4-0-restore-bug")


def test_other_families_of_the_vendor_are_not_claimed(registry: Registry) -> None:
    assert_refused(registry, dv(), f"{VENDOR}:1:exv2-m100-2.3.0-3f-16", code="VC204")
