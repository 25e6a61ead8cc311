"""vfiocompat.testing: isolated registries for a vendor's tests, and assertions that show the reasons."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List

import pytest

from vfiocompat import Registry, hookimpl
from vfiocompat.errors import HostConfigError
from vfiocompat.testing import (
    ExpectedPair,
    FixtureExpectation,
    PluginLoadError,
    assert_compatible,
    assert_examples_pass,
    assert_fixture_probes_as_expected,
    assert_installed_from_tree,
    assert_plugins_ok,
    assert_refused,
    copy_fixture,
    describe_verdict,
    device_versions,
    fixture_expectation,
    fixture_facts,
    inventory_entry,
    load_registry,
    probe_fixture,
    with_facts,
)

from .conftest import ACME_TABLE, BASE_TABLE, dv
from .host import sysfs_fixtures as fx

pytest_plugins = ["pytester"]

Write = Callable[..., Path]


def with_examples(*examples: Dict[str, Any], **table: Any) -> Dict[str, Any]:
    data = copy.deepcopy(BASE_TABLE)
    data["table"].update(table)
    data["examples"] = list(examples)
    return data


GOOD_EXAMPLES = (
    {"source": dv(v="1.0"), "target": dv(v="1.1"), "compatible": True},
    {"source": dv(v="1.1"), "target": dv(v="1.0"), "compatible": False, "code": "VC411"},
)


class TablePlugin:
    """A plugin object shipping the given table files."""

    def __init__(self, *paths: Path) -> None:
        self.paths = list(paths)

    @hookimpl
    def vfiocompat_tables(self) -> List[Path]:
        return self.paths


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Install a fake distribution (dist-info + module) on sys.path, found as entry points are."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: List[str] = []

    def install(entry: str, module: str, source: str) -> None:
        info = site / f"{module}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n", "utf-8")
        (info / "entry_points.txt").write_text(f"[vfiocompat]\n{entry} = {module}\n", "utf-8")
        (site / f"{module}.py").write_text(textwrap.dedent(source), "utf-8")
        modules.append(module)

    yield install
    for module in modules:
        sys.modules.pop(module, None)


def table_module_source(path: Path) -> str:
    return f"""
        from vfiocompat import hookimpl

        @hookimpl
        def vfiocompat_tables():
            return [{str(path)!r}]
    """


# -- loading ---------------------------------------------------------------------------------


def test_entry_point_by_name_is_loaded_alone(installed: Callable[..., None], write_table: Write) -> None:
    mine = write_table(with_examples(*GOOD_EXAMPLES))
    # A neighbour that claims the same strings and another that cannot even be imported.
    installed("mine", "vc_test_mine", table_module_source(mine))
    installed("rival", "vc_test_rival", table_module_source(write_table(with_examples(id="rival"))))
    installed("broken", "vc_test_broken", "raise ImportError('no such driver')\n")

    everything = Registry.from_environment()
    assert {"mine", "rival", "broken"} <= {record.name for record in everything.plugins}
    assert not everything.check(dv(v="1.0"), dv(v="1.1")).compatible  # the overlap refuses it there

    registry = load_registry("mine")
    assert [record.name for record in registry.plugins] == ["mine"]
    assert [table.id for table in registry.tables] == ["t"]
    assert_compatible(registry, dv(v="1.0"), dv(v="1.1"))


def test_disabled_environment_does_not_hide_the_plugin_under_test(
    installed: Callable[..., None], write_table: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    installed("mine", "vc_test_mine2", table_module_source(write_table(with_examples(*GOOD_EXAMPLES))))
    monkeypatch.setenv("VFIOCOMPAT_DISABLE_PLUGINS", "mine")
    assert load_registry("mine").is_compatible(dv(v="1.0"), dv(v="1.1"))


def test_unknown_entry_point_names_what_is_installed(installed: Callable[..., None], write_table: Write) -> None:
    installed("mine", "vc_test_mine3", table_module_source(write_table(with_examples())))
    with pytest.raises(PluginLoadError) as caught:
        load_registry("mien")
    message = str(caught.value)
    assert "no installed vfiocompat plugin named 'mien'" in message
    assert "'mine'" in message and "pip install" in message


def test_entry_point_that_fails_to_import_is_reported(installed: Callable[..., None]) -> None:
    installed("broken", "vc_test_broken2", "raise ImportError('no such driver')\n")
    with pytest.raises(PluginLoadError, match=r"plugin 'broken' \(vc_test_broken2 1.0\) failed to import:"
                                               r" ImportError: no such driver"):
        load_registry("broken")


def test_objects_modules_and_named_pairs(write_table: Write) -> None:
    path = write_table(with_examples())
    module = ModuleType("my_vendor_plugin")

    @hookimpl
    def vfiocompat_tables() -> List[Path]:
        return [path]

    module.vfiocompat_tables = vfiocompat_tables  # type: ignore[attr-defined]
    assert [r.name for r in load_registry(module).plugins] == ["my_vendor_plugin"]
    assert [r.name for r in load_registry(("acme-gpu", TablePlugin(path))).plugins] == ["acme-gpu"]
    assert [r.name for r in load_registry(TablePlugin(path)).plugins] == ["TablePlugin"]
    tables_only = load_registry(tables=[path])
    assert [(r.name, [t.id for t in r.tables]) for r in tables_only.plugins] == [("table-file", ["t"])]


def test_strict_loading_fails_on_an_invalid_table(write_table: Write) -> None:
    broken = with_examples()
    broken["rules"][0]["conditions"][1]["test"] = "equal_or_newer"
    plugin = ("acme-gpu", TablePlugin(write_table(broken)))
    with pytest.raises(PluginLoadError) as caught:
        load_registry(plugin)
    assert len(caught.value.failures) == 1
    assert caught.value.failures[0].startswith("plugin 'acme-gpu': error[VC304]: table invalid:")
    lenient = load_registry(plugin, strict=False)
    assert lenient.check(dv(), dv()).codes == ("VC304", "VC304")  # source and target both unserved


def test_overlapping_claims_fail_strict_loading(write_table: Write) -> None:
    first, second = write_table(with_examples()), write_table(with_examples(id="t2", prefixes=["k=a"]))
    with pytest.raises(PluginLoadError, match="VC305"):
        load_registry(("one", TablePlugin(first)), ("two", TablePlugin(second)))
    with pytest.raises(PluginLoadError, match="VC305"):
        assert_plugins_ok(load_registry(("one", TablePlugin(first)), ("two", TablePlugin(second)), strict=False))


# -- assertions ------------------------------------------------------------------------------


@pytest.fixture
def registry(write_table: Write) -> Registry:
    return load_registry(tables=[write_table(with_examples(*GOOD_EXAMPLES))])


def test_assert_compatible_returns_the_verdict_or_shows_every_reason(registry: Registry) -> None:
    verdict = assert_compatible(registry, dv(v="1.0"), dv(v="1.2"), rule="same-k-newer-v")
    assert verdict.compatible and verdict.decided_by is not None
    with pytest.raises(AssertionError) as caught:
        assert_compatible(registry, dv(k="a", v="1.1"), dv(k="b", v="1.0"))
    message = str(caught.value)
    assert message.startswith("expected compatible, got not compatible: ")
    assert "table error[VC410]: k differs" in message
    assert "table error[VC411]: target v is older than the source's" in message
    assert "= values: field v, source 1.1, target 1.0" in message
    assert "= hint: use a target with v >= 1.1" in message


def test_assert_compatible_checks_the_deciding_rule(registry: Registry) -> None:
    with pytest.raises(AssertionError, match="expected rule 'other' to allow the pair, but rule 'same-k-newer-v'"):
        assert_compatible(registry, dv(v="1.0"), dv(v="1.1"), rule="other")


def test_assert_refused_with_codes(registry: Registry) -> None:
    verdict = assert_refused(registry, dv(k="a", v="1.1"), dv(k="b", v="1.0"), code="VC411")
    assert verdict.codes == ("VC410", "VC411")
    assert_refused(registry, dv(k="a", v="1.1"), dv(k="b", v="1.0"), code=["VC410", "VC411"], rule="same-k-newer-v")
    with pytest.raises(AssertionError) as caught:
        assert_refused(registry, dv(v="1.1"), dv(v="1.0"), code="VC415")
    assert "VC415 is not among the reasons (VC411)" in str(caught.value)
    with pytest.raises(AssertionError, match="expected not compatible with reason VC411, got compatible"):
        assert_refused(registry, dv(v="1.0"), dv(v="1.1"), code="VC411")
    with pytest.raises(AssertionError, match="expected the refusal to name rule 'nope'"):
        assert_refused(registry, dv(v="1.1"), dv(v="1.0"), rule="nope")


def test_assert_refused_without_code_will_not_pass_on_an_unjudged_pair(registry: Registry) -> None:
    typo = dv(v="1.0").replace("k=", "kk=")
    with pytest.raises(AssertionError, match=r"refused only because the pair could not be judged \(VC204\)"):
        assert_refused(registry, dv(v="1.0"), typo)
    assert_refused(registry, dv(v="1.0"), typo, code="VC204")
    with pytest.raises(AssertionError, match=r"could not be judged \(VC111\)"):
        assert_refused(registry, dv(v="1.0"), dv(v="one"))
    assert_refused(registry, dv(v="1.1"), dv(v="1.0"))  # a real rule refusal needs no code


def test_assert_examples_pass(write_table: Write) -> None:
    good = load_registry(tables=[write_table(with_examples(*GOOD_EXAMPLES))])
    assert [o.passed for o in assert_examples_pass(good)] == [True, True]
    assert len(assert_examples_pass(good, table="t")) == 2
    with pytest.raises(AssertionError, match=r"no table 'x' in the registry \(tables: 't'\)"):
        assert_examples_pass(good, table="x")

    wrong = {"source": dv(v="2.0"), "target": dv(v="1.0"), "compatible": True, "note": "downgrade"}
    bad = load_registry(tables=[write_table(with_examples(GOOD_EXAMPLES[0], wrong))])
    with pytest.raises(AssertionError) as caught:
        assert_examples_pass(bad)
    message = str(caught.value)
    assert message.startswith("1 of 2 table examples failed:")
    assert f"example {dv(v='2.0')} -> {dv(v='1.0')} (downgrade): expected compatible, got not compatible (VC411)"\
        in message
    assert "table error[VC411]" in message

    empty = load_registry(tables=[write_table(with_examples())])
    with pytest.raises(AssertionError, match=r"table 't' has no \[\[examples\]\]"):
        assert_examples_pass(empty)
    assert assert_examples_pass(empty, require_examples=False) == ()
    with pytest.raises(AssertionError, match="the registry has no table"):
        assert_examples_pass(load_registry())


def test_describe_verdict_names_rule_and_reasons(registry: Registry) -> None:
    allowed = describe_verdict(registry.check(dv(v="1.0"), dv(v="1.1")))
    assert allowed.splitlines() == [
        f"compatible: {dv(v='1.0')} -> {dv(v='1.1')}",
        "  allowed by rule 'same-k-newer-v' of table 't' (plugin 'table-file')",
    ]
    refused = describe_verdict(registry.check(dv(v="1.1"), dv(v="1.0"))).splitlines()
    assert refused[1:] == [
        "  table error[VC411]: target v is older than the source's",
        "    = values: field v, source 1.1, target 1.0",
        "    = note: rule 'same-k-newer-v' of table 't' (plugin 'table-file')",
        "    = hint: use a target with v >= 1.1",
    ]


# -- as a pytest plugin ----------------------------------------------------------------------


def test_fixture_is_available_and_failures_show_reasons(pytester: pytest.Pytester, write_table: Write) -> None:
    path = write_table(with_examples(*GOOD_EXAMPLES))
    pytester.makepyfile(test_vendor=f"""
        from vfiocompat.testing import assert_compatible, assert_examples_pass

        def test_examples(vfiocompat_registry):
            assert_examples_pass(vfiocompat_registry(tables=[{str(path)!r}]))

        def test_downgrade(vfiocompat_registry):
            registry = vfiocompat_registry(tables=[{str(path)!r}])
            assert_compatible(registry, {dv(v="1.1")!r}, {dv(v="1.0")!r})
    """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: expected compatible, got not compatible: *",
        "*table error?VC411?: target v is older than the source's",
        "*= hint: use a target with v >= 1.1",
    ])


def test_plugin_does_not_disturb_an_unrelated_test_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_other="def test_nothing_to_do_with_vfio():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--fixtures")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*vfiocompat_registry*"])
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_importing_the_plugin_loads_no_vendor_plugin() -> None:
    # pytest imports it in every run of every project that has vfiocompat installed.
    code = (
        "import sys, vfiocompat.testing\n"
        "from importlib.metadata import distributions\n"
        "modules = {e.value.split(':')[0].split('.')[0]\n"
        "           for d in distributions() for e in d.entry_points if e.group == 'vfiocompat'}\n"
        "print(sorted(m for m in sys.modules if m in modules or m == 'vfiocompat._validation'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


def test_requires_plugin_skips_only_when_the_plugin_is_missing() -> None:
    from vfiocompat.testing import requires_plugin

    present = requires_plugin("acme")
    missing = requires_plugin("no-such-plugin")
    assert present.args == (False,)
    assert missing.args == (True,) and "'no-such-plugin' is not installed" in missing.kwargs["reason"]


def test_run_cli_runs_the_installed_command() -> None:
    from vfiocompat.testing import run_cli

    done = run_cli("explain", "VC205")
    assert done.returncode == 0 and done.stdout.startswith("VC205 (different-families)")


def test_examples_must_decide_every_rule(tmp_path: Path) -> None:
    from vfiocompat.testing import assert_examples_decide_every_rule

    assert_examples_decide_every_rule(load_registry(tables=[ACME_TABLE]), table="acme-widgets")
    head, first, *_ = ACME_TABLE.read_text().split("[[examples]]")
    trimmed = tmp_path / "trimmed.toml"
    trimmed.write_text(f"{head}[[examples]]{first}")  # one example left: only one rule decides it
    with pytest.raises(AssertionError, match="no example is decided by rule"):
        assert_examples_decide_every_rule(load_registry(tables=[trimmed]), table="acme-widgets")


def test_cold_only_and_warn_rules_count_as_decided_by_their_examples(tmp_path: Path) -> None:
    from vfiocompat.testing import assert_examples_decide_every_rule

    data = copy.deepcopy(BASE_TABLE)
    data["schema_version"] = 2
    data["rules"] += [
        {"id": "same-k-any-n-cold", "effect": "allow", "level": "cold", "allow_downgrade": ["v"],
         "conditions": [{"field": "k", "test": "equal"}]},
        {"id": "warn-on-n-9", "effect": "warn", "code": "N_NINE", "message": "n is 9",
         "conditions": [{"field": "n", "test": "one_of", "side": "target", "values": ["9"]}]},
    ]
    data["examples"] = [
        {"source": dv(v="1.0"), "target": dv(v="2.0"), "compatible": True},
        {"source": dv(v="2.0"), "target": dv(v="1.0"), "compatible": False},  # live: no; cold: yes
    ]
    path = tmp_path / "levels.json"
    path.write_text(json.dumps(data))
    with pytest.raises(AssertionError, match="warn-on-n-9"):
        assert_examples_decide_every_rule(load_registry(tables=[path]), table="t")
    data["examples"].append({"source": dv(n=9), "target": dv(n=9), "compatible": True})
    path.write_text(json.dumps(data))
    assert_examples_decide_every_rule(load_registry(tables=[path]), table="t")


# -- sysfs fixtures ----------------------------------------------------------------------------------


class FactVendor(fx.TestVendorPlugin):
    """The host tests' vendor 0xfffd plugin, whose firmware an operator's ``fw`` fact can give."""

    @hookimpl
    def vfiocompat_device_version(self, device: Any) -> Any:
        found = super().vfiocompat_device_version(device)
        fw = device.fact("fw")
        return found if fw is None or found is None else found.rsplit("=", 1)[0] + "=" + fw


VF1, VF2 = "pci:0000:3b:00.1", "pci:0000:3b:00.2"


def _fixture(base: Path, expected: Dict[str, Any], config: Any = None) -> Path:
    """examples/sysfs/tiny: a PF and two VFs of vendor 0xfffd (fw 1.2 and, without tv_fw, none)."""
    fixture = base / "tiny"
    fs = fx.FakeSysfs(fixture / "sys")
    fs.add_pci("0000:3b:00.0", "0xfffd", "0x0000", driver="tv_pf")
    fs.add_pci("0000:3b:00.1", "0xfffd", "0x0001", physfn=("0000:3b:00.0", 0), attrs={"tv_model": "w1", "tv_fw": "1.2"})
    fs.add_pci("0000:3b:00.2", "0xfffd", "0x0001", physfn=("0000:3b:00.0", 1), attrs={"tv_model": "w1"})
    (fixture / "expected.json").write_text(json.dumps(expected), encoding="utf-8")
    if config is not None:
        facts, expected_config = config
        (fixture / "config.toml").write_text(facts, encoding="utf-8")
        (fixture / "expected-config.json").write_text(json.dumps(expected_config), encoding="utf-8")
    return fixture


GOOD_PAIRS = [
    {"source": fx.dv("w1", "1.2"), "target": fx.dv("w1", "1.3"), "compatible": True},
    {"source": fx.dv("w1", "1.2"), "target": fx.dv("w1", "2.5"), "compatible": False, "code": "TV_FW_ERRATA"},
    {"source": fx.dv("w1", "1.3"), "target": fx.dv("w1", "1.2"), "compatible": False},
]


@pytest.fixture
def vendor(tmp_path: Path) -> Registry:
    return load_registry(("testvendor", FactVendor(fx.write_table(tmp_path / "table"))))


def test_a_fixture_that_meets_its_expectation_passes_and_gives_its_inventory(tmp_path: Path, vendor: Registry) -> None:
    config = ('[facts."pci:0000:3b:00.1"]\nfw = "1.3"\n',
              {"devices": {VF1: fx.dv("w1", "1.3")}, "pairs": GOOD_PAIRS[:1]})
    fixture = _fixture(tmp_path, {"devices": {VF1: fx.dv("w1", "1.2")}, "pairs": GOOD_PAIRS}, config)
    inventory = assert_fixture_probes_as_expected(vendor, fixture)
    assert [e.device.id for e in inventory.devices] == [VF1, VF2] and device_versions(inventory) == {
        VF1: fx.dv("w1", "1.2")}
    assert inventory_entry(inventory, VF2).device_version is None
    configured = assert_fixture_probes_as_expected(vendor, fixture, config=True)
    assert device_versions(configured) == {VF1: fx.dv("w1", "1.3")}
    assert inventory_entry(configured, VF1).device.fact("fw") == "1.3"
    assert device_versions(probe_fixture(vendor, fixture)) == {VF1: fx.dv("w1", "1.2")}, "no facts unless asked"


def test_every_way_a_fixture_misses_its_expectation_is_listed_at_once(tmp_path: Path, vendor: Registry) -> None:
    wrong = {"devices": {VF1: fx.dv("w1", "1.1"), VF2: fx.dv("w1", "2.5")}, "pairs": [
        {"source": fx.dv("w1", "1.3"), "target": fx.dv("w1", "1.2"), "compatible": True},
        {"source": fx.dv("w1", "1.2"), "target": fx.dv("w1", "2.5"), "compatible": False, "code": "TV_OTHER"},
        {"source": fx.dv("w1", "1.2"), "target": fx.dv("w1", "1.2").replace("model=", "mod="), "compatible": False},
    ]}
    fixture = _fixture(tmp_path, wrong)
    vf = fixture / "sys" / "devices" / "pci0000:00" / "0000:00:01.0" / "0000:3b:00.1"
    (vf / "revision").write_text("0x1\n")
    with pytest.raises(AssertionError) as caught:
        assert_fixture_probes_as_expected(vendor, fixture)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"fixture tiny ({fixture / 'expected.json'}): 7 problem(s):"
    assert lines[1] == f"  {VF1}: probe gave {fx.dv('w1', '1.2')!r}, expected {fx.dv('w1', '1.1')!r}"
    assert lines[2] == f"  {VF2}: probe gave None, expected {fx.dv('w1', '2.5')!r}"
    assert [line[:10] for line in lines[3:5]] == ["    VC601:", "    VC602:"], "why it has no device_version"
    assert lines[5].startswith("  probe issue VC613: sysfs ") and "revision holds '0x1', not a 0x%02x" in lines[5]
    assert lines[6] == f"  {fx.dv('w1', '2.5')} is not compatible with itself (TV_FW_ERRATA)"
    assert lines[7].startswith("  pairs[0] ") and lines[7].endswith(": compatible is False, expected True (VC411)")
    assert lines[8].endswith(": TV_OTHER is not among the reasons (TV_FW_ERRATA)")
    assert lines[9].endswith(": refused only because it could not be judged (VC204)") and len(lines) == 10


@pytest.mark.parametrize(("document", "says"), [
    ("{not json", "cannot read the fixture's expectation"),
    (json.dumps({"pairs": []}), '"devices" must be an object'),
    (json.dumps({"devices": {VF1: 1}}), '"devices" must be an object'),
    (json.dumps({"devices": {}, "pairs": {}}), '"pairs" must be a list'),
    (json.dumps({"devices": {}, "pairs": [{"source": "a", "target": "b"}]}), "pairs[0] must be"),
    (json.dumps({"devices": {}, "pairs": [{"source": "a", "target": "b", "compatible": "yes"}]}), "pairs[0] must be"),
    (json.dumps({"devices": {}, "pairs": [{"source": "a", "target": "b", "compatible": True, "codes": []}]}),
     "pairs[0] must be"),
], ids=["not-json", "no-devices", "version-not-text", "pairs-not-list", "no-compatible", "compatible-text",
        "unknown-key"])
def test_an_expectation_of_the_wrong_shape_is_refused_naming_the_file(tmp_path: Path, document: str,
                                                                      says: str) -> None:
    (tmp_path / "expected.json").write_text(document)
    with pytest.raises(AssertionError) as caught:
        fixture_expectation(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'expected.json'}: ") and says in str(caught.value)


def test_fixture_expectation_reads_either_file(tmp_path: Path) -> None:
    fixture = _fixture(tmp_path, {"devices": {VF1: "x"}, "pairs": GOOD_PAIRS[1:2]},
                       ("", {"devices": {VF2: "y"}}))
    assert fixture_expectation(fixture) == FixtureExpectation(
        {VF1: "x"}, (ExpectedPair(fx.dv("w1", "1.2"), fx.dv("w1", "2.5"), False, "TV_FW_ERRATA"),),
        str(fixture / "expected.json"))
    assert fixture_expectation(fixture, config=True) == FixtureExpectation({VF2: "y"}, (),
                                                                           str(fixture / "expected-config.json"))


def test_fixture_facts_are_read_as_the_host_reads_its_config(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fixture = _fixture(tmp_path, {"devices": {}}, ('[facts."pci:0000:3b:00.1"]\nfw = "1.3"\n', {"devices": {}}))
    monkeypatch.setenv("VFIOCOMPAT_CONFIG", str(tmp_path / "elsewhere.toml"))
    assert {k: dict(v) for k, v in fixture_facts(fixture).items()} == {VF1: {"fw": "1.3"}}
    (fixture / "config.toml").write_text('[facts."pci:0000:3b:00.1"]\nfw = 1.3\n')
    with pytest.raises(HostConfigError, match=r'config.toml: facts."pci:0000:3b:00.1".fw: must be a string'):
        fixture_facts(fixture)


def test_copy_fixture_keeps_links_as_links(tmp_path: Path, vendor: Registry) -> None:
    fixture = _fixture(tmp_path / "examples", {"devices": {VF1: fx.dv("w1", "1.2")}})
    copy = copy_fixture(fixture, tmp_path / "scratch")
    assert copy == tmp_path / "scratch" / "tiny" and (copy / "expected.json").is_file()
    vf = Path("sys") / "devices" / "pci0000:00" / "0000:00:01.0" / "0000:3b:00.1"
    assert (copy / vf / "physfn").is_symlink()
    assert os.readlink(copy / vf / "physfn") == os.readlink(fixture / vf / "physfn")
    (copy / vf / "tv_fw").write_text("1.3\n")
    assert device_versions(probe_fixture(vendor, copy)) == {VF1: fx.dv("w1", "1.3")}
    assert device_versions(probe_fixture(vendor, fixture)) == {VF1: fx.dv("w1", "1.2")}, "the original is untouched"


def test_inventory_entry_names_what_probe_found(tmp_path: Path, vendor: Registry) -> None:
    inventory = probe_fixture(vendor, _fixture(tmp_path, {"devices": {}}))
    assert inventory_entry(inventory, VF2).device.address == "0000:3b:00.2"
    with pytest.raises(AssertionError, match=rf"probe found no device 'pci:0000:3b:00.0' \(found: {VF1}, {VF2}\)"):
        inventory_entry(inventory, "pci:0000:3b:00.0")


def test_with_facts_gives_the_device_exactly_these_facts(tmp_path: Path, vendor: Registry) -> None:
    device = inventory_entry(probe_fixture(vendor, _fixture(tmp_path, {"devices": {}})), VF1).device
    given = with_facts(device, {"fw.running": "1.4"}, fw="1.3")
    assert dict(given.facts) == {"fw.running": "1.4", "fw": "1.3"} and dict(device.facts) == {}
    assert dict(with_facts(given, fw="2").facts) == {"fw": "2"}, "facts are replaced, not merged"
    assert given.read_attribute("tv_fw") == "1.2", "still reads the probed tree"
    assert vendor.probe_hooks["testvendor"](given) == fx.dv("w1", "1.3")


def test_installed_from_tree_names_stale_and_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    package = site / "vc_test_pkg"
    package.mkdir(parents=True)
    info = site / "vc_test_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vc-test-pkg\nVersion: 1.0\n", "utf-8")
    (info / "entry_points.txt").write_text("[vfiocompat]\npkg = vc_test_pkg\n", "utf-8")
    (package / "__init__.py").write_text("X = 1\n")
    (package / "table.toml").write_text("a = 1\n")
    tree = tmp_path / "tree" / "vc_test_pkg"
    shutil.copytree(package, tree)
    (tree / "__pycache__").mkdir()
    (tree / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0")
    monkeypatch.syspath_prepend(str(site))
    assert_installed_from_tree("pkg", tree, distribution="VC_Test.pkg")
    with pytest.raises(AssertionError, match="entry point 'pkg' comes from vc-test-pkg, not vc-test-other"):
        assert_installed_from_tree("pkg", tree, distribution="vc-test-other")
    (tree / "table.toml").write_text("a = 2\n")
    (tree / "devlink.py").write_text("")
    with pytest.raises(AssertionError, match=r"differs from the tree in devlink.py, table.toml: reinstall vc-test-pkg"):
        assert_installed_from_tree("pkg", tree)
    other = tmp_path / "other" / "vc_other_pkg"
    other.mkdir(parents=True)
    with pytest.raises(AssertionError, match=r"'pkg' names \['vc_test_pkg'\], not the package 'vc_other_pkg'"):
        assert_installed_from_tree("pkg", other)
    with pytest.raises(PluginLoadError, match="no installed vfiocompat plugin named 'gkp'"):
        assert_installed_from_tree("gkp", tree)
