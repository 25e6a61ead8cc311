"""Which hosts can receive a VM: each VM device needs its own compatible device on the host.

This is a bipartite matching (VM devices on one side, host devices on the other, an mdev type
counting as many devices as it has instances left), solved by augmenting paths, so a host is
never rejected because a first-fit choice took the one device another VM device needed. Verdicts
are memoised by (source, target) text: a fleet of identical hosts costs one check per distinct pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..verdict import Reason, Verdict
from .inventory import Inventory, InventoryDevice, Target, targets

__all__ = ["Assignment", "Unmatched", "HostPlacement", "Placement", "place", "match"]


@dataclass(frozen=True)
class Assignment:
    """VM device ``vm_index`` goes to host device ``target`` (an id such as ``pci:0000:3b:00.1``)."""

    vm_index: int
    vm_device_version: str
    target: str
    target_device_version: str


@dataclass(frozen=True)
class Unmatched:
    """A VM device that found no partner on a host: a host-layer code, why, and the nearest device's reasons."""

    vm_index: int
    vm_device_version: str
    code: str
    message: str
    target: Optional[str]
    reasons: Tuple[Reason, ...]


@dataclass(frozen=True)
class HostPlacement:
    """One host's answer: it fits (with an assignment) or it does not (with what found no partner)."""

    host: str
    fits: bool
    assignment: Tuple[Assignment, ...]
    unmatched: Tuple[Unmatched, ...]


@dataclass(frozen=True)
class Placement:
    """The answer for a fleet, hosts in input order."""

    vm_devices: Tuple[str, ...]
    hosts: Tuple[HostPlacement, ...]

    @property
    def fitting(self) -> Tuple[str, ...]:
        """The names of the hosts that fit."""
        return tuple(h.host for h in self.hosts if h.fits)


def match(edges: Sequence[Sequence[int]], capacity: Sequence[int]) -> List[Optional[int]]:
    """A maximum matching of left nodes to right nodes with capacities (augmenting paths, Kuhn's method).

    ``edges[i]`` lists the right nodes left node ``i`` may take. Returns, for each left node, its
    right node or None.
    """
    holders: List[List[int]] = [[] for _ in capacity]
    chosen: List[Optional[int]] = [None] * len(edges)

    def augment(left: int, seen: List[bool]) -> bool:
        for right in edges[left]:
            if seen[right]:
                continue
            seen[right] = True
            if len(holders[right]) < capacity[right]:
                holders[right].append(left)
                chosen[left] = right
                return True
            for index, other in enumerate(holders[right]):
                if augment(other, seen):
                    holders[right][index] = left
                    chosen[left] = right
                    return True
        return False

    for left in range(len(edges)):
        augment(left, [False] * len(capacity))
    return chosen


class _Judge:
    """Yes/no answers, verdicts and distances memoised per VM device, for one placement run.

    Keyed first by the VM device's text, then by the host device's: a fleet of thousands of hosts
    costs one registry call per distinct pair, and the inner lookups build no key tuples.
    """

    def __init__(self, registry: Any) -> None:
        self.registry = registry
        self.answers: Dict[str, Dict[str, bool]] = {}
        self.verdicts: Dict[str, Dict[str, Verdict]] = {}
        self.distances: Dict[str, Dict[str, Tuple[int, int]]] = {}

    def compatible(self, source: str, targets: Sequence[str]) -> List[int]:
        """Indexes of ``targets`` that ``source`` may migrate to."""
        answers = self.answers.setdefault(source, {})
        found = []
        for index, target in enumerate(targets):
            answer = answers.get(target)
            if answer is None:
                answer = answers[target] = bool(self.registry.is_compatible(source, target))
            if answer:
                found.append(index)
        return found

    def check(self, source: str, target: str) -> Verdict:
        verdicts = self.verdicts.setdefault(source, {})
        verdict = verdicts.get(target)
        if verdict is None:
            verdict = verdicts[target] = self.registry.check(source, target)
        return verdict

    def distance(self, source: str, target: str) -> Tuple[int, int]:
        distances = self.distances.setdefault(source, {})
        found = distances.get(target)
        if found is None:
            found = distances[target] = _distance(self.check(source, target))
        return found


