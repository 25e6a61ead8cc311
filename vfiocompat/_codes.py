"""The catalogue of reason and error codes, for ``vfiocompat explain CODE`` and the docs.

Codes never change meaning once published. Ranges: VC0xx usage, VC1xx device_version
parsing, VC2xx core checks, VC3xx plugins, VC4xx table rules, VC5xx table files,
VC6xx the host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

__all__ = ["CodeInfo", "CODES", "lookup"]


@dataclass(frozen=True)
class CodeInfo:
    """What a code means, which layer uses it, and what usually fixes it."""

    code: str
    name: str
    layer: str
    summary: str
    hint: str


def _table(*rows: tuple[str, str, str, str, str]) -> Dict[str, CodeInfo]:
    return {row[0]: CodeInfo(*row) for row in rows}


CODES: Dict[str, CodeInfo] = _table(
    ("VC001", "usage", "core", "The command line or API call is malformed.", "See `vfiocompat --help`."),
    ("VC101", "empty-device-version", "core", "The device_version is empty or not text.",
     "Pass VENDOR:INTERFACE:PROPRIETARY, e.g. 0x8086:1:8086-193b-i915-GVTg_V5_4-00000001."),
    ("VC102", "device-version-too-long", "core", "The device_version is longer than 1024 characters.",
     "Shorten the vendor's proprietary string."),
    ("VC103", "forbidden-character", "core",
     "The device_version contains a character outside printable ASCII (spaces, control, non-ASCII).",
     "Remove the character at the reported column."),
    ("VC104", "missing-part", "core", "The device_version lacks the VENDOR:INTERFACE:PROPRIETARY parts.",
     "Separate the three parts with ':'."),
    ("VC105", "bad-vendor-id", "core", "The vendor id is empty or not hexadecimal.",
     "Write the PCI vendor id in hex, e.g. 0x8086."),
    ("VC106", "vendor-id-too-wide", "core", "The vendor id does not fit in 32 bits.",
     "Use at most 8 hex digits."),
    ("VC107", "bad-interface-version", "core",
     "The migration interface version is not dotted decimal integers (at most 4, no leading zeros).",
     "Write it as 1, 2 or 1.2."),
    ("VC108", "empty-proprietary", "core", "The vendor's proprietary part is empty.",
     "Append the vendor's string after the second ':'."),
    ("VC111", "proprietary-format", "table",
     "The proprietary string does not fit the format its vendor's table declares.",
     "Compare the string with the table's [format] section (`vfiocompat plugins`)."),
    ("VC201", "vendor-mismatch", "core", "Source and target have different vendor ids.",
     "A device can only migrate to a device of the same vendor."),
    ("VC202", "interface-older", "core",
     "The target's migration interface version is older than the source's.",
     "Upgrade the target host's driver so its migration interface is at least the source's."),
    ("VC203", "unknown-vendor", "core", "No installed plugin or table serves this vendor id.",
     "Install the vendor's vfiocompat plugin (`vfiocompat plugins` lists what is installed)."),
    ("VC204", "unclaimed-device", "core",
     "Plugins serve this vendor, but none claims this proprietary string.",
     "Install the plugin for this device family, or check the string's prefix."),
    ("VC205", "different-families", "core",
     "Source and target are served by different tables, which never admit each other.",
     "Migrate only between devices of one family (one plugin table)."),
    ("VC206", "ambiguous-claim", "core",
     "More than one table claims this proprietary string; vfiocompat will not guess.",
     "Disable one of the plugins named (VFIOCOMPAT_DISABLE_PLUGINS) or fix their claims."),
    ("VC301", "plugin-load-failed", "plugin", "A plugin failed to import or register.",
     "Reinstall or fix the plugin; `vfiocompat plugins` shows the error."),
    ("VC302", "plugin-hook-failed", "plugin", "A plugin raised an exception in a hook.",
     "Report the error to the plugin's vendor; `vfiocompat plugins` shows it."),
    ("VC303", "plugin-bad-return", "plugin", "A plugin hook returned a value of the wrong type.",
     "Report the error to the plugin's vendor."),
    ("VC304", "plugin-table-invalid", "plugin", "A table a plugin ships failed validation.",
     "Run `vfiocompat validate --installed` to see the table error."),
    ("VC306", "plugin-timeout", "plugin",
     "A plugin did not answer within its time bound (VFIOCOMPAT_PLUGIN_TIMEOUT); it is no longer called.",
     "Report the hang to the plugin's vendor; disable the plugin (VFIOCOMPAT_DISABLE_PLUGINS) meanwhile."),
    ("VC305", "overlapping-claims", "plugin",
     "Two tables claim overlapping proprietary strings of one vendor.",
     "Disable one of the plugins, or make their prefixes disjoint."),
    ("VC401", "no-rule-allows", "table", "No allow rule of the table holds for this pair (default deny).",
     "See `vfiocompat explain SOURCE TARGET` for the nearest rule and what it needs."),
    ("VC402", "denied", "table", "A deny rule for a known-bad combination holds; deny wins over allow.",
     "Choose a different target device; this combination is known not to work."),
    ("VC403", "cold-only", "table",
     "The table admits this pair for a cold migration only (the VM stopped); a live migration is refused.",
     "Migrate the VM stopped (`vfiocompat check --mode cold` admits it), or choose a target admitted live."),
    ("VC430", "rule-warning", "table",
     "A warn rule of the table holds: the pair is compatible, with a caveat (`check --strict` refuses it).",
     "Read the warning's message and the rule's source before migrating."),
    ("VC410", "field-differs", "table", "A field that must be equal differs between source and target.",
     "Use a target whose field equals the source's."),
    ("VC411", "target-older", "table", "The target's value is older or lower than the source's.",
     "Use a target at least as new as the source (migration never goes backwards by accident)."),
    ("VC412", "target-not-newer", "table", "The rule needs a target strictly newer than the source.",
     "Use a newer target."),
    ("VC413", "major-differs", "table", "The rule needs the same major version on both sides.",
     "Use a target with the source's major version."),
    ("VC414", "outside-upgrade-window", "table",
     "The target is outside the upgrade window the rule allows (too many major releases newer, or older).",
     "Use a target within the window, or migrate in steps."),
    ("VC415", "missing-capability", "table", "The target lacks capabilities or resources the source has.",
     "Use a target whose capabilities are a superset of the source's."),
    ("VC416", "value-not-listed", "table", "A value is not among those the rule lists.",
     "Use a device with one of the listed values."),
    ("VC417", "glob-mismatch", "table", "A value does not match the rule's pattern.",
     "Use a device whose value matches the pattern."),
    ("VC418", "version-outside-range", "table", "A version is outside the rule's specifier or range.",
     "Use a device whose version is within the range."),
    ("VC419", "not-mapped", "table", "The source value does not map to the target value under this rule.",
     "Use a target of the type the rule maps the source to."),
    ("VC420", "field-missing", "table", "A field the rule tests is absent from the proprietary string.",
     "Use a device_version that carries the field."),
    ("VC501", "table-unreadable", "table", "A table file cannot be read (missing, not UTF-8, too big).",
     "Check the path and the file's encoding (UTF-8)."),
    ("VC502", "table-syntax", "table", "A table file is not valid TOML or JSON.", "Fix the syntax at the line shown."),
    ("VC503", "table-schema", "table", "A table does not conform to schemas/table.schema.json.",
     "Fix the value at the JSON path shown; `vfiocompat schema` prints the schema."),
    ("VC504", "table-semantics", "table",
     "A table is well-formed but inconsistent: an unknown field, a version or specifier that cannot be read,"
     " a duplicate rule id.",
     "Fix the rule named."),
    ("VC505", "undeclared-downgrade", "table",
     "An allow rule would admit a target older than the source on an ordered field without saying so.",
     "Constrain the field (equal, target_ge_source, ...) or list it in the rule's allow_downgrade."),
    ("VC506", "example-failed", "table", "A table's own example does not get the expected verdict.",
     "Fix the rules or the example."),
    ("VC507", "limit-exceeded", "table", "An input exceeds a documented limit (size, rules, nesting).",
     "Split the table or shorten the input."),
    ("VC508", "schema-version-unknown", "table",
     "A table declares a schema_version newer than this vfiocompat reads: it needs a newer vfiocompat.",
     "Upgrade vfiocompat (pip install -U vfiocompat), or ask the vendor for a table of an older schema_version."),
    ("VC551", "declared-downgrade", "table",
     "Warning: an allow rule admits a target older than the source on a field, as it declares.",
     "Make sure the vendor supports this downgrade."),
    ("VC601", "driver-cannot-migrate", "host",
     "The device is bound to a driver that does not support migration (e.g. plain vfio-pci).",
     "Bind the vendor's migration-capable variant driver (e.g. mlx5_vfio_pci)."),
    ("VC602", "no-device-version", "host", "No plugin gives this host device a device_version, or plugins disagree.",
     "Install the vendor's vfiocompat plugin; `vfiocompat probe` shows each device's reasons."),
    ("VC603", "sysfs-escape", "host", "A sysfs path or symlink leads outside the probed root; it was not followed.",
     "Check the --sysfs-root tree; a real sysfs has no links leaving it."),
    ("VC604", "no-compatible-device", "host", "No device on the host can receive this VM device.",
     "See the nearest device's reasons; bind the variant driver or choose another host."),
    ("VC605", "devices-exhausted", "host",
     "Compatible devices exist, but each is needed by another of the VM's devices.",
     "Free or add a compatible device, or choose another host."),
    ("VC606", "hostdev-unmatched", "host",
     "A hostdev has no source device_version in the domain metadata, or is not a VFIO device on this host.",
     "Record it with `virsh metadata ... --set \"$(vfiocompat libvirt-metadata --probe)\"` on the source."),
    ("VC607", "domain-xml-refused", "host",
     "The domain XML is refused: over 1 MiB, malformed, or has DOCTYPE/ENTITY declarations.",
     "Pass the plain domain XML libvirt produces."),
    ("VC608", "device-fact-missing", "host",
     "A plugin needs a fact about the device that this host does not expose (or not before migration).",
     "Supply it as the plugin's message says: in the host config file's [facts] for that device."),
    ("VC609", "host-config-invalid", "host",
     "The host configuration file (/etc/vfiocompat/config.toml, --config, VFIOCOMPAT_CONFIG) is missing or invalid.",
     "Fix the file at the line or key the message names; see docs/host-integration.md."),
    ("VC610", "hook-install-refused", "host",
     "install-libvirt-hook did not write the hook: the file exists, is a symlink, or the folder is unusable.",
     "Pass --force to replace an existing hook, or choose another --hooks-dir."),
    ("VC611", "hook-unavailable", "host",
     "The libvirt hook could not run vfiocompat (interpreter missing, import failed), so it refused the migration.",
     "Reinstall vfiocompat, then run `vfiocompat install-libvirt-hook --force` with the interpreter that has it."),
    ("VC612", "virsh-failed", "host",
     "virsh is missing, failed, or read back metadata other than what was set.",
     "Install libvirt-clients; check the domain name and --connect URI; see virsh's own message."),
    ("VC613", "sysfs-attribute-malformed", "host",
     "A sysfs attribute or link does not hold what the kernel writes there (e.g. a count that is not ASCII digits).",
     "Check the --sysfs-root tree; probe takes the value as unknown, so the device cannot be relied on."),
    ("VC614", "vm-no-host", "host",
     "No other host can take this VM even alone: a device has no compatible free device anywhere, or no host"
     " has all of them at once.",
     "See the nearest device's reasons; free or add compatible devices, or add hosts to the inventories."),
    ("VC615", "vm-capacity-taken", "host",
     "Hosts could take this VM alone, but the placement that moves the most VMs gives their devices to others.",
     "Free compatible devices on another host, or move this VM in a later round."),
)


def lookup(code: str) -> Optional[CodeInfo]:
    """The catalogue entry for ``code`` (case-insensitive), if it is a core code."""
    return CODES.get(code.upper())
