"""How long the migrate hook takes on the largest domain XML it accepts (1 MiB), in-process.

Not a test: a bound to watch (issue 9 item 12c, "a 1 MiB domain XML with ~25,000 hostdevs took
15 s"). Every cost in the hook is linear in the document, so each case should stay well under a
second on any host. Run: ``python examples/libvirt/bench_large_domain.py``; exit 1 if a case
exceeds BOUND_SECONDS.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from importlib import resources
from typing import Any, Callable, List, Optional, Tuple

from vfiocompat import Registry, hookimpl
from vfiocompat.host.config import HostConfig
from vfiocompat.host.libvirt_hook import refusal_line, run_hook
from vfiocompat.host.libvirt_xml import MAX_DOMAIN_XML_BYTES, NAMESPACE

BOUND_SECONDS = 2.0
VERSION = "0xfffe:1:gen=3;model=w100;fw=2.4.1;caps=aes,sha;queues=8"


class _Widgets:
    """Gives every ACME (0xfffe) function on a variant driver the same device_version."""

    @hookimpl
    def vfiocompat_device_version(self, device: Any) -> Optional[str]:
        return VERSION if device.vendor == "0xfffe" else None


def _address(n: int) -> Tuple[int, int, int]:
    return n >> 8 & 0xFF, n >> 3 & 0x1F, n & 7


def _sysfs(root: str, count: int) -> None:
    for folder in ("devices/pci0000:00", "bus/pci/devices", "bus/pci/drivers/acme_vfio_pci", "bus/mdev/devices",
                   "class/mdev_bus"):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    for n in range(count):
        bus, slot, function = _address(n)
        address = f"0000:{bus:02x}:{slot:02x}.{function:x}"
        folder = os.path.join(root, "devices/pci0000:00", address)
        os.makedirs(folder)
        for name, value in (("vendor", "0xfffe"), ("device", "0x0001"), ("subsystem_vendor", "0x0000"),
                            ("subsystem_device", "0x0000")):
            with open(os.path.join(folder, name), "w", encoding="ascii") as handle:
                handle.write(value + "\n")
        os.symlink(f"../../../devices/pci0000:00/{address}", os.path.join(root, "bus/pci/devices", address))
        os.symlink("../../../bus/pci/drivers/acme_vfio_pci", os.path.join(folder, "driver"))


def _domain(recorded: int, bare: int) -> bytes:
    hostdevs: List[str] = []
    entries: List[str] = []
    for n in range(recorded):
        bus, slot, function = _address(n)
        hostdevs.append(f"<hostdev type='pci'><source><address bus='{bus:#x}' slot='{slot:#x}'"
                        f" function='{function}'/></source></hostdev>")
        entries.append(f"<v:device address='0000:{bus:02x}:{slot:02x}.{function}' version='{VERSION}'/>")
    hostdevs.append("<hostdev type='pci'/>" * bare)
    metadata = f"<metadata><v:devices xmlns:v='{NAMESPACE}'>{''.join(entries)}</v:devices></metadata>"
    return f"<domain><name>big</name>{metadata}<devices>{''.join(hostdevs)}</devices></domain>".encode()


def _case(name: str, data: bytes, root: str, registry: Callable[[], Any]) -> float:
    assert len(data) <= MAX_DOMAIN_XML_BYTES, len(data)
    started = time.perf_counter()
    result = run_hook(["big", "migrate", "begin", "-"], io.BytesIO(data), registry, root, config=HostConfig)
    line = refusal_line("big", result)
    elapsed = time.perf_counter() - started
    if result.status:
        verdict = f"refused, {len(result.blockers)} blockers"
    else:
        verdict = f"accepted, {len(result.output or b'')} bytes out"
    print(f"{name}: {len(data)} bytes: {verdict}; {elapsed:.3f} s (bound {BOUND_SECONDS} s) {line[:60]!r}")
    return elapsed


def main() -> int:
    widgets = str(resources.files("vfiocompat_acme").joinpath("widgets.toml"))
    loaded = Registry(plugins=[("widgets", _Widgets())], tables=[widgets])
    worst = 0.0
    with tempfile.TemporaryDirectory() as root:
        _sysfs(root, 4000)
        worst = max(worst, _case("25,000 hostdevs without address", _domain(0, 25_000), root, lambda: loaded))
        worst = max(worst, _case("5,400 recorded hostdevs, 4,000 here", _domain(5_400, 0), root, lambda: loaded))
        worst = max(worst, _case("4,000 recorded hostdevs, all compatible", _domain(4_000, 0), root, lambda: loaded))
    return 0 if worst <= BOUND_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
