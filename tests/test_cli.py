"""The installed console script, run as a subprocess the way helpers and schedulers run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import jsonschema
import pytest

from .conftest import ACME_TABLE, BASE_TABLE, to_toml

SCRIPT = str(Path(sys.executable).with_name("vfiocompat"))
GOOD = "0xfffe:1:gen=3;model=w100;fw=2.4.1;caps=aes,sha;queues=8"
NEWER = "0xfffe:1:gen=3;model=w100;fw=2.6.0;caps=aes,sha,zip;queues=16"
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


def run(*args: str, env: Dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60, env=full_env, check=False)


def conforms(document: Any, schema: str) -> None:
    jsonschema.Draft202012Validator(json.loads((SCHEMAS / f"{schema}.schema.json").read_text())).validate(document)


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"vfiocompat: error[{code}]: ")


def test_the_example_plugin_is_discovered_through_its_entry_point() -> None:
    result = run("plugins", "--json")
    assert result.returncode == 0
    form = json.loads(result.stdout)
    conforms(form, "plugins")
    acme = next(p for p in form["plugins"] if p["name"] == "acme")
    assert acme["distribution"] == "vfiocompat-acme"
    assert acme["vendors"] == ["0xfffe"]
    assert acme["tables"][0]["rules"] == {"allow": 2, "deny": 1}
    assert acme["errors"] == []


def test_check_compatible_exits_0() -> None:
    result = run("check", GOOD, NEWER)
    assert result.returncode == 0
    assert result.stdout.startswith("compatible: ")
    assert "same-model-fw-forward" in result.stdout


def test_check_refused_exits_1_with_every_reason() -> None:
    result = run("check", NEWER, GOOD)
    assert result.returncode == 1
    assert result.stdout.startswith("not compatible: ")
    for code in ("VC411", "VC415", "ACME_QUEUES"):
        assert f"[{code}]" in result.stdout
    assert "hint: use a target with fw >= 2.6.0" in result.stdout


def test_check_json_form() -> None:
    result = run("check", "--json", NEWER, GOOD)
    form = json.loads(result.stdout)
    conforms(form, "verdict")
    assert form["schema_version"] == 1 and form["compatible"] is False
    assert [r["code"] for r in form["reasons"]] == ["VC411", "VC415", "ACME_QUEUES"]
    fw = form["reasons"][0]
    assert (fw["field"], fw["source_value"], fw["target_value"]) == ("fw", "2.6.0", "2.4.1")
    assert fw["rule"]["rule"] == "same-model-fw-forward"


def test_check_unparsable_strings_is_a_refusal_not_a_crash() -> None:
    result = run("check", "--json", "garbage", GOOD)
    assert result.returncode == 1
    form = json.loads(result.stdout)
    conforms(form, "verdict")
    assert form["reasons"][0]["code"] == "VC104"


def test_explain_shows_rules_nearest_miss_first_and_what_to_change() -> None:
    result = run("explain", NEWER, GOOD)
    assert result.returncode == 1
    out = result.stdout
    assert "rules tried, nearest miss first:" in out
    assert out.index("rule 'same-model-fw-forward'") < out.index("allow rule 'w100-to-w200'")
    assert "[FAIL] target.fw has source's major and >= source.fw" in out
    assert "what would have to change:" in out
    assert "table 'acme-widgets' (plugin 'acme'): gen=3, model=w100, fw=2.6.0" in out


def test_explain_json_form() -> None:
    result = run("explain", "--json", NEWER, GOOD)
    form = json.loads(result.stdout)
    conforms(form, "explanation")
    assert form["source"]["fields"]["fw"] == "2.6.0"
    assert [t["rule"]["rule"] for t in form["trials"]][:1] == ["same-model-fw-forward"]
    failed = [c["reason"]["code"] for c in form["trials"][0]["conditions"] if not c["passed"]]
    assert failed == [r["code"] for r in form["verdict"]["reasons"]]


@pytest.mark.parametrize("code", ["VC202", "vc411"])
def test_explain_documents_core_codes(code: str) -> None:
    result = run("explain", "--json", code)
    assert result.returncode == 0
    form = json.loads(result.stdout)
    conforms(form, "code")
    assert form["code"] == code.upper() and form["summary"]


def test_explain_documents_vendor_codes_from_tables() -> None:
    result = run("explain", "ACME_FW_ERRATA")
    assert result.returncode == 0
    assert "rule 'fw-2-5-0-broken'" in result.stdout
    assert "update the target's firmware" in result.stdout


def test_explain_unknown_code_is_bad_input() -> None:
    assert_one_line_error(run("explain", "NOPE_NOT_A_CODE"), "VC001")


def test_parse_splits_fields_through_the_plugin() -> None:
    result = run("parse", "--json", GOOD)
    assert result.returncode == 0
    form = json.loads(result.stdout)
    conforms(form, "device-version")
    assert form["vendor_id"] == 0xFFFE and form["table"] == "acme-widgets"
    assert form["fields"]["caps"] == "aes,sha"


@pytest.mark.parametrize(("text", "code"), [("", "VC101"), ("0x8086", "VC104"), ("0x1ffffffff:1:x", "VC106"),
                                             ("0x8086:1:\u00e9", "VC103")])
def test_parse_bad_input_is_one_line_exit_2(text: str, code: str) -> None:
    assert_one_line_error(run("parse", text), code)


def test_validate_a_good_table_and_its_examples() -> None:
    result = run("validate", "--json", str(ACME_TABLE))
    assert result.returncode == 0
    form = json.loads(result.stdout)
    conforms(form, "validation")
    assert form["valid"] and len(form["files"][0]["examples"]) == 6


def test_validate_installed_plugins() -> None:
    result = run("validate", "--installed", "--json")
    form = json.loads(result.stdout)
    conforms(form, "validation")
    acme = [f for f in form["files"] if f["table"] == "acme-widgets"]
    assert acme and acme[0]["valid"]


def test_validate_failing_examples_exit_1(tmp_path: Path) -> None:
    text = ACME_TABLE.read_text().replace("compatible = true", "compatible = false", 1)
    path = tmp_path / "w.toml"
    path.write_text(text)
    result = run("validate", str(path))
    assert result.returncode == 1
    assert f"vfiocompat: error[VC506]: {path}: [[examples]] #1" in result.stderr


def test_validate_invalid_table_exit_2_with_file_line_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "w.toml"
    path.write_text(ACME_TABLE.read_text().replace('test = "target_superset" }', 'test = "superset" }', 1))
    result = run("validate", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"vfiocompat: error[VC503]: {path}:")
    assert "rule 'same-model-fw-forward'" in first and "conditions[3].test" in first


def test_warnings_go_to_stderr_without_failing(tmp_path: Path) -> None:
    data = json.loads(json.dumps(BASE_TABLE))
    data["rules"][0]["conditions"] = [{"field": "k", "test": "equal"}]
    data["rules"][0]["allow_downgrade"] = ["v"]
    path = tmp_path / "t.toml"
    path.write_text(to_toml(data))
    result = run("validate", str(path))
    assert result.returncode == 0
    assert "vfiocompat: warning[VC551]" in result.stderr and "'same-k-newer-v'" in result.stderr


def test_table_option_loads_a_file_directly(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(to_toml(BASE_TABLE))
    source, target = "0xfffe:1:k=a;v=2;n=1", "0xfffe:1:k=a;v=1;n=1"
    result = run("check", "--no-plugins", "--table", str(path), source, target)
    assert result.returncode == 1 and "[VC411]" in result.stdout
    assert run("check", "--no-plugins", "--table", str(path), target, source).returncode == 0


def test_plugins_can_be_disabled_by_option_and_environment() -> None:
    for result in (run("check", "--disable-plugin", "acme", GOOD, NEWER),
                   run("check", GOOD, NEWER, env={"VFIOCOMPAT_DISABLE_PLUGINS": "other, acme"})):
        assert result.returncode == 1
        assert "[VC203]" in result.stdout
    listing = json.loads(run("plugins", "--json", "--disable-plugin", "acme").stdout)
    assert next(p for p in listing["plugins"] if p["name"] == "acme")["disabled"] is True


def test_schema_prints_the_shipped_schemas() -> None:
    result = run("schema")
    assert json.loads(result.stdout)["$id"].endswith("/table/1.json")
    assert json.loads(run("schema", "verdict").stdout)["title"] == "vfiocompat check --json"
    assert_one_line_error(run("schema", "nope"), "VC001")


@pytest.mark.parametrize("argv", [
    [], ["bogus"], ["check", "only-one"], ["check", "--frobnicate", "a", "b"], ["validate"],
])
def test_usage_errors_are_one_line_exit_2(argv: List[str]) -> None:
    assert_one_line_error(run(*argv), "VC001")


def test_missing_table_file_is_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run("validate", str(tmp_path / "absent.toml")), "VC501")


def test_python_dash_m_works() -> None:
    result = subprocess.run([sys.executable, "-m", "vfiocompat", "--version"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0 and result.stdout.startswith("vfiocompat ")


@pytest.mark.parametrize("command", [[SCRIPT], [sys.executable, "-m", "vfiocompat"]])
def test_the_process_exits_with_the_verdict_and_all_its_output(command: List[str], tmp_path: Path) -> None:
    # The process ends with os._exit after main (no interpreter teardown): nothing written may be lost.
    schema = subprocess.run([*command, "schema"], capture_output=True, text=True, timeout=60, check=False)
    assert schema.returncode == 0
    assert json.loads(schema.stdout) == json.loads((SCHEMAS / "table.schema.json").read_text("utf-8"))
    refused = subprocess.run([*command, "check", "--json", "--no-plugins", GOOD, NEWER], capture_output=True,
                             text=True, timeout=60, check=False)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["compatible"] is False
    bad = subprocess.run([*command, "check", "--no-plugins", "nonsense", NEWER], capture_output=True, text=True,
                         timeout=60, check=False)
    assert bad.returncode == 1 and "VC1" in bad.stdout


class _Recorder:
    """Stands in for argparse's subparsers: records the names of the commands added."""

    def __init__(self) -> None:
        self.names: List[str] = []

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        import argparse

        self.names.append(name)
        return argparse.ArgumentParser(add_help=False)


