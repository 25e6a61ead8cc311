"""Synthetic tables of any size for the benchmarks: a keyvalue format and pinned rules."""

from __future__ import annotations

from pathlib import Path
from typing import List


def write_table(folder: Path, rules: int) -> Path:
    """A table of ``rules`` allow rules (plus a few deny rules) for vendor 0xfffe, as TOML."""
    lines = [
        "schema_version = 1",
        "[table]",
        f'id = "synthetic-{rules}"',
        'vendor = "0xfffe"',
        'prefixes = ["type="]',
        "[format]",
        'kind = "keyvalue"',
        "fields = [",
        '  { name = "type", type = "string" },',
        '  { name = "fw", type = "version", scheme = "dotted" },',
        '  { name = "queues", type = "uint" },',
        '  { name = "caps", type = "mask" },',
        '  { name = "serial", type = "uint" },',
        "]",
    ]
    for i in range(rules):
        # Type T<i> may go to T<i> or T<i+1> with firmware not older and resources kept.
        lines += [
            "[[rules]]",
            f'id = "r{i}"',
            'effect = "allow"',
            "conditions = [",
            f'  {{ field = "type", test = "maps_to", pairs = [["T{i}", "T{i}"], ["T{i}", "T{i + 1}"]] }},',
            '  { field = "fw", test = "same_major_target_ge_source" },',
            '  { field = "queues", test = "target_ge_source" },',
            '  { field = "caps", test = "target_superset" },',
            "]",
        ]
    for i in range(0, rules, max(1, rules // 5)):
        lines += [
            "[[rules]]",
            f'id = "deny{i}"',
            'effect = "deny"',
            f'conditions = [{{ field = "type", test = "one_of", side = "target", values = ["T{i}"] }},'
            ' { field = "fw", test = "range", side = "target", min = "9.9", max = "9.9" }]',
        ]
    path = folder / f"synthetic-{rules}.toml"
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def device_versions(rules: int, count: int) -> List[str]:
    """``count`` distinct device_versions spread over the table's types."""
    out = []
    for i in range(count):
        kind = (i * 7919) % max(1, rules)
        # The serial makes every string distinct, so no pair is served from a memo.
        out.append(f"0xfffe:1:type=T{kind};fw=2.{i % 5};queues={4 + i % 3};caps=0x{(i % 4) | 1:x};serial={i}")
    return out
