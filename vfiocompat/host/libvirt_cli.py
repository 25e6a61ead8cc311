"""The libvirt commands: libvirt-hook (run by libvirt's qemu hook), libvirt-metadata and install-libvirt-hook."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Sequence, TextIO

from . import cli as host_cli

__all__ = ["add_commands", "HOOK_ARGS"]

#: What libvirt passes to every hook, always four words (docs/hooks.rst).
HOOK_ARGS = "GUEST OPERATION SUBOPERATION EXTRA"


def add_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add the libvirt commands to the ``vfiocompat`` parser."""
    # No options at all, so no parent: the guest name is data even when it is "-h" or "--table=X".
    # A prefix character no argument can start with turns argparse's option parsing off.
    hook = subparsers.add_parser("libvirt-hook", add_help=False, prefix_chars="\x00",
                                 help="libvirt qemu hook: refuse incompatible incoming migrations"
                                      f" (takes `-- {HOOK_ARGS}`, no options; settings from the config file)")
    hook.add_argument("hook_args", nargs=argparse.REMAINDER, metavar=HOOK_ARGS)
    hook.set_defaults(handler=_cmd_libvirt_hook, table=[], disable_plugin=[], no_plugins=False, json=False,
                      config=None)

    metadata = subparsers.add_parser("libvirt-metadata", parents=[common],
                                     help="the vfiocompat metadata element for a domain; with --domain, record it")
    metadata.add_argument("--device", action="append", default=[], metavar="KEY=DEVICE_VERSION",
                          help="KEY is a PCI address, an mdev UUID or alias:NAME; repeatable")
    metadata.add_argument("--probe", action="store_true", help="take the local devices' device_versions from sysfs")
    metadata.add_argument("--sysfs-root", default=None, metavar="DIR", help="with --probe: the sysfs tree to read")
    metadata.add_argument("--domain", default=None, metavar="NAME",
                          help="record the element in this running domain (virsh metadata --live --config)"
                               " and read it back")
    metadata.add_argument("--connect", default=None, metavar="URI", help="with --domain: virsh's connection URI")
    host_cli.add_config_option(metadata)
    metadata.set_defaults(handler=_cmd_libvirt_metadata)

    install = subparsers.add_parser("install-libvirt-hook",
                                    help="install qemu.d/vfiocompat, the hook that judges incoming migrations")
    install.add_argument("--hooks-dir", default=None, metavar="DIR", help="libvirt's hooks folder"
                         " (default: /etc/libvirt/hooks)")
    install.add_argument("--force", action="store_true", help="replace an existing qemu.d/vfiocompat")
    host_cli.add_config_option(install)
    install.set_defaults(handler=_cmd_install_libvirt_hook)


def hook_words(words: Sequence[str]) -> List[str]:
    """The hook arguments, a leading ``--`` (how the installed hook passes them) dropped.

    Any call but ``migrate`` passes whatever follows it; ``migrate`` must have libvirt's four words.
    """
    from ..errors import UsageError

    hook_args = list(words[1:] if words[:1] == ["--"] else words)
    if len(hook_args) < 2 or (hook_args[1] == "migrate" and len(hook_args) != 4):
        raise UsageError(f"libvirt-hook expects {HOOK_ARGS}, as libvirt passes them (got {len(hook_args)} words)")
    return hook_args


def _cmd_libvirt_hook(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .config import config_of
    from .libvirt_hook import refusal_line, run_hook

    hook_args = hook_words(args.hook_args)
    result = run_hook(hook_args, sys.stdin.buffer, lambda: host_cli.registry_of(args), config=lambda: config_of(args))
    if result.blockers:
        err.write(refusal_line(hook_args[0], result) + "\n")
    elif result.output is not None:
        # The domain XML goes back byte for byte: the escaping ``out.write`` would alter it.
        write_bytes = getattr(out, "write_bytes", None)
        if write_bytes is not None:
            write_bytes(result.output)
        else:  # a command line without the raw channel: the process's stdout
            sys.stdout.flush()
            sys.stdout.buffer.write(result.output)
            sys.stdout.buffer.flush()
    return result.status


def _cmd_libvirt_metadata(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ..errors import UsageError
    from .libvirt_hook import parse_assignments
    from .libvirt_xml import METADATA_KEY, NAMESPACE, SourceVersion, metadata_xml

    if args.connect is not None and args.domain is None:
        raise UsageError("libvirt-metadata: --connect needs --domain")
    entries = parse_assignments(args.device)
    if args.probe:
        from .config import config_of, probe_configured

        root = host_cli.sysfs_root(args)
        inventory = probe_configured(root, host_cli.registry_of(args), config_of(args))
        found = 0
        for entry in inventory.devices:
            version = entry.device_version
            if version is None or entry.device.kind == "mdev_type":
                continue
            found += 1
            if entry.device.kind == "pci":
                entries.append(SourceVersion(version, address=entry.device.address))
            else:
                entries.append(SourceVersion(version, uuid=entry.device.uuid))
        if not found and not entries:
            raise UsageError(f"libvirt-metadata --probe: no device was found with a device_version under {root}"
                             " (`vfiocompat probe` shows each device's reasons)")
    elif not entries:
        raise UsageError("libvirt-metadata needs --device KEY=DEVICE_VERSION or --probe")
    element = metadata_xml(entries)
    form: Dict[str, Any] = {
        "schema_version": 1, "namespace": NAMESPACE, "key": METADATA_KEY, "element": element,
        "devices": [{"alias": e.alias, "address": e.address, "uuid": e.uuid, "version": e.version} for e in entries],
        "domain": args.domain, "recorded": False,
    }
    if args.domain is not None:
        from .virsh import record_metadata

        record_metadata(args.domain, element, entries, connect=args.connect)
        form["recorded"] = True
    if args.json:
        out.write(json.dumps(form, indent=2) + "\n")
    elif args.domain is not None:
        out.write(f"recorded {len(entries)} device_version(s) in domain {args.domain!r}"
                  " (live and persistent), read back and verified\n")
    else:
        out.write(element + "\n")
    return 0


def _cmd_install_libvirt_hook(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .config import load_host_config
    from .hook_install import DEFAULT_HOOKS_DIR, install_hook

    if args.config is not None:
        load_host_config(args.config)  # an invalid file is refused now, not at the first migration
    path = install_hook(args.hooks_dir or DEFAULT_HOOKS_DIR, python=sys.executable, config=args.config,
                        force=args.force)
    out.write(f"installed {path} (interpreter {sys.executable}); restart the libvirt daemon (libvirtd or"
              " virtqemud) so that it finds the hook\n")
    return 0
