"""``make bench``: every benchmark, each in its own process with ``--json``, then one table of the figures.

Each script prints its own lines, then a last line ``{"name", "value", "unit", "goal", "ratio"}``
(optionally ``baseline`` and further ``figures``); ``ratio`` > 1 is better than the goal. A figure
below its goal is printed as MISSED, which is a result, not a failure: the exit status is
non-zero only when a script fails to run (or gives no result line without saying it is not
available).

    python benchmarks/run_all.py [--output results.json] [--only w3_placement,w6_evacuate] [--timeout S]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
SCRIPTS = ("w1_checks.py", "w2_table_size.py", "w3_placement.py", "w4_cold_cli.py", "w5_labels.py",
           "w6_evacuate.py", "w7_first_check.py", "w8_memory.py", "w9_batch.py", "memory.py", "probe_vfs.py")


def _result(stdout: str) -> Optional[Dict[str, Any]]:
    lines = stdout.strip().splitlines()
    if not lines:
        return None
    try:
        found = json.loads(lines[-1])
    except ValueError:
        return None
    return found if isinstance(found, dict) and {"name", "value", "unit"} <= set(found) else None


def _value(value: Any, unit: str) -> str:
    if isinstance(value, (int, float)) and abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}" if isinstance(value, float) else f"{value} {unit}"


def _rows(result: Dict[str, Any]) -> List[List[str]]:
    rows = []
    baseline = result.get("baseline")
    for index, figure in enumerate([result, *result.get("figures", [])]):
        ratio = figure.get("ratio")
        goal = figure.get("goal")
        verdict = "" if ratio is None else ("ok" if ratio >= 1 else "MISSED")
        rows.append([
            figure["name"],
            "-" if goal is None else _value(goal, figure["unit"]),
            _value(figure["value"], figure["unit"]),
            "-" if ratio is None else f"{ratio:.2f}x {verdict}",
            f"{baseline['name']}: {_value(baseline['value'], baseline['unit'])}" if baseline and index == 0 else "",
        ])
    return rows


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=None, metavar="FILE", help="write the result lines (JSON Lines) here")
    parser.add_argument("--only", default=None, metavar="NAMES", help="scripts to run, e.g. w3_placement,w6_evacuate")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds each script may take (default 1200)")
    args = parser.parse_args(argv)
    chosen = SCRIPTS
    if args.only:
        wanted = {name.strip().removesuffix(".py") for name in args.only.split(",")}
        chosen = tuple(s for s in SCRIPTS if s[:-3] in wanted)
        if len(chosen) != len(wanted):
            print(f"run_all: unknown script in --only; known: {', '.join(s[:-3] for s in SCRIPTS)}", file=sys.stderr)
            return 2
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
          f" {platform.platform()}", flush=True)
    results: List[Dict[str, Any]] = []
    table: List[List[str]] = []
    failed: List[str] = []
    for script in chosen:
        start = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, str(HERE / script), "--json"], cwd=HERE, check=False,
                                  capture_output=True, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            print(f"{script}: FAILED: no result within {args.timeout:.0f} s", flush=True)
            failed.append(script)
            table.append([script, "-", "-", "FAILED (timeout)", ""])
            continue
        lines = done.stdout.strip().splitlines()
        result = _result(done.stdout)
        for line in lines[:-1] if result else lines:
            print(line)
        if done.stderr.strip():
            print(done.stderr.rstrip(), file=sys.stderr)
        print(f"  ({script}: {time.perf_counter() - start:.1f} s)", flush=True)
        if done.returncode != 0:
            failed.append(script)
            table.append([script, "-", "-", f"FAILED (exit {done.returncode})", ""])
        elif result is None:
            if "not available" in done.stdout:
                table.append([script, "-", "-", "not available", ""])
            else:
                failed.append(script)
                table.append([script, "-", "-", "FAILED (no result line)", ""])
        else:
            result["script"] = script
            results.append(result)
            table.extend(_rows(result))
    header = ["benchmark", "goal", "measured", "ratio to goal", "baseline (same run)"]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
    print()
    for row in [header, ["-" * w for w in widths], *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    missed = [row[0] for row in table if "MISSED" in row[3]]
    if missed:
        print(f"\nMISSED goals: {', '.join(missed)}")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            for result in results:
                handle.write(json.dumps(result) + "\n")
        print(f"results written to {args.output}")
    if failed:
        print(f"FAILED to run: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
