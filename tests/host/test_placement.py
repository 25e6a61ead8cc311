"""vfiocompat.host.placement: each VM device gets its own compatible host device (bipartite matching)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, List, Optional, Sequence

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vfiocompat._verdict import Reason
from vfiocompat.host.inventory import HostDevice, Inventory, InventoryDevice, inventory_form, targets
from vfiocompat.host.placement import match, place
from vfiocompat.host.probe import probe
from vfiocompat.host.variant_drivers import migration_support

from . import sysfs_fixtures as fx


def pci(address: str, version: Optional[str], *, can_migrate: Optional[bool] = True, reasons: Any = ()) -> Any:
    return InventoryDevice(HostDevice("pci", address=address, vendor="0xfffd", device="0x0001", driver="x_vfio_pci"),
                           version, "testvendor", can_migrate, None, tuple(reasons))


def mdev_type(name: str, version: str, instances: int) -> Any:
    return InventoryDevice(HostDevice("mdev_type", parent="0000:00:02.0", mdev_type=name,
                                      available_instances=instances), version, "testvendor")


def host(name: str, *devices: Any) -> Inventory:
    return Inventory(name, tuple(devices))


@pytest.fixture()
def registry(tmp_path: Path) -> Any:
    return fx.registry(tmp_path)


def _greedy(vm: Sequence[str], inventory: Inventory, registry: Any) -> bool:
    """First fit, for contrast: each VM device takes the first free compatible device."""
    taken: set = set()
    for source in vm:
        free = [e for e in inventory.devices if e.device.id not in taken
                and registry.check(source, e.device_version).compatible]
        if not free:
            return False
        taken.add(free[0].device.id)
    return True


def test_crosswise_solution_that_first_fit_misses(registry: Any) -> None:
    vm = [fx.dv("w1", "1.0"), fx.dv("w1", "2.0")]
    # A (fw 1.0) fits both; B (fw 2.0) fits only X, which first fit hands to A.
    inventory = host("h", pci("0000:01:00.0", fx.dv("w1", "2.0")), pci("0000:01:00.1", fx.dv("w1", "1.5")))
    assert not _greedy(vm, inventory, registry)
    result = place(vm, [inventory], registry)
    assert result.fitting == ("h",)
    pairs = {(a.vm_index, a.target) for a in result.hosts[0].assignment}
    assert pairs == {(0, "pci:0000:01:00.1"), (1, "pci:0000:01:00.0")}


def test_no_partner_gives_the_nearest_reason(registry: Any) -> None:
    vm = [fx.dv("w1", "2.0")]
    inventory = host("h", pci("0000:01:00.0", "0x10de:1:other"), pci("0000:01:00.1", fx.dv("w1", "1.0")),
                     pci("0000:01:00.2", fx.dv("w9", "3.0")))
    result = place(vm, [inventory], registry)
    assert result.fitting == ()
    miss = result.hosts[0].unmatched[0]
    assert (miss.vm_index, miss.code) == (0, "VC604")
    assert miss.target in ("pci:0000:01:00.1", "pci:0000:01:00.2"), "another vendor is never the nearest"
    assert miss.reasons and all(r.layer == "table" for r in miss.reasons)


def test_compatible_device_on_plain_vfio_pci_says_which_driver(registry: Any) -> None:
    _, _, why = migration_support("vfio-pci", "0x15b3", "0x101e")
    inventory = host("h", pci("0000:01:00.0", fx.dv("w1", "1.0"), can_migrate=False, reasons=[why]))
    miss = place([fx.dv("w1", "1.0")], [inventory], registry).hosts[0].unmatched[0]
    assert miss.code == "VC604" and miss.reasons[0].code == "VC601"
    assert "mlx5_vfio_pci" in miss.message


def test_not_enough_distinct_devices(registry: Any) -> None:
    vm = [fx.dv("w1", "1.0"), fx.dv("w1", "1.0")]
    inventory = host("h", pci("0000:01:00.0", fx.dv("w1", "1.0")), pci("0000:01:00.1", fx.dv("w2", "1.0")))
    result = place(vm, [inventory], registry)
    [miss] = result.hosts[0].unmatched
    assert miss.code == "VC605" and miss.target == "pci:0000:01:00.0"
    assert "needed by VM device" in miss.message


@pytest.mark.parametrize(("instances", "fits", "code"), [(2, True, None), (1, False, "VC605"), (0, False, "VC604")])
def test_mdev_type_instances_are_capacity(instances: int, fits: bool, code: Optional[str], registry: Any) -> None:
    vm = [fx.dv("w2", "1.0"), fx.dv("w2", "1.0")]
    result = place(vm, [host("h", mdev_type("tv-w2", fx.dv("w2", "1.0"), instances))], registry)
    assert result.hosts[0].fits is fits
    if code:
        assert result.hosts[0].unmatched[0].code == code


def test_probe_then_place(tmp_path: Path, registry: Any) -> None:
    fs = fx.FakeSysfs(tmp_path / "sys")
    fs.add_pci("0000:3b:00.1", "0xfffd", "0x0001", attrs={"tv_model": "w1", "tv_fw": "1.2"}, driver="tv_vfio_pci")
    fs.add_mdev_parent("0000:00:02.0", "0xfffd", "0x0002", {"tv-w2": ("W2", 1, {"tv_model": "w2", "tv_fw": "2.0"})})
    inventory = probe(str(fs.root), registry, host="node-1")
    result = place([fx.dv("w1", "1.0"), fx.dv("w2", "2.0")], [inventory], registry)
    assert result.fitting == ("node-1",)
    targets = sorted(a.target for a in result.hosts[0].assignment)
    assert targets == ["mdev_type:0000:00:02.0/tv-w2", "pci:0000:3b:00.1"]


class _Counting:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.pairs: List[Any] = []
        self.verdicts: List[Any] = []

    def is_compatible(self, source: str, target: str) -> bool:
        self.pairs.append((source, target))
        return bool(self.inner.is_compatible(source, target))

    def check(self, source: str, target: str) -> Any:
        self.verdicts.append((source, target))
        return self.inner.check(source, target)


def test_ten_thousand_hosts_check_each_distinct_pair_once(registry: Any) -> None:
    kinds = [
        host("", pci("0000:01:00.0", fx.dv("w1", "1.0")), pci("0000:01:00.1", fx.dv("w1", "2.0"))),
        host("", pci("0000:01:00.0", fx.dv("w2", "1.0"))),
        host("", mdev_type("tv-w1", fx.dv("w1", "3.0"), 4)),
    ]
    fleet = [Inventory(f"host-{i:05d}", kinds[i % 3].devices) for i in range(10_000)]
    counting = _Counting(registry)
    result = place([fx.dv("w1", "1.0"), fx.dv("w1", "1.5")], fleet, counting)
    assert len(result.fitting) == 10_000 - 3333  # hosts 1, 4, 7, ... have only w2
    # Each distinct pair is asked once, however many hosts share it (speed is benchmarks/w3's job).
    assert len(counting.pairs) == len(set(counting.pairs)) <= 8
    assert len(counting.verdicts) == len(set(counting.verdicts)) <= 8


def _brute_force(edges: Sequence[Sequence[int]], capacity: Sequence[int]) -> int:
    best = 0
    options = [[None, *e] for e in edges]
    for pick in itertools.product(*options):
        used = [p for p in pick if p is not None]
        if all(used.count(r) <= capacity[r] for r in set(used)):
            best = max(best, len(used))
    return best


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 4).flatmap(lambda rights: st.tuples(
    st.lists(st.lists(st.integers(0, rights - 1), max_size=rights, unique=True), min_size=1, max_size=5),
    st.lists(st.integers(0, 2), min_size=rights, max_size=rights),
)))
def test_matching_is_maximum(case: Any) -> None:
    edges, capacity = case
    chosen = match(edges, capacity)
    for left, right in enumerate(chosen):
        assert right is None or right in edges[left]
    for right, cap in enumerate(capacity):
        assert sum(1 for c in chosen if c == right) <= cap
    assert sum(c is not None for c in chosen) == _brute_force(edges, capacity)


def test_cli_place(tmp_path: Path) -> None:
    fits = host("fits", pci("0000:01:00.0", fx.dv("w1", "2.0")), pci("0000:01:00.1", fx.dv("w1", "1.5")))
    small = host("small", pci("0000:01:00.0", fx.dv("w1", "2.0")))
    (tmp_path / "a.json").write_text(json.dumps(inventory_form(fits)))
    (tmp_path / "fleet.json").write_text(json.dumps([inventory_form(small)]))
    env = fx.cli_env(tmp_path)
    vm = ["--vm", fx.dv("w1", "1.0"), "--vm", fx.dv("w1", "2.0")]
    result = fx.run_cli(["place", *vm, str(tmp_path / "a.json"), str(tmp_path / "fleet.json"), "--json"], env)
    assert result.returncode == 0, result.stderr
    form = json.loads(result.stdout)
    jsonschema.Draft202012Validator(fx.load_schema("placement")).validate(form)
    assert form["fits"] == ["fits"]
    assert form["hosts"][1]["unmatched"][0]["code"] == "VC605"
    none = fx.run_cli(["place", *vm, str(tmp_path / "fleet.json")], env)
    assert none.returncode == 1 and b"small: does not fit" in none.stdout
    bad_vm = fx.run_cli(["place", "--vm", "not a version", str(tmp_path / "a.json")], env)
    assert bad_vm.returncode == 2 and bad_vm.stderr.count(b"\n") == 1
    (tmp_path / "bad.json").write_text('{"schema_version": 1}')
    bad_file = fx.run_cli(["place", *vm, str(tmp_path / "bad.json")], env)
    assert bad_file.returncode == 2 and b"not an inventory document" in bad_file.stderr


# -- hosts of one shape are decided once -------------------------------------------------------

VERSIONS = [fx.dv("w1", "1.0"), fx.dv("w1", "2.0"), fx.dv("w1", "2.5"), fx.dv("w2", "1.0"), fx.dv("w2", "3.0"),
            "0x10de:1:other"]


def _device(slot: int, kind: str, version: Optional[str], extra: Any) -> Any:
    if kind == "mdev_type":
        return InventoryDevice(HostDevice("mdev_type", parent=f"0000:{slot:02x}:00.0", mdev_type="tv-w",
                                          available_instances=extra), version, "testvendor")
    why = () if extra is not False else (Reason("VC601", "host", f"0000:{slot:02x}:00.1 is on plain vfio-pci"),)
    return InventoryDevice(HostDevice("pci", address=f"0000:{slot:02x}:00.1", vendor="0xfffd", device="0x0001"),
                           version, "testvendor", extra, None, why)


def _generated_fleet(seed: int, hosts: int) -> List[Inventory]:
    """A fleet of a few models (some hosts with their cards in other slots or addresses) and one-off hosts."""
    import random

    rng = random.Random(seed)

    def model() -> List[Any]:
        slots = []
        for _ in range(rng.randint(0, 5)):
            version = rng.choice([*VERSIONS, None])
            kind = rng.choice(["pci", "pci", "mdev_type"])
            extra = rng.randint(0, 3) if kind == "mdev_type" else rng.choice([True, True, None, False])
            slots.append((kind, version, extra))
        return slots

    models = [model() for _ in range(6)]
    fleet = []
    for number in range(hosts):
        slots = list(rng.choice(models)) if rng.random() < 0.8 else model()
        if rng.random() < 0.3:
            rng.shuffle(slots)
        base = rng.choice([1, 1, 0x40])  # another address plan: the same shape, other device ids
        fleet.append(Inventory(f"h{number}", tuple(_device(base + i, *s) for i, s in enumerate(slots))))
    return fleet


def _fits_alone(vm: Sequence[str], inventory: Inventory, registry: Any) -> bool:
    """Whether ``vm`` fits ``inventory``, decided from :func:`targets` in inventory order (no shapes)."""
    usable, _ = targets(inventory)
    edges = [[r for r, t in enumerate(usable) if registry.is_compatible(s, t.device.device_version)] for s in vm]
    return None not in match(edges, [t.capacity for t in usable])


@pytest.mark.parametrize("seed", range(6))
def test_deciding_by_shape_is_deciding_each_host(seed: int, registry: Any) -> None:
    import random

    fleet = _generated_fleet(seed, 300)
    rng = random.Random(seed)
    answers = []
    for vm in ([fx.dv("w1", "1.0")], [fx.dv("w1", "1.0"), fx.dv("w1", "1.0")],
               [rng.choice(VERSIONS) for _ in range(rng.randint(1, 3))], [fx.dv("w2", "1.0"), fx.dv("w1", "2.0")]):
        by_shape = place(vm, fleet, registry)
        assert by_shape == place(vm, fleet, registry, by_shape=False)
        for inventory, answer in zip(fleet, by_shape.hosts):
            assert answer.host == inventory.host
            assert answer.fits is _fits_alone(vm, inventory, registry), inventory
            ids = {e.device.id: e for e in inventory.devices}
            for a in answer.assignment:  # each VM device on a compatible device of this very host
                assert registry.is_compatible(vm[a.vm_index], ids[a.target].device_version)
            for miss in answer.unmatched:
                assert miss.target is None or miss.target in ids
        answers += [h.fits for h in by_shape.hosts]
    assert any(answers) and not all(answers), "the fleet has hosts that fit and hosts that do not"


def test_each_shape_is_matched_once(registry: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from vfiocompat.host import placement

    calls: List[Any] = []
    real = placement._decide

    def counting(*args: Any) -> Any:
        calls.append(args[1:4])
        return real(*args)

    monkeypatch.setattr(placement, "_decide", counting)
    a = [_device(1, "pci", fx.dv("w1", "2.0"), True), _device(2, "mdev_type", fx.dv("w1", "3.0"), 2)]
    b = [_device(1, "pci", fx.dv("w2", "1.0"), True)]
    fleet = []
    for i in range(1000):
        devices = (a if i % 2 else a[::-1]) if i % 5 else b
        fleet.append(Inventory(f"h{i}", tuple(devices)))
    result = place([fx.dv("w1", "1.0"), fx.dv("w1", "2.0")], fleet, registry)
    assert len(calls) == len(set(calls)) == 2, "two shapes (a in either order, and b): two matchings"
    assert len(result.fitting) == 800
    # The answer names each host's own devices: the order of its slots does not change where VMs go.
    assert {tuple(sorted((x.vm_index, x.target) for x in h.assignment)) for h in result.hosts if h.fits} == {
        ((0, "mdev_type:0000:02:00.0/tv-w"), (1, "pci:0000:01:00.1"))}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["pci", "mdev_type", "mdev"]), st.sampled_from([*VERSIONS, None]),
                          st.sampled_from([True, False, None]), st.one_of(st.none(), st.integers(0, 3))),
                max_size=6))
def test_shapes_split_devices_as_targets_does(slots: Any) -> None:
    from vfiocompat.host.placement import _STATE, _split

    devices = tuple(InventoryDevice(HostDevice(kind, address="0000:01:00.0", available_instances=instances), version,
                                    None, can_migrate) for kind, version, can_migrate, instances in slots)
    usable, excluded = targets(Inventory("h", devices))
    mine, others = _split(tuple(map(_STATE, devices)))
    where = {id(d): i for i, d in enumerate(devices)}
    assert sorted((p, c) for _, c, p in mine) == sorted((where[id(t.device)], t.capacity) for t in usable)
    assert sorted(p for _, p in others) == sorted(where[id(e)] for e in excluded if e.device_version is not None)
    assert [(v, c) for v, c, _ in mine] == sorted((t.device.device_version, t.capacity) for t in usable)


# -- evacuation: many VMs at once ------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return fx.registry(tmp_path_factory.mktemp("evacuation"))


def _best_by_brute_force(vms: Sequence[Sequence[str]], fleet: Sequence[Inventory], registry: Any) -> int:
    """The most VMs any assignment of VMs to hosts places (each host's load checked with :func:`match`)."""
    usable = [targets(inventory)[0] for inventory in fleet]
    best = 0
    for pick in itertools.product(range(-1, len(fleet)), repeat=len(vms)):
        ok = True
        for h, host_targets in enumerate(usable):
            devices = [d for v, where in enumerate(pick) if where == h for d in vms[v]]
            edges = [[r for r, t in enumerate(host_targets) if registry.is_compatible(d, t.device.device_version)]
                     for d in devices]
            if None in match(edges, [t.capacity for t in host_targets]):
                ok = False
                break
        if ok:
            best = max(best, sum(p >= 0 for p in pick))
    return best


def _assert_feasible(result: Any, fleet: Sequence[Inventory], registry: Any) -> None:
    """Every placed VM's devices go to compatible devices of its host, no device over its capacity."""
    hosts = {inventory.host: inventory for inventory in fleet}
    used: dict = {}
    for vm in result.vms:
        if not vm.placed:
            assert vm.code in ("VC602", "VC614", "VC615") and vm.message and not vm.assignment
            continue
        assert vm.code is None and sorted(a.vm_index for a in vm.assignment) == list(range(len(vm.device_versions)))
        entries = {e.device.id: e for e in hosts[vm.host].devices}
        for a in vm.assignment:
            entry = entries[a.target]
            assert registry.is_compatible(vm.device_versions[a.vm_index], entry.device_version)
            used[(vm.host, a.target)] = used.get((vm.host, a.target), 0) + 1
    capacity = {(inv.host, t.device.device.id): t.capacity for inv in fleet for t in targets(inv)[0]}
    assert all(count <= capacity[key] for key, count in used.items())


EVAC_VERSIONS = [fx.dv("w1", "1.0"), fx.dv("w1", "2.0"), fx.dv("w2", "1.0")]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(["pci", "mdev_type"]), st.sampled_from(EVAC_VERSIONS),
                                   st.integers(0, 2)), max_size=3), min_size=1, max_size=3),
       st.lists(st.lists(st.sampled_from(EVAC_VERSIONS), min_size=1, max_size=2), min_size=1, max_size=4))