def test_command_module_map_names_exactly_what_each_module_adds() -> None:
    import argparse
    from importlib import import_module

    from vfiocompat import _cli as cli

    added: Dict[str, str] = {}
    for module in dict.fromkeys(cli._COMMAND_MODULES.values()):
        recorder = _Recorder()
        import_module(f"vfiocompat.{module}").add_commands(recorder, argparse.ArgumentParser(add_help=False))
        added.update(dict.fromkeys(recorder.names, module))
    assert added == cli._COMMAND_MODULES
    full = cli.build_parser()
    commands = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(added) <= set(commands) and "check" in commands and "completion" in commands
    for name in added:
        # A command's own parser has exactly that command, from its module.
        only = cli.build_parser(name)
        assert list(next(a for a in only._actions if isinstance(a, argparse._SubParsersAction)).choices) == [name]


def _imported_by(*argv: str) -> List[str]:
    code = ("import io, sys\nfrom vfiocompat._cli import main\n"
            f"status = main({list(argv)!r}, io.StringIO(), io.StringIO())\n"
            "print(status, *sorted(m for m in sys.modules if m.startswith('vfiocompat.')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_check_imports_no_other_command_module() -> None:
    status, *modules = _imported_by("check", GOOD, GOOD)
    assert status == "0"
    assert not {"vfiocompat._scaffold", "vfiocompat.host.cli", "vfiocompat.host.libvirt_cli", "vfiocompat.host.doctor",
                "vfiocompat._completion"} & set(modules)
    status, *modules = _imported_by("doctor", "--help")
    assert "vfiocompat.host.doctor" in modules and "vfiocompat._scaffold" not in modules


@pytest.mark.parametrize("argv", [["--help"], ["bogus"]])
def test_help_and_unknown_commands_name_every_command(argv: List[str]) -> None:
    from vfiocompat import _cli as cli

    result = run(*argv)
    text = result.stdout + result.stderr
    for name in ["check", "explain", *cli._COMMAND_MODULES]:
        assert name in text, (name, text)


def test_json_may_come_before_the_command() -> None:
    # Issue 12: `vfiocompat --json check` printed "vfiocompat:" twice and no JSON.
    result = run("--json", "check", GOOD, NEWER)
    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout)["compatible"] is True
    missing = run("--json", "check", GOOD)
    assert (missing.returncode, missing.stderr) == (2, "")
    assert json.loads(missing.stdout)["error"]["code"] == "VC001"
