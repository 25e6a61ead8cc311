"""W3: one VM with 4 devices against 100,000 host inventories of 8 devices each: goal <= 0.5 s in process.

The fleet is ``--shapes`` host models (benchmarks/fleet.py) over the reference plugins' example
device_versions; hosts of one shape are decided once. Measured in the same run: the baseline,
the same fleet decided host by host (``place(..., by_shape=False)``, the same answer), and the
worst case, ``--distinct-hosts`` hosts that each have their own inventory (the previous W3
fleet), whose goal stays 0.5 s. The time is the median of ``--runs``; memory is the traced peak
of one more run (tracemalloc), so it does not slow the timed ones.

    python benchmarks/w3_placement.py [--hosts N] [--devices D] [--vm-devices V] [--shapes S] [--json]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable, List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import distinct_fleet, emit, fleet, result_line, shapes
from w1_checks import device_space

import vfiocompat
from vfiocompat.host.placement import place

GOAL_SECONDS = 0.5


def timed(function: Callable[[], Any], runs: int) -> List[float]:
    times = []
    for _ in range(max(1, runs)):
        gc.collect()  # each run starts from the same heap, not from the previous run's garbage
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def main(argv: List[str]) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000, help="hosts in the fleet (default 100,000)")
    parser.add_argument("--devices", type=int, default=8, help="devices per host (default 8)")
    parser.add_argument("--vm-devices", type=int, default=4, help="devices of the VM (default 4)")
    parser.add_argument("--shapes", type=int, default=200, help="host models in the fleet (default 200)")
    parser.add_argument("--shuffled", type=float, default=0.05,
                        help="share of hosts with their cards in other slots (default 0.05)")
    parser.add_argument("--distinct-hosts", type=int, default=10_000,
                        help="hosts of the worst-case fleet, every host its own inventory (default 10,000; 0 skips)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs; the median is reported (default 3)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for run_all.py")
    args = parser.parse_args(argv)

    registry = vfiocompat.Registry.from_environment()
    space = device_space(registry)
    strings = [s for texts in space.values() for s in texts if registry.resolve(s).fields is not None]
    rng = random.Random(11)
    models = shapes(strings, args.shapes, args.devices, rng)
    inventories = fleet(models, args.hosts, rng, shuffled=args.shuffled)
    # The VM comes from the most popular model, so a good share of the fleet can take it.
    receiving = [slot[1] for slot in models[0] if slot[3] is not False and slot[2] != 0
                 and registry.is_compatible(slot[1], slot[1])]
    vm = rng.sample(receiving, min(args.vm_devices, len(receiving)))
    vm += [rng.choice(strings) for _ in range(args.vm_devices - len(vm))]

    result = place(vm, inventories, registry)
    times = timed(lambda: place(vm, inventories, registry), args.runs)
    elapsed = statistics.median(times)
    baseline_times = timed(lambda: place(vm, inventories, registry, by_shape=False), 1)
    baseline = statistics.median(baseline_times)
    same = place(vm, inventories, registry, by_shape=False) == result
    tracemalloc.start()
    place(vm, inventories, vfiocompat.Registry.from_environment())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"W3 placement: 1 VM x {args.vm_devices} devices over {args.hosts:,} hosts x {args.devices} devices"
          f" ({args.shapes} shapes, {args.shuffled:.0%} with cards reordered): {elapsed:.3f} s (median of"
          f" {len(times)}) goal <= {GOAL_SECONDS} s  ratio {GOAL_SECONDS / elapsed:.2f}x;"
          f" {len(result.fitting):,} hosts fit; traced peak {peak / 2**20:.1f} MiB")
    print(f"W3 baseline, same fleet host by host (no shape grouping): {baseline:.3f} s"
          f" ({baseline / elapsed:.1f}x slower); same answer: {same}")
    figures = []
    if args.distinct_hosts:
        worst = distinct_fleet(strings, args.distinct_hosts, args.devices, random.Random(12))
        worst_s = statistics.median(timed(lambda: place(vm, worst, registry), args.runs))
        print(f"W3 worst case, {args.distinct_hosts:,} hosts each its own inventory: {worst_s:.3f} s"
              f"  goal <= {GOAL_SECONDS} s  ratio {GOAL_SECONDS / worst_s:.2f}x")
        figures.append(result_line(f"W3-distinct-{args.distinct_hosts}-hosts", worst_s, "s", GOAL_SECONDS))
    if not same:
        print("W3 ERROR: grouping by shape changed the answer", file=sys.stderr)
        return -1.0
    if args.json:
        emit(result_line(f"W3-place-{args.hosts}-hosts", elapsed, "s", GOAL_SECONDS,
                         baseline={"name": "host by host", "value": round(baseline, 6), "unit": "s"},
                         figures=figures))
    return elapsed


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1:]) >= 0 else 1)
