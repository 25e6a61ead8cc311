"""vfiocompat new-plugin: the template copied and renamed, then installed and tested as a vendor would."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.version import Version

from vfiocompat._cli import main
from vfiocompat._scaffold import TEMPLATE_NAMES, ScaffoldError, plugin_names, scaffold_plugin, template_files
from vfiocompat._validation import validate_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.9 and 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "vfiocompat" / "plugin_template"
TEMPLATE_TOKENS = ("example-vendor", "example_vendor", "EXAMPLE_VENDOR", "Example Vendor", "0xfffd")
CODE = re.compile(r"[A-Z][A-Z0-9_-]{1,63}")


def run_cli(*argv: str) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


def read_tree(root: Path) -> Dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text("utf-8") for p in sorted(root.rglob("*")) if p.is_file()}


def test_examples_folder_is_the_packaged_template() -> None:
    # One template, two paths: the wheel ships vfiocompat/plugin_template, the repository shows it in examples/.
    assert (ROOT / "examples" / "vendor-plugin-template").resolve() == TEMPLATE.resolve()
    shipped = {path for path, _ in template_files()}
    assert {"pyproject.toml", "README.md", ".github/workflows/ci.yml", "vfiocompat_example_vendor/__init__.py",
            "vfiocompat_example_vendor/devices.toml", "vfiocompat_example_vendor/py.typed",
            "tests/test_example_vendor_plugin.py"} == shipped


def test_template_table_is_valid_as_is() -> None:
    result = validate_file(TEMPLATE / "vfiocompat_example_vendor" / "devices.toml")
    assert result.valid, result.errors
    outcomes = {(o.example.compatible, o.example.code) for o in result.examples}
    assert (True, None) in outcomes and (False, "EXAMPLE_VENDOR_FW_ERRATA") in outcomes
    assert result.table is not None and result.table.vendor_id == 0xFFFD


def test_scaffold_renames_every_name_consistently(tmp_path: Path) -> None:
    dest = tmp_path / "vfiocompat-acme-gpu"
    written = scaffold_plugin(dest, "acme-gpu", "0x10DE", vendor_name="ACME")
    files = read_tree(dest)
    assert sorted(p.relative_to(dest).as_posix() for p in written) == sorted(files)
    assert len(files) == len(template_files())
    for path, text in files.items():
        for token in (*TEMPLATE_TOKENS, "template-only", "# template:"):
            assert token not in path and token not in text, (token, path)

    project = tomllib.loads(files["pyproject.toml"])
    assert project["project"]["name"] == "vfiocompat-acme-gpu"
    assert project["project"]["entry-points"]["vfiocompat"] == {"acme-gpu": "vfiocompat_acme_gpu"}
    assert project["tool"]["setuptools"]["packages"] == ["vfiocompat_acme_gpu"]
    assert "vfiocompat_acme_gpu" in project["tool"]["setuptools"]["package-data"]
    assert "ACME" in project["project"]["description"]

    result = validate_file(dest / "vfiocompat_acme_gpu" / "devices.toml")
    assert result.valid and result.table is not None
    assert (result.table.id, result.table.vendor_id) == ("acme-gpu-devices", 0x10DE)
    codes = {o.example.code for o in result.examples} | {r.code for r in result.table.rules}
    assert {"ACME_GPU_QUEUES", "ACME_GPU_FW_ERRATA", "ACME_GPU_MODEL"} <= codes
    assert all(o.example.source.startswith("0x10de:") for o in result.examples)
    for path in ("vfiocompat_acme_gpu/__init__.py", "tests/test_acme_gpu_plugin.py"):
        compile(files[path], path, "exec")
    assert 'PLUGIN = "acme-gpu"' in files["tests/test_acme_gpu_plugin.py"]


def test_scaffold_with_the_template_names_gives_the_template_less_its_notes(tmp_path: Path) -> None:
    scaffold_plugin(tmp_path / "copy", "example-vendor", "0xfffd", vendor_name="Example Vendor")
    copy, original = read_tree(tmp_path / "copy"), dict(template_files())
    assert set(copy) == set(original)
    changed = sorted(path for path in copy if copy[path].encode("utf-8") != original[path])
    assert changed == ["README.md", "pyproject.toml", "vfiocompat_example_vendor/devices.toml"]
    assert "## Make this template yours" not in copy["README.md"]
    assert 'vendor = "0xfffd"\n' in copy["vfiocompat_example_vendor/devices.toml"]


def test_cli_creates_the_project_and_lists_it(tmp_path: Path) -> None:
    status, out, err = run_cli("new-plugin", str(tmp_path / "p"), "--name", "acme-gpu", "--vendor-id", "0x1234",
                               "--json")
    assert (status, err) == (0, "")
    form = json.loads(out)
    assert (form["plugin"], form["distribution"], form["package"], form["vendor"], form["vendor_name"]) == (
        "acme-gpu", "vfiocompat-acme-gpu", "vfiocompat_acme_gpu", "0x1234", "Acme Gpu")
    assert sorted(form["files"]) == sorted(read_tree(tmp_path / "p"))


def test_cli_never_writes_into_a_non_empty_directory(tmp_path: Path) -> None:
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "pyproject.toml").write_text("my own project\n", "utf-8")
    status, out, err = run_cli("new-plugin", str(dest), "--name", "acme-gpu", "--vendor-id", "0x1234")
    assert (status, out) == (2, "")
    assert err == (f"vfiocompat: error[VC001]: {dest}: directory is not empty; new-plugin writes only into a new"
                   " or empty directory and never overwrites files\n")
    assert read_tree(dest) == {"pyproject.toml": "my own project\n"}
    (tmp_path / "file").write_text("x", "utf-8")
    status, _, err = run_cli("new-plugin", str(tmp_path / "file"), "--name", "acme-gpu", "--vendor-id", "0x1234")
    assert status == 2 and err.endswith("exists and is not a directory\n")


@pytest.mark.parametrize(("argv", "message"), [
    (["--name", "Acme", "--vendor-id", "0x1234"], "plugin name 'Acme' must be lowercase"),
    (["--name", "acme_gpu", "--vendor-id", "0x1234"], "plugin name 'acme_gpu' must be lowercase"),
    (["--name", "acme-", "--vendor-id", "0x1234"], "plugin name 'acme-' must be lowercase"),
    (["--name", "vfiocompat-acme", "--vendor-id", "0x1234"], "must not start with 'vfiocompat'"),
    (["--name", "vc1-gpu", "--vendor-id", "0x1234"], "reason codes starting with VC and a digit"),
    (["--name", "acme", "--vendor-id", "0x"], "vendor id '0x' must be hex"),
    (["--name", "acme", "--vendor-id", "0x123456789"], "vendor id '0x123456789' must be hex with at most 8"),
    (["--name", "acme", "--vendor-id", "acme"], "vendor id 'acme' must be hex"),
    (["--name", "acme", "--vendor-id", "0x1234", "--vendor-name", 'AC"ME'], "vendor name 'AC\"ME' must be"),
    (["--name", "acme"], "the following arguments are required: --vendor-id"),
])
def test_cli_refuses_bad_names_with_one_line(tmp_path: Path, argv: List[str], message: str) -> None:
    status, out, err = run_cli("new-plugin", str(tmp_path / "p"), *argv)
    assert (status, out) == (2, "")
    assert err.startswith("vfiocompat: error[VC001]: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "p").exists()


@settings(max_examples=30, deadline=None)
@given(name=st.from_regex(r"[a-z][a-z0-9]{0,7}(-[a-z0-9]{1,5}){0,3}", fullmatch=True),
       vendor=st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_any_accepted_name_gives_a_working_valid_project(name: str, vendor: int) -> None:
    try:
        names = plugin_names(name, vendor)
    except ScaffoldError:
        assert name.startswith("vfiocompat") or re.match(r"vc[0-9]", name)
        return
    assert names.package.isidentifier() and CODE.fullmatch(f"{names.code_prefix}_QUEUES")
    with tempfile.TemporaryDirectory() as folder:
        scaffold_plugin(folder, name, vendor)
        result = validate_file(Path(folder) / names.package / "devices.toml")
        assert result.valid, (result.errors, [o.problem for o in result.examples if not o.passed])
        assert result.table is not None and (result.table.id, result.table.vendor_id) == (names.table_id, vendor)


def test_template_names_are_the_documented_ones() -> None:
    assert (TEMPLATE_NAMES.distribution, TEMPLATE_NAMES.package, TEMPLATE_NAMES.table_id) == (
        "vfiocompat-example-vendor", "vfiocompat_example_vendor", "example-vendor-devices")


# -- installed and tested as a vendor would (a few seconds: pip builds two wheels) ---------------


def _pip_build_args() -> List[str]:
    """Build without isolation when this interpreter's setuptools can (offline and faster), else as pip likes."""
    try:
        setuptools = Version(metadata.version("setuptools"))
    except metadata.PackageNotFoundError:
        return []
    try:
        metadata.version("wheel")
        has_wheel = True
    except metadata.PackageNotFoundError:
        has_wheel = False
    return ["--no-build-isolation"] if setuptools >= Version("70.1") or (
        setuptools >= Version("64") and has_wheel) else []


