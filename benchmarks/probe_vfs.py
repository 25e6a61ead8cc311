"""Probe a host with 1,024 SR-IOV VFs through the installed reference plugins: goal <= 0.3 s in process.

The host is built in a temporary folder as the kernel lays it out: QAT 4xxx PFs
(``devices/pci0000:BB/0000:BB:00.0``, bound to ``4xxx``, with ``virtfnN`` links and the ``qat/``
group) with 16 VFs each (``physfn``, ``driver -> qat_vfio_pci``, ``iommu_group``, ``driver/module``),
all linked from ``bus/pci/devices``. Every VF gets the operator facts the QAT plugin asks for, so
the figure includes building real device_versions. The time is the median of ``--runs`` probes.

    python benchmarks/probe_vfs.py [--vfs N] [--runs R] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import vfiocompat
from vfiocompat.host.probe import probe

GOAL_SECONDS = 0.3
VFS_PER_PF = 16  # as a QAT 4xxx PF offers
# The QAT plugin's fact names (vfiocompat_intel_qat.host_device); plain text so a missing plugin still runs.
FACTS = {"qat_mstate_version": "1", "qat_gencap": "0x3c1f", "qat_extdc": "0x1"}


def _write(path: Path, text: str) -> None:
    path.write_text(text + "\n", encoding="ascii")


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(target, link.parent), link)


def _function(root: Path, bus: int, devfn: int, device: str, *, driver: str, group: int) -> Tuple[str, Path]:
    address = f"0000:{bus:02x}:{devfn >> 3:02x}.{devfn & 7}"
    folder = root / "devices" / f"pci0000:{bus:02x}" / address
    folder.mkdir(parents=True)
    for name, value in (("vendor", "0x8086"), ("device", device), ("subsystem_vendor", "0x8086"),
                        ("subsystem_device", "0x0000"), ("class", "0x0b4000"), ("revision", "0x40")):
        _write(folder / name, value)
    _link(root / "bus" / "pci" / "devices" / address, folder)
    home = root / "bus" / "pci" / "drivers" / driver
    _link(folder / "driver", home)
    _link(home / address, folder)
    iommu = root / "kernel" / "iommu_groups" / str(group)
    (iommu / "devices").mkdir(parents=True)
    _link(folder / "iommu_group", iommu)
    _link(iommu / "devices" / address, folder)
    return address, folder


def build_host(root: Path, vfs: int) -> Dict[str, Dict[str, str]]:
    """A sysfs tree with ``vfs`` QAT VFs under as many PFs as they need; returns the VFs' facts."""
    for driver, module in (("4xxx", "qat_4xxx"), ("qat_vfio_pci", "qat_vfio_pci")):
        (root / "bus" / "pci" / "drivers" / driver).mkdir(parents=True)
        (root / "module" / module).mkdir(parents=True)
        _link(root / "bus" / "pci" / "drivers" / driver / "module", root / "module" / module)
    facts: Dict[str, Dict[str, str]] = {}
    group = 0
    for pf_number in range((vfs + VFS_PER_PF - 1) // VFS_PER_PF):
        bus = 0x10 + pf_number
        group += 1
        _, pf = _function(root, bus, 0, "0x4940", driver="4xxx", group=group)
        (pf / "qat").mkdir()
        _write(pf / "qat" / "state", "up")
        _write(pf / "qat" / "cfg_services", "sym;asym")
        count = min(VFS_PER_PF, vfs - pf_number * VFS_PER_PF)
        _write(pf / "sriov_totalvfs", str(VFS_PER_PF))
        _write(pf / "sriov_numvfs", str(count))
        for index in range(count):
            group += 1
            # drivers/pci/iov.c: VF n sits at the PF's devfn + First VF Offset + n * VF Stride (1 and 1 here).
            address, vf = _function(root, bus, 1 + index, "0x4941", driver="qat_vfio_pci", group=group)
            _link(vf / "physfn", pf)
            _link(pf / f"virtfn{index}", vf)
            facts[f"pci:{address}"] = dict(FACTS)
    return facts


def main(argv: List[str]) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vfs", type=int, default=1024, help="number of VFs (default 1024)")
    parser.add_argument("--runs", type=int, default=5, help="probes timed; the median is reported (default 5)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line for run_all.py")
    args = parser.parse_args(argv)
    registry = vfiocompat.Registry.from_environment()
    with tempfile.TemporaryDirectory(prefix="vfiocompat-probe-bench-") as folder:
        root = Path(folder) / "sys"
        facts = build_host(root, args.vfs)
        times = []
        for _ in range(max(1, args.runs)):
            start = time.perf_counter()
            inventory = probe(str(root), registry, facts=facts)
            times.append(time.perf_counter() - start)
    elapsed = statistics.median(times)
    versions = sum(1 for entry in inventory.devices if entry.device_version)
    hooks = len(getattr(registry, "probe_hooks", {}) or {})
    print(f"probe {args.vfs:,} VFs: {elapsed:.3f} s (median of {len(times)}, best {min(times):.3f} s)"
          f"  goal <= {GOAL_SECONDS} s  ratio {GOAL_SECONDS / elapsed:.2f}x; {len(inventory.devices):,} devices,"
          f" {versions:,} with a device_version, {hooks} plugins asked per device")
    if args.json:
        print(json.dumps({"name": f"probe-{args.vfs}-vfs", "value": round(elapsed, 6), "unit": "s",
                          "goal": GOAL_SECONDS, "ratio": round(GOAL_SECONDS / elapsed, 3)}))
    return elapsed


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
