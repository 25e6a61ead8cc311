"""Which hosts can receive a VM, and where every VM of an evacuated host can go at once.

One VM on one host is a bipartite matching (VM devices on one side, host devices on the other,
an mdev type counting as many devices as it has instances left), solved by augmenting paths, so
a host is never rejected because a first-fit choice took the one device another VM device needed.

Hosts are decided by *shape*: the multiset of (device_version, capacity) of the devices that can
receive, plus the device_versions of those that cannot. A host's devices are matched in a
canonical order (by device_version, then capacity, then place in the inventory), so hosts of one
shape get the same answer, computed once and fanned out with each host's own device ids; a fleet
of 100,000 hosts in a handful of shapes costs a handful of matchings. ``place(..., by_shape=False)``
decides each host on its own with the same rules and gives the identical result.

Evacuation (:func:`evacuate`) places many VMs at once, each VM's devices on one host. That
problem is NP-hard in general (with one device of each of three kinds per host and two-device
VMs it is 3-edge-colouring a cubic graph, Holyer 1981), so it is solved by an exact
branch-and-bound search with a step budget: most constrained VM first, hosts grouped by (shape,
VMs already given) so interchangeable hosts are tried once, and a bound (VMs placed plus VMs
that still fit somewhere) that prunes. Within the budget the answer is a proven maximum
(``optimal``); past it, the best found, said so.
"""

from __future__ import annotations

import json
from bisect import insort
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .._device_version import parse
from .._verdict import Reason, Verdict
from ..errors import DeviceVersionError, LimitError, UsageError
from .inventory import Inventory, InventoryDevice

__all__ = ["MAX_EVACUATION_VMS", "MAX_VM_DEVICES", "MAX_VM_FILE_BYTES", "SEARCH_STEPS", "Assignment", "Unmatched",
           "HostPlacement", "Placement", "VmRequest", "VmPlacement", "Evacuation", "place", "evacuate", "match",
           "read_vm_file"]

#: Most VMs one evacuation places (a host runs far fewer).
MAX_EVACUATION_VMS = 4096
#: Most devices of one VM (QEMU's PCI topology allows far fewer passthrough devices in practice).
MAX_VM_DEVICES = 64
#: Search steps (host groups tried for a VM) an evacuation may take before it settles for the best found.
SEARCH_STEPS = 1_000_000


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


# -- one VM on each host ---------------------------------------------------------------------

# All that decides a host, per device in inventory order; one C-level call per device.
_STATE = attrgetter("device_version", "can_migrate", "device.kind", "device.available_instances")
_State = Tuple[Optional[str], Optional[bool], str, Optional[int]]
# A reference to a device of a shape: ("u", k) the k-th receiving device, ("x", k) the k-th that cannot.
_Ref = Tuple[str, int]


def _split(states: Sequence[_State]) -> Tuple[List[Tuple[str, int, int]], List[Tuple[str, int]]]:
    """Receiving devices as (device_version, capacity, position) and the others that have a device_version
    as (device_version, position), each in canonical order; the same rule as :func:`.inventory.targets`."""
    usable: List[Tuple[str, int, int]] = []
    excluded: List[Tuple[str, int]] = []
    for position, (version, can_migrate, kind, instances) in enumerate(states):
        capacity = (instances or 0) if kind == "mdev_type" else 1
        if version is None or can_migrate is False or capacity <= 0:
            if version is not None:
                excluded.append((version, position))
        else:
            usable.append((version, capacity, position))
    usable.sort()
    excluded.sort()
    return usable, excluded


class _Decision:
    """One shape's answer in canonical device indexes: the matching, or what found no partner."""

    __slots__ = ("chosen", "fits", "misses")

    def __init__(self, fits: bool, chosen: Tuple[int, ...], misses: Tuple[Tuple[Any, ...], ...]) -> None:
        self.fits = fits
        self.chosen = chosen
        self.misses = misses


