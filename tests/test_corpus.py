"""The hostile-input corpus in tests/corpus/: every input is refused with its code, nothing crashes or hangs.

* ``device_versions.json``: strings judged by ``check`` (a refusal verdict, exit 1, the code on stdout) and,
  for VC1xx, by ``parse`` (exit 2, one ``vfiocompat: error[CODE]: ...`` line on stderr).
* ``tables/<codes>--<slug>.<ext>``: table files; the file name says the code of the first error.
* ``argv.json``: command lines, with the exit status and the code they must get.

The bulk runs in-process through :func:`vfiocompat._cli.main`; a part runs the installed console script.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Sequence, Tuple, Union

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vfiocompat import Registry
from vfiocompat._cli import main
from vfiocompat._device_version import MAX_LENGTH, parse
from vfiocompat._schema import schema
from vfiocompat._table_files import MAX_TABLE_BYTES, read_table
from vfiocompat._tables import MAX_RULES, compile_table
from vfiocompat._validation import validate_file
from vfiocompat.errors import DeviceVersionError, TableError

CORPUS = Path(__file__).resolve().parent / "corpus"
BASE = CORPUS / "base.toml"
TABLES = CORPUS / "tables"
SCRIPT = str(Path(sys.executable).with_name("vfiocompat"))
STRINGS_DOC = json.loads((CORPUS / "device_versions.json").read_text("utf-8"))
GOOD: str = STRINGS_DOC["good"]
STRINGS: List[Dict[str, Any]] = STRINGS_DOC["strings"]
ARGV: List[Dict[str, Any]] = json.loads((CORPUS / "argv.json").read_text("utf-8"))["argv"]
TABLE_FILES = sorted(p for p in TABLES.iterdir() if p.is_file())
BASE_JSON = json.dumps(read_table(BASE).data)

ERROR_LINE = re.compile(r"^vfiocompat: error\[(VC\d{3})\]: .+$")
DIAGNOSTIC_LINE = re.compile(r"^vfiocompat: (error|warning)\[([A-Z][A-Z0-9_-]*)\]: .+$")
REASON_LINE = re.compile(r"^  (core|table|plugin|host) error\[([A-Z][A-Z0-9_-]*)\]: (.+)$")
#: Codes a string gets from the core before any table looks at it (``parse`` refuses them too).
PARSE_CODES = re.compile(r"^VC10\d$")
TIMEOUT = 60
#: Output stays text even for the undecodable bytes some inputs carry.
SUBPROCESS_ENV = {"PYTHONIOENCODING": "utf-8:surrogateescape"}


# -- helpers --------------------------------------------------------------------------------------


def materialize(entry: Dict[str, Any]) -> str:
    """The string a corpus entry stands for (long ones are generated, not stored)."""
    if "text" in entry:
        return str(entry["text"])
    return str(entry.get("prefix", "")) + str(entry["repeat"]) * int(entry["times"]) + str(entry.get("suffix", ""))


def run_main(argv: Sequence[str]) -> Tuple[int, str, str]:
    """Run the CLI in this process; an escaping exception fails the test (it would be a traceback)."""
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


def run_script(argv: Sequence[Union[str, bytes]], cwd: Path, env: Dict[str, str] | None = None,
               timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run the installed console script; str arguments go through os.fsencode (surrogates become bytes)."""
    args = [SCRIPT, *(a if isinstance(a, bytes) else os.fsencode(a) for a in argv)]
    return subprocess.run(
        args, capture_output=True, cwd=cwd, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
        env={**os.environ, **SUBPROCESS_ENV, **(env or {})}, encoding="utf-8", errors="surrogateescape",
    )


