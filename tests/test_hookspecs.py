from __future__ import annotations

import inspect

import pluggy

import vfiocompat
from vfiocompat import hookspecs


def hooks() -> list:
    return [getattr(hookspecs, name) for name in dir(hookspecs) if name.startswith("vfiocompat_")]


def test_every_hook_is_named_vfiocompat_and_documented() -> None:
    assert {h.__name__ for h in hooks()} == {"vfiocompat_tables", "vfiocompat_parse_fields",
                                             "vfiocompat_device_version"}
    for hook in hooks():
        assert inspect.getdoc(hook), hook.__name__
        assert hook.__name__ in hookspecs.__all__


def test_hookimpl_is_exported_and_marks_for_the_vfiocompat_project() -> None:
    @vfiocompat.hookimpl
    def vfiocompat_tables() -> list:
        return []

    assert hasattr(vfiocompat_tables, "vfiocompat_impl")


def test_specs_register_with_pluggy_and_reject_unknown_hooks() -> None:
    manager = pluggy.PluginManager("vfiocompat")
    manager.add_hookspecs(hookspecs)

    class Wrong:
        @vfiocompat.hookimpl
        def vfiocompat_tables(self, unexpected: int) -> list:
            return []

    try:
        manager.register(Wrong())
    except pluggy.PluginValidationError as error:
        assert "unexpected" in str(error)
    else:  # pragma: no cover - the assertion above is the test
        raise AssertionError("a hookimpl with an argument the spec lacks was accepted")