def _decide(vm: Tuple[str, ...], versions: Sequence[str], capacity: Sequence[int], excluded: Sequence[str],
            judge: _Judge) -> _Decision:
    edges = [judge.compatible(source, versions) for source in vm]
    if all(edges):
        chosen = match(edges, capacity)
    else:
        chosen = [None] * len(vm)  # a VM device without any partner: no matching can fit the host
    if all(c is not None for c in chosen):
        return _Decision(True, tuple(c for c in chosen if c is not None), ())
    misses: List[Tuple[Any, ...]] = []
    for i, source in enumerate(vm):
        if not edges[i]:
            misses.append(_no_partner(i, source, versions, excluded, judge))
    if not misses:
        # Every VM device has partners, but not enough distinct ones: name what the others took.
        for i in range(len(vm)):
            if chosen[i] is None:
                takers = sorted({j for j, c in enumerate(chosen) if c in edges[i] and j != i})
                misses.append(("exhausted", i, tuple(("u", r) for r in edges[i]), tuple(takers)))
    return _Decision(False, (), tuple(misses))


def _no_partner(index: int, source: str, versions: Sequence[str], excluded: Sequence[str],
                judge: _Judge) -> Tuple[Any, ...]:
    """Why no device of the shape accepts ``source``: a compatible device that cannot receive, or the nearest."""
    for k, version in enumerate(excluded):
        if judge.compatible(source, [version]):
            return ("excluded", index, ("x", k))
    candidates: List[Tuple[_Ref, str]] = [(("u", k), v) for k, v in enumerate(versions)]
    candidates += [(("x", k), v) for k, v in enumerate(excluded)]
    if not candidates:
        return ("none", index)
    ref, version = min(candidates, key=lambda c: judge.distance(source, c[1]))
    return ("nearest", index, ref, judge.check(source, version))


class _Layout:
    """A host's devices in its shape's canonical order, its shape's decision, and answers already built.

    Shared by hosts whose inventories give the same per-device state in the same order; ``made``
    holds assignment / unmatched tuples by the ids (and reasons) of the devices they name, so hosts
    that also share device addresses share those values.
    """

    __slots__ = ("decision", "excluded", "made", "named", "usable")

    def __init__(self, usable: Tuple[int, ...], excluded: Tuple[int, ...], decision: _Decision) -> None:
        self.usable = usable
        self.excluded = excluded
        self.decision = decision
        self.made: Dict[Any, Any] = {}
        if decision.fits:
            self.named = tuple(usable[c] for c in decision.chosen)
        else:
            self.named = tuple(sorted({self.position(r) for miss in decision.misses for r in _refs(miss)}))

    def position(self, ref: _Ref) -> int:
        return self.usable[ref[1]] if ref[0] == "u" else self.excluded[ref[1]]

    def host(self, name: str, devices: Sequence[InventoryDevice], vm: Tuple[str, ...]) -> HostPlacement:
        ids = tuple([devices[p].device.id for p in self.named])
        if self.decision.fits:
            assignment = self.made.get(ids)
            if assignment is None:
                assignment = self.made[ids] = tuple(
                    Assignment(i, vm[i], ids[i], devices[p].device_version or "") for i, p in enumerate(self.named))
            return HostPlacement(name, True, assignment, ())
        # An excluded device's own reasons (the driver it needs) are part of the message.
        key = (ids, tuple([devices[p].reasons for p in self.named]))
        unmatched = self.made.get(key)
        if unmatched is None:
            where = dict(zip(self.named, ids))
            unmatched = self.made[key] = tuple(self._unmatched(miss, devices, where, vm)
                                               for miss in self.decision.misses)
        return HostPlacement(name, False, (), unmatched)

    def _unmatched(self, miss: Tuple[Any, ...], devices: Sequence[InventoryDevice], ids: Dict[int, str],
                   vm: Tuple[str, ...]) -> Unmatched:
        kind, index = miss[0], miss[1]
        source = vm[index]
        if kind == "excluded":
            position = self.position(miss[2])
            entry, device_id = devices[position], ids[position]
            why = entry.reasons or (Reason("VC604", "host", f"{device_id} has no instance left to create",
                                           field="available_instances"),)
            return Unmatched(index, source, "VC604",
                             f"VM device {index}'s compatible device {device_id} cannot receive a migration:"
                             f" {why[0].message}", device_id, tuple(why))
        if kind == "none":
            return Unmatched(index, source, "VC604",
                             f"VM device {index}: no device on the host has a device_version", None, ())
        if kind == "nearest":
            device_id = ids[self.position(miss[2])]
            verdict: Verdict = miss[3]
            first = verdict.reasons[0].message if verdict.reasons else "not compatible"
            return Unmatched(index, source, "VC604",
                             f"VM device {index}: no device on the host accepts it; nearest {device_id}: {first}",
                             device_id, verdict.reasons)
        partners = [ids[self.position(r)] for r in miss[2]]
        takers = miss[3]
        return Unmatched(index, source, "VC605",
                         f"VM device {index} is compatible only with {', '.join(partners)}, each needed by VM device"
                         f"{'s' if len(takers) > 1 else ''} {', '.join(map(str, takers))}",
                         partners[0] if partners else None, ())