def test_evacuation_places_the_most_vms_possible(shared_registry: Any, hosts: Any, vms: Any) -> None:
    from vfiocompat.host.placement import VmRequest, evacuate

    fleet = [Inventory(f"h{n}", tuple(_device(i + 1, kind, version, extra if kind == "mdev_type" else True)
                                      for i, (kind, version, extra) in enumerate(slots)))
             for n, slots in enumerate(hosts)]
    requests = [VmRequest(f"vm{i}", tuple(devices)) for i, devices in enumerate(vms)]
    result = evacuate(requests, fleet, shared_registry)
    assert result.optimal and [v.name for v in result.vms] == [r.name for r in requests]
    _assert_feasible(result, fleet, shared_registry)
    assert len(result.placed) == _best_by_brute_force(vms, fleet, shared_registry)


def _slots(*versions: str) -> Inventory:
    return tuple(_device(i + 1, "pci", v, True) for i, v in enumerate(versions))  # type: ignore[return-value]


def test_evacuation_needs_backtracking_k4(registry: Any) -> None:
    """K4's six edges on three hosts of one device per vertex: all fit only as a 3-edge-colouring."""
    from vfiocompat.host.placement import VmRequest, evacuate

    kinds = [fx.dv(m, "1.0") for m in ("a", "b", "c", "d")]
    fleet = [Inventory(f"h{n}", _slots(*kinds)) for n in range(3)]  # type: ignore[arg-type]
    vms = [VmRequest(f"{x}{y}", (kinds[x], kinds[y])) for x, y in itertools.combinations(range(4), 2)]
    result = evacuate(vms, fleet, registry)
    assert result.optimal and len(result.placed) == 6
    _assert_feasible(result, fleet, registry)
    # One more edge than any host can take: the seventh VM is left out, and says capacity went to others.
    result = evacuate([*vms, VmRequest("extra", (kinds[0], kinds[1]))], fleet, registry)
    assert result.optimal and len(result.placed) == 6
    [left] = [v for v in result.vms if not v.placed]
    assert left.code == "VC615" and "could take it alone" in left.message