def _env(site: Path) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VFIOCOMPAT_DISABLE_PLUGINS", "PYTEST_ADDOPTS")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return env


def _run(argv: List[str], cwd: Path, env: Dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_scaffolded_and_template_plugins_install_and_pass_their_own_tests(tmp_path: Path) -> None:
    acme = tmp_path / "vfiocompat-acme-gpu"
    scaffold_plugin(acme, "acme-gpu", "0x1234", vendor_name="ACME")
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template, ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    site, elsewhere = tmp_path / "site", tmp_path / "cwd"
    elsewhere.mkdir()
    env = _env(site)

    pip = _run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *_pip_build_args(),
                "--target", str(site), str(acme), str(template)], tmp_path, env)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    # The tests must judge the installed wheels, not the sources next to them.
    shutil.rmtree(acme / "vfiocompat_acme_gpu")
    shutil.rmtree(template / "vfiocompat_example_vendor")

    expected = sum(path.read_text("utf-8").count("\ndef test_")
                   for path in (acme / "tests" / "test_acme_gpu_plugin.py",
                                template / "tests" / "test_example_vendor_plugin.py"))
    tests = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "--rootdir", str(acme),
                  "-c", str(acme / "pyproject.toml"), str(acme / "tests"), str(template / "tests")], elsewhere, env)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert re.search(rf"^{expected} passed in ", tests.stdout, re.M), tests.stdout

    listed = _run([sys.executable, "-m", "vfiocompat", "plugins", "--json"], elsewhere, env)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    for name, dist, table, vendor, package in (
        ("acme-gpu", "vfiocompat-acme-gpu", "acme-gpu-devices", "0x1234", "vfiocompat_acme_gpu"),
        ("example-vendor", "vfiocompat-example-vendor", "example-vendor-devices", "0xfffd",
         "vfiocompat_example_vendor"),
    ):
        plugin = plugins[name]
        assert (plugin["distribution"], plugin["version"], plugin["errors"]) == (dist, "0.1.0", [])
        assert [(t["id"], t["vendor"]) for t in plugin["tables"]] == [(table, vendor)]
        assert Path(plugin["tables"][0]["origin"]) == site / package / "devices.toml"

    check = _run([sys.executable, "-m", "vfiocompat", "check", "0x1234:1:exv1-m100-2.3.1-3f-16",
                  "0x1234:1:exv1-m100-2.3.0-3f-16"], elsewhere, env)
    assert check.returncode == 1
    assert "table error[VC411]: target fw is older than the source's" in check.stdout


