"""W2: check time against table size (10 .. 10,000 rules): goal at most 2x growth from 10 to 10,000.

Each measured pair is distinct, so nothing is served from the verdict memo: this times the
engine (index lookup and rule evaluation), not the cache. The baseline is the smallest table's time.

    python benchmarks/w2_table_size.py [--rules 10,100,1000,10000] [--strings N] [--json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import emit, result_line
from synthetic import device_versions, write_table

from vfiocompat import Registry

GOAL_GROWTH = 2.0
SIZES = (10, 100, 1_000, 10_000)


def measure(folder: Path, rules: int, count: int = 400) -> Dict[str, float]:
    registry = Registry(tables=[write_table(folder, rules)])
    strings = device_versions(rules, count)
    for text in strings:
        registry.resolve(text)
    half = count // 2
    pairs = [(a, b) for a in strings[:half] for b in strings[half:]]
    start = time.perf_counter()
    admitted = sum(registry.is_compatible(a, b) for a, b in pairs)
    verdict_us = (time.perf_counter() - start) / len(pairs) * 1e6
    sample = pairs[::40]
    start = time.perf_counter()
    for a, b in sample:
        registry.check(b, a)
    check_us = (time.perf_counter() - start) / len(sample) * 1e6
    return {"verdict_us": verdict_us, "check_us": check_us, "admitted": admitted, "pairs": len(pairs)}


def main(argv: Optional[List[str]] = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", default=",".join(map(str, SIZES)),
                        help="table sizes, smallest first (default 10,100,1000,10000)")
    parser.add_argument("--strings", type=int, default=400, help="device_versions, half x half pairs (default 400)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for run_all.py")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.rules.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        results = {size: measure(Path(tmp), size, args.strings) for size in sizes}
    for size, result in results.items():
        print(f"W2 {size:>6} rules: {result['verdict_us']:.2f} us per verdict-only check"
              f" ({result['admitted']:.0f}/{result['pairs']:.0f} admitted);"
              f" {result['check_us']:.1f} us per full check with reasons")
    small, large = results[sizes[0]], results[sizes[-1]]
    growth = large["verdict_us"] / small["verdict_us"]
    print(f"W2 growth {sizes[0]:,} -> {sizes[-1]:,} rules: {growth:.2f}x  goal <= {GOAL_GROWTH:.0f}x"
          f"  ratio {GOAL_GROWTH / growth:.2f}x")
    if args.json:
        emit(result_line(f"W2-growth-{sizes[0]}-to-{sizes[-1]}-rules", growth, "x", GOAL_GROWTH,
                         baseline={"name": f"{sizes[0]} rules, us per check", "value": round(small["verdict_us"], 3),
                                   "unit": "us"}))
    return growth


if __name__ == "__main__":
    main(sys.argv[1:])
