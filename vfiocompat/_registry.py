"""The registry: loaded plugins and tables, routing, and the check and explain of a pair.

Order of judgement for ``source -> target``: both strings parse; vendor ids are equal; the
target's migration interface is not older; one table claims both strings; the table judges
the pair (:meth:`~vfiocompat._tables.Table.judge`: an allow rule holds at the mode's level, no
deny rule does). Anything that cannot be decided is a refusal with a reason: the registry
fails closed. Verdicts and explanations are derived from that one judgement.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar, cast

from ._device_version import MAX_LENGTH, DeviceVersion, format_vendor, parse
from ._isolation import DEFAULT_TIMEOUT, timeout_from_environment
from ._plugins import (
    FoundPlugin,
    HookFailed,
    PluginFailure,
    PluginRecord,
    PluginSet,
    disabled_from_environment,
    failure_code,
    find_plugins,
    load_plugins,
)
from ._table_files import TableSource
from ._table_loader import TableHandle, load_table
from ._tables import Judgement, Table
from ._verdict import MODES, Reason, RuleWarning, Verdict
from .errors import DeviceVersionError, FieldFormatError, TableError, UsageError

if TYPE_CHECKING:
    from ._explanation import Explanation

__all__ = ["Registry", "Resolution"]

#: Bound on memoised sides and verdicts; a fleet's distinct device_versions fit many times over.
_CACHE_LIMIT = 1 << 16
_TABLE_FILE_PLUGIN = "table-file"


@dataclass(frozen=True)
class Resolution:
    """One device_version as the registry sees it: parsed, claimed by a table, split into fields."""

    text: str
    device: Optional[DeviceVersion]
    table: Optional[Table]
    fields: Optional[Mapping[str, Any]]
    reasons: Tuple[Reason, ...]


K = TypeVar("K")
V = TypeVar("V")


def _keep(memo: Dict[K, V], key: K, value: V) -> V:
    """Remember ``value`` in a bounded memo, emptied when full (a fleet's working set fits many times over)."""
    if len(memo) >= _CACHE_LIMIT:
        memo.clear()
    memo[key] = value
    return value


def _memoisable(*texts: str) -> bool:
    # A text over the maximum is refused anyway; keeping it would let input size drive memory.
    return all(len(text) <= MAX_LENGTH for text in texts)


class Registry:
    """Plugins and tables, loaded once, answering many checks (results are memoised)."""

    def __init__(
        self,
        plugins: Sequence[Tuple[str, Any]] = (),
        *,
        tables: Sequence[TableSource] = (),
        entry_points: bool = False,
        disabled: Iterable[str] = (),
        plugin_timeout: Optional[float] = DEFAULT_TIMEOUT,
    ) -> None:
        """Load ``plugins`` (name, object) and, with ``entry_points``, the installed ones.

        :param tables: table files loaded directly, as if from a plugin named ``table-file``; one that
            cannot be read or compiled raises its :class:`TableError` (the caller named it).
        :param disabled: plugin names not to load.
        :param plugin_timeout: seconds one call into a plugin may take (None: unbounded, on this thread).
        """
        found: List[FoundPlugin] = find_plugins() if entry_points else []
        names = {plugin.name for plugin in found}
        for name, obj in plugins:
            if name in names:
                raise ValueError(f"plugin name {name!r} is already taken")
            names.add(name)
            found.append(FoundPlugin(name, _constant(obj)))
        loaded = load_plugins(sorted(found, key=lambda p: p.name), disabled, plugin_timeout)
        records = list(loaded.records)
        if tables:
            records.append(_table_file_record(tables))
        self._setup(PluginSet(tuple(records), loaded.parse_hooks, loaded.probe_hooks))

    @classmethod
    def from_environment(cls, *, tables: Sequence[TableSource] = (), disabled: Iterable[str] = (),
                         entry_points: bool = True, plugin_timeout: Optional[float] = None) -> Registry:
        """The installed plugins, less those disabled here or in ``VFIOCOMPAT_DISABLE_PLUGINS``.

        ``plugin_timeout`` defaults to ``VFIOCOMPAT_PLUGIN_TIMEOUT`` (seconds or ``off``), else 5 s.
        """
        timeout = timeout_from_environment() if plugin_timeout is None else plugin_timeout
        return cls(tables=tables, entry_points=entry_points, disabled=[*disabled, *disabled_from_environment()],
                   plugin_timeout=timeout)

    @classmethod
    def of_tables(cls, tables: Sequence[Table], parse_hooks: Optional[Mapping[str, Any]] = None) -> Registry:
        """A registry of already compiled tables (and their plugins' parse hooks), nothing else."""
        registry = cls.__new__(cls)
        by_plugin: Dict[str, List[Table]] = {}
        for table in tables:
            by_plugin.setdefault(table.plugin, []).append(table)
        records = tuple(PluginRecord(name, None, None, tuple(TableHandle.of(t) for t in group))
                        for name, group in sorted(by_plugin.items()))
        registry._setup(PluginSet(records, dict(parse_hooks or {})))
        return registry

    def _setup(self, loaded: PluginSet) -> None:
        self.plugins: Tuple[PluginRecord, ...] = loaded.records
        self._parse_hooks = loaded.parse_hooks
        self.probe_hooks = loaded.probe_hooks
        # Failures known without compiling anything: a table that fails later is refused where it is used.
        self._failures: Tuple[PluginFailure, ...] = tuple(f for r in self.plugins for f in r.load_failures)
        # Claim order must not depend on load order (plugin names are sorted; a plugin's tables may not be).
        handles = sorted((h for r in self.plugins for h in r.handles),
                         key=lambda h: (h.plugin, h.claims.table_id, h.origin))
        self._by_vendor: Dict[int, List[TableHandle]] = {}
        for handle in handles:
            self._by_vendor.setdefault(handle.claims.vendor_id, []).append(handle)
        self.overlaps: Tuple[PluginFailure, ...] = tuple(_overlaps(handles))
        if self.overlaps:
            by_plugin: Dict[str, List[PluginFailure]] = {}
            for failure in self.overlaps:
                by_plugin.setdefault(failure.plugin, []).append(failure)
            self.plugins = tuple(
                PluginRecord(r.name, r.distribution, r.version, r.handles,
                             (*r.load_failures, *by_plugin.get(r.name, ())), r.disabled)
                for r in self.plugins
            )
        self._sides: Dict[str, Resolution] = {}
        self._pairs: Dict[Tuple[str, str], _Pair] = {}

    @property
    def tables(self) -> Tuple[Table, ...]:
        """Every table that compiles, of every plugin (compiling those not yet used)."""
        return tuple(t for record in self.plugins for t in record.tables)

    def parse_hooks_of(self, plugin: str) -> Dict[str, Any]:
        """``{plugin: hook}`` when ``plugin`` implements ``vfiocompat_parse_fields``, else empty."""
        hook = self._parse_hooks.get(plugin)
        return {plugin: hook} if hook is not None else {}

    # -- resolving one side ---------------------------------------------------------------

    def resolve(self, text: str) -> Resolution:
        """Parse ``text``, find the table that claims it and split it into typed fields."""
        # Sides are memoised too: first checks of a fleet's pairs share their sides (measured on
        # benchmarks/w1_checks.py's fleet, 20,000 pairs: 1.9 us a pair with this memo, 4.5 us without).
        cached = self._sides.get(text)
        if cached is None:
            cached = self._resolve(text)
            if _memoisable(text):
                _keep(self._sides, text, cached)
        return cached

    def _resolve(self, text: str) -> Resolution:
        try:
            device = parse(text)
        except DeviceVersionError as error:
            return Resolution(text, None, None, None, (Reason(error.code, "core", error.message),))
        claimants = [h for h in self._by_vendor.get(device.vendor_id, ())
                     if h.claims.covers(device.vendor_id, device.proprietary)]
        broken = self._broken_claim(device, claimants)
        if broken is not None:
            # A broken table that would claim this string may hold the deny rule for it: never judge without it.
            return self._refused(text, device, broken)
        if len(claimants) > 1:
            for handle in claimants:
                # Overlapping claims refuse anyway; a broken claimant is the reason to name first.
                try:
                    handle.load()
                except TableError as error:
                    return self._refused(text, device, _invalid_table(handle, error))
            names = " and ".join(f"{h.claims.table_id!r} (plugin {h.plugin!r})" for h in claimants)
            return self._refused(text, device, Reason(
                "VC206", "core", f"claimed by more than one table: {names}",
                hint="disable one of these plugins (VFIOCOMPAT_DISABLE_PLUGINS) or fix their claims",
            ))
        if not claimants:
            return self._refused(text, device, self._unclaimed(device))
        handle = claimants[0]
        try:
            table = handle.load()
        except TableError as error:
            return self._refused(text, device, _invalid_table(handle, error))
        try:
            fields = table.format.parse(device.proprietary, self._hook_for(table))
        except _HookFailure as failure:
            return self._refused(text, device, failure.reason)
        except FieldFormatError as error:
            return self._refused(text, device, Reason(
                "VC111", "table", f"does not fit table {table.id!r}: {error.message}",
                field=error.field, hint=f"write the string in the format table {table.id!r} declares",
                plugin=table.plugin,
            ))
        return Resolution(text, device, table, fields, ())

    @staticmethod
    def _refused(text: str, device: DeviceVersion, reason: Reason) -> Resolution:
        return Resolution(text, device, None, None, (reason,))

    def _broken_claim(self, device: DeviceVersion, claimants: Sequence[TableHandle]) -> Optional[Reason]:
        """Why a table that failed to load may claim this string, or None.

        A failed table whose claims are known refuses the strings they cover; one whose claims could not
        even be read refuses the strings of the vendors its plugin serves with other tables.
        """
        vendor_plugins = {h.plugin for h in self._by_vendor.get(device.vendor_id, ())}
        for failure in self._failures:
            if failure.code == "VC305":
                continue
            known = failure.vendor_id is not None
            if (known and failure.claims(device.vendor_id, device.proprietary)) or (
                    not known and failure.plugin in vendor_plugins and claimants):
                return Reason(failure.code, "plugin", f"plugin {failure.plugin!r} may serve this device but"
                              f" {failure.message}", hint="fix or reinstall the plugin; `vfiocompat plugins` shows it",
                              plugin=failure.plugin)
        return None

    def _unclaimed(self, device: DeviceVersion) -> Reason:
        vendor = device.vendor
        unknown_claims = [f for f in self._failures if f.vendor_id is None and f.code != "VC305"]
        known = self._by_vendor.get(device.vendor_id)
        if unknown_claims:
            failure = unknown_claims[0]
            names = list(dict.fromkeys(f.plugin for f in unknown_claims))
            shown = ", ".join(repr(n) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            return Reason(failure.code, "plugin",
                          f"no table claims vendor {vendor} string {device.proprietary!r}; plugin"
                          f"{'s' if len(names) > 1 else ''} {shown} may serve it but {failure.plugin!r}"
                          f" {failure.message}",
                          hint="fix or reinstall the plugin; `vfiocompat plugins` shows it", plugin=failure.plugin)
        if not known:
            return Reason("VC203", "core", f"no installed plugin serves vendor {vendor}",
                          hint=f"install the vfiocompat plugin of vendor {vendor}")
        prefixes = sorted({p for h in known for p in h.claims.prefixes})
        return Reason("VC204", "core", f"no table of vendor {vendor} claims {device.proprietary!r}",
                      hint="installed tables claim strings starting with " + ", ".join(map(repr, prefixes)))

    def _hook_for(self, table: Table) -> Optional[Any]:
        if table.format.kind != "hook":
            return None
        hook = self._parse_hooks.get(table.plugin)
        if hook is None:
            return None
        return lambda proprietary: _call_parse_hook(hook, table, proprietary)

    # -- judging a pair ---------------------------------------------------------------------

    def _pair(self, source: str, target: str) -> _Pair:
        key = (source, target)
        pair = self._pairs.get(key)
        if pair is None:
            pair = _Pair(self.resolve(source), self.resolve(target))
            if _memoisable(source, target):
                _keep(self._pairs, key, pair)
        return pair

    def is_compatible(self, source: str, target: str, mode: str = "live", strict: bool = False) -> bool:
        """The verdict alone, for callers that only need yes or no (no reasons are built)."""
        pair = self._pairs.get((source, target)) or self._pair(source, target)
        if mode == "live" and not strict:
            return pair.live
        return pair.verdict(_mode(mode), strict).compatible

    def check(self, source: str, target: str, mode: str = "live", strict: bool = False) -> Verdict:
        """Judge ``source -> target`` for a ``live`` (default) or ``cold`` migration.

        The verdict says compatible or not, the deciding rule, every reason to refuse, the levels the
        pair is admitted at and the warnings of the warn rules that hold; ``strict`` refuses on a warning.
        """
        pair = self._pairs.get((source, target)) or self._pair(source, target)
        if mode == "live" and not strict:
            verdict = pair.live_verdict  # a refused Verdict is falsy: test for None
            return verdict if verdict is not None else pair.verdict("live", False)
        return pair.verdict(_mode(mode), strict)

    def explain(self, source: str, target: str, mode: str = "live", strict: bool = False) -> Explanation:
        """The diagnosis of ``source -> target``: its verdict and every rule tried, nearest miss first."""
        pair = self._pairs.get((source, target)) or self._pair(source, target)
        return pair.explanation(_mode(mode), strict)


def _mode(mode: str) -> str:
    if mode not in MODES:
        raise UsageError(f"mode must be {' or '.join(map(repr, MODES))}, not {mode!r}")
    return mode


class _Pair:
    """One pair as the registry judged it: both sides, the core's reasons and the table's judgement.

    Verdicts and explanations are derived from it on first use and kept on it: the registry's one
    memo holds pairs, and nothing is judged twice.
    """

    __slots__ = ("_explanations", "_verdicts", "core", "judgement", "live", "live_verdict", "source", "target")

    def __init__(self, s: Resolution, t: Resolution) -> None:
        self.source, self.target = s, t
        self.judgement: Optional[Judgement] = None
        #: The verdict ``check`` gives by default (live, not strict), once derived.
        self.live_verdict: Optional[Verdict] = None
        self._verdicts: Dict[Tuple[str, bool], Verdict] = {}
        self._explanations: Dict[Tuple[str, bool], Explanation] = {}
        self.core = self._core(s, t)
        if s.table is not None and s.table is t.table and s.fields is not None and t.fields is not None \
                and not (self.core and self.core[0].code == "VC201"):
            self.judgement = s.table.judge(s.fields, t.fields)
        judgement = self.judgement
        #: Compatible for a live migration, not strict: what is_compatible answers without building a verdict.
        self.live = not self.core and judgement is not None and judgement.decided_by("live") is not None

    @staticmethod
    def _core(s: Resolution, t: Resolution) -> Tuple[Reason, ...]:
        """What the core refuses before any table speaks: vendor, parsing and routing, the interface version."""
        if s.device and t.device and s.device.vendor_id != t.device.vendor_id:
            return (Reason(
                "VC201", "core", f"vendor ids differ: source {s.device.vendor}, target {t.device.vendor}",
                field="vendor", source_value=s.device.vendor, target_value=t.device.vendor,
                hint=f"use a target device of vendor {s.device.vendor}",
            ),)
        reasons: List[Reason] = [*_sided("source", s.reasons), *_sided("target", t.reasons)]
        if s.device and t.device and t.device.interface_key < s.device.interface_key:
            reasons.append(Reason(
                "VC202", "core", "target's migration interface version is older than the source's",
                field="interface", source_value=s.device.interface, target_value=t.device.interface,
                hint=f"use a target whose migration interface version is at least {s.device.interface}",
            ))
        table, other = s.table, t.table
        if table is not None and other is not None and other is not table and s.fields is not None \
                and t.fields is not None:
            reasons.append(Reason(
                "VC205", "core",
                f"source is served by table {table.id!r} (plugin {table.plugin!r}), target by"
                f" {other.id!r} (plugin {other.plugin!r}); no rule spans two tables",
                hint=f"use a target that table {table.id!r} serves",
            ))
        return tuple(reasons)

    def verdict(self, mode: str, strict: bool) -> Verdict:
        """The verdict for ``mode`` (``strict``: a warning refuses), derived once from the judgement."""
        key = (mode, strict)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = self._derive(mode, strict)
            if key == ("live", False):
                self.live_verdict = verdict
        return verdict

    def _derive(self, mode: str, strict: bool) -> Verdict:
        s, t, core, judgement = self.source.text, self.target.text, self.core, self.judgement
        if judgement is None:
            return Verdict(False, s, t, None, core, mode=mode)
        levels = () if core else judgement.levels
        rule = judgement.decided_by(mode)
        if rule is not None:
            if core:
                return Verdict(False, s, t, None, core, levels, mode=mode)
            warnings = judgement.warning_values()
            if strict and warnings:
                return Verdict(False, s, t, None, tuple(_strict(w) for w in warnings), levels, warnings, mode)
            return Verdict(True, s, t, rule.ref, (), levels, warnings, mode)
        decided = judgement.denials[0].ref if judgement.denials else None
        return Verdict(False, s, t, decided, core + judgement.reasons(mode), levels, mode=mode)

    def explanation(self, mode: str, strict: bool) -> Explanation:
        """The verdict and the judgement's trials."""
        key = (mode, strict)
        explanation = self._explanations.get(key)
        if explanation is None:
            explaining = sys.modules.get(_EXPLANATION) or import_module(_EXPLANATION)
            explanation = self._explanations[key] = explaining.explanation_of(self.verdict(mode, strict),
                                                                               self.judgement)
        return explanation


#: Imported on the first explanation (see the module): ``sys.modules`` first, as an import statement
#: in the method cost a first explanation 0.5 us of 9.
_EXPLANATION = "vfiocompat._explanation"


def _strict(warning: RuleWarning) -> Reason:
    return Reason(warning.code, "table", f"warning (refused by --strict): {warning.message}",
                  hint=warning.hint or "check the warning, then migrate without --strict", rule=warning.rule,
                  plugin=warning.rule.plugin)


def _invalid_table(handle: TableHandle, error: TableError) -> Reason:
    return Reason("VC304", "plugin", f"plugin {handle.plugin!r} would serve this device but its table is invalid:"
                  f" {error.one_line()}", hint="fix or reinstall the plugin; `vfiocompat plugins` shows it",
                  plugin=handle.plugin)


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


class _HookFailure(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.message)
        self.reason = reason


_HOOK_FAILURES = {
    "VC302": "raised in vfiocompat_parse_fields: {error}",
    "VC303": "{message}",
    "VC306": "did not answer vfiocompat_parse_fields: {error}",
}


def _call_parse_hook(hook: Any, table: Table, proprietary: str) -> Optional[Mapping[str, str]]:
    try:
        # The hook is isolated, bounded and returns plain values; it raises only HookFailed.
        return cast(Optional[Mapping[str, str]], hook(table.id, proprietary))
    except HookFailed as error:
        code = failure_code(error)
        what = _HOOK_FAILURES[code].format(error=error, message=error.error)
        raise _HookFailure(Reason(code, "plugin", f"plugin {table.plugin!r} {what}",
                                  hint="report this to the plugin's vendor", plugin=table.plugin)) from None


def _sided(side: str, reasons: Sequence[Reason]) -> List[Reason]:
    return [Reason(r.code, r.layer, f"{side}: {r.message}", r.field, r.source_value, r.target_value,
                   r.hint, r.rule, r.plugin) for r in reasons]


def _table_file_record(sources: Sequence[TableSource]) -> PluginRecord:
    # A table named by the caller is being written: compile it now, and refuse it now (a usage error),
    # rather than judge pairs without it.
    handles = [TableHandle.of(load_table(source, plugin=_TABLE_FILE_PLUGIN)) for source in sources]
    return PluginRecord(_TABLE_FILE_PLUGIN, None, None, tuple(handles))


def _overlaps(handles: Sequence[TableHandle]) -> List[PluginFailure]:
    """A failure for each side of every pair of tables whose claims overlap."""
    found: List[PluginFailure] = []
    for i, first in enumerate(handles):
        for second in handles[i + 1:]:
            mine_claims, their_claims = first.claims, second.claims
            if mine_claims.vendor_id != their_claims.vendor_id:
                continue
            shared = [
                (a, b) for a in mine_claims.prefixes for b in their_claims.prefixes
                if a.startswith(b) or b.startswith(a)
            ]
            if not shared:
                continue
            a, b = shared[0]
            vendor = format_vendor(mine_claims.vendor_id)
            for mine, theirs, prefix in ((first, second, a), (second, first, b)):
                found.append(PluginFailure(
                    mine.plugin, "VC305",
                    f"table {mine.claims.table_id!r} claims vendor {vendor} prefix {prefix!r}, overlapping table"
                    f" {theirs.claims.table_id!r} of plugin {theirs.plugin!r}; strings both claim are refused",
                ))
    return found
