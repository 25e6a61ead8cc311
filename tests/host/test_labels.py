"""vfiocompat.host.labels: node labels and Placement traits that agree with `check` for every class and host."""

from __future__ import annotations

import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from vfiocompat.host.inventory import HostDevice, Inventory, InventoryDevice, inventory_form
from vfiocompat.host.labels import device_class, labels

from . import sysfs_fixtures as fx

LABEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
TRAIT = re.compile(r"^CUSTOM_[A-Z0-9_]+$")


def _fleet(seed: int, hosts: int = 25) -> Any:
    rng = random.Random(seed)
    fleet = []
    for h in range(hosts):
        devices = []
        for d in range(rng.randint(0, 4)):
            version = fx.dv(rng.choice(["w1", "w2", "w3"]), rng.choice(["1.0", "1.5", "2.0", "2.5", "3.0"]))
            kind = rng.choice(["pci", "pci", "mdev_type"])
            if kind == "pci":
                device = HostDevice("pci", address=f"0000:01:00.{d}", driver="tv_vfio_pci")
                can = rng.choice([True, None, False])
            else:
                device = HostDevice("mdev_type", parent="0000:00:02.0", mdev_type=f"t{d}",
                                    available_instances=rng.choice([0, 1, 3]))
                can = None
            devices.append(InventoryDevice(device, version, "testvendor", can))
        fleet.append(Inventory(f"node-{h:03d}", tuple(devices)))
    return fleet


def _receives(entry: Any) -> bool:
    instances = entry.device.available_instances if entry.device.kind == "mdev_type" else 1
    return entry.device_version is not None and entry.can_migrate is not False and (instances or 0) > 0


def test_labels_agree_with_check_for_every_class_and_host(tmp_path: Path) -> None:
    registry = fx.registry(tmp_path)
    for seed in range(5):
        fleet = _fleet(seed)
        result = labels(fleet, registry)
        by_host = {h.host: h for h in result.hosts}
        assert result.classes, "the generated fleet has classes"
        for cls in result.classes:
            for inventory in fleet:
                expected = any(registry.check(cls.device_version, e.device_version).compatible
                               for e in inventory.devices if _receives(e))
                host = by_host[inventory.host]
                assert (cls.digest in host.accepts) is expected
                assert (cls.label in host.labels) is expected
                assert (cls.trait in host.traits) is expected


def test_labels_are_stable_and_sorted(tmp_path: Path) -> None:
    registry = fx.registry(tmp_path)
    fleet = _fleet(7)
    shuffled = list(fleet)
    random.Random(1).shuffle(shuffled)
    first, second = labels(fleet, registry), labels(shuffled, fx.registry(tmp_path / "again"))
    assert first == second
    assert [h.host for h in first.hosts] == sorted(h.host for h in fleet)
    assert all(list(h.labels) == sorted(h.labels) for h in first.hosts)


def test_class_name_is_readable_plus_sha256() -> None:
    version = fx.dv("w1", "1.0")
    cls = device_class(version)
    digest = hashlib.sha256(version.encode()).hexdigest()[:12]
    assert cls.digest == digest
    assert cls.label == f"vfiocompat.io/fffd-1-model-w1-fw-1.0-{digest}"
    assert cls.trait == f"CUSTOM_VFIOCOMPAT_FFFD_1_MODEL_W1_FW_1_0_{digest.upper()}"


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=1024))
def test_names_fit_kubernetes_and_placement_limits(text: str) -> None:
    cls = device_class(text)
    prefix, _, name = cls.label.partition("/")
    assert prefix == "vfiocompat.io" and len(prefix) <= 253
    assert len(name) <= 63 and LABEL_NAME.match(name), name
    assert len(cls.trait) <= 255 and TRAIT.match(cls.trait), cls.trait
    assert cls.label.endswith(cls.digest) and cls.trait.endswith(cls.digest.upper())


def test_cli_labels(tmp_path: Path) -> None:
    fleet = _fleet(3, hosts=6)
    paths = []
    for inventory in fleet:
        path = tmp_path / f"{inventory.host}.json"
        path.write_text(json.dumps(inventory_form(inventory)))
        paths.append(str(path))
    env = fx.cli_env(tmp_path)
    result = fx.run_cli(["labels", *paths, "--json"], env)
    assert result.returncode == 0, result.stderr
    form = json.loads(result.stdout)
    jsonschema.Draft202012Validator(fx.load_schema("labels")).validate(form)
    expected = labels(fleet, fx.registry(tmp_path / "r"))
    assert [h["accepts"] for h in form["hosts"]] == [list(h.accepts) for h in expected.hosts]
    k8s = fx.run_cli(["labels", *paths], env).stdout.decode().splitlines()
    traits = fx.run_cli(["labels", *paths, "--format", "placement"], env).stdout.decode().splitlines()
    for line_k8s, line_trait, host in zip(k8s, traits, expected.hosts):
        assert line_k8s.split() == [host.host, *(f"{key}=true" for key in host.labels)]
        assert line_trait.split() == [host.host, *host.traits]
