"""The stable JSON forms of vfiocompat's values, each described by a schema in ``schemas/``.

Every document has a top-level ``schema_version``; fields are only ever added within a
version, never renamed or removed.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ._device_version import DeviceVersion, format_vendor
from ._explanation import Explanation, RuleTrial
from ._plugins import PluginRecord
from ._registry import Resolution
from ._tables import Table
from ._verdict import Reason, RuleRef, RuleWarning, Verdict
from .errors import DeviceVersionError, TableError, VfiocompatError

__all__ = [
    "SCHEMA_VERSION",
    "verdict_form",
    "explanation_form",
    "device_version_form",
    "plugins_form",
    "validation_form",
    "reason_form",
    "error_form",
]

SCHEMA_VERSION = 1


def _rule_form(ref: Optional[RuleRef]) -> Optional[Dict[str, Any]]:
    if ref is None:
        return None
    return {"plugin": ref.plugin, "table": ref.table, "rule": ref.rule, "effect": ref.effect,
            "source_url": ref.source_url}


def reason_form(reason: Reason) -> Dict[str, Any]:
    """One reason as JSON."""
    return {
        "code": reason.code,
        "layer": reason.layer,
        "message": reason.message,
        "field": reason.field,
        "source_value": reason.source_value,
        "target_value": reason.target_value,
        "hint": reason.hint,
        "rule": _rule_form(reason.rule),
        "plugin": reason.plugin,
    }


def _warning_form(warning: RuleWarning) -> Dict[str, Any]:
    return {"code": warning.code, "message": warning.message, "hint": warning.hint, "rule": _rule_form(warning.rule)}


def _verdict_body(verdict: Verdict) -> Dict[str, Any]:
    return {
        "compatible": verdict.compatible,
        "source": verdict.source,
        "target": verdict.target,
        "mode": verdict.mode,
        "levels": list(verdict.levels),
        "decided_by": _rule_form(verdict.decided_by),
        "reasons": [reason_form(r) for r in verdict.reasons],
        "warnings": [_warning_form(w) for w in verdict.warnings],
    }


def verdict_form(verdict: Verdict) -> Dict[str, Any]:
    """``vfiocompat check --json`` (schemas/verdict.schema.json)."""
    return {"schema_version": SCHEMA_VERSION, **_verdict_body(verdict)}


def _trial_form(trial: RuleTrial) -> Dict[str, Any]:
    return {
        "rule": _rule_form(trial.rule),
        "description": trial.description,
        "notes": trial.notes,
        "level": trial.level,
        "holds": trial.holds,
        "failed": len(trial.failed),
        "conditions": [
            {"description": c.description, "passed": c.passed,
             "reason": reason_form(c.reason) if c.reason else None}
            for c in trial.conditions
        ],
    }


def explanation_form(explanation: Explanation, source: Resolution, target: Resolution) -> Dict[str, Any]:
    """``vfiocompat explain --json S T`` (schemas/explanation.schema.json)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": _verdict_body(explanation.verdict),
        "table": explanation.table,
        "plugin": explanation.plugin,
        "source": _side_form(source),
        "target": _side_form(target),
        "trials": [_trial_form(t) for t in explanation.trials],
    }


def _side_form(side: Resolution) -> Dict[str, Any]:
    table = side.table
    fields = None
    if side.fields is not None and table is not None:
        from ._conditions import render

        fields = {}
        for spec in table.format.fields:
            if spec.name in side.fields:
                fields[spec.name] = render(spec, side.fields[spec.name])
    return {
        "device_version": side.text,
        "table": table.id if table else None,
        "plugin": table.plugin if table else None,
        "fields": fields,
    }


def device_version_form(device: DeviceVersion, side: Optional[Resolution] = None) -> Dict[str, Any]:
    """``vfiocompat parse --json`` (schemas/device-version.schema.json)."""
    form: Dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "device_version": str(device),
        "vendor": device.vendor,
        "vendor_id": device.vendor_id,
        "interface": device.interface,
        "proprietary": device.proprietary,
        "table": None,
        "plugin": None,
        "fields": None,
        "reasons": [],
    }
    if side is not None:
        sided = _side_form(side)
        form.update(table=sided["table"], plugin=sided["plugin"], fields=sided["fields"],
                    reasons=[reason_form(r) for r in side.reasons])
    return form


def _table_summary(table: Table) -> Dict[str, Any]:
    allow = sum(1 for r in table.rules if r.effect == "allow")
    deny = sum(1 for r in table.rules if r.effect == "deny")
    return {
        "id": table.id,
        "title": table.title,
        "vendor": format_vendor(table.vendor_id),
        "prefixes": list(table.prefixes),
        "origin": table.origin,
        "format": table.format.kind,
        "fields": [{"name": f.name, "type": f.type, "ordered": f.ordered} for f in table.format.fields],
        "rules": {"allow": allow, "deny": deny},
        "examples": len(table.examples),
    }


def plugins_form(records: Sequence[PluginRecord]) -> Dict[str, Any]:
    """``vfiocompat plugins --json`` (schemas/plugins.schema.json)."""
    plugins: List[Dict[str, Any]] = []
    for record in records:
        plugins.append({
            "name": record.name,
            "distribution": record.distribution,
            "version": record.version,
            "disabled": record.disabled,
            "vendors": sorted({format_vendor(t.vendor_id) for t in record.tables}),
            "tables": [_table_summary(t) for t in record.tables],
            "errors": [{"code": f.code, "message": f.message} for f in record.failures],
        })
    return {"schema_version": SCHEMA_VERSION, "plugins": plugins}


def validation_form(results: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """``vfiocompat validate --json`` (schemas/validation.schema.json)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "valid": all(r["valid"] for r in results),
        "files": list(results),
    }


def error_form(error: VfiocompatError) -> Dict[str, Any]:
    """A refused input or command line as JSON (schemas/error.schema.json): what, and where when known."""
    detail: Dict[str, Any] = {"code": error.code, "message": " ".join(error.message.split())}
    if isinstance(error, TableError):
        location = error.location or ""
        file, _, line = location.rpartition(":")
        if line.isdigit() and file:
            detail.update(file=file, line=int(line))
        elif location:
            detail["file"] = location
        if error.path:
            detail["path"] = error.path
        if error.rule:
            detail["rule"] = error.rule
    elif isinstance(error, DeviceVersionError):
        detail["position"] = error.position
    return {"schema_version": SCHEMA_VERSION, "error": detail}
