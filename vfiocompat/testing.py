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

A plugin that reads a host also probes its sysfs fixtures (``examples/sysfs/NAME/``: ``sys/``,
``expected.json``, optionally ``config.toml`` and ``expected-config.json``)::

    def test_fixture(vfiocompat_registry):
        registry = vfiocompat_registry("acme-gpu")
        inventory = assert_fixture_probes_as_expected(registry, FIXTURE)
        vf = inventory_entry(inventory, "pci:0000:3b:00.1").device
        assert acme.vfiocompat_device_version(with_facts(vf, fw_version="22.39")) == ...
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Protocol, Sequence, Tuple, Union

import pytest

if TYPE_CHECKING:
    from ._registry import Registry
    from ._table_files import TableSource
    from ._validation import ExampleOutcome
    from ._verdict import Reason, Verdict
    from .host.inventory import HostDevice, Inventory, InventoryDevice

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
    "assert_installed_from_tree",
    "run_cli",
    "vfiocompat_registry",
    "ExpectedPair",
    "FixtureExpectation",
    "fixture_expectation",
    "fixture_facts",
    "copy_fixture",
    "probe_fixture",
    "device_versions",
    "inventory_entry",
    "with_facts",
    "assert_fixture_probes_as_expected",
]

#: What :func:`load_registry` accepts for a plugin: an installed entry point's name (``str``),
#: a ``(name, object)`` pair, or a module or object with hook implementations (named after
#: its ``__name__``).
PluginSpec = Any

#: A fixture folder (or a folder to copy it into).
_Where = Union[str, "os.PathLike[str]"]

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
    from ._registry import Registry

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
    from ._plugins import ENTRY_POINT_GROUP, find_plugins

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
    from ._validation import run_examples

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

    A rule no example exercises is a rule nobody has seen work (or refuse). A rule decides an example
    when it is the deciding rule at either level (a cold-only allow rule decides the cold verdict), or,
    for a warn rule, when its warning is on the verdict.
    """
    __tracebackhide__ = True
    found = next((t for t in registry.tables if t.id == table), None)
    if found is None:
        raise AssertionError(f"no table {table!r} in the registry")
    exercised = set()
    for example in found.examples:
        for mode in ("live", "cold"):
            verdict = registry.check(example.source, example.target, mode=mode)
            if verdict.decided_by is not None:
                exercised.add(verdict.decided_by.rule)
            exercised.update(w.rule.rule for w in verdict.warnings)
    untested = sorted({r.id for r in found.rules} - exercised)
    if untested:
        raise AssertionError(f"table {table!r}: no example is decided by rule(s) {', '.join(untested)}")


def describe_verdict(verdict: Verdict) -> str:
    """A verdict as the CLI prints it: the decision, the deciding rule, each reason with values and hint."""
    from ._text import verdict_lines

    return "\n".join(verdict_lines(verdict))


# -- sysfs fixtures ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ExpectedPair:
    """One ``pairs`` entry of a fixture's expectation: how ``source -> target`` must be decided."""

    source: str
    target: str
    compatible: bool
    #: A code the refusal must carry; None: any refusal by a rule (not "could not be judged").
    code: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class FixtureExpectation:
    """A fixture's ``expected.json`` or ``expected-config.json``: each device's device_version, and pairs.

    ``devices`` holds only the devices probe gives a device_version; ``path`` is the file read.
    """

    devices: Mapping[str, str]
    pairs: Tuple[ExpectedPair, ...] = ()
    path: Optional[str] = None