def _refs(miss: Tuple[Any, ...]) -> List[_Ref]:
    if miss[0] in ("excluded", "nearest"):
        return [miss[2]]
    if miss[0] == "exhausted":
        return list(miss[2])
    return []


def _layout(states: Tuple[_State, ...], vm: Tuple[str, ...], judge: _Judge,
            decisions: Dict[Any, _Decision]) -> _Layout:
    usable, excluded = _split(states)
    # No VM device needs more instances of one mdev type than there are VM devices.
    most = max(1, len(vm))
    versions = tuple(u[0] for u in usable)
    capacity = tuple(min(u[1], most) for u in usable)
    others = tuple(x[0] for x in excluded)
    key = (versions, capacity, others)
    decision = decisions.get(key)
    if decision is None:
        decision = decisions[key] = _decide(vm, versions, capacity, others, judge)
    return _Layout(tuple(u[2] for u in usable), tuple(x[1] for x in excluded), decision)


def place(vm_device_versions: Sequence[str], inventories: Sequence[Inventory], registry: Any, *,
          by_shape: bool = True) -> Placement:
    """For each host, whether every VM device gets its own compatible device, and if not, why.

    Hosts of one shape are decided once (``by_shape=False`` decides each host afresh, for
    comparison: the result is the same).
    """
    judge = _Judge(registry)
    vm = tuple(vm_device_versions)
    layouts: Dict[Tuple[_State, ...], _Layout] = {}
    decisions: Dict[Any, _Decision] = {}
    hosts: List[HostPlacement] = []
    for inventory in inventories:
        devices = inventory.devices
        states = tuple(map(_STATE, devices))
        layout = layouts.get(states) if by_shape else None
        if layout is None:
            layout = _layout(states, vm, judge, decisions if by_shape else {})
            if by_shape:
                layouts[states] = layout
        hosts.append(layout.host(inventory.host, devices, vm))
    return Placement(vm, tuple(hosts))


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


# -- many VMs at once ------------------------------------------------------------------------


@dataclass(frozen=True)
class VmRequest:
    """A VM to move: its name, its devices' device_versions (None: the device has none) and source device ids."""

    name: str
    device_versions: Tuple[Optional[str], ...]
    devices: Tuple[Optional[str], ...] = ()


@dataclass(frozen=True)
class VmPlacement:
    """Where one VM goes (``host`` and each device's target), or why it goes nowhere (``code``, ``message``)."""

    name: str
    device_versions: Tuple[Optional[str], ...]
    devices: Tuple[Optional[str], ...]
    host: Optional[str]
    assignment: Tuple[Assignment, ...]
    code: Optional[str]
    message: Optional[str]
    reasons: Tuple[Reason, ...]

    @property
    def placed(self) -> bool:
        """Whether the VM has a host."""
        return self.host is not None


@dataclass(frozen=True)
class Evacuation:
    """Every VM's placement, in request order; ``optimal`` when no placement places more VMs."""

    source: Optional[str]
    vms: Tuple[VmPlacement, ...]
    optimal: bool
    hosts: int

    @property
    def placed(self) -> Tuple[str, ...]:
        """Names of the VMs that have a host."""
        return tuple(v.name for v in self.vms if v.placed)

    @property
    def unplaced(self) -> Tuple[str, ...]:
        """Names of the VMs that go nowhere."""
        return tuple(v.name for v in self.vms if not v.placed)


