"""Plugin faults through real entry points: each fault is isolated, shown with its code, and fails closed.

Every fake plugin is an installed distribution in ``tmp_path`` (``<name>-1.0.dist-info`` with METADATA and
entry_points.txt, next to its module), found by importlib.metadata through ``PYTHONPATH``; the installed
``vfiocompat`` console script runs in a subprocess. A healthy plugin is loaded in the same process each time
and must keep working.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

SCRIPT = str(Path(sys.executable).with_name("vfiocompat"))
CORPUS_BASE = Path(__file__).resolve().parent / "corpus" / "base.toml"

#: The table every fake plugin ships, with its own id and vendor (0xf0xx: no real plugin uses them).
TABLE: Dict[str, Any] = {
    "schema_version": 1,
    "table": {"id": "t", "vendor": "0xf000", "prefixes": ["gen="]},
    "format": {"kind": "keyvalue", "fields": [
        {"name": "gen", "type": "uint", "ordered": True},
        {"name": "model", "type": "string"},
        {"name": "fw", "type": "version"},
    ]},
    "rules": [{"id": "same-model-fw-forward", "effect": "allow", "conditions": [
        {"field": "gen", "test": "equal"},
        {"field": "model", "test": "equal"},
        {"field": "fw", "test": "target_ge_source"},
    ]}],
}
PROPRIETARY = "gen=3;model=w100;fw=2.4.1"
NEWER = "gen=3;model=w100;fw=2.6.0"
HEALTHY_VENDOR = "0xf001"

TABLES_HOOK = """
from pathlib import Path
from vfiocompat import hookimpl

@hookimpl
def vfiocompat_tables():
    return sorted(Path(__file__).parent.glob(__name__ + "--*.json"))
