"""Fake sysfs trees mirroring the kernel's layout, and a small test plugin that probes them.

Imported by path from the host-integration tests (no conftest). The plugin serves the fictional
vendor 0xfffd: device_versions ``0xfffd:1:model=M;fw=V`` where M and V are read from the device's
``tv_model``/``tv_fw`` attributes (for mdevs: through the ``mdev_type`` link).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

from vfiocompat import Registry, hookimpl

TESTS_DIR = Path(__file__).resolve().parent

TABLE = """\
schema_version = 1

[table]
id = "testvendor"
vendor = "0xfffd"
prefixes = ["model="]

[format]
kind = "keyvalue"
pair_separator = ";"
kv_separator = "="
fields = [
  { name = "model", type = "string" },
  { name = "fw", type = "version", scheme = "pep440", ordered = true },
]

[[rules]]
id = "same-model-fw-forward"
effect = "allow"
conditions = [
  { field = "model", test = "equal" },
  { field = "fw", test = "target_ge_source" },
]

[[rules]]
id = "fw-2-5-broken"
effect = "deny"
code = "TV_FW_ERRATA"
message = "target firmware 2.5 cannot restore state"
hint = "update the target's firmware"
conditions = [{ field = "fw", test = "specifier", side = "target", spec = "==2.5", prereleases = false }]
"""


def dv(model: str, fw: str) -> str:
    """A device_version of the test vendor."""
    return f"0xfffd:1:model={model};fw={fw}"


class TestVendorPlugin:
    """A vfiocompat plugin object: ships TABLE and gives 0xfffd devices their device_version."""

    __test__ = False  # not a pytest class

    def __init__(self, table: Path) -> None:
        self.table = table
        self.calls = 0

    @hookimpl
    def vfiocompat_tables(self) -> Any:
        return [str(self.table)]

    @hookimpl
    def vfiocompat_device_version(self, device: Any) -> Optional[str]:
        self.calls += 1
        if device.vendor != "0xfffd":
            return None
        prefix = "mdev_type/" if device.kind == "mdev" else ""
        model = device.read_attribute(prefix + "tv_model")
        fw = device.read_attribute(prefix + "tv_fw")
        if model is None or fw is None:
            return None
        return dv(model, fw)


def write_table(directory: Path) -> Path:
    """TABLE written into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "testvendor.toml"
    path.write_text(TABLE, encoding="utf-8")
    return path


def registry(directory: Path, *extra: Tuple[str, Any]) -> Registry:
    """A registry of the test plugin (and ``extra`` plugins), no installed ones."""
    return Registry(plugins=[("testvendor", TestVendorPlugin(write_table(directory))), *extra])


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(target, link.parent), link)