class _Fleet:
    """The receiving hosts grouped by shape, and which VM kinds each shape can take together."""

    def __init__(self, inventories: Sequence[Inventory], kinds: Sequence[Tuple[str, ...]], judge: _Judge,
                 most: int) -> None:
        self.inventories = inventories
        self.kinds = kinds
        self.judge = judge
        shapes: Dict[Tuple[Tuple[str, ...], Tuple[int, ...]], int] = {}
        self.positions: List[Tuple[int, ...]] = []  # per host: its receiving devices' places, canonical order
        self.shape_of: List[int] = []
        self.versions: List[Tuple[str, ...]] = []
        self.capacity: List[Tuple[int, ...]] = []
        for inventory in inventories:
            usable, _ = _split(tuple(map(_STATE, inventory.devices)))
            key = (tuple(u[0] for u in usable), tuple(min(u[1], most) for u in usable))
            shape = shapes.get(key)
            if shape is None:
                shape = shapes[key] = len(self.versions)
                self.versions.append(key[0])
                self.capacity.append(key[1])
            self.shape_of.append(shape)
            self.positions.append(tuple(u[2] for u in usable))
        self._edges: Dict[Tuple[int, int], List[List[int]]] = {}
        self._fits: Dict[Tuple[int, Tuple[int, ...]], bool] = {}

    def edges(self, shape: int, kind: int) -> List[List[int]]:
        key = (shape, kind)
        found = self._edges.get(key)
        if found is None:
            found = self._edges[key] = [self.judge.compatible(v, self.versions[shape]) for v in self.kinds[kind]]
        return found

    def fits(self, shape: int, load: Tuple[int, ...]) -> bool:
        """Whether VMs of kinds ``load`` (sorted) fit on a host of ``shape`` together."""
        key = (shape, load)
        found = self._fits.get(key)
        if found is None:
            edges = [e for kind in load for e in self.edges(shape, kind)]
            found = all(edges) and None not in match(edges, self.capacity[shape])
            self._fits[key] = found
        return found


class _Search:
    """Branch and bound over VMs, most constrained first, hosts grouped by (shape, load).

    Hosts of one group are interchangeable, so each group is tried once per VM. The first
    incumbent is first fit in request order, so the answer is never worse than placing VMs one at
    a time. ``steps`` bounds the work (one step per host group weighed for a VM); when they run out,
    the branch being explored is finished by first fit and the best placement found stands.
    """

    def __init__(self, fleet: _Fleet, vm_kinds: Sequence[int], alone: Sequence[Sequence[int]], steps: int) -> None:
        self.fleet = fleet
        self.vm_kinds = vm_kinds
        self.alone = alone
        self.steps = steps
        self.exhausted = False
        self.groups: Dict[Tuple[int, Tuple[int, ...]], List[int]] = {}
        for host, shape in enumerate(fleet.shape_of):
            self.groups.setdefault((shape, ()), []).append(host)
        self.loads: List[Tuple[int, ...]] = [() for _ in fleet.shape_of]
        self.current: Dict[int, int] = {}
        candidates = [vm for vm in range(len(vm_kinds)) if alone[vm]]
        self.best: Dict[int, int] = self.first_fit(candidates)
        self.run(candidates)

    def first_fit(self, remaining: Sequence[int]) -> Dict[int, int]:
        """The current placement completed by putting each of ``remaining`` on the first host it fits."""
        loads = list(self.loads)
        placed = dict(self.current)
        for vm in remaining:
            kind = self.vm_kinds[vm]
            for host in self.alone[vm]:
                loaded = tuple(sorted((*loads[host], kind)))
                if self.fleet.fits(self.fleet.shape_of[host], loaded):
                    loads[host] = loaded
                    placed[vm] = host
                    break
        return placed

    def run(self, remaining: List[int]) -> None:
        if len(self.best) >= len(self.current) + len(remaining):
            return
        fleet = self.fleet
        if self.steps < len(remaining) * len(self.groups):
            self.exhausted = True
            finished = self.first_fit(remaining)
            if len(finished) > len(self.best):
                self.best = finished
            return
        self.steps -= len(remaining) * len(self.groups)
        # For each VM, the host groups that can take it now; how many VMs want each group.
        options: Dict[int, List[Tuple[int, Tuple[int, ...]]]] = {}
        demand: Dict[Tuple[int, Tuple[int, ...]], int] = {}
        for vm in remaining:
            kind = self.vm_kinds[vm]
            found = []
            for group, hosts in self.groups.items():
                if hosts and fleet.fits(group[0], tuple(sorted((*group[1], kind)))):
                    found.append(group)
                    demand[group] = demand.get(group, 0) + 1
            options[vm] = found
        live = [vm for vm in remaining if options[vm]]
        bound = len(self.current) + len(live)
        if len(self.best) >= bound:
            return  # even if every VM that still fits somewhere went in, no better than the best
        if not live:
            self.best = dict(self.current)
            return
        # Most constrained first: fewest hosts that can take it, then most devices, then request order.
        vm = min(live, key=lambda v: (sum(len(self.groups[g]) for g in options[v]),
                                      -len(fleet.kinds[self.vm_kinds[v]]), v))
        rest = [v for v in live if v != vm]
        kind = self.vm_kinds[vm]
        # Least wanted hosts first, so the hosts other VMs need stay free; fuller ones first, to pack.
        for group in sorted(options[vm], key=lambda g: (demand[g], -len(g[1]), g)):
            host = self.groups[group].pop(0)
            loaded = (group[0], tuple(sorted((*group[1], kind))))
            insort(self.groups.setdefault(loaded, []), host)
            self.loads[host] = loaded[1]
            self.current[vm] = host
            self.run(rest)
            del self.current[vm]
            self.loads[host] = group[1]
            self.groups[loaded].remove(host)
            self.groups[group].insert(0, host)
            if self.exhausted or len(self.best) >= bound:
                return
        # Leave this VM out, in case the others alone place more.
        self.run(rest)


