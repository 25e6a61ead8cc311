"""``vfiocompat doctor``: is this host ready to have VFIO devices migrated to it, and what is missing.

Each check ends ``ok``, ``warn`` or ``fail``, with the reason and, when something is missing,
the fix. They cover the kernel side (VFIO core, a VFIO PCI driver, the IOMMU, all read under the
sysfs root), every VFIO device probe finds (does its driver migrate, VC601; does a plugin give it
a device_version, VC602/VC608), the plugins, the host configuration file, and the libvirt hook
(installed, and able to import vfiocompat in the bare environment libvirt runs hooks in).
``doctor`` exits 1 when any check fails, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, TextIO, Tuple

__all__ = ["SCHEMA_VERSION", "STATUSES", "Check", "Doctor", "add_commands", "doctor", "doctor_form",
           "hook_checks", "kernel_checks", "LIBVIRT_HOOK_ENV"]

SCHEMA_VERSION = 1
STATUSES = ("ok", "warn", "fail")
#: The environment libvirt runs hooks in (see :mod:`.hook_install`): everything else is cleared.
LIBVIRT_HOOK_ENV = {"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
#: Seconds the hook's interpreter may take to import vfiocompat before the check fails.
IMPORT_TIMEOUT = 20.0
_HOOK_MARK = "written by `vfiocompat install-libvirt-hook`"
_MAX_HOOK_BYTES = 1 << 16
# What the hook runs first (its bootstrap drops the working directory from sys.path the same way).
_IMPORT_PROBE = ("import sys\nif sys.path and sys.path[0] == '':\n    del sys.path[0]\n"
                 "import vfiocompat._cli, vfiocompat\nprint(vfiocompat.__version__)")


@dataclass(frozen=True)
class Check:
    """One finding: which check, about what (a device id, a file; None: the host), its status, why, the fix."""

    check: str
    status: str
    message: str
    subject: Optional[str] = None
    fix: Optional[str] = None
    code: Optional[str] = None


@dataclass(frozen=True)
class Doctor:
    """Every check of a host, in the order they ran, and the worst status among them."""

    host: str
    sysfs_root: str
    checks: Tuple[Check, ...]

    @property
    def status(self) -> str:
        """``fail`` if any check failed, else ``warn`` if any warned, else ``ok``."""
        found = {c.status for c in self.checks}
        return next((s for s in reversed(STATUSES) if s in found), "ok")


# -- the kernel ------------------------------------------------------------------------------


def _exists(root: str, *parts: str) -> bool:
    # lexists: /sys/module/X and bus/pci/drivers/X are folders or, in copies, may be links.
    return os.path.lexists(os.path.join(root, *parts))


def _list(root: str, *parts: str) -> List[str]:
    try:
        return sorted(os.listdir(os.path.join(root, *parts)))
    except OSError:
        return []


def kernel_checks(root: str, inventory: Any) -> List[Check]:
    """The kernel side under ``root``: release (live /sys only), VFIO core, a VFIO PCI driver, IOMMU groups.

    ``/sys/module/NAME`` exists for a loaded module, and for a built-in one that has parameters
    (kernel/params.c); a VFIO device that probe finds is evidence enough that VFIO is there.
    """
    checks: List[Check] = []
    real = os.path.realpath(root)
    if real == "/sys":
        checks.append(Check("kernel", "ok", f"Linux {platform.release()}"))
    else:
        checks.append(Check("kernel", "ok", f"{real} is a copy of a sysfs tree, not this host's /sys: the kernel"
                                            " release is not read"))
    from .variant_drivers import is_vfio_driver

    devices = list(inventory.devices) if inventory is not None else []
    found = [e for e in devices if e.device.kind != "mdev_type"]
    if _exists(root, "module", "vfio"):
        checks.append(Check("vfio-core", "ok", "VFIO core present (module/vfio)"))
    elif found:
        checks.append(Check("vfio-core", "ok", f"VFIO in use: probe found {len(found)} VFIO devices (module/vfio is"
                                               " absent when VFIO is built in without parameters)"))
    else:
        checks.append(Check("vfio-core", "fail", f"VFIO is not loaded: no {os.path.join(root, 'module', 'vfio')}"
                                                 " and no VFIO device",
                            fix="modprobe vfio-pci (it loads vfio), or boot a kernel with CONFIG_VFIO"))
    # vfio_pci_core is the library of every variant driver (drivers/vfio/pci/Kconfig), so each one counts.
    modules = [m for m in _list(root, "module") if m in ("vfio_pci_core", "vfio_pci") or is_vfio_driver(m)]
    drivers = [d for d in _list(root, "bus", "pci", "drivers") if is_vfio_driver(d)]
    if modules or drivers:
        named = ", ".join([*(f"module {m}" for m in modules), *(f"driver {d}" for d in drivers)])
        checks.append(Check("vfio-pci", "ok", f"VFIO PCI drivers present: {named}"))
    elif found and not any(is_vfio_driver(e.device.driver) for e in found):
        checks.append(Check("vfio-pci", "ok", "no VFIO PCI driver, and none needed: this host's VFIO devices are"
                                              " mdevs or NVIDIA vGPU VFs"))
    else:
        checks.append(Check("vfio-pci", "fail", "no VFIO PCI driver: no module vfio_pci, vfio_pci_core or"
                                                " *_vfio_pci, no bus/pci/drivers/vfio-pci",
                            fix="modprobe vfio-pci, or the variant driver of your devices (e.g. mlx5_vfio_pci)"))
    groups = _list(root, "kernel", "iommu_groups")
    if groups:
        checks.append(Check("iommu", "ok", f"{len(groups)} IOMMU groups (kernel/iommu_groups)"))
    else:
        checks.append(Check("iommu", "fail", "no IOMMU groups (kernel/iommu_groups is empty or missing): the IOMMU is"
                                             " off, and VFIO cannot assign a PCI device without it",
                            fix="enable VT-d / AMD-Vi in the firmware; on Intel also boot with intel_iommu=on"
                                " (Documentation/admin-guide/kernel-parameters.txt)"))
    return checks


# -- the devices -----------------------------------------------------------------------------


def _reason(entry: Any, *codes: str) -> Any:
    return next((r for r in entry.reasons if r.code in codes), None)


def device_checks(inventory: Any) -> List[Check]:
    """For every device probe found: does its driver migrate, and does a plugin give it a device_version."""
    checks: List[Check] = []
    if not inventory.devices:
        checks.append(Check("devices", "warn", f"no VFIO devices under {inventory.sysfs_root}: nothing here can"
                                               " receive a migrated device",
                            fix="bind the devices to vfio-pci or their variant driver (driverctl set-override"
                                " ADDRESS DRIVER)"))
    for entry in inventory.devices:
        device = entry.device
        subject = device.id
        if device.kind == "mdev_type":
            pass  # a type is a device yet to be created: its parent's driver decides, as for its mdevs
        elif entry.can_migrate is True:
            checks.append(Check("driver", "ok", f"bound to {device.driver}, a driver that migrates", subject))
        elif entry.can_migrate is False:
            refusal = _reason(entry, "VC601")
            checks.append(Check("driver", "fail", refusal.message if refusal else f"{device.driver} cannot migrate",
                                subject, refusal.hint if refusal else None, "VC601"))
        else:
            driver = device.driver or "no driver"
            what = ("the mdev's vendor driver (of its parent)" if device.kind == "mdev"
                    else f"the driver {driver}")
            checks.append(Check("driver", "warn", f"whether {what} migrates is not known from sysfs", subject,
                                "see the vendor's documentation; vfiocompat's hook still checks compatibility"))
        if entry.device_version is not None:
            checks.append(Check("device-version", "ok", f"{entry.device_version} (plugin {entry.version_plugin})",
                                subject))
            continue
        missing = _reason(entry, "VC608", "VC602", "VC306", "VC307")
        if missing is not None:
            checks.append(Check("device-version", "fail", missing.message, subject, missing.hint, missing.code))
        else:
            checks.append(Check("device-version", "fail", "no installed plugin gives this device a device_version:"
                                                          " migrations to it are refused", subject,
                                "install the vendor's vfiocompat plugin (vfiocompat plugins lists what is"
                                " installed)", "VC602"))
    for issue in inventory.issues:
        checks.append(Check("probe", "warn", issue.message, None, issue.hint, issue.code))
    return checks


def plugin_checks(registry: Any) -> List[Check]:
    """One check per plugin that failed to load or ships a table that does not compile."""
    checks: List[Check] = []
    loaded = 0
    for record in registry.plugins:
        if record.disabled:
            continue
        failures = record.failures
        if not failures:
            loaded += 1
        for failure in failures:
            checks.append(Check("plugins", "fail", failure.message, f"plugin {record.name}",
                                f"reinstall or fix {record.distribution or record.name}, or disable it"
                                f" (disable_plugins = [\"{record.name}\"] in the host config)", failure.code))
    if loaded:
        checks.insert(0, Check("plugins", "ok", f"{loaded} plugins loaded"))
    elif not checks:
        checks.append(Check("plugins", "warn", "no plugins installed: no device gets a device_version",
                            fix="pip install your devices' vendor plugins (vfiocompat plugins lists them)"))
    return checks


# -- the configuration and the hook ----------------------------------------------------------


def config_check(path: Optional[str], inventory: Any = None, *, subject: Optional[str] = None) -> Tuple[Check, Any]:
    """Whether the host configuration file is valid, and the configuration (defaults if it is not)."""
    from ..errors import HostConfigError
    from .config import DEFAULT_CONFIG, HostConfig, load_host_config

    try:
        config = load_host_config(path)
    except HostConfigError as error:
        return Check("config", "fail", error.message, subject or path, "correct the file"
                     " (vfiocompat doctor checks it again)", error.code), HostConfig()
    if config.path is None:
        return Check("config", "ok", f"no configuration file ({DEFAULT_CONFIG}): defaults, no device facts",
                     subject), config
    facts = sum(len(table) for table in config.facts.values())
    message = f"{config.path} is valid ({facts} facts for {len(config.facts)} devices)"
    if inventory is not None:
        present = {entry.device.id for entry in inventory.devices}
        stale = sorted(set(config.facts) - present)
        if stale:
            return Check("config", "warn", f"{message}; facts for devices this host does not have:"
                                           f" {', '.join(stale)}", subject or config.path,
                         "remove them, or check the device ids against vfiocompat probe"), config
    return Check("config", "ok", message, subject or config.path), config


def _hook_value(text: str, name: str) -> Optional[str]:
    """The value the hook script assigns to ``name`` (``python='/opt/v/bin/python'``), unquoted as sh would."""
    match = re.search(rf"^{name}=(.*)$", text, re.M)
    if match is None:
        return None
    try:
        words = shlex.split(match.group(1), posix=True)
    except ValueError:
        return None
    return words[0] if len(words) == 1 else None


def hook_checks(hooks_dir: str, current_version: str) -> Tuple[List[Check], Optional[str]]:
    """Whether ``HOOKS_DIR/qemu.d/vfiocompat`` is installed, executable, and imports vfiocompat as libvirt runs it.

    Returns the checks and the configuration file the hook names (``VFIOCOMPAT_CONFIG``), if any.
    """
    path = os.path.join(hooks_dir, "qemu.d", "vfiocompat")
    install = f"vfiocompat install-libvirt-hook --hooks-dir {shlex.quote(hooks_dir)}"
    if not os.path.isdir(hooks_dir):
        return [Check("libvirt-hook", "warn", f"no libvirt hooks folder {hooks_dir}: libvirt is not installed here,"
                                              " or keeps its hooks elsewhere", path,
                      f"if libvirt runs on this host: {install}")], None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return [Check("libvirt-hook", "fail", "the hook is not installed: libvirt will not check incoming"
                                              " migrations", path, install, "VC611")], None
    except OSError as error:
        return [Check("libvirt-hook", "fail", f"cannot read the hook: {error.strerror}", path, install,
                      "VC611")], None
    try:
        raw = os.read(fd, _MAX_HOOK_BYTES)
    finally:
        os.close(fd)
    text = raw.decode("utf-8", "replace")
    if not os.access(path, os.X_OK):
        return [Check("libvirt-hook", "fail", "the hook is not executable: libvirt skips it", path,
                      f"chmod 755 {shlex.quote(path)}", "VC611")], None
    python = _hook_value(text, "python")
    if _HOOK_MARK not in text or python is None:
        return [Check("libvirt-hook", "warn", "the hook was not written by vfiocompat install-libvirt-hook: its"
                                              " interpreter is not known, so it was not tried", path,
                      f"{install} --force")], None
    config = _hook_value(text, "VFIOCOMPAT_CONFIG")
    if not os.path.isabs(python) or not os.access(python, os.X_OK):
        return [Check("libvirt-hook", "fail", f"the hook's interpreter {python} is missing or not executable:"
                                              " every incoming migration is refused", path,
                      f"reinstall vfiocompat, then {install} --force", "VC611")], config
    try:
        ran = subprocess.run([python, "-c", _IMPORT_PROBE], env=dict(LIBVIRT_HOOK_ENV), cwd="/",
                             stdin=subprocess.DEVNULL, capture_output=True, timeout=IMPORT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        return [Check("libvirt-hook", "fail", f"{python} took over {IMPORT_TIMEOUT:g} s to import vfiocompat in"
                                              " libvirt's environment", path, None, "VC611")], config
    except OSError as error:
        return [Check("libvirt-hook", "fail", f"{python} cannot run: {error.strerror}", path,
                      f"reinstall vfiocompat, then {install} --force", "VC611")], config
    if ran.returncode != 0:
        last = (ran.stderr.decode("utf-8", "replace").strip().splitlines() or ["(no message)"])[-1]
        return [Check("libvirt-hook", "fail", f"{python} cannot import vfiocompat in libvirt's environment"
                                              f" (env -i LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root):"
                                              f" {last}", path,
                      f"install vfiocompat for that interpreter (not only in a user's environment), or {install}"
                      " --force from the right one", "VC611")], config
    version = ran.stdout.decode("utf-8", "replace").strip()
    if version != current_version:
        return [Check("libvirt-hook", "warn", f"the hook runs vfiocompat {version} ({python}), this is"
                                              f" {current_version}", path,
                      f"{install} --force, from the installation libvirt should use")], config
    return [Check("libvirt-hook", "ok", f"installed; {python} imports vfiocompat {version} in libvirt's"
                                        " environment", path)], config


# -- all of it -------------------------------------------------------------------------------


def doctor(sysfs_root: Optional[str], registry_options: Dict[str, Any], *, hooks_dir: str,
           config_path: Optional[str] = None, host: str = "localhost") -> Doctor:
    """Run every check; ``registry_options`` go to :meth:`Registry.from_environment` (with the config's)."""
    from .. import __version__
    from .._registry import Registry
    from ..errors import VfiocompatError
    from .config import DEFAULT_CONFIG, probe_configured

    config_result, config = config_check(config_path)
    root = sysfs_root or config.sysfs_root
    options = dict(registry_options)
    options["disabled"] = [*options.get("disabled", ()), *config.disable_plugins]
    if config.plugin_timeout is not None:
        options["plugin_timeout"] = config.plugin_timeout
    registry = Registry.from_environment(**options)
    checks: List[Check] = []
    inventory = None
    try:
        inventory = probe_configured(root, registry, config, host=host)
    except VfiocompatError as error:
        checks.append(Check("sysfs", "fail", f"cannot probe {root}: {error.message}", root,
                            "give the sysfs root with --sysfs-root (or sysfs_root in the host config)", error.code))
    checks[:0] = kernel_checks(root, inventory)
    checks.extend(plugin_checks(registry))
    if inventory is not None:
        checks.extend(device_checks(inventory))
    hook, hook_config = hook_checks(hooks_dir, __version__)
    checks.extend(hook)
    if config_result.status == "ok" and inventory is not None and config.path is not None:
        config_result = config_check(config_path, inventory)[0]
    checks.append(config_result)
    named = config.path or config_path or DEFAULT_CONFIG
    if hook_config is not None and os.path.abspath(hook_config) != os.path.abspath(named):
        checks.append(config_check(hook_config, inventory, subject=f"{hook_config} (named by the hook)")[0])
    return Doctor(host, os.path.realpath(root), tuple(checks))


def doctor_form(result: Doctor) -> Dict[str, Any]:
    """``vfiocompat doctor --json`` (schemas/doctor.schema.json)."""
    counts = {status: sum(1 for c in result.checks if c.status == status) for status in STATUSES}
    return {
        "schema_version": SCHEMA_VERSION,
        "host": result.host,
        "sysfs_root": result.sysfs_root,
        "status": result.status,
        "counts": counts,
        "checks": [{"check": c.check, "status": c.status, "subject": c.subject, "message": c.message,
                    "fix": c.fix, "code": c.code} for c in result.checks],
    }


# -- command line ----------------------------------------------------------------------------


def add_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``doctor`` to the ``vfiocompat`` command."""
    from .cli import add_config_option

    parser = subparsers.add_parser(
        "doctor", parents=[common], help="check this host for migrations: VFIO, drivers, device_versions, hook, config"
                                         " (exit 1 if a check fails)",
        description="Check the host as a whole: each check ok, warn or fail, with the reason and the fix.",
    )
    parser.add_argument("--sysfs-root", default=None, metavar="DIR",
                        help="the sysfs tree to read (default: $VFIOCOMPAT_SYSFS_ROOT, the config's, or /sys)")
    parser.add_argument("--hooks-dir", default=None, metavar="DIR",
                        help="libvirt's hooks folder (default: /etc/libvirt/hooks)")
    add_config_option(parser)
    parser.set_defaults(handler=_cmd_doctor)


_MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def _cmd_doctor(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import socket

    from .hook_install import DEFAULT_HOOKS_DIR
    from .labels import host_name_problem

    host = socket.gethostname()
    host = host if host_name_problem(host) is None else "localhost"
    options = {"tables": args.table, "disabled": list(args.disable_plugin), "entry_points": not args.no_plugins}
    result = doctor(args.sysfs_root, options, hooks_dir=args.hooks_dir or DEFAULT_HOOKS_DIR,
                    config_path=args.config, host=host)
    if args.json:
        out.write(json.dumps(doctor_form(result), indent=2) + "\n")
    else:
        for check in result.checks:
            about = f" {check.subject}" if check.subject else ""
            code = f" [{check.code}]" if check.code and check.status != "ok" else ""
            out.write(f"{_MARKS[check.status]} {check.check}{about}:{code} {' '.join(check.message.split())}\n")
            if check.fix and check.status != "ok":
                out.write(f"     fix: {' '.join(check.fix.split())}\n")
        counts = doctor_form(result)["counts"]
        out.write(f"{result.host} ({result.sysfs_root}): {counts['ok']} ok, {counts['warn']} warnings,"
                  f" {counts['fail']} failing\n")
    return 1 if result.status == "fail" else 0
