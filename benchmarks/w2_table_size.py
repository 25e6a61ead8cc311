"""W2: check time against table size (10 .. 10,000 rules): goal at most 2x growth from 10 to 10,000.

Each measured pair is distinct, so nothing is served from the verdict memo: this times the
engine (index lookup and rule evaluation), not the cache.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Dict

from synthetic import device_versions, write_table

from vfiocompat import Registry

GOAL_GROWTH = 2.0
SIZES = (10, 100, 1_000, 10_000)


def measure(folder: Path, rules: int) -> Dict[str, float]:
    registry = Registry(tables=[write_table(folder, rules)])
    strings = device_versions(rules, 400)
    for text in strings:
        registry.resolve(text)
    pairs = [(a, b) for a in strings[:200] for b in strings[200:]]
    start = time.perf_counter()
    admitted = sum(registry.is_compatible(a, b) for a, b in pairs)
    verdict_us = (time.perf_counter() - start) / len(pairs) * 1e6
    sample = pairs[::40]
    start = time.perf_counter()
    for a, b in sample:
        registry.check(b, a)
    check_us = (time.perf_counter() - start) / len(sample) * 1e6
    return {"verdict_us": verdict_us, "check_us": check_us, "admitted": admitted, "pairs": len(pairs)}


def main() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        results = {size: measure(Path(tmp), size) for size in SIZES}
    for size, result in results.items():
        print(f"W2 {size:>6} rules: {result['verdict_us']:.2f} us per verdict-only check"
              f" ({result['admitted']:.0f}/{result['pairs']:.0f} admitted);"
              f" {result['check_us']:.1f} us per full check with reasons")
    growth = results[SIZES[-1]]["verdict_us"] / results[SIZES[0]]["verdict_us"]
    print(f"W2 growth 10 -> 10,000 rules: {growth:.2f}x  goal <= {GOAL_GROWTH:.0f}x  ratio {GOAL_GROWTH / growth:.2f}x")
    return growth


if __name__ == "__main__":
    main()
