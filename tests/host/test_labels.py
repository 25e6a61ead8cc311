"""vfiocompat.host.labels: node labels and Placement traits that agree with `check` for every class and host."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from vfiocompat._cli import main
from vfiocompat.errors import LimitError, UsageError
from vfiocompat.host.inventory import HostDevice, Inventory, InventoryDevice, inventory_form
from vfiocompat.host.labels import (
    HostLabels,
    Labels,
    _yaml_string,
    device_class,
    host_name_problem,
    labels,
    nfd_expiry_time,
    nfd_feature_file,
    nova_provider_config,
)

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


def _shaped_fleet(seed: int) -> List[Inventory]:
    """Hosts of a few shared shapes (reordered, one device repeated, some not receiving) plus one-off hosts."""
    rng = random.Random(seed)
    versions = [fx.dv(m, f) for m in ("w1", "w2", "w3") for f in ("1.0", "1.5", "2.0", "2.5", "3.0")]
    versions += ["0x1234:1:model=x", "not a device_version"]  # an unknown vendor, an unparsable string

    def entry(index: int, version: str) -> InventoryDevice:
        if rng.random() < 0.25:
            device = HostDevice("mdev_type", parent="0000:00:02.0", mdev_type=f"t{index}",
                                available_instances=rng.choice([0, 2]))
            return InventoryDevice(device, version, "testvendor", None)
        device = HostDevice("pci", address=f"0000:01:00.{index}", driver="tv_vfio_pci")
        return InventoryDevice(device, version, "testvendor", rng.choice([True, None, False]))

    shapes = [[entry(i, rng.choice(versions)) for i in range(rng.randint(0, 5))] for _ in range(6)]
    fleet = []
    for h in range(120):
        if h % 4 == 3:
            devices = [entry(i, rng.choice(versions)) for i in range(rng.randint(1, 6))]
        else:
            devices = list(rng.choice(shapes))
            rng.shuffle(devices)
            if devices and h % 5 == 0:
                devices.append(devices[0])
        fleet.append(Inventory(f"host-{h:03d}", tuple(devices)))
    return fleet


def _labels_by_definition(fleet: List[Inventory], registry: Any) -> Labels:
    """labels() as its definition says: a host accepts a class when one receiving device's check says compatible."""
    classes = sorted({device_class(e.device_version) for inv in fleet for e in inv.devices if e.device_version},
                     key=lambda c: c.digest)
    hosts = []
    for inventory in sorted(fleet, key=lambda inv: inv.host):
        accepted = [c for c in classes if any(registry.check(c.device_version, e.device_version).compatible
                                              for e in inventory.devices if _receives(e))]
        hosts.append(HostLabels(inventory.host, tuple(c.digest for c in accepted),
                                tuple(sorted(c.label for c in accepted)), tuple(sorted(c.trait for c in accepted))))
    return Labels(tuple(classes), tuple(hosts))


@pytest.mark.parametrize("seed", range(4))
def test_labels_by_shape_equal_the_per_pair_definition(tmp_path: Path, seed: int) -> None:
    fleet = _shaped_fleet(seed)
    expected = _labels_by_definition(fleet, fx.registry(tmp_path / "definition"))
    assert any(h.accepts for h in expected.hosts) and any(not h.accepts for h in expected.hosts)
    assert len({h.accepts for h in expected.hosts}) > 2, "the fleet has distinct answers"
    assert labels(fleet, fx.registry(tmp_path / "fast")) == expected


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


# -- files for Nova and node-feature-discovery ---------------------------------------------------

# Nova's provider config rules, as its documentation and nova/compute/provider_config.py state them
# (https://docs.openstack.org/nova/latest/admin/managing-resource-providers.html,
# https://opendev.org/openstack/nova/src/branch/master/nova/compute/provider_config.py):
# meta.schema_version "1.N"; each provider identified by exactly one of uuid (a UUID or
# "$COMPUTE_NODE") or name (1..200 characters); traits.additional are trait names of at most 255
# of A-Z 0-9 _, and only custom ones (os_traits.is_custom: the CUSTOM_ prefix).
UUID = "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
NOVA_RULES = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["meta"],
    "properties": {
        "meta": {"type": "object", "required": ["schema_version"],
                 "properties": {"schema_version": {"type": "string", "pattern": r"^1\.(0|[1-9][0-9]*)$"}}},
        "providers": {"type": "array", "items": {
            "type": "object", "required": ["identification"],
            "properties": {
                "identification": {
                    "type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
                    "properties": {
                        "uuid": {"type": "string", "anyOf": [{"pattern": UUID}, {"const": "$COMPUTE_NODE"}]},
                        "name": {"type": "string", "minLength": 1, "maxLength": 200},
                    },
                },
                "traits": {"type": "object", "properties": {"additional": {
                    "type": "array", "items": {"type": "string", "pattern": "^CUSTOM_[A-Z0-9_]{1,248}$"}}}},
            },
        }},
    },
}
# nfd's local source (source/local/local.go, docs/usage/customization-guide.md): lines trimmed, blank
# lines and '#' comments skipped, '# +' starts a directive (expiry-time=RFC3339, no-label, no-feature),
# other lines are <key>[=<value>]. nfd-master accepts a label whose key is a Kubernetes qualified
# name with a namespace that is not kubernetes.io, and whose value is a valid label value
# (pkg/apis/nfd/validate/validate.go), from a file of at most 64 KiB.
QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _nfd_labels(data: bytes) -> Tuple[Dict[str, str], List[str]]:
    """The labels nfd-worker's local source takes from a feature file, and its expiry directives."""
    assert len(data) <= 65536
    labels_found: Dict[str, str] = {}
    expiries: List[str] = []
    for raw in data.decode("utf-8").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("# +"):
                key, _, value = line[3:].partition("=")
                assert key == "expiry-time" and RFC3339.match(value.strip()), line
                expiries.append(value.strip())
            continue
        key, sep, value = line.partition("=")
        namespace, slash, name = key.partition("/")
        assert slash and len(namespace) <= 253 and DNS_SUBDOMAIN.match(namespace), key
        assert namespace != "kubernetes.io" and not namespace.endswith(".kubernetes.io"), key
        assert QUALIFIED_NAME.match(name), key
        value = value if sep else "true"
        assert value == "" or QUALIFIED_NAME.match(value), value
        labels_found[key] = value
    return labels_found, expiries