# -- the whole vendor path, as a vendor walks it (about 30 s: two builds, a fresh venv) ----------


def _console() -> str:
    found = Path(sys.executable).parent / "vfiocompat"
    return str(found) if found.exists() else (shutil.which("vfiocompat") or "vfiocompat")


def _clean_env() -> Dict[str, str]:
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_ADDOPTS", "PYTHONHOME")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("VFIOCOMPAT_")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def test_cli_text_output_as_a_user_runs_it(tmp_path: Path) -> None:
    result = subprocess.run([_console(), "new-plugin", str(tmp_path / "p"), "--name", "acme-gpu", "--vendor-id",
                             "0x1234"], capture_output=True, text=True, timeout=60, check=False, env=_clean_env())
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    lines = result.stdout.splitlines()
    files = sorted(read_tree(tmp_path / "p"))
    assert lines[0] == (f"created {len(files)} files in {tmp_path / 'p'}: plugin 'acme-gpu', distribution"
                        " 'vfiocompat-acme-gpu', package 'vfiocompat_acme_gpu', vendor 0x1234")
    assert lines[1:1 + len(files)] == [f"  {path}" for path in files]
    assert lines[1 + len(files):] == [
        "next:", f"  cd {tmp_path / 'p'}",
        "  edit vfiocompat_acme_gpu/devices.toml: your string format, prefix, rules (with source_url) and examples",
        "  pip install -e '.[test]' && vfiocompat validate vfiocompat_acme_gpu/devices.toml && pytest"]


