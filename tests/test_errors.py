from __future__ import annotations

import pytest

from vfiocompat.errors import (
    DeviceVersionError,
    FieldFormatError,
    LimitError,
    PluginError,
    TableError,
    UsageError,
    VfiocompatError,
)


@pytest.mark.parametrize(("error", "code"), [
    (VfiocompatError("x"), "VC000"),
    (FieldFormatError("x"), "VC111"),
    (TableError("x"), "VC503"),
    (PluginError("x", plugin="p"), "VC301"),
    (LimitError("x"), "VC507"),
    (UsageError("x"), "VC001"),
])
def test_each_class_has_a_stable_default_code(error: VfiocompatError, code: str) -> None:
    assert error.code == code
    assert isinstance(error, VfiocompatError)


def test_one_line_folds_whitespace() -> None:
    error = TableError("bad\nvalue\tthere", location="t.toml:3", path="[table] id", rule="r1")
    assert error.one_line() == "error[VC503]: t.toml:3: rule 'r1': [table] id: bad value there"
    assert (error.location, error.path, error.rule) == ("t.toml:3", "[table] id", "r1")


def test_device_version_errors_carry_text_and_position() -> None:
    error = DeviceVersionError("vendor id is empty", code="VC105", text=":1:x", position=0)
    assert error.message == "vendor id is empty (column 1)"
    assert (error.code, error.text, error.position) == ("VC105", ":1:x", 0)
    assert isinstance(error, ValueError)


def test_plugin_errors_name_the_plugin() -> None:
    error = PluginError("raised", plugin="acme", code="VC302")
    assert (str(error), error.plugin, error.code) == ("plugin 'acme': raised", "acme", "VC302")
