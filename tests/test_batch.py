"""vfiocompat._batch and `check --batch`: every line judged, the exit status 0 only when all are compatible."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import List, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vfiocompat._batch import MAX_LINE_CHARS, read_pairs
from vfiocompat.errors import LimitError, UsageError

from .test_cli import GOOD, NEWER, SCRIPT, conforms

OLDER_FIRST = f"{GOOD} {NEWER}\n"
NEWER_FIRST = f"{NEWER} {GOOD}\n"


def batch(text: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, "check", *args, "--batch", "-"], input=text, capture_output=True, text=True,
                          timeout=60, check=False)


def test_pairs_skip_blank_and_comment_lines_and_keep_order(tmp_path: Path) -> None:
    path = tmp_path / "pairs"
    path.write_text(f"# fleet\n\n{OLDER_FIRST}  {NEWER}\t{GOOD}  \n")
    assert read_pairs(str(path)) == [(GOOD, NEWER), (NEWER, GOOD)]


@pytest.mark.parametrize("line, words", [("a", 1), ("a b c", 3)])
def test_a_line_that_is_not_a_pair_names_its_file_and_line(line: str, words: int, tmp_path: Path) -> None:
    path = tmp_path / "pairs"
    path.write_text(f"{OLDER_FIRST}{line}\n")
    with pytest.raises(UsageError, match=rf"pairs:2: expected 'SOURCE TARGET', found {words} words"):
        read_pairs(str(path))


def test_an_over_long_line_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "pairs"
    path.write_text("x" * (10 * MAX_LINE_CHARS))
    with pytest.raises(LimitError, match=r"pairs:1: line is over"):
        read_pairs(str(path))


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        read_pairs(str(tmp_path / "nope"))


@given(st.lists(st.tuples(st.sampled_from([GOOD, NEWER]), st.sampled_from([GOOD, NEWER])), max_size=20))
def test_reading_gives_back_the_pairs_written(pairs: List[Tuple[str, str]]) -> None:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".pairs", delete=False) as handle:
        handle.write("".join(f"{s} {t}\n" for s, t in pairs))
    try:
        assert read_pairs(handle.name) == pairs
    finally:
        Path(handle.name).unlink()


def test_check_batch_prints_one_verdict_line_per_pair_and_exits_by_the_worst() -> None:
    refused = batch(OLDER_FIRST + NEWER_FIRST)
    assert refused.returncode == 1, refused.stderr
    lines = refused.stdout.splitlines()
    assert lines[0] == f"compatible: {GOOD} -> {NEWER}"
    assert lines[1].startswith(f"not compatible: {NEWER} -> {GOOD} [")
    assert len(lines) == 2
    admitted = batch(OLDER_FIRST * 3)
    assert (admitted.returncode, admitted.stdout.count("\n")) == (0, 3)


def test_check_batch_json_is_one_verdict_document_per_line() -> None:
    result = batch(OLDER_FIRST + NEWER_FIRST, "--json")
    assert result.returncode == 1
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    for document in documents:
        conforms(document, "verdict")
    assert [d["compatible"] for d in documents] == [True, False]


def test_an_empty_batch_judged_nothing_so_it_is_not_compatible() -> None:
    assert batch("# nothing\n").returncode == 1


def test_a_malformed_batch_prints_no_verdict_at_all() -> None:
    result = batch(OLDER_FIRST + "lonely\n")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("vfiocompat: error[VC001]: <stdin>:2:")
    as_json = batch(OLDER_FIRST + "lonely\n", "--json")
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["error"]["code"] == "VC001"


def test_batch_and_a_pair_together_are_refused() -> None:
    result = subprocess.run([SCRIPT, "check", GOOD, NEWER, "--batch", "-"], input=OLDER_FIRST, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 2 and "not both" in result.stderr
