"""Memory: a 10,000-rule table loaded and compiled in a fresh process: goal at most 100 MB resident.

The baseline is the same process before the table is loaded (interpreter and imports).

    python benchmarks/memory.py [--rules N] [--json]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import emit, result_line
from synthetic import write_table

GOAL_MB = 100.0

CHILD = """
import resource, sys
from vfiocompat import Registry
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
registry = Registry(tables=[sys.argv[1]])
assert len(registry.tables[0].rules) >= int(sys.argv[2]), registry.plugins
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after)
"""


def main(argv: Optional[List[str]] = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=10_000, help="rules of the table (default 10,000)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for run_all.py")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(Path(tmp), args.rules)
        output = subprocess.run([sys.executable, "-c", CHILD, str(path), str(args.rules)], capture_output=True,
                                text=True, check=True, env={"PATH": ""}).stdout
    before_kb, after_kb = map(int, output.split())
    peak_mb = after_kb / 1024
    print(f"Memory: {args.rules:,}-rule table loaded and compiled: peak RSS {peak_mb:.1f} MB"
          f" (interpreter and imports {before_kb / 1024:.1f} MB)  goal <= {GOAL_MB:.0f} MB"
          f"  ratio {GOAL_MB / peak_mb:.2f}x")
    if args.json:
        emit(result_line(f"memory-{args.rules}-rules-loaded", peak_mb, "MB", GOAL_MB,
                         baseline={"name": "interpreter and imports", "value": round(before_kb / 1024, 1),
                                   "unit": "MB"}))
    return peak_mb


if __name__ == "__main__":
    main(sys.argv[1:])