def test_evacuation_says_why_a_vm_goes_nowhere(registry: Any) -> None:
    from vfiocompat.host.placement import VmRequest, evacuate

    fleet = [Inventory("src", _slots(fx.dv("w1", "1.0"))),  # type: ignore[arg-type]
             Inventory("a", _slots(fx.dv("w1", "2.0"))),  # type: ignore[arg-type]
             Inventory("b", _slots(fx.dv("w2", "1.0"))),  # type: ignore[arg-type]
             Inventory("c", (_device(1, "pci", fx.dv("w3", "1.0"), False),))]
    vms = [VmRequest("ok", (fx.dv("w1", "1.0"),), ("pci:0000:01:00.1",)),
           VmRequest("newer", (fx.dv("w1", "3.0"),)),
           VmRequest("split", (fx.dv("w1", "1.0"), fx.dv("w2", "1.0"))),
           VmRequest("unknown", (None,), ("pci:0000:02:00.1",)),
           VmRequest("plain", (fx.dv("w3", "1.0"),))]
    result = evacuate(vms, fleet, registry, source="SRC")
    assert result.hosts == 3, "the evacuated host receives nothing (names compared ignoring case)"
    by_name = {v.name: v for v in result.vms}
    assert by_name["ok"].host == "a" and by_name["ok"].devices == ("pci:0000:01:00.1",)
    assert by_name["newer"].code == "VC614" and "device 0" in by_name["newer"].message
    assert by_name["newer"].reasons and by_name["newer"].reasons[0].layer == "table", "the nearest device's reasons"
    assert by_name["split"].code == "VC614" and "no host has them all at once" in by_name["split"].message
    assert by_name["unknown"].code == "VC602" and "pci:0000:02:00.1" in by_name["unknown"].message
    assert by_name["plain"].code == "VC614", "a device on plain vfio-pci cannot receive"
    assert result.placed == ("ok",) and result.optimal
    assert evacuate(vms[:1], fleet[:1], registry, source="src").vms[0].message.endswith("no other host to go to")