"""


def table(table_id: str, vendor: str, prefixes: Sequence[str] = ("gen=",), kind: str = "keyvalue") -> Dict[str, Any]:
    data = copy.deepcopy(TABLE)
    data["table"].update(id=table_id, vendor=vendor, prefixes=list(prefixes))
    data["format"]["kind"] = kind
    return data


def dv(vendor: str, proprietary: str = PROPRIETARY) -> str:
    return f"{vendor}:1:{proprietary}"


def install(site: Path, name: str, source: str, tables: Sequence[Dict[str, Any]] = (),
            entry: Optional[str] = None) -> None:
    """Write an installed distribution ``vfc-fault-<name>`` whose entry point ``<name>`` loads ``module``."""
    module = f"vfcfault_{name}"
    info = site / f"vfc_fault_{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vfc-fault-{name}\nVersion: 1.0\n", "utf-8")
    (info / "entry_points.txt").write_text(f"[vfiocompat]\n{name} = {entry or module}\n", "utf-8")
    (site / f"{module}.py").write_text(textwrap.dedent(source), "utf-8")
    for number, data in enumerate(tables):
        (site / f"{module}--{number}.json").write_text(json.dumps(data), "utf-8")


def healthy(site: Path) -> None:
    install(site, "healthy", TABLES_HOOK, [table("healthy-table", HEALTHY_VENDOR)])


def run(site: Path, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    extra = env or {}
    env = {key: value for key, value in os.environ.items() if key not in ("VFIOCOMPAT_DISABLE_PLUGINS", "PYTHONPATH")}
    env.update(extra)
    env["PYTHONPATH"] = str(site)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, env=env, check=False,
                          cwd=site, stdin=subprocess.DEVNULL)


def plugin_errors(result: subprocess.CompletedProcess[str]) -> Dict[str, List[str]]:
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    return {p["name"]: [e["code"] for e in p["errors"]] for p in json.loads(result.stdout)["plugins"]}


def verdict(result: subprocess.CompletedProcess[str]) -> Dict[str, Any]:
    assert "Traceback" not in result.stderr
    assert result.stderr == ""
    form: Dict[str, Any] = json.loads(result.stdout)
    assert result.returncode == (0 if form["compatible"] else 1)
    return form


# name -> (module source, tables, entry point target, codes in `plugins --json`, vendor its devices use)
FAULTS: Dict[str, Tuple[str, List[Dict[str, Any]], Optional[str], List[str], str]] = {
    "import_raises": ("raise RuntimeError('boom at import')\n", [table("ir", "0xf002")], None, ["VC301"], "0xf002"),
    "import_missing_dependency": ("import vfiocompat_no_such_module_anywhere\n", [], None, ["VC301"], "0xf003"),
    "entry_point_missing_attr": (TABLES_HOOK, [table("ema", "0xf004")], "vfcfault_entry_point_missing_attr:nope",
                                 ["VC301"], "0xf004"),
    "import_exits": ("import sys\nsys.exit(0)\n", [], None, ["VC301"], "0xf005"),
    "import_syntax_error": ("def broken(:\n", [], None, ["VC301"], "0xf006"),
    "tables_raises": ("""
        from vfiocompat import hookimpl

        @hookimpl
        def vfiocompat_tables():
            raise OSError('tables went missing')
        """, [], None, ["VC302"], "0xf007"),
    "tables_returns_string": ("""
        from vfiocompat import hookimpl

        @hookimpl
        def vfiocompat_tables():
            return 'widgets.toml'
        """, [], None, ["VC303"], "0xf008"),
    "tables_returns_dict": ("""
        from vfiocompat import hookimpl

        @hookimpl
        def vfiocompat_tables():
            return {'table': 'widgets.toml'}
        """, [], None, ["VC303"], "0xf009"),
    "tables_returns_numbers": ("""
        from vfiocompat import hookimpl

        @hookimpl
        def vfiocompat_tables():
            return [42, None]
        """, [], None, ["VC303", "VC303"], "0xf00a"),
    "resource_unreadable": ("""
        from vfiocompat import hookimpl

        class Unreadable:
            name = 'unreadable.toml'

            def read_bytes(self):
                raise PermissionError('no reading today')

        @hookimpl
        def vfiocompat_tables():
            return [Unreadable()]
        """, [], None, ["VC304"], "0xf00b"),
    "resource_raises": ("""
        from vfiocompat import hookimpl

        class Exploding:
            name = 'exploding.toml'

            def read_bytes(self):
                raise RuntimeError('exploded')

        @hookimpl
        def vfiocompat_tables():
            return [Exploding()]
        """, [], None, ["VC302"], "0xf00e"),
    "table_invalid": (TABLES_HOOK, [{**table("ti", "0xf00c"), "rules": [
        {"id": "r", "effect": "allow", "conditions": [{"field": "nope", "test": "equal"}]}]}],
        None, ["VC304"], "0xf00c"),
    "table_unparsable": (TABLES_HOOK, [], None, ["VC304"], "0xf00d"),
}


def _write_scenario(site: Path, name: str) -> None:
    source, tables, entry, _, _ = FAULTS[name]
    install(site, name, source, tables, entry)
    if name == "table_unparsable":
        (site / "vfcfault_table_unparsable--0.json").write_text('{"table": {"vendor": "0xf00d"', "utf-8")


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_a_faulty_plugin_is_isolated_and_fails_closed_naming_itself(name: str, tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    healthy(site)
    _write_scenario(site, name)
    codes, vendor = FAULTS[name][3], FAULTS[name][4]
    with ThreadPoolExecutor(max_workers=3) as pool:
        listing, good, mine = pool.map(lambda args: run(site, *args), [
            ("plugins", "--json"),
            ("check", "--json", dv(HEALTHY_VENDOR), dv(HEALTHY_VENDOR, NEWER)),
            ("check", "--json", dv(vendor), dv(vendor, NEWER)),
        ])
    errors = plugin_errors(listing)
    assert errors[name] == codes
    assert errors["healthy"] == []
    # The healthy plugin, loaded in the same process, still answers.
    assert verdict(good)["compatible"] is True
    refused = verdict(mine)
    assert refused["compatible"] is False
    # Source and target each get the plugin's (first) failure as their reason.
    assert [r["code"] for r in refused["reasons"]] == [codes[0], codes[0]]
    for reason in refused["reasons"]:
        assert reason["layer"] == "plugin"
        assert reason["plugin"] == name
        assert f"'{name}'" in reason["message"]


def test_a_broken_table_fails_only_its_own_vendor(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    healthy(site)
    _write_scenario(site, "table_invalid")
    other = verdict(run(site, "check", "--json", dv("0xf0ee"), dv("0xf0ee")))
    # The failed table declared vendor 0xf00c; a device of another unserved vendor is simply unknown.
    assert [r["code"] for r in other["reasons"]] == ["VC203", "VC203"]


def test_every_fault_at_once_leaves_the_healthy_plugin_working(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    healthy(site)
    for name in FAULTS:
        _write_scenario(site, name)
    with ThreadPoolExecutor(max_workers=3) as pool:
        listing, good, human = pool.map(lambda args: run(site, *args), [
            ("plugins", "--json"),
            ("check", "--json", dv(HEALTHY_VENDOR), dv(HEALTHY_VENDOR, NEWER)),
            ("plugins",),
        ])
    errors = plugin_errors(listing)
    assert {name: errors[name] for name in FAULTS} == {name: FAULTS[name][3] for name in FAULTS}
    assert errors["healthy"] == []
    assert verdict(good)["compatible"] is True
    assert human.returncode == 0
    for name in FAULTS:
        assert f"{name}: vfc-fault-{name} 1.0 [FAILED]" in human.stdout
    assert "healthy: vfc-fault-healthy 1.0 [ok]" in human.stdout
    refused = verdict(run(site, "check", "--json", dv("0xf00c"), dv("0xf00c", NEWER)))
    assert refused["compatible"] is False
    assert {r["layer"] for r in refused["reasons"]} == {"plugin"}


def test_overlapping_claims_are_shown_on_both_plugins_and_their_strings_refused(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    healthy(site)
    install(site, "claims_broad", TABLES_HOOK, [table("broad", "0xf0a0", ["gen="])])
    install(site, "claims_narrow", TABLES_HOOK, [table("narrow", "0xf0a0", ["gen=3;"])])
    install(site, "claims_elsewhere", TABLES_HOOK, [table("elsewhere", "0xf0a1", ["gen=3;"])])
    with ThreadPoolExecutor(max_workers=3) as pool:
        listing, good, both, elsewhere = pool.map(lambda args: run(site, *args), [
            ("plugins", "--json"),
            ("check", "--json", dv(HEALTHY_VENDOR), dv(HEALTHY_VENDOR, NEWER)),
            ("check", "--json", dv("0xf0a0"), dv("0xf0a0", NEWER)),
            ("check", "--json", dv("0xf0a1"), dv("0xf0a1", NEWER)),
        ])
    errors = plugin_errors(listing)
    assert errors["claims_broad"] == ["VC305"]
    assert errors["claims_narrow"] == ["VC305"]
    # Same prefix, another vendor: no overlap.
    assert errors["claims_elsewhere"] == []
    assert errors["healthy"] == []
    assert verdict(good)["compatible"] is True
    assert verdict(elsewhere)["compatible"] is True
    refused = verdict(both)
    assert refused["compatible"] is False
    assert [r["code"] for r in refused["reasons"]] == ["VC206", "VC206"]
    for reason in refused["reasons"]:
        assert "'claims_broad'" in reason["message"] and "'claims_narrow'" in reason["message"]


PARSE_HOOK = """
from pathlib import Path
from vfiocompat import hookimpl