def fixture_expectation(fixture: _Where, *, config: bool = False) -> FixtureExpectation:
    """The fixture folder's ``expected.json`` (with ``config``: ``expected-config.json``), checked for shape.

    A file that is not ``{"devices": {id: device_version}, "pairs": [{"source", "target",
    "compatible", "code"?}]}`` fails with the file and the entry that is wrong.
    """
    __tracebackhide__ = True
    path = Path(fixture) / ("expected-config.json" if config else "expected.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise AssertionError(f"{path}: cannot read the fixture's expectation: {error}") from None
    devices = data.get("devices") if isinstance(data, dict) else None
    if not isinstance(devices, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in devices.items()):
        raise AssertionError(f'{path}: "devices" must be an object of probe device id -> device_version')
    pairs = data.get("pairs", [])
    if not isinstance(pairs, list):
        raise AssertionError(f'{path}: "pairs" must be a list')
    return FixtureExpectation(devices, tuple(_expected_pair(path, i, p) for i, p in enumerate(pairs)), str(path))


def _expected_pair(path: Path, index: int, pair: Any) -> ExpectedPair:
    keys = {"source": str, "target": str, "compatible": bool, "code": str}
    if (not isinstance(pair, dict) or not {"source", "target", "compatible"} <= pair.keys() <= keys.keys()
            or not all(isinstance(value, keys[key]) for key, value in pair.items())):
        raise AssertionError(f'{path}: pairs[{index}] must be {{"source": str, "target": str, "compatible": bool,'
                             f' "code": str (optional)}}, not {pair!r}')
    return ExpectedPair(pair["source"], pair["target"], pair["compatible"], pair.get("code"))


def fixture_facts(fixture: _Where) -> Mapping[str, Mapping[str, str]]:
    """The ``[facts]`` of the fixture's ``config.toml``, read as the host reads its config (environment ignored)."""
    from .host.config import load_host_config

    return load_host_config(str(Path(fixture) / "config.toml"), environ={}).facts


def copy_fixture(fixture: _Where, destination: _Where) -> Path:
    """A copy of the fixture folder inside ``destination`` (e.g. ``tmp_path``), to damage; its path.

    Symlinks are copied as links: sysfs links loop (``driver/0000:3b:00.1 -> ..``), so a copy that
    followed them would never end.
    """
    source = Path(fixture)
    copy = Path(destination) / source.name
    shutil.copytree(source, copy, symlinks=True)
    return copy


def probe_fixture(registry: Registry, fixture: _Where, *, config: bool = False) -> Inventory:
    """:func:`vfiocompat.host.probe.probe` of the fixture's ``sys/`` (with ``config``: and its config.toml's facts)."""
    from .host.probe import probe

    return probe(str(Path(fixture) / "sys"), registry, facts=fixture_facts(fixture) if config else None)


def device_versions(inventory: Inventory) -> Dict[str, str]:
    """``{probe device id: device_version}`` of the inventory's devices that got one (an expectation's form)."""
    return {e.device.id: e.device_version for e in inventory.devices if e.device_version is not None}


def inventory_entry(inventory: Inventory, device_id: str) -> InventoryDevice:
    """The inventory's device ``device_id`` (``pci:0000:3b:00.1``); fails listing the ids probe found."""
    __tracebackhide__ = True
    for entry in inventory.devices:
        if entry.device.id == device_id:
            return entry
    found = ", ".join(e.device.id for e in inventory.devices) or "none"
    raise AssertionError(f"probe found no device {device_id!r} (found: {found})")


def with_facts(device: HostDevice, facts: Optional[Mapping[str, str]] = None, /, **named: str) -> HostDevice:
    """``device`` as a host config with exactly these ``[facts."<id>"]`` gives it to plugins.

    ``with_facts(vf, fw_version="22.39")``, or a mapping for names that are not identifiers.
    """
    return dataclasses.replace(device, facts={**(facts or {}), **named})


def assert_fixture_probes_as_expected(
    registry: Registry, fixture: _Where, *, config: bool = False
) -> Inventory:
    """Probe the fixture (``config``: with its config.toml's facts) and fail unless it meets its expectation.

    Checked: probe gives exactly the expected device_versions and reports no issue, each of them
    is compatible with itself, and every pair is decided as stated. Returns the inventory, for
    the test's own further checks; the failure lists every problem at once.
    """
    __tracebackhide__ = True
    expected = fixture_expectation(fixture, config=config)
    inventory = probe_fixture(registry, fixture, config=config)
    got = device_versions(inventory)
    problems: List[str] = []
    for device_id in sorted(set(got) | set(expected.devices)):
        if got.get(device_id) != expected.devices.get(device_id):
            entry = next((e for e in inventory.devices if e.device.id == device_id), None)
            why = "" if entry is None or entry.device_version else "".join(
                f"\n    {r.code}: {r.message}" for r in entry.reasons)
            problems.append(f"{device_id}: probe gave {got.get(device_id)!r}, expected"
                            f" {expected.devices.get(device_id)!r}{why}")
    problems += [f"probe issue {issue.code}: {issue.message}" for issue in inventory.issues]
    for version in sorted(set(expected.devices.values())):
        verdict = registry.check(version, version)
        if not verdict.compatible:
            problems.append(f"{version} is not compatible with itself ({', '.join(verdict.codes)})")
    for index, pair in enumerate(expected.pairs):
        verdict = registry.check(pair.source, pair.target)
        shown = f"pairs[{index}] {pair.source} -> {pair.target}"
        if verdict.compatible is not pair.compatible:
            problems.append(f"{shown}: compatible is {verdict.compatible}, expected {pair.compatible}"
                            f" ({', '.join(verdict.codes) or 'no reason'})")
        elif pair.code is not None and pair.code not in verdict.codes:
            problems.append(f"{shown}: {pair.code} is not among the reasons ({', '.join(verdict.codes)})")
        elif pair.code is None and not verdict.compatible and not any(_judged(r) for r in verdict.reasons):
            problems.append(f"{shown}: refused only because it could not be judged ({', '.join(verdict.codes)})")
    if problems:
        raise AssertionError(f"fixture {Path(fixture).name} ({expected.path}): {len(problems)} problem(s):\n  "
                             + "\n  ".join(problems))
    return inventory


def requires_plugin(name: str) -> pytest.MarkDecorator:
    """Skip the marked tests unless plugin ``name`` is installed: a plugin's tests judge the installed copy.

    Use as ``pytestmark = requires_plugin("acme-gpu")``.
    """
    from ._plugins import find_plugins

    installed = any(plugin.name == name for plugin in find_plugins())
    return pytest.mark.skipif(not installed, reason=f"plugin {name!r} is not installed: pip install it first")


def assert_installed_from_tree(plugin: str, package: _Where, *, distribution: Optional[str] = None) -> None:
    """Fail unless entry point ``plugin`` names the package folder ``package`` and each of its files is installed as is.

    A plugin installed as a regular (non-editable) distribution keeps the copy made when it was
    installed: tests of the tree against a stale copy pass or fail for the wrong reason.
    :param distribution: the distribution that must provide the entry point.
    """
    __tracebackhide__ = True
    from importlib import metadata, util

    from ._plugins import ENTRY_POINT_GROUP, find_plugins

    tree = Path(package)
    found = next((p for p in find_plugins() if p.name == plugin), None)
    if found is None or found.distribution is None:
        raise PluginLoadError(f"no installed vfiocompat plugin named {plugin!r}: install it first")
    if distribution is not None and _normalized(distribution) != _normalized(found.distribution):
        raise AssertionError(f"entry point {plugin!r} comes from {found.distribution}, not {distribution}")
    values = [ep.value for ep in metadata.distribution(found.distribution).entry_points
              if ep.group == ENTRY_POINT_GROUP and ep.name == plugin]
    if values != [tree.name]:
        raise AssertionError(f"{found.distribution}'s entry point {plugin!r} names {values}, not the package"
                             f" {tree.name!r}")
    spec = util.find_spec(tree.name)
    where = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not where:
        raise AssertionError(f"{tree.name!r} is not an importable package")
    installed = Path(where[0])
    stale: List[str] = []
    for file in sorted(tree.rglob("*")):
        relative = file.relative_to(tree)
        if not file.is_file() or "__pycache__" in relative.parts:
            continue
        copy = installed / relative
        if not copy.is_file() or copy.read_bytes() != file.read_bytes():
            stale.append(str(relative))
    if stale:
        raise AssertionError(f"the installed copy of {tree.name} ({installed}) differs from the tree in"
                             f" {', '.join(stale)}: reinstall {found.distribution}")


def _normalized(name: str) -> str:
    # PEP 503: distribution names compare case-insensitively, runs of -_. alike.
    return re.sub(r"[-_.]+", "-", name).lower()


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