def evacuate(vms: Sequence[VmRequest], inventories: Sequence[Inventory], registry: Any, *,
             source: Optional[str] = None, steps: int = SEARCH_STEPS) -> Evacuation:
    """Place every VM at once on the hosts of ``inventories`` (but ``source``), each VM on one host.

    A host takes a set of VMs when all their devices together match its receiving devices
    (capacities included). The most VMs possible are placed; each VM left out says why.
    """
    if len(vms) > MAX_EVACUATION_VMS:
        raise LimitError(f"{len(vms)} VMs to place: at most {MAX_EVACUATION_VMS} at once")
    for request in vms:
        if len(request.device_versions) > MAX_VM_DEVICES:
            raise LimitError(f"VM {request.name!r} has {len(request.device_versions)} devices: at most"
                             f" {MAX_VM_DEVICES}")
    receivers = [inv for inv in inventories if source is None or inv.host.lower() != source.lower()]
    judge = _Judge(registry)
    kinds: List[Tuple[str, ...]] = []
    kind_of: Dict[Tuple[str, ...], int] = {}
    vm_kinds: List[int] = []
    for request in vms:
        # A VM's devices are a multiset: VMs with the same devices are interchangeable.
        key = tuple(sorted(v or "" for v in request.device_versions))
        vm_kinds.append(kind_of.setdefault(key, len(kinds)))
        if len(kinds) < len(kind_of):
            kinds.append(key)
    total = sum(len(r.device_versions) for r in vms)
    fleet = _Fleet(receivers, kinds, judge, max(1, total))
    alone: List[List[int]] = []
    for index, request in enumerate(vms):
        if any(v is None for v in request.device_versions):
            alone.append([])
            continue
        shapes = {s for s in range(len(fleet.versions)) if fleet.fits(s, (vm_kinds[index],))}
        alone.append([h for h, s in enumerate(fleet.shape_of) if s in shapes])
    search = _Search(fleet, vm_kinds, alone, steps)
    placed = search.best
    by_host: Dict[int, List[int]] = {}
    for vm, host in sorted(placed.items()):
        by_host.setdefault(host, []).append(vm)
    results: Dict[int, VmPlacement] = {}
    for host, members in by_host.items():
        results.update(_assign(fleet, host, members, vms, vm_kinds))
    out = []
    for index, request in enumerate(vms):
        done = results.get(index)
        if done is None:
            done = _left_out(index, request, alone[index], fleet, placed=placed, vms=vms,
                             bounded=steps if search.exhausted else None)
        out.append(done)
    return Evacuation(source, tuple(out), not search.exhausted, len(receivers))