@hookimpl
def vfiocompat_tables():
    return sorted(Path(__file__).parent.glob(__name__ + "--*.json"))

@hookimpl
def vfiocompat_parse_fields(table_id, proprietary):
{body}
"""

PARSE_FAULTS = {
    "parse_raises": ("    raise KeyError('no such field')\n", "VC302"),
    "parse_returns_list": ("    return [('gen', '3')]\n", "VC303"),
    "parse_returns_string": ("    return 'gen=3'\n", "VC303"),
    "parse_returns_none": ("    return None\n", "VC111"),
    "parse_returns_numbers": ("    return {'gen': 3, 'model': 'w100', 'fw': '2.4.1'}\n", "VC303"),
}


def test_parse_hook_faults_fail_closed_only_for_that_plugins_devices(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    healthy(site)
    install(site, "parse_ok", PARSE_HOOK.format(body="    return dict(p.split('=') for p in proprietary.split(';'))\n"),
            [table("parse-ok", "0xf0b0", kind="hook")])
    vendors = {}
    for number, (name, (body, _)) in enumerate(sorted(PARSE_FAULTS.items())):
        vendors[name] = f"0xf0b{number + 1}"
        install(site, name, PARSE_HOOK.format(body=body), [table(name.replace("_", "-"), vendors[name], kind="hook")])
    jobs = [("plugins", "--json"), ("check", "--json", dv(HEALTHY_VENDOR), dv(HEALTHY_VENDOR, NEWER)),
            ("check", "--json", dv("0xf0b0"), dv("0xf0b0", NEWER))]
    jobs += [("check", "--json", dv(vendors[name]), dv(vendors[name], NEWER)) for name in sorted(PARSE_FAULTS)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        listing, good, hook_ok, *faulty = pool.map(lambda args: run(site, *args), jobs)
    # A parse hook fails when asked, so the listing shows every plugin loaded; the fault shows at check time.
    assert all(codes == [] for codes in plugin_errors(listing).values())
    assert verdict(good)["compatible"] is True
    assert verdict(hook_ok)["compatible"] is True
    for name, result in zip(sorted(PARSE_FAULTS), faulty):
        refused = verdict(result)
        assert refused["compatible"] is False, name
        assert [r["code"] for r in refused["reasons"]] == [PARSE_FAULTS[name][1]] * 2, name
        for reason in refused["reasons"]:
            assert reason["plugin"] == name
            assert f"'{name.replace('_', '-')}'" in reason["message"] or f"'{name}'" in reason["message"]


# -- regressions: core bugs these tests found (each was an xfail until the core was fixed) ----------


def test_a_plugin_exiting_in_its_tables_hook_does_not_end_the_check(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    healthy(site)
    install(site, "tables_exits", """
        import sys
        from vfiocompat import hookimpl

        @hookimpl
        def vfiocompat_tables():
            sys.exit(0)
        """)
    result = run(site, "check", "--json", dv("0xf0c0"), dv("0xf0c0"))
    assert result.returncode == 1
    refused = verdict(result)
    assert [r["code"] for r in refused["reasons"]] == ["VC302", "VC302"]


def test_a_plugin_exiting_in_its_parse_hook_does_not_end_the_check(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install(site, "parse_exits", PARSE_HOOK.format(body="    raise SystemExit(0)\n"),
            [table("parse-exits", "0xf0c1", kind="hook")])
    result = run(site, "check", "--json", dv("0xf0c1"), dv("0xf0c1", NEWER))
    assert result.returncode == 1
    assert [r["code"] for r in verdict(result)["reasons"]][:1] == ["VC302"]


# -- issue 9: fail-open and availability defects (each test failed on the code before the fix) ---------


def test_a_hook_taking_a_subset_of_the_arguments_gets_them_by_name(tmp_path: Path) -> None:
    # Called by position, `vfiocompat_parse_fields(proprietary)` received the table id: every string of the
    # table parsed the same, and an `equal` rule admitted two different models.
    site = tmp_path / "site"
    site.mkdir()
    install(site, "parse_subset", """
        from pathlib import Path
        from vfiocompat import hookimpl

        @hookimpl
        def vfiocompat_tables():
            return sorted(Path(__file__).parent.glob(__name__ + "--*.json"))

        @hookimpl
        def vfiocompat_parse_fields(proprietary):
            return dict(p.split('=') for p in proprietary.split(';'))
        """, [table("parse-subset", "0xf0d0", kind="hook")])
    other_model = "gen=3;model=w200;fw=2.6.0"
    refused = verdict(run(site, "check", "--json", dv("0xf0d0"), dv("0xf0d0", other_model)))
    assert refused["compatible"] is False
    assert [r["field"] for r in refused["reasons"]] == ["model"]
    assert verdict(run(site, "check", "--json", dv("0xf0d0"), dv("0xf0d0", NEWER)))["compatible"] is True


def test_a_mapping_that_raises_when_read_is_contained(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    healthy(site)
    install(site, "parse_trap", PARSE_HOOK.format(body=textwrap.indent(textwrap.dedent("""
        class Trap(dict):
            def items(self):
                raise SystemExit(0)
        return Trap(gen='3')
        """), "    ")), [table("parse-trap", "0xf0d1", kind="hook")])
    result = run(site, "check", "--json", dv("0xf0d1"), dv("0xf0d1", NEWER))
    assert result.returncode == 1
    assert [r["code"] for r in verdict(result)["reasons"]] == ["VC302", "VC302"]


HANGS = {
    "hangs_at_import": ("import time\ntime.sleep(600)\n", "VC306"),
    "hangs_in_parse": (PARSE_HOOK.format(body="    import time\n    time.sleep(600)\n"), "VC306"),
    "hangs_in_tables": ("""
        import time
        from vfiocompat import hookimpl

        @hookimpl
        def vfiocompat_tables():
            time.sleep(600)
        """, "VC306"),
}


def test_a_plugin_that_hangs_is_refused_and_the_others_are_still_judged(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    healthy(site)
    vendors = {}
    for number, (name, (source, _)) in enumerate(sorted(HANGS.items())):
        vendors[name] = f"0xf0e{number}"
        install(site, name, source, [table(name.replace("_", "-"), vendors[name],
                                           kind="hook" if "parse" in name else "keyvalue")])
    env_timeout = {"VFIOCOMPAT_PLUGIN_TIMEOUT": "0.5"}
    jobs = [("check", "--json", dv(HEALTHY_VENDOR), dv(HEALTHY_VENDOR, NEWER)), ("plugins", "--json")]
    jobs += [("check", "--json", dv(vendors[name]), dv(vendors[name], NEWER)) for name in sorted(HANGS)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        good, listing, *hung = pool.map(lambda args: run(site, *args, env=env_timeout), jobs)
    assert verdict(good)["compatible"] is True
    errors = plugin_errors(listing)
    assert errors["hangs_at_import"] == ["VC306"]
    assert errors["hangs_in_tables"] == ["VC306"]
    for name, result in zip(sorted(HANGS), hung):
        refused = verdict(result)
        assert refused["compatible"] is False, name
        assert {r["code"] for r in refused["reasons"]} == {"VC306"}, (name, refused["reasons"])
        assert all(f"'{name}'" in r["message"] for r in refused["reasons"]), refused["reasons"]


def test_the_plugin_time_bound_is_validated(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    healthy(site)
    for bad in ("0", "-1", "soon", "nan"):
        result = run(site, "check", dv(HEALTHY_VENDOR), dv(HEALTHY_VENDOR), env={"VFIOCOMPAT_PLUGIN_TIMEOUT": bad})
        assert result.returncode == 2, bad
        assert result.stderr.startswith("vfiocompat: error[VC001]: VFIOCOMPAT_PLUGIN_TIMEOUT="), result.stderr


PRINTS = """
import os, sys
from pathlib import Path
from vfiocompat import hookimpl

