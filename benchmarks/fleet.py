"""Synthetic fleets for the host benchmarks (W3, W5, W6), and the JSON result line every script ends with.

A fleet is built the way one is bought: a handful of host models (*shapes*: which devices sit
in which slots, VFs bound to their variant driver, mdev types with some instances left, now and
then a VF on plain vfio-pci that cannot migrate), each host one of them, popular models far more
common (Zipf weights). A share of hosts has its cards in other slots (the same devices, another
order), so grouping hosts by shape is tested on multisets, not on identical files. Every host
gets its own objects, as hosts loaded from JSON documents do.
"""

from __future__ import annotations

import json
import random
from typing import Any, Dict, List, Optional, Sequence, Tuple

from vfiocompat.host.inventory import HostDevice, Inventory, InventoryDevice

# (kind, device_version, instances, can_migrate)
Slot = Tuple[str, str, Optional[int], Optional[bool]]


def shapes(strings: Sequence[str], count: int, devices: int, rng: random.Random) -> List[List[Slot]]:
    """``count`` host models of ``devices`` slots each, drawn from ``strings`` (first ones most popular)."""
    weights = [1.0 / (rank + 1) for rank in range(len(strings))]
    out = []
    for _ in range(count):
        slots: List[Slot] = []
        for version in rng.choices(strings, weights, k=devices):
            roll = rng.random()
            if roll < 0.1:
                slots.append(("mdev_type", version, rng.randint(0, 4), None))
            elif roll < 0.15:
                slots.append(("pci", version, None, False))
            else:
                slots.append(("pci", version, None, True))
        out.append(slots)
    return out


def device(slot: int, kind: str, version: str, instances: Optional[int], can_migrate: Optional[bool]) -> Any:
    if kind == "mdev_type":
        host_device = HostDevice(kind="mdev_type", parent=f"0000:{0x80 + slot:02x}:00.0", mdev_type=f"type-{slot}",
                                 available_instances=instances, vendor="0x10de", device="0x2236")
    else:
        host_device = HostDevice(kind="pci", address=f"0000:{0x10 + slot:02x}:00.1", driver="bench_vfio_pci",
                                 vendor="0x8086", device="0x4941")
    return InventoryDevice(host_device, version, "bench", can_migrate)


def fleet(models: Sequence[Sequence[Slot]], hosts: int, rng: random.Random, *, shuffled: float = 0.05,
          prefix: str = "host") -> List[Inventory]:
    """``hosts`` inventories, each one of ``models`` (Zipf-weighted), ``shuffled`` of them with slots reordered."""
    weights = [1.0 / (rank + 1) for rank in range(len(models))]
    picks = rng.choices(range(len(models)), weights, k=hosts)
    out = []
    for number, pick in enumerate(picks):
        slots = list(models[pick])
        if rng.random() < shuffled:
            rng.shuffle(slots)
        out.append(Inventory(f"{prefix}{number:06d}", tuple(device(i, *s) for i, s in enumerate(slots))))
    return out


def distinct_fleet(strings: Sequence[str], hosts: int, devices: int, rng: random.Random) -> List[Inventory]:
    """``hosts`` inventories drawn device by device: (nearly) every host its own shape, the worst case."""
    return fleet(shapes(strings, hosts, devices, rng), hosts, random.Random(rng.random()), shuffled=0.0)


def result_line(name: str, value: float, unit: str, goal: float, *, higher_is_better: bool = False,
                baseline: Optional[Dict[str, Any]] = None, figures: Sequence[Dict[str, Any]] = ()) -> Dict[str, Any]:
    """The JSON result: ``ratio`` > 1 means better than the goal, for times, memory and rates alike."""
    ratio = (value / goal if higher_is_better else goal / value) if value else float("inf")
    line: Dict[str, Any] = {"name": name, "value": round(value, 6), "unit": unit, "goal": goal,
                            "ratio": round(ratio, 3)}
    if baseline is not None:
        line["baseline"] = baseline
    if figures:
        line["figures"] = list(figures)
    return line


def emit(line: Dict[str, Any]) -> None:
    """Print the result line (last line of a script's output with ``--json``)."""
    print(json.dumps(line), flush=True)