def tree_digest(*roots: Path) -> Dict[str, str]:
    """SHA-256 of every file under ``roots`` (and the set of names), to prove nothing was written."""
    digests: Dict[str, str] = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.is_symlink():
                digests[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                digests[str(path)] = "dir"
    return digests


@pytest.fixture(scope="module", autouse=True)
def corpus_untouched() -> Iterator[None]:
    """No input of the corpus may change while the module runs (hashed once: it is 200 files)."""
    before = tree_digest(CORPUS)
    yield
    assert tree_digest(CORPUS) == before, "a corpus file changed"


@pytest.fixture
def untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run in an empty working folder; afterwards it must still be empty (nothing written or created)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    yield work
    assert tree_digest(work) == {}, "an input created a file in the working folder"


def expected_codes(path: Path) -> List[str]:
    """``vc503-vc507--slug.json`` -> ``['VC503', 'VC507']`` (any of them may come first)."""
    return [code.upper() for code in path.name.split("--", 1)[0].split("-")]


def fill(argv: Sequence[str], tmp: Path) -> List[str]:
    mapping = {"{good}": GOOD, "{base}": str(BASE), "{tables}": str(TABLES), "{tmp}": str(tmp)}
    filled = []
    for arg in argv:
        text = arg
        for key, value in mapping.items():
            text = text.replace(key, value)
        filled.append(text)
    return filled


def assert_reason(out: str, code: str, side: str | None) -> None:
    """The refusal lists ``code``; core parse reasons say which side they are about."""
    reasons = [m for m in map(REASON_LINE.match, out.splitlines()) if m]
    matching = [m for m in reasons if m.group(2) == code]
    assert matching, f"no reason {code} in:\n{out[:2000]}"
    if side is not None and (PARSE_CODES.match(code) or code in ("VC111", "VC204")):
        assert any(m.group(3).startswith(f"{side}: ") for m in matching), out[:2000]


def assert_error_lines(stderr: str, code: str) -> None:
    lines = stderr.splitlines()
    assert lines, "no error on stderr"
    assert "Traceback" not in stderr
    for line in lines:
        assert DIAGNOSTIC_LINE.match(line), f"not a one-line diagnostic: {line[:300]!r}"
    first = ERROR_LINE.match(lines[0])
    assert first is not None and first.group(1) == code, lines[0][:300]


# -- the corpus is what it says it is -----------------------------------------------------------


def test_corpus_holds_at_least_200_distinct_inputs() -> None:
    ids = [e["id"] for e in STRINGS] + [e["id"] for e in ARGV] + [p.name for p in TABLE_FILES]
    assert len(ids) >= 200
    assert len(set(ids)) == len(ids)
    texts = [materialize(e) for e in STRINGS]
    assert len(set(texts)) == len(texts), "two string entries are the same input"
    # The extension matters (it picks TOML or JSON), so an input is its suffix and its bytes.
    assert len({(p.suffix, p.read_bytes()) for p in TABLE_FILES}) == len(TABLE_FILES), "two table files are the same"


def test_base_table_is_valid_so_refusals_come_from_the_inputs() -> None:
    result = validate_file(BASE)
    assert result.valid, result.errors
    status, out, err = run_main(["check", "--no-plugins", "--table", str(BASE), GOOD, GOOD])
    assert (status, err) == (0, ""), out


# -- device_version strings ---------------------------------------------------------------------------


@pytest.mark.parametrize("entry", STRINGS, ids=[e["id"] for e in STRINGS])
def test_string_is_refused_with_its_code(entry: Dict[str, Any], untouched: Path) -> None:
    text = materialize(entry)
    code = entry["code"]
    for argv, side in (([text, GOOD], "source"), ([GOOD, text], "target")):
        # "--": a device_version may start with "-" (argparse would read it as an option).
        status, out, err = run_main(["check", "--no-plugins", "--table", str(BASE), "--", *argv])
        assert (status, err) == (1, ""), out[:2000]
        assert out.startswith("not compatible: ")
        assert_reason(out, code, side)
        status, out, err = run_main(["check", "--json", "--no-plugins", "--table", str(BASE), "--", *argv])
        form = json.loads(out)
        assert (status, err, form["compatible"]) == (1, "", False)
        assert code in [reason["code"] for reason in form["reasons"]]
    if PARSE_CODES.match(code):
        with pytest.raises(DeviceVersionError) as raised:
            parse(text)
        assert raised.value.code == code
        assert 0 <= raised.value.position <= min(len(text), MAX_LENGTH)
        status, out, err = run_main(["parse", "--no-plugins", "--", text])
        assert (status, out) == (2, "")
        assert len(err.splitlines()) == 1
        assert_error_lines(err, code)


def _subprocess_strings() -> List[Dict[str, Any]]:
    """Strings that execve can carry: no NUL, under the kernel's 128 KiB per argument; varied codes."""
    chosen: Dict[str, Dict[str, Any]] = {}
    for entry in STRINGS:
        text = materialize(entry)
        if "\x00" in text or len(text.encode("utf-8", "surrogateescape")) > 120_000:
            continue
        if entry["id"].startswith(("argv-", "bidi-rlo", "ansi-", "crlf", "vendor-2-pow", "100-kib")) \
                or entry["code"] not in {e["code"] for e in chosen.values()}:
            chosen[entry["id"]] = entry
    return list(chosen.values())


SUBPROCESS_STRINGS = _subprocess_strings()


def test_strings_through_the_console_script(untouched: Path) -> None:
    assert len(SUBPROCESS_STRINGS) >= 20
    jobs: List[Tuple[Dict[str, Any], List[str]]] = []
    for entry in SUBPROCESS_STRINGS:
        text = materialize(entry)
        jobs.append((entry, ["check", "--no-plugins", "--table", str(BASE), "--", text, GOOD]))
        if PARSE_CODES.match(entry["code"]):
            jobs.append((entry, ["parse", "--no-plugins", "--", text]))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: run_script(job[1], untouched), jobs))
    for (entry, argv), result in zip(jobs, results):
        where = f"{entry['id']} ({argv[0]})"
        assert "Traceback" not in result.stderr, where
        if argv[0] == "check":
            assert (result.returncode, result.stderr) == (1, ""), where
            assert_reason(result.stdout, entry["code"], "source")
        else:
            assert (result.returncode, result.stdout) == (2, ""), where
            assert len(result.stderr.splitlines()) == 1, where
            assert_error_lines(result.stderr, entry["code"])