def _inventory_files(tmp_path: Path, fleet: Any) -> List[str]:
    paths = []
    for inventory in fleet:
        path = tmp_path / "inv" / f"{inventory.host}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(inventory_form(inventory)))
        paths.append(str(path))
    return paths


def _run(*argv: str) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), out, err)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture()
def fleet_files(tmp_path: Path) -> Tuple[List[str], List[str], Labels]:
    """Inventory files of a generated fleet, the options loading the test table, and the expected labels."""
    fleet = _fleet(11, hosts=8)
    table = ["--no-plugins", "--table", str(fx.write_table(tmp_path / "table"))]
    return _inventory_files(tmp_path, fleet), table, labels(fleet, fx.registry(tmp_path / "r"))


def test_nova_provider_configs_load_as_nova_reads_them(tmp_path: Path, fleet_files: Any) -> None:
    paths, table, expected = fleet_files
    out_dir = tmp_path / "provider_config"
    status, out, err = _run("labels", *paths, "--format", "nova-provider-config", "--output-dir", str(out_dir),
                            *table)
    assert (status, err) == (0, "")
    assert out.splitlines() == [f"wrote {out_dir / (h.host + '.yaml')}: host {h.host}, {len(h.traits)} traits"
                                for h in expected.hosts]
    # Nova loads every *.yaml of the folder, sorted, and refuses a provider identified twice.
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(f"{h.host}.yaml" for h in expected.hosts)
    assert any(h.traits for h in expected.hosts) and any(not h.traits for h in expected.hosts)
    validator = jsonschema.Draft7Validator(NOVA_RULES)
    names = []
    for host in expected.hosts:
        text = (out_dir / f"{host.host}.yaml").read_text("ascii")
        document = yaml.safe_load(text)
        validator.validate(document)
        assert document["meta"]["schema_version"] == "1.0"
        [provider] = document["providers"]
        assert provider["identification"] == {"name": host.host}
        assert provider["traits"]["additional"] == list(host.traits)
        names.append(provider["identification"]["name"])
        # Every string is quoted: YAML never gets to read a trait or a host as a number, bool or null.
        assert all(line.rstrip().endswith('"') or line.rstrip().endswith((":", "[]")) or line.startswith("#")
                   for line in text.splitlines()), text
    assert len(set(names)) == len(names)


def test_nfd_feature_files_give_exactly_the_hosts_labels(tmp_path: Path, fleet_files: Any) -> None:
    paths, table, expected = fleet_files
    out_dir = tmp_path / "features.d"
    status, out, err = _run("labels", *paths, "--format", "nfd", "--output-dir", str(out_dir),
                            "--expiry-time", "2031-05-06T09:08:07.5+02:00", *table)
    assert (status, err) == (0, "")
    assert out.splitlines() == [f"wrote {out_dir / (h.host + '.features')}: host {h.host}, {len(h.labels)} labels"
                                for h in expected.hosts]
    for host in expected.hosts:
        found, expiries = _nfd_labels((out_dir / f"{host.host}.features").read_bytes())
        assert found == {label: "true" for label in host.labels}
        assert expiries == ["2031-05-06T07:08:07Z"]
    status, _, _ = _run("labels", *paths, "--format", "nfd", "--output-dir", str(out_dir), *table)
    assert status == 0
    assert all(_nfd_labels(p.read_bytes())[1] == [] for p in out_dir.iterdir()), "no expiry unless asked"