def test_evacuation_search_is_bounded(registry: Any) -> None:
    from vfiocompat.errors import LimitError
    from vfiocompat.host.placement import MAX_EVACUATION_VMS, MAX_VM_DEVICES, VmRequest, evacuate

    kinds = [fx.dv(m, "1.0") for m in ("a", "b", "c", "d")]
    fleet = [Inventory(f"h{n}", _slots(*kinds)) for n in range(3)]  # type: ignore[arg-type]
    vms = [VmRequest(f"{x}{y}-{n}", (kinds[x], kinds[y])) for n in range(2)
           for x, y in itertools.combinations(range(4), 2)]
    result = evacuate(vms, fleet, registry, steps=10)
    assert not result.optimal and 0 < len(result.placed) <= 6
    _assert_feasible(result, fleet, registry)
    assert all("search steps" in v.message for v in result.vms if v.code == "VC615")
    with pytest.raises(LimitError):
        evacuate([VmRequest("v", (kinds[0],))] * (MAX_EVACUATION_VMS + 1), fleet, registry)
    with pytest.raises(LimitError):
        evacuate([VmRequest("v", (kinds[0],) * (MAX_VM_DEVICES + 1))], fleet, registry)


def test_read_vm_file(tmp_path: Path) -> None:
    from vfiocompat.errors import UsageError
    from vfiocompat.host.placement import read_vm_file

    source = host("src", pci("0000:01:00.0", fx.dv("w1", "1.0")), pci("0000:01:00.1", None))
    path = tmp_path / "vms"
    path.write_text(f"# VM devices\nweb pci:0000:01:00.0 {fx.dv('w2', '1.0')}\n\ndb pci:0000:01:00.1\n")
    web, db = read_vm_file(str(path), source)
    assert (web.name, web.device_versions, web.devices) == ("web", (fx.dv("w1", "1.0"), fx.dv("w2", "1.0")),
                                                           ("pci:0000:01:00.0", None))
    assert (db.device_versions, db.devices) == ((None,), ("pci:0000:01:00.1",))
    path.write_text(json.dumps({"vms": [{"name": "web", "devices": ["0xFFFD:1:model=w1;fw=1.0"]}]}))
    [web] = read_vm_file(str(path))
    assert web.device_versions == (fx.dv("w1", "1.0"),), "device_versions are read in their canonical spelling"
    for text, words in [
        ("web pci:0000:09:00.0\n", "not a device of host src"),
        ("web pci:0000:01:00.0\ndb pci:0000:01:00.0\n", "used by VM web already"),
        ("web 0xfffd:1:a\nweb 0xfffd:1:b\n", ":2: VM web is given twice"),
        ("web not-a-version\n", "neither a device id nor a device_version"),
        ("web\n", "needs one or more devices"),
        ('{"vms": [{"name": "a b", "devices": ["0xfffd:1:a"]}]}', "printable ASCII"),
        ('{"vms": {}}', "a JSON VM document is"),
        ('{"vms": [', "not a JSON VM document"),
    ]:
        path.write_text(text)
        with pytest.raises(UsageError, match=words):
            read_vm_file(str(path), source)
    path.write_text("web pci:0000:01:00.0\n")
    with pytest.raises(UsageError, match="no --evacuate inventory"):
        read_vm_file(str(path))
    with pytest.raises(UsageError, match="cannot read VM file"):
        read_vm_file(str(tmp_path / "missing"))


