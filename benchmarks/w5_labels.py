"""W5: ``labels`` for 100,000 hosts with 500 distinct device_versions: goal <= 5 s in process.

The device_versions are the synthetic table's (benchmarks/synthetic.py; ``--rules`` rules, type
T<i> may go to T<i> or T<i+1>), ``--versions`` distinct ones spread over the fleet's
``--shapes`` host models (benchmarks/fleet.py) so every one of them occurs. Timed:
``vfiocompat.host.labels.labels(inventories, registry)`` with a fresh registry (nothing memoised),
median of ``--runs``. Baseline in the same run: the same call on a tenth of the fleet, to show
how the cost grows with hosts.

    python benchmarks/w5_labels.py [--hosts N] [--versions V] [--devices D] [--shapes S] [--json]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import emit, fleet, result_line, shapes
from synthetic import device_versions, write_table

from vfiocompat import Registry
from vfiocompat.host.labels import labels

GOAL_SECONDS = 5.0


def main(argv: List[str]) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000, help="hosts (default 100,000)")
    parser.add_argument("--versions", type=int, default=500, help="distinct device_versions (default 500)")
    parser.add_argument("--devices", type=int, default=8, help="devices per host (default 8)")
    parser.add_argument("--shapes", type=int, default=1_000, help="host models (default 1,000)")
    parser.add_argument("--rules", type=int, default=100, help="rules of the synthetic table (default 100)")
    parser.add_argument("--runs", type=int, default=1, help="timed runs; the median is reported (default 1)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for run_all.py")
    args = parser.parse_args(argv)

    rng = random.Random(31)
    strings = device_versions(args.rules, args.versions)
    models = shapes(strings, args.shapes, args.devices, rng)
    # Every device_version occurs: the first slots of the models cycle through all of them.
    for index, version in enumerate(strings):
        slots = models[index % len(models)]
        slots[index // len(models) % len(slots)] = ("pci", version, None, True)
    inventories = fleet(models, args.hosts, rng)
    seen = {e.device_version for inv in inventories for e in inv.devices}
    with tempfile.TemporaryDirectory() as folder:
        table = write_table(Path(folder), args.rules)

        def run(hosts: List) -> float:  # type: ignore[type-arg]
            registry = Registry(tables=[table])
            gc.collect()
            start = time.perf_counter()
            labels(hosts, registry)
            return time.perf_counter() - start

        small = inventories[: max(1, args.hosts // 10)]
        baseline = run(small)
        times = [run(inventories) for _ in range(max(1, args.runs))]
    elapsed = statistics.median(times)
    print(f"W5 labels: {args.hosts:,} hosts x {args.devices} devices, {len(seen)} distinct device_versions,"
          f" {args.shapes} shapes: {elapsed:.3f} s (median of {len(times)})  goal <= {GOAL_SECONDS} s"
          f"  ratio {GOAL_SECONDS / elapsed:.2f}x")
    print(f"W5 baseline, a tenth of the fleet ({len(small):,} hosts): {baseline:.3f} s"
          f" (x{elapsed / baseline:.1f} for x{args.hosts / len(small):.0f} hosts)")
    if args.json:
        emit(result_line(f"W5-labels-{args.hosts}-hosts-{args.versions}-versions", elapsed, "s", GOAL_SECONDS,
                         baseline={"name": f"{len(small)} hosts", "value": round(baseline, 6), "unit": "s"}))
    return elapsed


if __name__ == "__main__":
    main(sys.argv[1:])
