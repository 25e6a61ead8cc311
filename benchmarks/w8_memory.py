"""W8: peak RSS of a 10,000-rule table checked through the CLI, first and warm: goal <= 50 MB each.

Each check is its own process (``vfiocompat check --no-plugins --table T.toml S T``); its peak
resident set is its own rusage (``os.wait4``). It is started by a small launcher process (python
-S -I), not by this script: Linux carries the parent's peak RSS into a child's ``ru_maxrss``
across fork/vfork and exec (fs/exec.c, ``setmax_mm_hiwater_rss``), so a child of this script,
which has the fleet and the package imported, would report this script's size, not its own. First:
the first run (bytecode of nothing but the package cached); warm: the same check again. The figure
is the larger of the two. Baseline in the same run: ``python -c pass`` and a check of the
reference plugins' devices (no big table).

    python benchmarks/w8_memory.py [--rules N] [--json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import emit, result_line
from synthetic import write_table
from w7_first_check import command, environment

GOAL_MB = 50.0

LAUNCHER = """
import os, sys
actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=actions)
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def peak_rss(argv: List[str], env: Dict[str, str]) -> float:
    """Peak RSS (MB) of ``argv`` run to completion, read by a small launcher (see the module's docstring)."""
    launched = subprocess.run([sys.executable, "-S", "-I", "-c", LAUNCHER, *argv], capture_output=True, text=True,
                              env=env, check=True)
    status, kilobytes = map(int, launched.stdout.split())
    if status not in (0, 1):  # 1 is a verdict; anything else means the check did not run
        raise SystemExit(f"{' '.join(argv[:3])} exited {status}: {launched.stderr.strip()[-500:]}")
    return kilobytes / 1024


def main(argv: Optional[List[str]] = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000, help="rules of the table (default 10,000)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for run_all.py")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vfiocompat-w8-") as folder:
        table = write_table(Path(folder), args.rules)
        env = environment()
        first = peak_rss(command(table, args.rules), env)
        warm = peak_rss(command(table, args.rules), env)
        python = peak_rss([sys.executable, "-c", "pass"], env)
        reference = [str(Path(sys.executable).with_name("vfiocompat")), "check",
                     "0x8086:1:8086-193b-i915-GVTg_V5_4-00000001", "0x8086:1:8086-193b-i915-GVTg_V5_4-00000001"]
        small = peak_rss(reference, env)
    peak = max(first, warm)
    print(f"W8 peak RSS, {args.rules:,}-rule table checked through the CLI: first {first:.1f} MB, warm {warm:.1f} MB"
          f"  goal <= {GOAL_MB:.0f} MB  ratio {GOAL_MB / peak:.2f}x")
    print(f"W8 baseline: python -c pass {python:.1f} MB; a check over the reference plugins {small:.1f} MB")
    if args.json:
        emit(result_line(f"W8-peak-rss-{args.rules}-rules", peak, "MB", GOAL_MB,
                         baseline={"name": "python -c pass", "value": round(python, 1), "unit": "MB"},
                         figures=[result_line("W8-first", first, "MB", GOAL_MB),
                                  result_line("W8-warm", warm, "MB", GOAL_MB),
                                  {"name": "W8-reference-check", "value": round(small, 1), "unit": "MB"}]))
    return peak


if __name__ == "__main__":
    main(sys.argv[1:])
