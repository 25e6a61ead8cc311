"""Host and fleet commands: probe, place, labels (the libvirt ones are in :mod:`.libvirt_cli`).

Each handler imports what it needs, so ``vfiocompat --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Dict, TextIO

__all__ = ["add_commands", "add_config_option", "registry_of", "sysfs_root"]

_NAMESPACE_HINT = "https://vfiocompat.readthedocs.io/xmlns/1"


def add_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the host commands to the ``vfiocompat`` parser."""
    probe = subparsers.add_parser("probe", parents=[common], help="list this host's VFIO devices and device_versions")
    probe.add_argument("--sysfs-root", default=None, metavar="DIR",
                       help="the sysfs tree to read (default: $VFIOCOMPAT_SYSFS_ROOT or /sys)")
    probe.add_argument("--host", default=None, metavar="NAME", help="the host name to record (default: this host's)")
    probe.set_defaults(handler=_cmd_probe)

    place = subparsers.add_parser("place", parents=[common],
                                  help="which hosts can receive a VM with these devices (exit 0 if any, 1 if none);"
                                       " with --vm-file, where many VMs go at once (exit 0 if every VM has a host)")
    place.add_argument("--vm", action="append", default=[], metavar="DEVICE_VERSION",
                       help="the device_version of one of the VM's devices; repeat for each device")
    place.add_argument("--vm-file", default=None, metavar="FILE",
                       help="many VMs placed at once, each on one host: lines `VM_NAME DEVICE...` (a DEVICE is a"
                            " device_version or, with --evacuate, a device id of that host), or a JSON document"
                            ' {"vms": [{"name": ..., "devices": [...]}]}')
    place.add_argument("--evacuate", default=None, metavar="INVENTORY.json",
                       help="the host being emptied (its inventory): its devices named in --vm-file stand for their"
                            " device_versions, and it receives nothing")
    place.add_argument("inventories", nargs="+", metavar="INVENTORY.json",
                       help="`vfiocompat probe --json` output (one document, or a JSON array of them)")
    place.set_defaults(handler=_cmd_place)

    labels = subparsers.add_parser("labels", parents=[common],
                                   help="node labels / Placement traits: which device classes each host accepts")
    labels.add_argument("inventories", nargs="+", metavar="INVENTORY.json")
    labels.add_argument("--format", choices=("k8s", "placement", "nova-provider-config", "nfd"), default="k8s",
                        help="k8s: a line of node labels per host (default); placement: a line of traits per host;"
                             " nova-provider-config, nfd: with --output-dir, a Nova provider config"
                             " (<host>.yaml) or a node-feature-discovery feature file (<host>.features) per host")
    labels.add_argument("--output-dir", default=None, metavar="DIR",
                        help="write the per-host files of --format nova-provider-config or nfd here")
    labels.add_argument("--force", action="store_true",
                        help="replace files in --output-dir that vfiocompat did not write")
    labels.add_argument("--expiry-time", default=None, metavar="RFC3339",
                        help="nfd: labels expire at this time unless the file is rewritten (e.g. 2026-12-01T10:00:00Z)")
    labels.set_defaults(handler=_cmd_labels)
    for command in (probe, place, labels):
        add_config_option(command)


def add_config_option(parser: Any) -> None:
    """Add ``--config FILE``, the host configuration file, to a command."""
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="host configuration file (default: $VFIOCOMPAT_CONFIG or /etc/vfiocompat/config.toml)")


def registry_of(args: argparse.Namespace) -> Any:
    """The registry the common options and the host configuration ask for (``--config``, see :mod:`.config`)."""
    from .._cli import registry_for
    from .config import config_of

    config = config_of(args)
    return registry_for(args, also_disabled=config.disable_plugins, plugin_timeout=config.plugin_timeout)


def _emit(out: TextIO, form: Dict[str, Any]) -> None:
    out.write(json.dumps(form, indent=2) + "\n")