def test_cli_place_evacuate(tmp_path: Path) -> None:
    source = host("src", pci("0000:01:00.0", fx.dv("w1", "1.0")), pci("0000:01:00.1", fx.dv("w2", "1.0")),
                  pci("0000:01:00.2", fx.dv("w9", "1.0")))
    target = host("dst", pci("0000:02:00.0", fx.dv("w1", "2.0")), pci("0000:02:00.1", fx.dv("w2", "1.5")))
    (tmp_path / "src.json").write_text(json.dumps(inventory_form(source)))
    (tmp_path / "fleet.json").write_text(json.dumps([inventory_form(source), inventory_form(target)]))
    (tmp_path / "vms").write_text("web pci:0000:01:00.0 pci:0000:01:00.1\nold pci:0000:01:00.2\n")
    env = fx.cli_env(tmp_path)
    common = ["place", "--evacuate", str(tmp_path / "src.json"), "--vm-file", str(tmp_path / "vms"),
              str(tmp_path / "fleet.json")]
    result = fx.run_cli([*common, "--json"], env)
    assert result.returncode == 1, result.stderr
    form = json.loads(result.stdout)
    jsonschema.Draft202012Validator(fx.load_schema("placement")).validate(form)
    assert (form["evacuate"], form["hosts"], form["placed"], form["unplaced"]) == ("src", 1, ["web"], ["old"])
    web, old = form["vms"]
    assert web["host"] == "dst" and sorted((a["vm_index"], a["target"]) for a in web["assignment"]) == [
        (0, "pci:0000:02:00.0"), (1, "pci:0000:02:00.1")]
    assert old["code"] == "VC614" and old["reasons"]
    text = fx.run_cli(common, env)
    lines = text.stdout.decode().splitlines()
    assert lines[0] == "web: dst (pci:0000:01:00.0 -> pci:0000:02:00.0, pci:0000:01:00.1 -> pci:0000:02:00.1)"
    assert lines[1] == "old: nowhere" and lines[2].startswith("  host error[VC614]: VM old: device 0")
    assert lines[-1] == "1 of 2 VMs placed on 1 hosts (the most possible)"
    (tmp_path / "vms").write_text("web pci:0000:01:00.0 pci:0000:01:00.1\n")
    assert fx.run_cli(common, env).returncode == 0
    for argv, words in [
        (["place", "--evacuate", str(tmp_path / "src.json"), str(tmp_path / "fleet.json")], b"needs --vm-file"),
        (["place", "--vm", fx.dv("w1", "1.0"), "--vm-file", str(tmp_path / "vms"), str(tmp_path / "fleet.json")],
         b"give one or the other"),
        (["place", str(tmp_path / "fleet.json")], b"the following arguments are required: --vm"),
        (["place", "--evacuate", str(tmp_path / "fleet.json"), "--vm-file", str(tmp_path / "vms"),
          str(tmp_path / "fleet.json")], b"the inventory of one host"),
    ]:
        bad = fx.run_cli(argv, env)
        assert bad.returncode == 2 and bad.stderr.count(b"\n") == 1 and words in bad.stderr, bad.stderr