def _assign(fleet: _Fleet, host: int, members: Sequence[int], vms: Sequence[VmRequest],
            vm_kinds: Sequence[int]) -> Dict[int, VmPlacement]:
    """Each VM on ``host`` with its devices' targets: one matching of all their devices together."""
    shape = fleet.shape_of[host]
    inventory = fleet.inventories[host]
    # Match in the VMs' own device order (a kind is the sorted multiset of the same texts).
    edges: List[List[int]] = []
    owners: List[Tuple[int, int]] = []
    for vm in members:
        for position, version in enumerate(vms[vm].device_versions):
            edges.append(fleet.judge.compatible(version or "", fleet.versions[shape]))
            owners.append((vm, position))
    chosen = match(edges, fleet.capacity[shape])
    done: Dict[int, List[Assignment]] = {vm: [] for vm in members}
    for (vm, position), right in zip(owners, chosen):
        if right is None:  # pragma: no cover - the search only loads a host with VMs that fit together
            raise AssertionError("evacuation placed a VM that does not fit")
        entry = inventory.devices[fleet.positions[host][right]]
        done[vm].append(Assignment(position, vms[vm].device_versions[position] or "", entry.device.id,
                                   entry.device_version or ""))
    return {vm: VmPlacement(vms[vm].name, vms[vm].device_versions, _devices(vms[vm]), inventory.host,
                            tuple(done[vm]), None, None, ()) for vm in members}


def _devices(request: VmRequest) -> Tuple[Optional[str], ...]:
    return request.devices or (None,) * len(request.device_versions)


def _left_out(index: int, request: VmRequest, alone: Sequence[int], fleet: _Fleet, *, placed: Dict[int, int],
              vms: Sequence[VmRequest], bounded: Optional[int]) -> VmPlacement:
    """Why a VM goes nowhere: no device_version, no host that takes it even alone, or capacity others need."""
    name = request.name

    def refused(code: str, message: str, reasons: Tuple[Reason, ...] = ()) -> VmPlacement:
        return VmPlacement(name, request.device_versions, _devices(request), None, (), code, message, reasons)

    missing = [i for i, v in enumerate(request.device_versions) if v is None]
    if missing:
        device = _devices(request)[missing[0]]
        return refused("VC602", f"VM {name}: device {missing[0]}{f' ({device})' if device else ''} has no"
                                " device_version, so no target can be judged")
    if not fleet.inventories:
        return refused("VC614", f"VM {name}: there is no other host to go to")
    if not alone:
        judge = fleet.judge
        everywhere = sorted({v for versions in fleet.versions for v in versions})
        for i, version in enumerate(request.device_versions):
            assert version is not None
            if not judge.compatible(version, everywhere):
                if not everywhere:
                    return refused("VC614", f"VM {name}: no host has a device that can receive a migration")
                nearest = min(everywhere, key=lambda t: judge.distance(version, t))
                verdict = judge.check(version, nearest)
                first = verdict.reasons[0].message if verdict.reasons else "not compatible"
                return refused("VC614", f"VM {name}: device {i} ({version}) has no compatible device free on any"
                                        f" of {len(fleet.inventories)} hosts; nearest {nearest}: {first}",
                               verdict.reasons)
        return refused("VC614", f"VM {name}: each of its devices has compatible free devices, but no host has"
                                f" them all at once (of {len(fleet.inventories)} hosts)")
    reachable = set(alone)
    takers = sorted({vms[vm].name for vm, host in placed.items() if host in reachable})
    hosts = [fleet.inventories[h].host for h in alone[:3]]
    more = f" and {len(alone) - 3} more" if len(alone) > 3 else ""
    why = f"VM {name}: {', '.join(hosts)}{more} could take it alone, but "
    if takers:
        why += (f"placing the most VMs at once gives their devices to {', '.join(takers[:5])}"
                f"{' and others' if len(takers) > 5 else ''}")
    else:
        why += "the placement found leaves it out"
    if bounded is not None:
        why += f" (the best placement found within {bounded} search steps)"
    return refused("VC615", why)


# -- the VMs of an evacuated host ------------------------------------------------------------

#: Largest VM file read.
MAX_VM_FILE_BYTES = 4 << 20
_NAME_MAX = 255