# -- table files ----------------------------------------------------------------------------------


def test_every_table_file_gets_its_code_from_validate_in_one_process(untouched: Path) -> None:
    result = run_script(["validate", "--no-plugins", *map(str, TABLE_FILES)], untouched)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    for line in lines:
        assert DIAGNOSTIC_LINE.match(line), f"not a one-line diagnostic: {line[:300]!r}"
    for path in TABLE_FILES:
        mine = [line for line in lines if f" {path}:" in line]
        assert mine, f"no error for {path.name}"
        first = DIAGNOSTIC_LINE.match(mine[0])
        assert first is not None and first.group(2) in expected_codes(path), f"{path.name}: {mine[0][:300]}"
    ok_lines = [line for line in result.stdout.splitlines() if " ok, " in line]
    assert ok_lines == [], "a hostile table was reported ok"


def test_every_table_file_gets_its_code_in_json(untouched: Path) -> None:
    result = run_script(["validate", "--no-plugins", "--json", *map(str, TABLE_FILES)], untouched)
    assert (result.returncode, result.stderr) == (2, "")
    form = json.loads(result.stdout)
    assert form["valid"] is False
    assert [f["file"] for f in form["files"]] == [str(p) for p in TABLE_FILES]
    for path, found in zip(TABLE_FILES, form["files"]):
        codes = [e["code"] for e in found["errors"]] + ["VC506" for e in found["examples"] if not e["passed"]]
        assert found["valid"] is False and codes, path.name
        assert codes[0] in expected_codes(path), (path.name, codes)


@pytest.mark.parametrize("path", [p for p in TABLE_FILES if "VC506" not in expected_codes(p)],
                         ids=lambda p: p.name)
def test_a_broken_table_file_fails_closed_naming_itself(path: Path, untouched: Path) -> None:
    # A table the caller names is input: a broken one is refused outright (issue 9: never judged without it).
    with pytest.raises(TableError) as raised:
        Registry(tables=[path])
    # Checks run the compiler, not the schema: what the schema calls malformed (VC503) the compiler may
    # find first as inconsistent (VC504); `validate` gives the schema's own code (tested above).
    expected = expected_codes(path)
    assert raised.value.code in (*expected, *(["VC504"] if "VC503" in expected else []))
    status, out, err = run_main(["check", "--no-plugins", "--table", str(path), GOOD, GOOD])
    assert (status, out) == (2, "")
    assert_error_lines(err, raised.value.code)
    assert str(path) in err or repr(str(path)) in err