class FakeSysfs:
    """Builds a sysfs tree under ``root``: devices/, bus/pci, bus/mdev, class/mdev_bus, kernel/iommu_groups."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for folder in ("devices", "bus/pci/devices", "bus/pci/drivers", "bus/mdev/devices", "bus/mdev/drivers",
                       "class/mdev_bus", "kernel/iommu_groups"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        self._groups = 0
        # The root port every function sits under is a PCI function too, with its own attributes.
        bridge = root / "devices" / "pci0000:00" / "0000:00:01.0"
        bridge.mkdir(parents=True, exist_ok=True)
        for name, value in (("vendor", "0x8086"), ("device", "0x2030"), ("class", "0x060400"), ("revision", "0x04")):
            (bridge / name).write_text(value + "\n", encoding="ascii")

    def _group(self, folder: Path) -> None:
        self._groups += 1
        group = self.root / "kernel" / "iommu_groups" / str(self._groups)
        group.mkdir(parents=True, exist_ok=True)
        _link(folder / "iommu_group", group)
        _link(group / "devices" / folder.name, folder)

    def _driver(self, bus: str, folder: Path, driver: Optional[str], module: Optional[str] = None) -> None:
        if driver is None:
            return
        home = self.root / "bus" / bus / "drivers" / driver
        home.mkdir(parents=True, exist_ok=True)
        _link(folder / "driver", home)
        if not (home / folder.name).exists():
            _link(home / folder.name, folder)
        # drivers/base/module.c: a driver's 'module' link points at /sys/module/NAME.
        module = module or driver.replace("-", "_")
        (self.root / "module" / module).mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(home / "module"):
            _link(home / "module", self.root / "module" / module)

    def add_pci(self, address: str, vendor: str, device: str, *, driver: Optional[str] = "vfio-pci",
                subsystem: Tuple[str, str] = ("0x0000", "0x0000"), attrs: Optional[Dict[str, str]] = None,
                revision: str = "0x01", pci_class: str = "0x020000", module: Optional[str] = None,
                physfn: Optional[Tuple[str, int]] = None) -> Path:
        """A PCI function under a root port, linked from bus/pci/devices, bound to ``driver``.

        ``physfn`` = (PF address, N) makes it the PF's VF N: ``physfn`` and the PF's ``virtfnN`` links.
        """
        folder = self.root / "devices" / "pci0000:00" / "0000:00:01.0" / address
        folder.mkdir(parents=True, exist_ok=True)
        for name, value in (("vendor", vendor), ("device", device), ("subsystem_vendor", subsystem[0]),
                            ("subsystem_device", subsystem[1]), ("class", pci_class), ("revision", revision)):
            (folder / name).write_text(value + "\n", encoding="ascii")
        for name, value in (attrs or {}).items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(value + "\n", encoding="ascii")
        _link(self.root / "bus" / "pci" / "devices" / address, folder)
        self._driver("pci", folder, driver, module)
        self._group(folder)
        if physfn is not None:
            pf = folder.parent / physfn[0]
            _link(folder / "physfn", pf)
            _link(pf / f"virtfn{physfn[1]}", folder)
        return folder

    def add_mdev_parent(self, address: str, vendor: str, device: str,
                        types: Dict[str, Tuple[str, int, Dict[str, str]]], *, driver: str = "i915") -> Path:
        """A PCI function with ``mdev_supported_types``: {type_id: (name, available_instances, attrs)}."""
        folder = self.add_pci(address, vendor, device, driver=driver)
        for type_id, (name, available, attrs) in types.items():
            type_folder = folder / "mdev_supported_types" / type_id
            (type_folder / "devices").mkdir(parents=True, exist_ok=True)
            (type_folder / "name").write_text(name + "\n", encoding="ascii")
            (type_folder / "available_instances").write_text(f"{available}\n", encoding="ascii")
            (type_folder / "device_api").write_text("vfio-pci\n", encoding="ascii")
            (type_folder / "create").write_text("", encoding="ascii")
            for key, value in attrs.items():
                (type_folder / key).write_text(value + "\n", encoding="ascii")
        _link(self.root / "class" / "mdev_bus" / address, folder)
        return folder

    def add_mdev(self, parent: str, uuid: str, type_id: str, *, driver: str = "vfio_mdev",
                 linked: bool = True) -> Path:
        """An mdev of ``type_id`` under the parent function, linked from bus/mdev/devices when ``linked``."""
        parent_folder = self.root / "devices" / "pci0000:00" / "0000:00:01.0" / parent
        folder = parent_folder / uuid
        folder.mkdir(parents=True, exist_ok=True)
        type_folder = parent_folder / "mdev_supported_types" / type_id
        _link(folder / "mdev_type", type_folder)
        _link(type_folder / "devices" / uuid, folder)
        if linked:
            _link(self.root / "bus" / "mdev" / "devices" / uuid, folder)
        self._driver("mdev", folder, driver)
        self._group(folder)
        return folder


def plugin_site(directory: Path, table: Path) -> Path:
    """A folder for PYTHONPATH holding the test plugin as an installed distribution (dist-info + entry point).

    The installed ``vfiocompat`` console script then finds it like any vendor plugin.
    """
    site = directory / "site"
    (site / "vfiocompat_testvendor-0.0.dist-info").mkdir(parents=True, exist_ok=True)
    (site / "vfiocompat_testvendor-0.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vfiocompat-testvendor\nVersion: 0.0\n", encoding="utf-8")
    (site / "vfiocompat_testvendor-0.0.dist-info" / "entry_points.txt").write_text(
        "[vfiocompat]\ntestvendor = vfiocompat_testvendor:plugin\n", encoding="utf-8")
    (site / "vfiocompat_testvendor.py").write_text(
        "import importlib.util, sys\n"
        f"_path = {str(TESTS_DIR / 'sysfs_fixtures.py')!r}\n"
        "_spec = importlib.util.spec_from_file_location('vfiocompat_test_sysfs_fixtures', _path)\n"
        "_module = importlib.util.module_from_spec(_spec)\n"
        "sys.modules[_spec.name] = _module\n"
        "_spec.loader.exec_module(_module)\n"
        f"plugin = _module.TestVendorPlugin({str(table)!r})\n",
        encoding="utf-8",
    )
    return site


def console_script() -> str:
    """The installed ``vfiocompat`` console script (next to this interpreter, else on PATH)."""
    import shutil

    candidate = Path(sys.executable).parent / "vfiocompat"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("vfiocompat")
    if found is None:
        raise RuntimeError("the vfiocompat console script is not installed (pip install -e .)")
    return found


def cli_env(directory: Path, sysfs_root: Optional[Path] = None) -> Dict[str, str]:
    """An environment in which the console script loads the test plugin (and finds ``sysfs_root``)."""
    env = dict(os.environ)
    site = plugin_site(directory, write_table(directory))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    env.pop("VFIOCOMPAT_DISABLE_PLUGINS", None)
    if sysfs_root is not None:
        env["VFIOCOMPAT_SYSFS_ROOT"] = str(sysfs_root)
    return env


def run_cli(args: Any, env: Dict[str, str], stdin: bytes = b"", timeout: float = 60) -> Any:
    """Run the console script as a separate process, as libvirt or a shell would."""
    import subprocess

    return subprocess.run([console_script(), *args], input=stdin, env=env, capture_output=True, timeout=timeout,
                          check=False)


def load_schema(name: str) -> Any:
    """A shipped schema, for validating CLI output."""
    import json

    from vfiocompat._schema import schema_text

    return json.loads(schema_text(name))