print("printed at import")
os.write(1, b"written to fd 1 at import\\n")

@hookimpl
def vfiocompat_tables():
    print("printed in vfiocompat_tables")
    sys.__stdout__.write("written to sys.__stdout__\\n")
    return sorted(Path(__file__).parent.glob(__name__ + "--*.json"))

@hookimpl
def vfiocompat_parse_fields(table_id, proprietary):
    os.system("echo a child process writes too")
    return dict(p.split('=') for p in proprietary.split(';'))
"""


def test_what_a_plugin_prints_never_reaches_the_commands_output(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install(site, "prints", PRINTS, [table("prints", "0xf0d2", kind="hook")])
    result = run(site, "check", "--json", dv("0xf0d2"), dv("0xf0d2", NEWER))
    assert result.returncode == 0
    assert json.loads(result.stdout)["compatible"] is True  # the whole of stdout is the verdict
    for noise in ("printed at import", "written to fd 1", "printed in vfiocompat_tables", "sys.__stdout__",
                  "a child process"):
        assert noise not in result.stdout
        assert noise in result.stderr  # still visible to a person, on stderr
    listing = run(site, "plugins", "--json")
    assert listing.returncode == 0
    assert {p["name"]: p["errors"] for p in json.loads(listing.stdout)["plugins"]}["prints"] == []


def _closed_reader(site: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {key: value for key, value in os.environ.items() if key not in ("VFIOCOMPAT_DISABLE_PLUGINS", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    process = subprocess.Popen([SCRIPT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=site,
                               stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    process.stdout.close()  # the reader goes away before the command has started: every write is EPIPE
    _, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, b"", stderr)


@pytest.mark.parametrize("command", [("check",), ("check", "--json"), ("explain",), ("explain", "--json")])
def test_a_closed_pipe_keeps_the_verdict_as_exit_status(command: Tuple[str, ...], tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    healthy(site)
    refused = _closed_reader(site, *command, dv(HEALTHY_VENDOR, NEWER), dv(HEALTHY_VENDOR))
    assert (refused.returncode, refused.stderr) == (1, b"")
    admitted = _closed_reader(site, *command, dv(HEALTHY_VENDOR), dv(HEALTHY_VENDOR, NEWER))
    assert (admitted.returncode, admitted.stderr) == (0, b"")


def test_a_closed_stderr_keeps_a_refusal(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    process = subprocess.Popen([SCRIPT, "check", "--no-plugins", "--table", str(tmp_path / "missing.toml"),
                                dv(HEALTHY_VENDOR), dv(HEALTHY_VENDOR)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL)
    assert process.stderr is not None
    process.stderr.close()
    out, _ = process.communicate(timeout=60)
    assert (process.returncode, out) == (2, b"")


def test_a_broken_table_overlapping_a_valid_one_refuses_what_it_would_claim(tmp_path: Path) -> None:
    # The broken table may carry the deny rule for these strings: judging by the valid one alone admitted them.
    site = tmp_path / "site"
    site.mkdir()
    install(site, "valid_wide", TABLES_HOOK, [table("valid-wide", "0xf0d3", ["gen="])])
    broken = {**table("broken-narrow", "0xf0d3", ["gen=3;"]), "rules": [
        {"id": "r", "effect": "deny", "conditions": [{"field": "nope", "test": "equal"}]}]}
    install(site, "broken_narrow", TABLES_HOOK, [broken])
    refused = verdict(run(site, "check", "--json", dv("0xf0d3"), dv("0xf0d3", NEWER)))
    assert refused["compatible"] is False
    assert [(r["code"], r["plugin"]) for r in refused["reasons"]] == [("VC304", "broken_narrow")] * 2
    # A string only the valid table claims is judged as before.
    assert verdict(run(site, "check", "--json", dv("0xf0d3", "gen=4;model=w100;fw=2.4.1"),
                       dv("0xf0d3", "gen=4;model=w100;fw=2.6.0")))["compatible"] is True