def test_a_table_over_16_mib_is_refused_before_parsing(tmp_path: Path, untouched: Path) -> None:
    big = tmp_path / "big.toml"
    with big.open("wb") as handle:
        handle.write(BASE.read_bytes())
        handle.write(b"#" * (MAX_TABLE_BYTES + 1 - handle.tell()))
    status, out, err = run_main(["validate", "--no-plugins", str(big)])
    assert (status, out) == (2, "")
    assert_error_lines(err, "VC507")
    exactly = tmp_path / "exactly.toml"
    exactly.write_bytes(BASE.read_bytes() + b"#" * (MAX_TABLE_BYTES - len(BASE.read_bytes())))
    assert validate_file(exactly).valid


def test_more_rules_than_the_limit_are_refused_by_the_compiler() -> None:
    data = json.loads(json.dumps({
        "schema_version": 1, "table": {"id": "t", "vendor": "0x1", "prefixes": [""]},
        "format": {"kind": "delimited", "fields": [{"name": "v", "type": "uint"}]},
    }))
    data["rules"] = [{"id": f"r{i}", "effect": "allow", "conditions": [{"field": "v", "test": "equal"}]}
                     for i in range(MAX_RULES + 1)]
    with pytest.raises(TableError) as raised:
        compile_table(data, origin="t.json", plugin="p")
    assert raised.value.code == "VC507"
    data["rules"] = data["rules"][:MAX_RULES]
    assert len(compile_table(data, origin="t.json", plugin="p").rules) == MAX_RULES


# -- command lines ------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ARGV, ids=[e["id"] for e in ARGV])
def test_command_line_is_refused_in_process(entry: Dict[str, Any], untouched: Path) -> None:
    status, out, err = run_main(fill(entry["argv"], untouched))
    assert status == entry["exit"], (out[:1000], err[:1000])
    if entry["stream"] == "stderr":
        assert out == ""
        assert_error_lines(err, entry["code"])
    elif entry["stream"] == "json":
        assert err == ""
        form = json.loads(out)
        jsonschema.validate(form, schema("error"))
        assert form["error"]["code"] == entry["code"], form
    else:
        assert err == ""
        assert_reason(out if not out.startswith("{") else _json_reasons(out), entry["code"], None)


def _json_reasons(out: str) -> str:
    form = json.loads(out)
    return "\n".join(f"  {r['layer']} error[{r['code']}]: {r['message']}" for r in form["reasons"])


def test_command_lines_through_the_console_script(untouched: Path) -> None:
    jobs = [fill(entry["argv"], untouched) for entry in ARGV]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda argv: run_script(argv, untouched), jobs))
    for entry, result in zip(ARGV, results):
        where = entry["id"]
        assert "Traceback" not in result.stderr, where
        assert result.returncode == entry["exit"], (where, result.stderr[:500])
        if entry["stream"] == "stderr":
            assert result.stdout == "", where
            assert_error_lines(result.stderr, entry["code"])
        elif entry["stream"] == "json":
            assert result.stderr == "", where
            assert json.loads(result.stdout)["error"]["code"] == entry["code"], where
        else:
            assert result.stderr == "", where
            shown = result.stdout if not result.stdout.startswith("{") else _json_reasons(result.stdout)
            assert_reason(shown, entry["code"], None)


# -- fuzzing with hypothesis (bounded, part of the normal suite) --------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.sampled_from("0x:.f01d9=;-gen/model w\x00\udcff\u0663"), max_size=60),
    st.builds(lambda a, b: f"0xf00d:1:gen=3;model={a};fw={b}", st.text(max_size=12), st.text(max_size=12)),
))
def test_fuzz_any_string_is_judged_never_crashes(text: str) -> None:
    registry = _fuzz_registry()
    verdict = registry.check(text, GOOD)
    if not verdict.compatible:
        assert verdict.reasons, "a refusal without a reason"
    try:
        parse(text)
    except DeviceVersionError as error:
        assert PARSE_CODES.match(error.code)
        assert not verdict.compatible
    status, _, err = run_main(["check", "--no-plugins", "--table", str(BASE), "--", text, GOOD])
    assert status == (0 if verdict.compatible else 1) and err == ""


