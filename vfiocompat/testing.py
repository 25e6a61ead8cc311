"""Testing a vendor plugin: load it alone and assert its verdicts (a pytest plugin, and plain helpers).

vfiocompat registers this module under the ``pytest11`` entry point, so the tests of any
project with vfiocompat installed can ask for the ``vfiocompat_registry`` fixture::

    from vfiocompat.testing import assert_compatible, assert_examples_pass, assert_refused

    def test_firmware_update(vfiocompat_registry):
        registry = vfiocompat_registry("acme-gpu")      # the installed entry point, and nothing else
        assert_examples_pass(registry)
        assert_compatible(registry, OLD, NEW)
        assert_refused(registry, NEW, OLD, code="VC411")

Importing this module loads no plugin and reads no distribution metadata: the fixture and the
helpers do their work when called, so having vfiocompat installed costs other test runs nothing.
The helpers raise :class:`AssertionError` whose message shows every reason of the verdict; they
work under any test runner, pytest only adds the fixture.
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Protocol, Sequence, Tuple, Union

import pytest

if TYPE_CHECKING:
    from .registry import Registry
    from .table_files import TableSource
    from .validation import ExampleOutcome
    from .verdict import Reason, Verdict

__all__ = [
    "PluginSpec",
    "PluginLoadError",
    "RegistryFactory",
    "load_registry",
    "assert_plugins_ok",
    "assert_compatible",
    "assert_refused",
    "assert_examples_pass",
    "assert_examples_decide_every_rule",
    "describe_verdict",
    "requires_plugin",
    "run_cli",
    "vfiocompat_registry",
]

#: What :func:`load_registry` accepts for a plugin: an installed entry point's name (``str``),
#: a ``(name, object)`` pair, or a module or object with hook implementations (named after
#: its ``__name__``).
PluginSpec = Any

# Refusals that say "nobody could judge this pair" rather than "the rules refuse it": a test
# that expects a refusal without naming a code must not pass on a typo in its device_version.
_UNJUDGED = frozenset({"VC111", "VC203", "VC204", "VC206"})


class PluginLoadError(AssertionError):
    """A plugin asked for is not installed, does not load, or loads with failures (``failures``)."""

    def __init__(self, message: str, failures: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.failures: Tuple[str, ...] = tuple(failures)


class RegistryFactory(Protocol):
    """The ``vfiocompat_registry`` fixture: :func:`load_registry`."""

    def __call__(self, *plugins: PluginSpec, tables: Sequence[TableSource] = (), strict: bool = True) -> Registry:
        """A registry of exactly ``plugins`` and ``tables``."""
        ...


def load_registry(*plugins: PluginSpec, tables: Sequence[TableSource] = (), strict: bool = True) -> Registry:
    """A registry of exactly these plugins and table files: no other installed plugin takes part.

    :param plugins: installed entry-point names (loaded through the ``vfiocompat`` group, as
        users get them), ``(name, object)`` pairs, or modules/objects with hook implementations.
    :param tables: table files loaded directly, as ``vfiocompat --table FILE`` does.
    :param strict: raise :class:`PluginLoadError` when a plugin or table failed (an invalid
        table, a raising hook, overlapping claims) instead of testing a registry that refuses
        every device of that plugin.
    ``VFIOCOMPAT_DISABLE_PLUGINS`` is ignored here: a test names what it loads.
    """
    from .registry import Registry

    named = _load_entry_points([spec for spec in plugins if isinstance(spec, str)])
    chosen: List[Tuple[str, Any]] = []
    for spec in plugins:
        if isinstance(spec, str):
            chosen.append((spec, named[spec]))
        elif isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
            chosen.append((spec[0], spec[1]))
        else:
            chosen.append((str(getattr(spec, "__name__", None) or type(spec).__name__), spec))
    registry = Registry(chosen, tables=tables)
    if strict:
        assert_plugins_ok(registry)
    return registry


def _load_entry_points(names: Sequence[str]) -> Dict[str, Any]:
    """Import the named ``vfiocompat`` entry points; only these, so a broken neighbour cannot interfere."""
    if not names:
        return {}
    from .plugins import ENTRY_POINT_GROUP, find_plugins

    installed = {found.name: found for found in find_plugins()}
    missing = [name for name in names if name not in installed]
    if missing:
        known = ", ".join(repr(name) for name in sorted(installed)) or "none"
        raise PluginLoadError(
            f"no installed vfiocompat plugin named {', '.join(map(repr, missing))} (entry-point group"
            f" {ENTRY_POINT_GROUP!r}; installed: {known}); install it first, e.g. `pip install -e .`"
            " in the plugin's folder"
        )
    loaded: Dict[str, Any] = {}
    for name in names:
        found = installed[name]
        try:
            loaded[name] = found.load()
        except Exception as error:
            origin = f"{found.distribution} {found.version}" if found.distribution else "its entry point"
            message = f"plugin {name!r} ({origin}) failed to import: {type(error).__name__}: {error}"
            raise PluginLoadError(message, [message]) from error
    return loaded


def assert_plugins_ok(registry: Registry) -> None:
    """Fail when any plugin of ``registry`` recorded a failure (each is listed with its code)."""
    __tracebackhide__ = True
    failures = [
        f"plugin {record.name!r}: error[{failure.code}]: {failure.message}"
        for record in registry.plugins
        for failure in record.failures
    ]
    if failures:
        raise PluginLoadError("vfiocompat plugins loaded with failures:\n  " + "\n  ".join(failures), failures)


def assert_compatible(registry: Registry, source: str, target: str, *, rule: Optional[str] = None) -> Verdict:
    """Fail unless ``source -> target`` is compatible (and, with ``rule``, allowed by that rule id)."""
    __tracebackhide__ = True
    verdict = registry.check(source, target)
    if not verdict.compatible:
        raise AssertionError("expected compatible, got " + describe_verdict(verdict))
    decided = verdict.decided_by.rule if verdict.decided_by is not None else None
    if rule is not None and decided != rule:
        raise AssertionError(f"expected rule {rule!r} to allow the pair, but rule {decided!r} did: "
                             + describe_verdict(verdict))
    return verdict


def assert_refused(
    registry: Registry,
    source: str,
    target: str,
    code: Union[str, Sequence[str], None] = None,
    *,
    rule: Optional[str] = None,
) -> Verdict:
    """Fail unless ``source -> target`` is refused with every reason ``code`` given.

    Without ``code``, a refusal only because the pair could not be judged (a string no table
    claims or that does not fit its format) fails: name that code if it is what you test.
    :param rule: a rule the refusal names: the deny rule that decided, or the allow rule whose
        failed conditions are reported.
    """
    __tracebackhide__ = True
    verdict = registry.check(source, target)
    expected = (code,) if isinstance(code, str) else tuple(code or ())
    wanted = f" with reason {', '.join(expected)}" if expected else ""
    if verdict.compatible:
        raise AssertionError(f"expected not compatible{wanted}, got " + describe_verdict(verdict))
    missing = [c for c in expected if c not in verdict.codes]
    if missing:
        raise AssertionError(f"expected not compatible{wanted}, but {', '.join(missing)} is not among the"
                             f" reasons ({', '.join(verdict.codes) or 'none'}): " + describe_verdict(verdict))
    if not expected and not any(_judged(reason) for reason in verdict.reasons):
        raise AssertionError(
            f"refused only because the pair could not be judged ({', '.join(verdict.codes)}); pass"
            " code=... if that is what this test means: " + describe_verdict(verdict))
    if rule is not None:
        named = {r.rule.rule for r in verdict.reasons if r.rule is not None}
        if verdict.decided_by is not None:
            named.add(verdict.decided_by.rule)
        if rule not in named:
            shown = ", ".join(repr(n) for n in sorted(named)) or "no rule"
            raise AssertionError(f"expected the refusal to name rule {rule!r}, it names {shown}: "
                                 + describe_verdict(verdict))
    return verdict


def _judged(reason: Reason) -> bool:
    return reason.code not in _UNJUDGED and reason.layer != "plugin" and not reason.code.startswith("VC1")


def assert_examples_pass(
    registry: Registry, *, table: Optional[str] = None, require_examples: bool = True
) -> Tuple[ExampleOutcome, ...]:
    """Run every ``[[examples]]`` entry of the registry's tables (or of table id ``table``); fail on any miss.

    :param require_examples: also fail when there is no example at all (a table without examples
        tests nothing).
    """
    __tracebackhide__ = True
    from .validation import run_examples

    tables = [t for t in registry.tables if table is None or t.id == table]
    if not tables:
        known = ", ".join(repr(t.id) for t in registry.tables) or "none"
        raise AssertionError(f"no table {table!r} in the registry (tables: {known})" if table is not None
                             else "the registry has no table: is the plugin's vfiocompat_tables hook wired?")
    outcomes: List[ExampleOutcome] = []
    lines: List[str] = []
    for each in tables:
        for outcome in run_examples(each, registry):
            outcomes.append(outcome)
            if not outcome.passed:
                example = outcome.example
                note = f" ({example.note})" if example.note else ""
                lines.append(f"table {each.id!r} example {example.source} -> {example.target}{note}:"
                             f" {outcome.problem}\n    " + describe_verdict(outcome.verdict).replace("\n", "\n    "))
    if lines:
        raise AssertionError(f"{len(lines)} of {len(outcomes)} table examples failed:\n  " + "\n  ".join(lines))
    if require_examples and not outcomes:
        ids = ", ".join(repr(t.id) for t in tables)
        raise AssertionError(f"table {ids} has no [[examples]]: add allowed and refused pairs")
    return tuple(outcomes)


def assert_examples_decide_every_rule(registry: Registry, *, table: str) -> None:
    """Fail unless each rule of table ``table`` decides at least one of the table's own examples.

    A rule no example exercises is a rule nobody has seen work (or refuse).
    """
    __tracebackhide__ = True
    found = next((t for t in registry.tables if t.id == table), None)
    if found is None:
        raise AssertionError(f"no table {table!r} in the registry")
    decided = {registry.check(e.source, e.target).decided_by for e in found.examples}
    untested = sorted({r.id for r in found.rules} - {ref.rule for ref in decided if ref is not None})
    if untested:
        raise AssertionError(f"table {table!r}: no example is decided by rule(s) {', '.join(untested)}")


def describe_verdict(verdict: Verdict) -> str:
    """A verdict as the CLI prints it: the decision, the deciding rule, each reason with values and hint."""
    from .text import verdict_lines

    return "\n".join(verdict_lines(verdict))


def requires_plugin(name: str) -> pytest.MarkDecorator:
    """Skip the marked tests unless plugin ``name`` is installed: a plugin's tests judge the installed copy.

    Use as ``pytestmark = requires_plugin("acme-gpu")``.
    """
    from .plugins import find_plugins

    installed = any(plugin.name == name for plugin in find_plugins())
    return pytest.mark.skipif(not installed, reason=f"plugin {name!r} is not installed: pip install it first")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m vfiocompat ARGS`` in a subprocess, as management tools run it (output as text)."""
    return subprocess.run([sys.executable, "-m", "vfiocompat", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def vfiocompat_registry() -> RegistryFactory:
    """A factory of isolated registries: ``vfiocompat_registry("my-plugin")`` loads that entry point alone.

    Also ``vfiocompat_registry(module)``, ``vfiocompat_registry(("name", module))`` and
    ``vfiocompat_registry(tables=[path])``; see :func:`vfiocompat.testing.load_registry`.
    """
    return load_registry
