"""The public surface: five modules with __all__, every name importable and listed in docs/api.md."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

API = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text("utf-8")


@pytest.mark.parametrize("name", ["vfiocompat", "vfiocompat.hookspecs", "vfiocompat.testing", "vfiocompat.errors",
                                  "vfiocompat.host"])
def test_each_public_module_lists_its_names_and_the_api_page_shows_them(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__all__, name
    for public in module.__all__:
        assert getattr(module, public) is not None
        assert f"`{public}" in API, f"docs/api.md does not list {name}.{public}"


def test_importing_the_package_or_a_plugins_hookimpl_loads_no_engine() -> None:
    # A fresh interpreter: this one has imported everything already.
    code = ("import sys\nfrom vfiocompat import hookimpl\nimport vfiocompat\n"
            "print(sorted(m for m in sys.modules if m.startswith('vfiocompat.')))\n"
            "print(vfiocompat.Registry.__module__, vfiocompat.Verdict.__module__, sorted(dir(vfiocompat)) == "
            "sorted(set(dir(vfiocompat))))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded, names = done.stdout.splitlines()
    assert loaded == "['vfiocompat.hookspecs']"
    assert names == "vfiocompat._registry vfiocompat._verdict True"


def test_an_unknown_name_is_an_attribute_error() -> None:
    import vfiocompat

    with pytest.raises(AttributeError, match="no attribute 'Regsitry'"):
        vfiocompat.Regsitry  # noqa: B018 - the look-up is the test
    assert set(vfiocompat.__all__) <= set(dir(vfiocompat))
