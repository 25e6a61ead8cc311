"""Reading a batch of pairs to check: one ``SOURCE TARGET`` pair per line, from a file or stdin.

The whole batch is read and checked before any pair is judged, so a malformed line is refused
(with its file and line) before a single verdict is printed. Bounds: :data:`MAX_LINE_CHARS` per
line and :data:`MAX_PAIRS` pairs; blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import sys
from typing import IO, List, Tuple

from ._device_version import MAX_LENGTH
from .errors import LimitError, UsageError

__all__ = ["MAX_LINE_CHARS", "MAX_PAIRS", "read_pairs"]

#: Longest line: two device_versions at their maximum and the blank between them.
MAX_LINE_CHARS = 2 * MAX_LENGTH + 1
#: Most pairs in one batch (a fleet's every device against every other fits many times over).
MAX_PAIRS = 1_000_000


def read_pairs(name: str) -> List[Tuple[str, str]]:
    """The pairs in the file ``name`` (``-`` for stdin); raise a one-line error naming ``file:line``."""
    if name == "-":
        return _pairs(sys.stdin, "<stdin>")
    try:
        with open(name, encoding="utf-8", errors="surrogateescape") as handle:
            return _pairs(handle, name)
    except OSError as error:
        raise UsageError(f"--batch {name!r}: cannot read: {error.strerror or error}") from None


def _pairs(handle: IO[str], origin: str) -> List[Tuple[str, str]]:
    pairs: List[Tuple[str, str]] = []
    number = 0
    while True:
        # One bounded line at a time: a file with no newline cannot grow memory past the limit.
        line = handle.readline(MAX_LINE_CHARS + 2)
        if not line:
            return pairs
        number += 1
        if len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
            raise LimitError(f"{origin}:{number}: line is over {MAX_LINE_CHARS} characters")
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if len(words) != 2:
            raise UsageError(f"{origin}:{number}: expected 'SOURCE TARGET', found {len(words)} words")
        if len(pairs) == MAX_PAIRS:
            raise LimitError(f"{origin}:{number}: more than {MAX_PAIRS} pairs in one batch")
        pairs.append((words[0], words[1]))