_REGISTRY: List[Registry] = []


def _fuzz_registry() -> Registry:
    if not _REGISTRY:
        _REGISTRY.append(Registry(tables=[BASE]))
    return _REGISTRY[0]


@settings(max_examples=150, deadline=None)
@given(st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(TABLE_FILES).flatmap(
        lambda p: st.tuples(st.just(p.read_bytes()[:20_000]), st.integers(0, 400), st.binary(max_size=8))
    ).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + len(t[2]):]),
    st.just(BASE.read_bytes()).flatmap(
        lambda raw: st.tuples(st.integers(0, len(raw)), st.binary(min_size=1, max_size=6))
    ).map(lambda t: BASE.read_bytes()[: t[0]] + t[1] + BASE.read_bytes()[t[0] + len(t[1]):]),
), st.sampled_from(["toml", "json", "bin"]))
def test_fuzz_any_table_bytes_validate_to_codes_never_crash(raw: bytes, ext: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz.{ext}"
        path.write_bytes(raw)
        result = validate_file(path)
        for error in result.errors:
            assert re.match(r"^VC5\d\d$", error.code), error.code
            assert "\n" not in error.one_line()
        if result.table is None:
            assert result.errors
        if result.table is None:
            with pytest.raises(TableError):
                Registry(tables=[path])
        else:
            assert not [f for r in Registry(tables=[path]).plugins for f in r.failures]


# -- regressions: core bugs the corpus found (each was an xfail until the core was fixed) --------------


def test_undecodable_argv_with_strict_utf8_stdout_is_not_a_traceback(untouched: Path) -> None:
    result = run_script(["check", "--no-plugins", b"\xff:1:a", GOOD], untouched, env={"PYTHONIOENCODING": "utf-8"})
    assert "Traceback" not in result.stderr
    assert result.returncode == 1
    assert_reason(result.stdout, "VC103", "source")


def test_verdict_header_does_not_echo_control_characters(untouched: Path) -> None:
    status, out, _ = run_main(["check", "--no-plugins", "0xf00d:1:\x1b[2J\r\nvfiocompat: compatible", GOOD])
    assert status == 1
    header = out.splitlines()[0]
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in header)
    assert out.splitlines()[1].startswith("  core error[VC103]")


def test_a_fifo_as_table_file_does_not_hang(tmp_path: Path, untouched: Path) -> None:
    fifo = tmp_path / "table.toml"
    os.mkfifo(fifo)
    try:
        result = run_script(["validate", "--no-plugins", str(fifo)], untouched, timeout=3)
    except subprocess.TimeoutExpired:
        pytest.fail("validate hung on a FIFO")
    assert result.returncode == 2
    assert_error_lines(result.stderr, "VC501")


def test_a_table_path_with_nul_is_an_error_not_a_crash(untouched: Path) -> None:
    status, out, err = run_main(["validate", "--no-plugins", "bad\x00.toml"])
    assert (status, out) == (2, "")
    assert_error_lines(err, "VC501")


def test_identifiers_with_a_trailing_newline_are_refused(tmp_path: Path) -> None:
    data = json.loads(BASE_JSON)
    data["rules"][1]["code"] = "CORPUS_BAD_FW\n"
    data["rules"][0]["id"] = "same-model\n"
    path = tmp_path / "newline.json"
    path.write_text(json.dumps(data), "utf-8")
    result = validate_file(path)
    assert [e.code for e in result.errors][:1] == ["VC503"]


def test_a_count_limit_is_reported_as_limit_exceeded(untouched: Path) -> None:
    for name in ("vc507--rule-conditions-65.json", "vc507--format-fields-129.json"):
        result = validate_file(TABLES / name)
        assert [e.code for e in result.errors][:1] == ["VC507"], name


def test_refused_over_long_strings_are_not_retained() -> None:
    registry = Registry(tables=[BASE])
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(16):
            registry.check(f"{i:x}" + "a" * (1 << 20), GOOD)
        retained = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert retained < 4 << 20, f"{retained} bytes retained after 16 refused 1 MiB strings"
