"""W4: a cold ``vfiocompat check S T`` in a new process against ``python -c pass``: goal at most 3x.

Both commands run side by side, interleaved, and the medians are compared (the baseline is
``python -c pass`` of the same virtual environment: both pay its site start-up, which in the
editable development install includes setuptools' editable finder, about 7 ms). The check runs
once before timing, and bytecode is allowed to be cached (PYTHONDONTWRITEBYTECODE is dropped), as
it is for any pip-installed package. Every installed plugin is loaded (nine under ``make``).

    python benchmarks/w4_cold_cli.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import emit, result_line

GOAL_RATIO = 3.0

ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: List[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=ENV)
    return time.perf_counter() - start


def main(argv: Optional[List[str]] = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=41, help="runs of each command, interleaved (default 41)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for run_all.py")
    args = parser.parse_args(argv)
    script = str(Path(sys.executable).with_name("vfiocompat"))
    source = "0x8086:1:8086-193b-i915-GVTg_V5_4-00000001"
    target = "0x8086:1:8086-193b-i915-GVTg_V5_4-00000001"
    check = [script, "check", source, target]
    baseline = [sys.executable, "-c", "pass"]
    timed(check)
    ours, base = [], []
    for _ in range(max(1, args.runs)):
        base.append(timed(baseline))
        ours.append(timed(check))
    ratio = statistics.median(ours) / statistics.median(base)
    print(f"W4 cold `vfiocompat check`: median {statistics.median(ours) * 1e3:.1f} ms;"
          f" `python -c pass`: {statistics.median(base) * 1e3:.1f} ms")
    print(f"W4 ratio {ratio:.2f}x  goal <= {GOAL_RATIO:.0f}x  ratio to goal {GOAL_RATIO / ratio:.2f}x"
          f" ({len(ours)} runs each, interleaved)")
    if args.json:
        emit(result_line("W4-cold-check-vs-python", ratio, "x", GOAL_RATIO,
                         baseline={"name": "python -c pass", "value": round(statistics.median(base) * 1e3, 2),
                                   "unit": "ms"},
                         figures=[{"name": "W4-cold-check", "value": round(statistics.median(ours) * 1e3, 2),
                                   "unit": "ms"}]))
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