@pytest.mark.vendor_path
def test_new_plugin_builds_passes_twine_installs_in_a_fresh_venv_and_passes_its_tests(tmp_path: Path) -> None:
    pytest.importorskip("build", reason="the dev extra (build, twine) is not installed")
    pytest.importorskip("twine", reason="the dev extra (build, twine) is not installed")
    env = _clean_env()
    project = tmp_path / "vfiocompat-acme-gpu"
    made = _run([_console(), "new-plugin", str(project), "--name", "acme-gpu", "--vendor-id", "0x1234",
                 "--vendor-name", "ACME"], tmp_path, env)
    assert made.returncode == 0, made.stderr

    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(project)],
                 tmp_path, env)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    assert [w.name for w in wheels] == ["vfiocompat_acme_gpu-0.1.0-py3-none-any.whl"]
    assert [s.name for s in sdists] == ["vfiocompat_acme_gpu-0.1.0.tar.gz"]
    import tarfile
    import zipfile

    with zipfile.ZipFile(wheels[0]) as wheel:
        assert "vfiocompat_acme_gpu/devices.toml" in wheel.namelist()
    with tarfile.open(sdists[0]) as sdist:
        names = sdist.getnames()
    assert {"vfiocompat_acme_gpu-0.1.0/tests/test_acme_gpu_plugin.py",
            "vfiocompat_acme_gpu-0.1.0/README.md"} <= set(names), names
    checked = _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels + sdists)], tmp_path, env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2, checked.stdout

    # vfiocompat from this checkout: what its sdist holds (pyproject, README, the package), copied, so the
    # build never walks the rest of the checkout (.venv, the sysfs fixtures' symlink cycles).
    source = tmp_path / "vfiocompat-src"
    shutil.copytree(ROOT / "vfiocompat", source / "vfiocompat", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env).returncode == 0
    python = venv / "bin" / "python"
    installed = _run([str(python), "-m", "pip", "install", "--quiet", str(source), str(wheels[0]), "pytest>=7"],
                     tmp_path, env)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = _run([str(venv / "bin" / "vfiocompat"), "plugins", "--json"], elsewhere, env)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)["plugins"]}
    assert set(plugins) == {"acme-gpu"}, "a fresh venv has only the new plugin"
    plugin = plugins["acme-gpu"]
    assert (plugin["distribution"], plugin["version"], plugin["errors"]) == ("vfiocompat-acme-gpu", "0.1.0", [])
    [table] = plugin["tables"]
    assert (table["id"], table["vendor"]) == ("acme-gpu-devices", "0x1234")
    assert Path(table["origin"]).resolve().is_relative_to(venv.resolve()), table["origin"]

    # The project's own tests, against the installed wheel: its sources are gone.
    shutil.rmtree(project / "vfiocompat_acme_gpu")
    expected = (project / "tests" / "test_acme_gpu_plugin.py").read_text("utf-8").count("\ndef test_")
    tests = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, env)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert re.search(rf"^{expected} passed in ", tests.stdout, re.M), tests.stdout


# -- the guide that goes with the template: its tables, snippets and sample output are real ------

GUIDE = ROOT / "docs" / "writing-a-plugin.md"


def _guide_blocks(language: str) -> List[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", GUIDE.read_text("utf-8"), re.M | re.S)


def test_guide_worked_table_is_valid_and_its_examples_pass(tmp_path: Path) -> None:
    text = GUIDE.read_text("utf-8")
    block = re.search(r"<!-- guide-table:begin -->\n```toml\n(.*?)```\n<!-- guide-table:end -->", text, re.S)
    assert block is not None
    path = tmp_path / "gizmo.toml"
    path.write_text(block.group(1), "utf-8")
    result = validate_file(path)
    assert result.valid, (result.errors, [o.problem for o in result.examples if not o.passed])
    assert len(result.examples) >= 8
    assert [w.code for w in result.warnings] == ["VC551"]


def test_guide_shows_every_condition_shape_and_each_snippet_compiles(tmp_path: Path) -> None:
    from vfiocompat._conditions import PAIRWISE_TESTS, UNARY_TESTS, compile_condition

    text = GUIDE.read_text("utf-8")
    block = re.search(r"<!-- guide-table:begin -->\n```toml\n(.*?)```", text, re.S)
    assert block is not None
    path = tmp_path / "gizmo.toml"
    path.write_text(block.group(1), "utf-8")
    table = validate_file(path).table
    assert table is not None
    shown: Dict[str, set] = {}
    for snippet in _guide_blocks("toml"):
        for line in snippet.splitlines():
            if not line.startswith("{ field"):
                continue
            data = tomllib.loads(f"c = {line}")["c"]
            spec = table.format.field(data["field"])
            assert spec is not None, line
            compile_condition(data, spec)
            shown.setdefault(data["test"], set()).add(spec.type)
    assert set(shown) == set(PAIRWISE_TESTS) | set(UNARY_TESTS)
    assert {"set", "mask"} <= shown["target_superset"] and {"set", "mask"} <= shown["contains"]


def test_guide_sample_failure_is_what_the_helpers_print(tmp_path: Path) -> None:
    from vfiocompat.testing import assert_compatible, load_registry

    sample = next(block for block in _guide_blocks("text") if block.startswith("AssertionError:"))
    scaffold_plugin(tmp_path / "p", "acme-gpu", "0x1234")
    registry = load_registry(tables=[tmp_path / "p" / "vfiocompat_acme_gpu" / "devices.toml"])
    source, target = re.findall(r"0x1234:1:\S+", sample.splitlines()[0])
    with pytest.raises(AssertionError) as caught:
        assert_compatible(registry, source, target)
    assert f"AssertionError: {caught.value}\n" == sample