def test_files_are_ours_to_replace_only(tmp_path: Path, fleet_files: Any) -> None:
    paths, table, expected = fleet_files
    out_dir = tmp_path / "out"
    argv = ["labels", *paths, "--format", "nfd", "--output-dir", str(out_dir), *table]
    assert _run(*argv)[0] == 0
    first = expected.hosts[0].host
    ours = out_dir / f"{first}.features"
    before = ours.stat()
    status, out, _ = _run(*argv)
    assert status == 0 and out.splitlines()[0] == f"unchanged {ours}: host {first}, {len(expected.hosts[0].labels)}" \
                                                  " labels"
    assert ours.stat().st_ino == before.st_ino and ours.stat().st_mtime_ns == before.st_mtime_ns

    mine = out_dir / f"{expected.hosts[1].host}.features"
    mine.write_text("example.com/mine=1\n")
    snapshot = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    status, out, err = _run(*argv)
    assert (status, out) == (2, "")
    assert err == (f"vfiocompat: error[VC001]: {mine}: exists and was not written by vfiocompat labels (it does"
                   " not start with '# Written by vfiocompat labels'); move it away, or pass --force to replace it\n")
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == snapshot, "nothing was written"

    mine.unlink()
    outside = tmp_path / "elsewhere"
    outside.write_text("# Written by vfiocompat labels, or so it says\n")
    mine.symlink_to(outside)
    assert _run(*argv)[0] == 2, "a symlink is never written through"
    assert outside.read_text() == "# Written by vfiocompat labels, or so it says\n"
    status, out, _ = _run(*argv, "--force")
    assert status == 0 and f"wrote {mine}:" in out
    assert not mine.is_symlink() and mine.read_text().startswith("# Written by vfiocompat labels --format nfd")
    assert outside.read_text() == "# Written by vfiocompat labels, or so it says\n"
    assert not [p for p in out_dir.iterdir() if p.name.startswith(".")], "no temporary file is left behind"


@pytest.mark.parametrize(("extra", "words"), [
    (["--format", "nfd"], "--format nfd writes one file per host: it needs --output-dir DIR"),
    (["--format", "nova-provider-config"], "it needs --output-dir DIR"),
    (["--output-dir", "x"], "--output-dir and --force go with --format nova-provider-config or nfd, not k8s"),
    (["--format", "placement", "--force"], "not placement"),
    (["--format", "nova-provider-config", "--output-dir", "x", "--expiry-time", "2030-01-01T00:00:00Z"],
     "--expiry-time goes with --format nfd"),
    (["--format", "nfd", "--output-dir", "x", "--expiry-time", "2030-01-01"], "not an RFC 3339 time"),
    (["--format", "nfd", "--output-dir", "x", "--expiry-time", "2030-02-30T00:00:00Z"], "not a valid date"),
])
def test_file_option_errors(tmp_path: Path, fleet_files: Any, extra: List[str], words: str) -> None:
    paths, table, _ = fleet_files
    status, out, err = _run("labels", *paths, *extra, *table)
    assert (status, out) == (2, "") and err.count("\n") == 1 and words in err, err
    assert not (tmp_path / "x").exists()


def test_expiry_time_is_utc_whole_seconds_never_later() -> None:
    assert nfd_expiry_time("2026-12-01T12:00:00+02:00") == "2026-12-01T10:00:00Z"
    assert nfd_expiry_time("2026-12-01t10:00:00.999999999z") == "2026-12-01T10:00:00Z"
    assert nfd_expiry_time("2026-12-01T23:30:00-01:00") == "2026-12-02T00:30:00Z"


def test_nova_refuses_a_name_nova_cannot_identify() -> None:
    long_host = ".".join(["a" * 60] * 4)  # a valid host name of 243 characters
    assert host_name_problem(long_host) is None
    with pytest.raises(UsageError, match="longer than the 200 characters Nova allows"):
        nova_provider_config(HostLabels(long_host, (), (), ()))


def test_nfd_refuses_a_file_nfd_would_ignore() -> None:
    many = tuple(f"vfiocompat.io/{i:058d}-x" for i in range(900))
    with pytest.raises(LimitError, match="over the 65536 bytes nfd-worker reads"):
        nfd_feature_file(HostLabels("node-1", (), many, ()))


@settings(max_examples=300)
@given(st.text(max_size=64))
def test_yaml_strings_read_back_as_written(text: str) -> None:
    quoted = _yaml_string(text)
    assert quoted.isascii() and "\n" not in quoted
    assert yaml.safe_load(f"key: {quoted}\n") == {"key": text}


@pytest.mark.parametrize(("name", "ok"), [
    ("node-1", True), ("compute-07.example.org", True), ("N1", True), ("a" * 63, True),
    ("", False), ("a b", False), ("node\n1", False), ("-node", False), ("node-", False), ("a..b", False),
    ("node.", False), ("nöde", False), ("node_1", False), ("a" * 64, False), (".".join(["a" * 63] * 5), False),
])
def test_host_names(name: str, ok: bool) -> None:
    assert (host_name_problem(name) is None) is ok
