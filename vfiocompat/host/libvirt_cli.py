"""The libvirt commands: libvirt-hook (run by libvirt's qemu hook) and libvirt-metadata."""

from __future__ import annotations

import argparse
import sys
from typing import Any, List, TextIO

from . import cli as host_cli

__all__ = ["add_commands"]


def add_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the libvirt commands to the ``vfiocompat`` parser."""
    hook = subparsers.add_parser("libvirt-hook", parents=[common],
                                 help="libvirt qemu hook: refuse incompatible incoming migrations")
    hook.add_argument("hook_args", nargs=argparse.REMAINDER, metavar="GUEST OPERATION SUBOPERATION EXTRA",
                      help="as libvirt passes them; the domain XML is read from stdin for 'migrate'")
    hook.set_defaults(handler=_cmd_libvirt_hook)

    metadata = subparsers.add_parser("libvirt-metadata", parents=[common],
                                     help="print the vfiocompat metadata element for `virsh metadata --set`")
    metadata.add_argument("--device", action="append", default=[], metavar="KEY=DEVICE_VERSION",
                          help="KEY is a PCI address, an mdev UUID or alias:NAME; repeatable")
    metadata.add_argument("--probe", action="store_true", help="take the local devices' device_versions from sysfs")
    metadata.add_argument("--sysfs-root", default=None, metavar="DIR", help="with --probe: the sysfs tree to read")
    metadata.set_defaults(handler=_cmd_libvirt_metadata)


def _cmd_libvirt_hook(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..errors import UsageError
    from .libvirt_hook import refusal_line, run_hook

    hook_args: List[str] = list(args.hook_args)
    if len(hook_args) < 2:
        raise UsageError("libvirt-hook expects GUEST OPERATION SUBOPERATION EXTRA, as libvirt passes them")
    result = run_hook(hook_args, sys.stdin.buffer, lambda: host_cli.registry_of(args))
    if result.refusal is not None:
        err.write(refusal_line(hook_args[0], result) + "\n")
    return result.status


def _cmd_libvirt_metadata(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..errors import UsageError
    from .libvirt_hook import parse_assignments
    from .libvirt_xml import SourceVersion, metadata_xml

    entries = parse_assignments(args.device)
    if args.probe:
        from .probe import probe

        inventory = probe(host_cli.sysfs_root(args.sysfs_root), host_cli.registry_of(args))
        for entry in inventory.devices:
            version = entry.device_version
            if version is None or entry.device.kind == "mdev_type":
                continue
            if entry.device.kind == "pci":
                entries.append(SourceVersion(version, address=entry.device.address))
            else:
                entries.append(SourceVersion(version, uuid=entry.device.uuid))
    if not entries:
        raise UsageError("libvirt-metadata needs --device KEY=DEVICE_VERSION or --probe (found no device_version)")
    out.write(metadata_xml(entries) + "\n")
    return 0
