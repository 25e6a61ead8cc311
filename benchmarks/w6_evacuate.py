"""W6: evacuate a host: 32 VMs x 2 devices each, all placed at once on 1,000 hosts, capacity respected: <= 1 s.

The evacuated host's VMs use its own devices (as ``place --evacuate INVENTORY --vm-file FILE``
names them); the 1,000 receiving hosts are ``--shapes`` host models (benchmarks/fleet.py), mdev
types with 0 to 4 instances left, so capacity decides where VMs go. Measured in process
(``vfiocompat.host.placement.evacuate``), median of ``--runs``. Baseline in the same run: one VM at
a time, each on the first host ``place`` says fits, whose devices it then takes.

    python benchmarks/w6_evacuate.py [--vms N] [--vm-devices D] [--hosts H] [--shapes S] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fleet import device, emit, fleet, result_line, shapes
from w1_checks import device_space

import vfiocompat
from vfiocompat.host.inventory import Inventory, targets
from vfiocompat.host.placement import VmRequest, evacuate, place

GOAL_SECONDS = 1.0


def one_at_a_time(vms: Sequence[VmRequest], hosts: List[Inventory], registry: Any) -> int:
    """The baseline: each VM on the first host that fits it now; the devices it takes leave that host."""
    hosts = list(hosts)
    placed = 0
    for vm in vms:
        result = place([v or "" for v in vm.device_versions], hosts, registry)
        fitting = next((i for i, h in enumerate(result.hosts) if h.fits), None)
        if fitting is None:
            continue
        placed += 1
        taken: Dict[str, int] = {}
        for a in result.hosts[fitting].assignment:
            taken[a.target] = taken.get(a.target, 0) + 1
        devices = []
        for entry in hosts[fitting].devices:
            if entry.device.id not in taken:
                devices.append(entry)
            elif entry.device.kind == "mdev_type":
                left = (entry.device.available_instances or 0) - taken[entry.device.id]
                devices.append(dataclasses.replace(entry, device=dataclasses.replace(entry.device,
                                                                                      available_instances=left)))
        hosts[fitting] = Inventory(hosts[fitting].host, tuple(devices))
    return placed


def check_capacity(result: Any, hosts: Sequence[Inventory], registry: Any) -> Tuple[bool, int]:
    """Whether every placed VM's devices are compatible and no device takes more than its capacity."""
    capacity = {(inv.host, t.device.device.id): (t.capacity, t.device.device_version)
                for inv in hosts for t in targets(inv)[0]}
    used: Dict[Tuple[str, str], int] = {}
    for vm in result.vms:
        for a in vm.assignment:
            key = (vm.host, a.target)
            used[key] = used.get(key, 0) + 1
            if key not in capacity or not registry.is_compatible(vm.device_versions[a.vm_index], capacity[key][1]):
                return False, len(used)
    return all(count <= capacity[key][0] for key, count in used.items()), len({vm.host for vm in result.vms})


def main(argv: List[str]) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=32, help="VMs on the evacuated host (default 32)")
    parser.add_argument("--vm-devices", type=int, default=2, help="devices per VM (default 2)")
    parser.add_argument("--hosts", type=int, default=1_000, help="receiving hosts (default 1,000)")
    parser.add_argument("--devices", type=int, default=8, help="devices per receiving host (default 8)")
    parser.add_argument("--shapes", type=int, default=50, help="host models among the receiving hosts (default 50)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs; the median is reported (default 5)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for run_all.py")
    args = parser.parse_args(argv)

    registry = vfiocompat.Registry.from_environment()
    space = device_space(registry)
    strings = [s for texts in space.values() for s in texts if registry.resolve(s).fields is not None]
    rng = random.Random(21)
    receivers = fleet(shapes(strings, args.shapes, args.devices, rng), args.hosts, rng)
    movable = [s for s in strings[:6] if registry.is_compatible(s, s)]
    count = args.vms * args.vm_devices
    source = Inventory("evacuee", tuple(device(i, "pci", rng.choice(movable), None, True) for i in range(count)))
    vms = [VmRequest(f"vm{n:03d}", tuple(e.device_version for e in source.devices[n * args.vm_devices:
                                                                                   (n + 1) * args.vm_devices]),
                     tuple(e.device.id for e in source.devices[n * args.vm_devices:(n + 1) * args.vm_devices]))
           for n in range(args.vms)]
    everyone = [source, *receivers]

    result = evacuate(vms, everyone, registry, source=source.host)
    times = []
    for _ in range(max(1, args.runs)):
        gc.collect()
        start = time.perf_counter()
        evacuate(vms, everyone, registry, source=source.host)
        times.append(time.perf_counter() - start)
    elapsed = statistics.median(times)
    ok, used_hosts = check_capacity(result, receivers, registry)
    gc.collect()
    start = time.perf_counter()
    baseline_placed = one_at_a_time(vms, receivers, registry)
    baseline = time.perf_counter() - start
    print(f"W6 evacuate {args.vms} VMs x {args.vm_devices} devices onto {args.hosts:,} hosts ({args.shapes} shapes):"
          f" {elapsed:.3f} s (median of {len(times)})  goal <= {GOAL_SECONDS} s  ratio {GOAL_SECONDS / elapsed:.2f}x;"
          f" {len(result.placed)}/{args.vms} placed on {used_hosts} hosts, optimal {result.optimal},"
          f" capacity respected {ok}")
    print(f"W6 baseline one VM at a time (place, first fitting host): {baseline:.3f} s,"
          f" {baseline_placed}/{args.vms} placed")
    if not ok:
        print("W6 ERROR: the evacuation broke a capacity or compatibility", file=sys.stderr)
        return -1.0
    if args.json:
        emit(result_line(f"W6-evacuate-{args.vms}-vms-{args.hosts}-hosts", elapsed, "s", GOAL_SECONDS,
                         baseline={"name": f"one VM at a time ({baseline_placed}/{args.vms} placed;"
                                           f" at once: {len(result.placed)})",
                                   "value": round(baseline, 6), "unit": "s"}))
    return elapsed


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1:]) >= 0 else 1)