def place(vm_device_versions: Sequence[str], inventories: Sequence[Inventory], registry: Any) -> Placement:
    """For each host, whether every VM device gets its own compatible device, and if not, why."""
    judge = _Judge(registry)
    vm = tuple(vm_device_versions)
    return Placement(vm, tuple(_place_host(vm, inventory, judge) for inventory in inventories))


def _place_host(vm: Tuple[str, ...], inventory: Inventory, judge: _Judge) -> HostPlacement:
    usable, excluded = targets(inventory)
    texts = [t.device.device_version or "" for t in usable]
    edges = [judge.compatible(source, texts) for source in vm]
    if all(edges):
        # No VM device needs more instances of one mdev type than there are VM devices.
        chosen = match(edges, [min(t.capacity, len(vm)) for t in usable])
    else:
        chosen = [None] * len(vm)  # a VM device without any partner: no matching can fit the host
    if all(c is not None for c in chosen):
        assignment = tuple(
            Assignment(i, vm[i], usable[c].device.device.id, usable[c].device.device_version or "")
            for i, c in enumerate(chosen) if c is not None
        )
        return HostPlacement(inventory.host, True, assignment, ())
    unmatched: List[Unmatched] = []
    for i, source in enumerate(vm):
        if not edges[i]:
            unmatched.append(_no_partner(i, source, usable, excluded, judge))
    if not unmatched:
        # Every VM device has partners, but not enough distinct ones: name what the others took.
        for i, source in enumerate(vm):
            if chosen[i] is None:
                ids = [usable[r].device.device.id for r in edges[i]]
                takers = sorted({j for j, c in enumerate(chosen) if c in edges[i] and j != i})
                unmatched.append(Unmatched(
                    i, source, "VC605",
                    f"VM device {i} is compatible only with {', '.join(ids)}, each needed by VM device"
                    f"{'s' if len(takers) > 1 else ''} {', '.join(map(str, takers))}",
                    ids[0] if ids else None, (),
                ))
    return HostPlacement(inventory.host, False, (), tuple(unmatched))


def _no_partner(index: int, source: str, usable: Sequence[Target], excluded: Sequence[InventoryDevice],
                judge: _Judge) -> Unmatched:
    """Why no device of the host accepts ``source``: the nearest device and its reasons."""
    # A compatible device that cannot receive (driver cannot migrate, no instance left) explains best.
    for entry in excluded:
        if entry.device_version is not None and judge.compatible(source, [entry.device_version]):
            why = entry.reasons or (Reason("VC604", "host", f"{entry.device.id} has no instance left to create",
                                           field="available_instances"),)
            return Unmatched(index, source, "VC604",
                             f"VM device {index}'s compatible device {entry.device.id} cannot receive a migration:"
                             f" {why[0].message}", entry.device.id, tuple(why))
    candidates = [t.device for t in usable] + [e for e in excluded if e.device_version is not None]
    if not candidates:
        return Unmatched(index, source, "VC604",
                         f"VM device {index}: no device on the host has a device_version", None, ())
    nearest = min(candidates, key=lambda e: judge.distance(source, e.device_version or ""))
    verdict = judge.check(source, nearest.device_version or "")
    first = verdict.reasons[0].message if verdict.reasons else "not compatible"
    return Unmatched(index, source, "VC604",
                     f"VM device {index}: no device on the host accepts it; nearest {nearest.device.id}: {first}",
                     nearest.device.id, verdict.reasons)


def _distance(verdict: Verdict) -> Tuple[int, int]:
    """How far a refusal is from compatible: other vendor, other family, core refusal, then by reason count."""
    codes = set(verdict.codes)
    if "VC201" in codes:
        rank = 3
    elif "VC205" in codes or codes & {"VC203", "VC204", "VC206"}:
        rank = 2
    elif any(r.layer != "table" for r in verdict.reasons):
        rank = 1
    else:
        rank = 0
    return rank, len(verdict.reasons)
