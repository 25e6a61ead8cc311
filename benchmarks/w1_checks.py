"""W1: warm pairwise checks through the public API over the reference plugins' device space.

Goals: verdict-only checks within 10% of the hand-written baseline measured in the same run (a
GVT-g check with its parse cached; also shown uncached), and >= 1,000,000 per second; a full
explanation of a rejected pair in <= 20 microseconds.

    python benchmarks/w1_checks.py [--pairs N] [--rounds R] [--json]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import emit, result_line

import vfiocompat

# The first explanation in a process imports this module (about 2 ms, once, like any import): imported
# here, so the first-explanation figure is the cost of each pair.
import vfiocompat._explanation

GOAL_CHECKS = 1_000_000
GOAL_EXPLAIN_US = 20.0
#: Issue 11: the first explanation of a pair never explained before.
GOAL_FIRST_EXPLAIN_US = 10.0
#: Verdict-only checks must reach this share of the hand-written baseline's rate.
GOAL_OF_BASELINE = 0.9


def device_space(registry: vfiocompat.Registry) -> Dict[int, List[str]]:
    """Every device_version the installed tables' examples mention, by vendor."""
    by_vendor: Dict[int, List[str]] = {}
    for table in registry.tables:
        for example in table.examples:
            for text in (example.source, example.target):
                side = registry.resolve(text)
                if side.device is not None and text not in by_vendor.get(side.device.vendor_id, []):
                    by_vendor.setdefault(side.device.vendor_id, []).append(text)
    return by_vendor


def fleet_pairs(space: Dict[int, List[str]], count: int) -> List[Tuple[str, str]]:
    """Pairs drawn as a fleet repeats its devices: a few common device_versions dominate."""
    rng = random.Random(7)
    vendors = sorted(space)
    pairs = []
    for _ in range(count):
        strings = space[rng.choice(vendors)]
        weights = [1.0 / (rank + 1) for rank in range(len(strings))]
        source, target = rng.choices(strings, weights, k=2)
        pairs.append((source, target))
    return pairs


def rate(function: Callable[[str, str], object], pairs: List[Tuple[str, str]], rounds: int = 5) -> float:
    """Best-of-rounds calls per second."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for source, target in pairs:
            function(source, target)
        best = min(best, time.perf_counter() - start)
    return len(pairs) / best


def hand_written(cache: bool) -> Callable[[str, str], bool]:
    """The 'for scale' baseline: split a GVT-g string, compare type, compare a version tuple."""
    parsed: Dict[str, Tuple[str, str, Tuple[int, ...]]] = {}

    def parse(text: str) -> Tuple[str, str, Tuple[int, ...]]:
        vendor, interface, rest = text.split(":", 2)
        head, _, version = rest.rpartition("-")
        return vendor, head, (int(interface), int(version, 16))

    def check(source: str, target: str) -> bool:
        if cache:
            s = parsed.get(source) or parsed.setdefault(source, parse(source))
            t = parsed.get(target) or parsed.setdefault(target, parse(target))
        else:
            s, t = parse(source), parse(target)
        return s[0] == t[0] and s[1] == t[1] and t[2] >= s[2]

    return check


def main(argv: Optional[List[str]] = None) -> Dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200_000, help="pairs per round (default 200,000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds timed; the best is reported (default 5)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for run_all.py")
    args = parser.parse_args(argv)
    registry = vfiocompat.default_registry()
    space = device_space(registry)
    pairs = fleet_pairs(space, args.pairs)
    for source, target in pairs:
        registry.is_compatible(source, target)  # warm
    checks = rate(registry.is_compatible, pairs, args.rounds)
    api_checks = rate(lambda s, t: vfiocompat.check(s, t).compatible, pairs, args.rounds)
    gvt = [s for s in space.get(0x8086, [])
           if registry.resolve(s).fields is not None and s.startswith("0x8086:1:8086-")]
    gvt_pairs = [(gvt[i % len(gvt)], gvt[(i * 3) % len(gvt)]) for i in range(args.pairs)]
    cached = rate(hand_written(True), gvt_pairs, args.rounds)
    uncached = rate(hand_written(False), gvt_pairs, args.rounds)
    rejected = sorted({p for p in pairs if not registry.is_compatible(*p)})[:200]
    # First explanation of each pair, in a registry that has explained nothing yet (only checked).
    fresh = vfiocompat.Registry.from_environment()
    for pair in rejected:
        fresh.check(*pair)
    start = time.perf_counter()
    for pair in rejected:
        fresh.explain(*pair)
    first_us = (time.perf_counter() - start) / len(rejected) * 1e6
    # Warm: the fleet asks again about pairs it has seen.
    rounds = 50
    start = time.perf_counter()
    for _ in range(rounds):
        for pair in rejected:
            fresh.explain(*pair)
    explain_us = (time.perf_counter() - start) / (rounds * len(rejected)) * 1e6
    goal = GOAL_OF_BASELINE * cached
    print(f"W1 device space: {sum(map(len, space.values()))} device_versions, {len(set(pairs))} distinct pairs,"
          f" {len(registry.tables)} tables")
    print(f"W1 verdict-only checks (Registry.is_compatible): {checks:,.0f}/s  goal >= {GOAL_OF_BASELINE:.0%} of the"
          f" hand-written baseline = {goal:,.0f}/s  ratio {checks / goal:.2f}x"
          f" (absolute goal {GOAL_CHECKS:,}/s: {checks / GOAL_CHECKS:.2f}x)")
    print(f"W1 vfiocompat.check(...).compatible: {api_checks:,.0f}/s  ratio {api_checks / GOAL_CHECKS:.2f}x")
    print(f"W1 baseline hand-written check, parse cached: {cached:,.0f}/s; uncached: {uncached:,.0f}/s")
    print(f"W1 full explanation of a rejected pair, warm: {explain_us:.2f} us  goal {GOAL_EXPLAIN_US:.0f} us"
          f"  ratio {GOAL_EXPLAIN_US / explain_us:.2f}x ({len(rejected)} rejected pairs)")
    print(f"W1 first explanation of a pair never explained before: {first_us:.1f} us"
          f"  goal {GOAL_FIRST_EXPLAIN_US:.0f} us  ratio {GOAL_FIRST_EXPLAIN_US / first_us:.2f}x")
    if args.json:
        emit(result_line("W1-verdict-only-checks", checks, "checks/s", round(goal), higher_is_better=True,
                         baseline={"name": "hand-written GVT-g check, parse cached", "value": round(cached),
                                   "unit": "checks/s"},
                         figures=[result_line("W1-checks-absolute", checks, "checks/s", GOAL_CHECKS,
                                              higher_is_better=True),
                                  result_line("W1-explain-warm", explain_us, "us", GOAL_EXPLAIN_US),
                                  result_line("W1-explain-first", first_us, "us", GOAL_FIRST_EXPLAIN_US)]))
    return {"checks_per_s": checks, "explain_us": explain_us}


if __name__ == "__main__":
    main(sys.argv[1:])