def sysfs_root(value: Any) -> str:
    """``--sysfs-root``, else ``$VFIOCOMPAT_SYSFS_ROOT``, else the config file's ``sysfs_root``, else ``/sys``.

    ``value`` is the parsed command line (whose ``--config`` is then honoured) or the option's value.
    """
    from .config import config_of, load_host_config

    if isinstance(value, argparse.Namespace):
        return str(getattr(value, "sysfs_root", None) or config_of(value).sysfs_root)
    return str(value or load_host_config().sysfs_root)


def _cmd_probe(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import socket

    from ..errors import UsageError
    from .config import config_of, probe_configured
    from .inventory import inventory_form
    from .labels import host_name_problem

    host = args.host if args.host is not None else socket.gethostname()
    problem = host_name_problem(host)
    if problem is not None:
        given = "--host" if args.host is not None else "this host's name (pass --host NAME)"
        raise UsageError(f"{given}: {host!r} {problem}")
    # The host config's [facts] reach the plugins, as they do for the hook and doctor.
    inventory = probe_configured(sysfs_root(args), registry_of(args), config_of(args), host=host)
    if args.json:
        _emit(out, inventory_form(inventory))
        return 0
    if not inventory.devices:
        out.write(f"{inventory.host}: no VFIO devices under {inventory.sysfs_root}\n")
    for entry in inventory.devices:
        device = entry.device
        ids = f"{device.vendor[2:] if device.vendor else '?'}:{device.device[2:] if device.device else '?'}"
        extra = f" instances={device.available_instances}" if device.kind == "mdev_type" else ""
        migrate = {True: "yes", False: "no", None: "unknown"}[entry.can_migrate]
        out.write(f"{device.id} [{ids}] driver={device.driver or '-'}{extra} migrate={migrate}\n"
                  f"  device_version: {entry.device_version or '(none)'}\n")
        for reason in entry.reasons:
            out.write(f"  {reason.layer} error[{reason.code}]: {reason.message}\n")
    for issue in inventory.issues:
        err.write(f"warning[{issue.code}]: {issue.message}\n")
    return 0


def _cmd_place(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .._device_version import parse
    from ..errors import UsageError
    from .inventory import load_inventories
    from .placement import place

    if args.vm_file is not None or args.evacuate is not None:
        if args.vm:
            raise UsageError("--vm places one VM; --vm-file places many: give one or the other")
        if args.vm_file is None:
            raise UsageError("--evacuate needs --vm-file: an inventory does not record which VM uses which device")
        return _cmd_evacuate(args, out)
    if not args.vm:
        raise UsageError("place: the following arguments are required: --vm DEVICE_VERSION (one per VM device),"
                         " or --vm-file FILE")
    vm = [str(parse(text)) for text in args.vm]
    inventories = load_inventories(args.inventories)
    result = place(vm, inventories, registry_of(args))
    if args.json:
        from .._json_forms import reason_form

        _emit(out, {
            "schema_version": 1,
            "vm_devices": list(result.vm_devices),
            "fits": list(result.fitting),
            "hosts": [{
                "host": h.host, "fits": h.fits,
                "assignment": [_assignment_form(a) for a in h.assignment],
                "unmatched": [{"vm_index": u.vm_index, "vm_device_version": u.vm_device_version, "code": u.code,
                               "message": u.message, "target": u.target,
                               "reasons": [reason_form(r) for r in u.reasons]} for u in h.unmatched],
            } for h in result.hosts],
        })
    else:
        for host in result.hosts:
            if host.fits:
                pairs = ", ".join(f"vm[{a.vm_index}] -> {a.target}" for a in host.assignment)
                out.write(f"{host.host}: fits ({pairs})\n")
            else:
                out.write(f"{host.host}: does not fit\n")
                for miss in host.unmatched:
                    out.write(f"  host error[{miss.code}]: {miss.message}\n")
                    for reason in miss.reasons[1:]:
                        out.write(f"    also error[{reason.code}]: {reason.message}\n")
    return 0 if result.fitting else 1


def _assignment_form(a: Any) -> Dict[str, Any]:
    return {"vm_index": a.vm_index, "vm_device_version": a.vm_device_version, "target": a.target,
            "target_device_version": a.target_device_version}


def _cmd_evacuate(args: argparse.Namespace, out: TextIO) -> int:
    """``place --vm-file [--evacuate]``: every VM placed at once, or why it cannot go anywhere."""
    from ..errors import UsageError
    from .inventory import load_inventories
    from .placement import evacuate, read_vm_file

    source = None
    if args.evacuate is not None:
        found = load_inventories([args.evacuate])
        if len(found) != 1:
            raise UsageError(f"--evacuate {args.evacuate}: give the inventory of one host, not {len(found)}")
        source = found[0]
    vms = read_vm_file(args.vm_file, source)
    inventories = load_inventories(args.inventories)
    result = evacuate(vms, inventories, registry_of(args), source=source.host if source is not None else None)
    if args.json:
        from .._json_forms import reason_form

        _emit(out, {
            "schema_version": 1,
            "evacuate": result.source,
            "optimal": result.optimal,
            "hosts": result.hosts,
            "placed": list(result.placed),
            "unplaced": list(result.unplaced),
            "vms": [{"vm": v.name, "device_versions": list(v.device_versions), "devices": list(v.devices),
                     "host": v.host, "assignment": [_assignment_form(a) for a in v.assignment],
                     "code": v.code, "message": v.message, "reasons": [reason_form(r) for r in v.reasons]}
                    for v in result.vms],
        })
    else:
        for vm in result.vms:
            if vm.placed:
                pairs = ", ".join(f"{vm.devices[a.vm_index] or f'device {a.vm_index}'} -> {a.target}"
                                  for a in vm.assignment)
                out.write(f"{vm.name}: {vm.host} ({pairs})\n")
            else:
                out.write(f"{vm.name}: nowhere\n  host error[{vm.code}]: {vm.message}\n")
                for reason in vm.reasons:
                    out.write(f"    because error[{reason.code}]: {reason.message}\n")
        how = "the most possible" if result.optimal else "the best found within the search bound"
        out.write(f"{len(result.placed)} of {len(result.vms)} VMs placed on {result.hosts} hosts ({how})\n")
    return 0 if not result.unplaced else 1


def _cmd_labels(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..errors import UsageError
    from .inventory import load_inventories
    from .labels import FILE_FORMATS, labels, labels_form, nfd_expiry_time, write_host_files

    to_files = args.format in FILE_FORMATS
    if to_files and args.output_dir is None:
        raise UsageError(f"--format {args.format} writes one file per host: it needs --output-dir DIR")
    if not to_files and (args.output_dir is not None or args.force):
        raise UsageError(f"--output-dir and --force go with --format {' or '.join(FILE_FORMATS)},"
                         f" not {args.format}")
    if args.expiry_time is not None:
        if args.format != "nfd":
            raise UsageError("--expiry-time goes with --format nfd")
        nfd_expiry_time(args.expiry_time)  # a bad time is refused before anything is judged
    result = labels(load_inventories(args.inventories), registry_of(args))
    if to_files:
        written = write_host_files(result, args.format, args.output_dir, force=args.force,
                                   expiry_time=args.expiry_time)
        if args.json:
            form = labels_form(result)
            form["files"] = [{"host": w.host, "path": w.path, "entries": w.entries, "changed": w.changed}
                             for w in written]
            _emit(out, form)
            return 0
        what = "labels" if args.format == "nfd" else "traits"
        for done in written:
            state = "wrote" if done.changed else "unchanged"
            out.write(f"{state} {done.path}: host {done.host}, {done.entries} {what}\n")
        return 0
    if args.json:
        _emit(out, labels_form(result))
        return 0
    for host in result.hosts:
        names = [f"{key}=true" for key in host.labels] if args.format == "k8s" else list(host.traits)
        out.write(" ".join([host.host, *names]) + "\n")
    return 0
