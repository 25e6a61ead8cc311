"""W9: ``vfiocompat check --batch FILE`` over 20,000 pairs, one process: goal <= 2 s wall.

The pairs are fleet-like (benchmarks/w1_checks.py: drawn from the reference plugins' example
device_versions, a few dominating), one ``SOURCE TARGET`` per line; the installed console script
judges them with the installed plugins, text and ``--json`` (JSON Lines) both timed, the slower
reported. Baseline in the same run: one process per pair (``vfiocompat check S T``), its median
over ``--single`` runs times the number of pairs. If this ``vfiocompat`` has no ``--batch``, the
script says so and exits 0 without a result line.

    python benchmarks/w9_batch.py [--pairs N] [--runs R] [--single K] [--json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import emit, result_line
from w1_checks import device_space, fleet_pairs

import vfiocompat

GOAL_SECONDS = 2.0
ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: List[str], lines: int) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=ENV, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv[1:3])} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    printed = done.stdout.count(b"\n")
    if lines and printed != lines:
        raise SystemExit(f"{' '.join(argv[1:])}: {printed} verdict lines for {lines} pairs")
    return elapsed


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20_000, help="pairs in the batch file (default 20,000)")
    parser.add_argument("--runs", type=int, default=3, help="batch runs of each form; the median (default 3)")
    parser.add_argument("--single", type=int, default=10, help="one-pair processes timed for the baseline (default 10)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for run_all.py")
    args = parser.parse_args(argv)
    script = str(Path(sys.executable).with_name("vfiocompat"))
    usage = subprocess.run([script, "check", "--help"], capture_output=True, text=True, env=ENV, check=False).stdout
    if "--batch" not in usage:
        print("W9 check --batch: not available in this vfiocompat (no --batch option); nothing measured")
        return 0
    pairs = fleet_pairs(device_space(vfiocompat.default_registry()), args.pairs)
    with tempfile.TemporaryDirectory(prefix="vfiocompat-w9-") as folder:
        path = Path(folder) / "pairs.txt"
        path.write_text("".join(f"{s} {t}\n" for s, t in pairs), "ascii")
        text = [timed([script, "check", "--batch", str(path)], len(pairs)) for _ in range(max(1, args.runs))]
        lines = [timed([script, "check", "--batch", str(path), "--json"], len(pairs)) for _ in range(max(1, args.runs))]
    single = statistics.median(timed([script, "check", *pairs[i]], 0) for i in range(max(1, args.single)))
    elapsed = max(statistics.median(text), statistics.median(lines))
    print(f"W9 check --batch over {len(pairs):,} pairs: text {statistics.median(text):.3f} s, --json"
          f" {statistics.median(lines):.3f} s (median of {len(text)})  goal <= {GOAL_SECONDS} s"
          f"  ratio {GOAL_SECONDS / elapsed:.2f}x")
    print(f"W9 baseline one process per pair: {single * 1e3:.1f} ms each, {single * len(pairs):.0f} s for"
          f" {len(pairs):,} pairs")
    if args.json:
        emit(result_line(f"W9-check-batch-{len(pairs)}-pairs", elapsed, "s", GOAL_SECONDS,
                         baseline={"name": "one process per pair (estimated)", "value": round(single * len(pairs), 1),
                                   "unit": "s"}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