def read_vm_file(path: str, source: Optional[Inventory] = None) -> List[VmRequest]:
    """The VMs to move, from ``path``: lines ``VM_NAME DEVICE...`` or ``{"vms": [{"name", "devices"}]}``.

    A device is a device_version, or the id of a device of ``source`` (``pci:0000:3b:00.1``,
    ``mdev:UUID``: an inventory does not record which VM uses which device, so this file says so),
    whose device_version it stands for. ``#`` starts a comment line. Names are printable ASCII
    without spaces, each VM given once, each source device used by one VM.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_VM_FILE_BYTES + 1)
    except OSError as error:
        raise UsageError(f"{path}: cannot read VM file: {error.strerror or error}") from None
    if len(raw) > MAX_VM_FILE_BYTES:
        raise LimitError(f"{path}: VM file larger than {MAX_VM_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: VM file is not UTF-8 text") from None
    entries: List[Tuple[str, Any, Any]] = []  # (where, name, devices)
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as error:
            raise UsageError(f"{path}: not a JSON VM document: {error}") from None
        vms = data.get("vms") if isinstance(data, dict) else None
        if not isinstance(vms, list) or set(data) != {"vms"}:
            raise UsageError(f'{path}: a JSON VM document is {{"vms": [{{"name": ..., "devices": [...]}}]}}')
        for index, item in enumerate(vms):
            where = f"{path}: vms[{index}]"
            if not isinstance(item, dict) or set(item) != {"name", "devices"}:
                raise UsageError(f'{where}: each VM is {{"name": NAME, "devices": [DEVICE, ...]}}')
            entries.append((where, item["name"], item["devices"]))
    else:
        for number, line in enumerate(text.splitlines(), 1):
            words = line.split()
            if words and not words[0].startswith("#"):
                entries.append((f"{path}:{number}", words[0], words[1:]))
    if len(entries) > MAX_EVACUATION_VMS:
        raise LimitError(f"{path}: {len(entries)} VMs: at most {MAX_EVACUATION_VMS} at once")
    by_id = {e.device.id: e for e in source.devices} if source is not None else {}
    names: Dict[str, str] = {}
    users: Dict[str, str] = {}
    requests = []
    for where, name, devices in entries:
        if not isinstance(name, str) or not 0 < len(name) <= _NAME_MAX or not all("!" <= c <= "~" for c in name):
            raise UsageError(f"{where}: VM name {_shown(name)} must be 1 to {_NAME_MAX} printable ASCII characters"
                             " without spaces")
        if name in names:
            raise UsageError(f"{where}: VM {name} is given twice (first at {names[name]})")
        names[name] = where
        if not isinstance(devices, list) or not devices or not all(isinstance(d, str) for d in devices):
            raise UsageError(f"{where}: VM {name} needs one or more devices (device_versions or device ids)")
        if len(devices) > MAX_VM_DEVICES:
            raise LimitError(f"{where}: VM {name} has {len(devices)} devices: at most {MAX_VM_DEVICES}")
        versions: List[Optional[str]] = []
        ids: List[Optional[str]] = []
        for token in devices:
            if token.split(":", 1)[0] in ("pci", "mdev", "mdev_type"):
                entry = by_id.get(token)
                if entry is None:
                    host = f"host {source.host}" if source is not None else "no --evacuate inventory"
                    raise UsageError(f"{where}: VM {name}: device {_shown(token)} is not a device of {host}")
                if token in users:
                    raise UsageError(f"{where}: device {token} is used by VM {users[token]} already")
                users[token] = name
                versions.append(entry.device_version)
                ids.append(token)
                continue
            try:
                versions.append(str(parse(token)))
            except DeviceVersionError as error:
                raise UsageError(f"{where}: VM {name}: {_shown(token)} is neither a device id nor a"
                                 f" device_version: {error}") from None
            ids.append(None)
        requests.append(VmRequest(name, tuple(versions), tuple(ids)))
    return requests


def _shown(value: Any) -> str:
    """User text in a message, control and non-ASCII characters escaped, at most 80 characters."""
    text = value if isinstance(value, str) else json.dumps(value)
    shown = text[:80].encode("ascii", "backslashreplace").decode("ascii")
    return repr(shown + ("..." if len(text) > 80 else ""))
