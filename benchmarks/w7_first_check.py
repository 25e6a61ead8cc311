"""W7: a 10,000-rule table's first check through the CLI, validation included: goal <= 1.5 s wall.

``vfiocompat check --no-plugins --table T.toml S T`` in a new process: the table is decoded,
counted and compiled by the strict compiler (which refuses all the JSON Schema refuses), as on the
first migration after a package update; nothing is remembered between runs. Median of ``--runs``.
Baseline in the same run: ``vfiocompat validate T.toml``, the vendor CI's path, which also runs
the Draft 2020-12 schema (jsonschema) for its diagnostics and the table's examples.

    python benchmarks/w7_first_check.py [--rules N] [--runs R] [--json]
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
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import emit, result_line
from synthetic import device_versions, write_table

GOAL_SECONDS = 1.5


def command(table: Path, rules: int) -> List[str]:
    """The check: two device_versions of the table's types, through the installed console script."""
    source, target = device_versions(rules, 2)
    return [str(Path(sys.executable).with_name("vfiocompat")), "check", "--no-plugins", "--table", str(table),
            source, target]


def environment() -> Dict[str, str]:
    return {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def run(argv: List[str], env: Dict[str, str]) -> float:
    """Wall seconds of one check in a new process; a check that did not run (exit 2, a crash) stops the script."""
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1 is a verdict (or, for validate, examples that disagree)
        raise SystemExit(f"check exited {done.returncode}: {done.stderr.decode(errors='replace').strip()[-500:]}")
    return elapsed


def main(argv: Optional[List[str]] = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000, help="rules of the table (default 10,000)")
    parser.add_argument("--runs", type=int, default=3, help="first checks timed (default 3)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for run_all.py")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vfiocompat-w7-") as folder:
        table = write_table(Path(folder), args.rules)
        argv_ = command(table, args.rules)
        validate = [argv_[0], "validate", "--no-plugins", str(table)]
        firsts, warms = [], []
        for _ in range(max(1, args.runs)):
            firsts.append(run(argv_, environment()))
            warms.append(run(validate, environment()))
    first, warm = statistics.median(firsts), statistics.median(warms)
    print(f"W7 first check of a {args.rules:,}-rule table through the CLI, validation included: {first:.3f} s"
          f" (median of {len(firsts)})  goal <= {GOAL_SECONDS} s  ratio {GOAL_SECONDS / first:.2f}x")
    print(f"W7 baseline, `vfiocompat validate` of the same table (JSON Schema, compiler, examples): {warm:.3f} s")
    if args.json:
        emit(result_line(f"W7-first-check-{args.rules}-rules", first, "s", GOAL_SECONDS,
                         baseline={"name": "vfiocompat validate (schema included)", "value": round(warm, 6),
                                   "unit": "s"}))
    return first


if __name__ == "__main__":
    main(sys.argv[1:])
