"""The registry: loaded plugins and tables, and the check and explain of a pair.

Order of judgement for ``source -> target``: both strings parse; vendor ids are equal; the
target's migration interface is not older; one table claims both strings; the table's
rules admit the pair (an allow rule holds, no deny rule does). Anything that cannot be
decided is a refusal with a reason: the registry fails closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar, cast

from .conditions import Failure, render
from .device_version import MAX_LENGTH, DeviceVersion, format_vendor, parse
from .errors import DeviceVersionError, FieldFormatError, TableError
from .isolation import DEFAULT_TIMEOUT, timeout_from_environment
from .plugins import (
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
from .table_files import TableSource
from .table_loader import TableHandle, load_table
from .tables import Rule, Table
from .verdict import ConditionResult, Explanation, Reason, RuleRef, RuleTrial, Verdict

__all__ = ["Registry", "Resolution"]

#: Bound on memoised sides and verdicts; a fleet's distinct device_versions fit many times over.
_CACHE_LIMIT = 1 << 16
_TABLE_FILE_PLUGIN = "table-file"
_ABSENT = object()


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
        self._verdicts: Dict[Tuple[str, str], Verdict] = {}
        self._admitted: Dict[Tuple[str, str], bool] = {}
        self._explanations: Dict[Tuple[str, str], Explanation] = {}
        self._rule_trials: Dict[Tuple[Any, ...], Tuple[RuleTrial, int]] = {}
        self._plans: Dict[int, List[Tuple[int, Rule, RuleRef, Tuple[str, ...]]]] = {}
        self._refs: Dict[Tuple[int, int], RuleRef] = {}

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
            return self._refused(text, device, Reason(
                "VC304", "plugin", f"plugin {handle.plugin!r} would serve this device but its table is invalid:"
                f" {error.one_line()}", hint="fix or reinstall the plugin; `vfiocompat plugins` shows it",
                plugin=handle.plugin,
            ))
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

    def is_compatible(self, source: str, target: str) -> bool:
        """The verdict alone, for callers that only need yes or no (no reasons are built)."""
        key = (source, target)
        verdict = self._verdicts.get(key)
        if verdict is not None:
            return verdict.compatible
        admitted = self._admitted.get(key)
        if admitted is None:
            admitted = self._admits(self.resolve(source), self.resolve(target))
            if _memoisable(source, target):
                _keep(self._admitted, key, admitted)
        return admitted

    def check(self, source: str, target: str) -> Verdict:
        """Judge ``source -> target``: compatible, the deciding rule, and every reason to refuse."""
        key = (source, target)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._judge(self.resolve(source), self.resolve(target))
            if _memoisable(source, target):
                _keep(self._verdicts, key, verdict)
        return verdict

    def explain(self, source: str, target: str) -> Explanation:
        """The diagnosis of ``source -> target``: its verdict and every rule tried, nearest miss first."""
        key = (source, target)
        explanation = self._explanations.get(key)
        if explanation is None:
            verdict = self.check(source, target)
            s, t = self.resolve(source), self.resolve(target)
            if s.table is None or s.table is not t.table or s.fields is None or t.fields is None:
                explanation = Explanation(verdict, (), None, None)
            else:
                table = s.table
                trials = tuple(self._trials(table, s.fields, t.fields))
                explanation = Explanation(verdict, trials, table.id, table.plugin)
            if _memoisable(source, target):
                _keep(self._explanations, key, explanation)
        return explanation

    @staticmethod
    def _admits(s: Resolution, t: Resolution) -> bool:
        if s.table is None or s.table is not t.table or s.fields is None or t.fields is None:
            return False
        if s.device is None or t.device is None or t.device.interface_key < s.device.interface_key:
            return False
        allow, deny = s.table.decide(s.fields, t.fields)
        return allow is not None and deny is None

    def _judge(self, s: Resolution, t: Resolution) -> Verdict:
        def refuse(reasons: Sequence[Reason], decided: Optional[RuleRef] = None) -> Verdict:
            return Verdict(False, s.text, t.text, decided, tuple(reasons))

        if s.device and t.device and s.device.vendor_id != t.device.vendor_id:
            return refuse([Reason(
                "VC201", "core", f"vendor ids differ: source {s.device.vendor}, target {t.device.vendor}",
                field="vendor", source_value=s.device.vendor, target_value=t.device.vendor,
                hint=f"use a target device of vendor {s.device.vendor}",
            )])
        reasons: List[Reason] = [*_sided("source", s.reasons), *_sided("target", t.reasons)]
        if s.device and t.device and t.device.interface_key < s.device.interface_key:
            reasons.append(Reason(
                "VC202", "core", "target's migration interface version is older than the source's",
                field="interface", source_value=s.device.interface, target_value=t.device.interface,
                hint=f"use a target whose migration interface version is at least {s.device.interface}",
            ))
        if s.table is None or t.table is None or s.fields is None or t.fields is None:
            return refuse(reasons)
        table = s.table
        if t.table is not table:
            reasons.append(Reason(
                "VC205", "core",
                f"source is served by table {table.id!r} (plugin {table.plugin!r}), target by"
                f" {t.table.id!r} (plugin {t.table.plugin!r}); no rule spans two tables",
                hint=f"use a target that table {table.id!r} serves",
            ))
            return refuse(reasons)
        allow, deny = table.decide(s.fields, t.fields)
        if allow is not None and deny is None:
            if not reasons:
                return Verdict(True, s.text, t.text, self._ref(table, allow), ())
            return refuse(reasons)
        decided: Optional[RuleRef] = None
        if deny is not None:
            denials = table.denials(s.fields, t.fields)
            reasons.extend(self._denial(table, rule, s.fields, t.fields) for rule in denials)
            decided = self._ref(table, denials[0])
            if allow is not None:
                return refuse(reasons, decided)
        # No allow rule holds: report what the nearest one lacks too, so one fix-up pass suffices.
        nearest = table.nearest_miss(s.fields, t.fields)
        if nearest is None:
            reasons.append(Reason("VC401", "table", f"table {table.id!r} has no allow rule; it admits nothing",
                                  hint="the vendor's table must list the migrations it supports",
                                  plugin=table.plugin))
        else:
            ref = self._ref(table, nearest)
            reasons.extend(
                _reason(failure, condition.field, ref)
                for condition, failure in zip(nearest.conditions, nearest.failures(s.fields, t.fields))
                if failure is not None
            )
        return refuse(reasons, decided)

    def _trials(self, table: Table, source: Mapping[str, Any], target: Mapping[str, Any]) -> List[RuleTrial]:
        picked_allow = table.picked(source, target)
        memo = self._rule_trials
        ranked: List[Tuple[Tuple[int, int, int, int], RuleTrial]] = []
        for slot, rule, ref, names in self._plan(table):
            # A rule's trial depends only on the values of the fields it tests: fleets repeat them.
            key = (slot, *[source.get(name, _ABSENT) for name in names],
                   *[target.get(name, _ABSENT) for name in names])
            known = memo.get(key)
            if known is None:
                trial = self._trial(rule, ref, source, target)
                known = _keep(memo, key, (trial, len(trial.failed)))
            trial, failed = known
            rank = 0 if (trial.holds and rule.effect == "deny") else 1 if rule.effect == "allow" else 2
            # The same order as Table.nearest_miss: rules the index picks for this pair come first.
            picked = 0 if rank != 1 or rule.index in picked_allow else 1
            ranked.append(((rank, picked, failed, rule.index), trial))
        ranked.sort(key=lambda item: item[0])
        return [trial for _, trial in ranked]

    def _plan(self, table: Table) -> List[Tuple[int, Rule, RuleRef, Tuple[str, ...]]]:
        """Per rule of ``table``: a memo slot, the rule, its reference and the fields it tests."""
        plan = self._plans.get(id(table))
        if plan is None:
            plan = []
            for rule in table.rules:
                names = tuple(dict.fromkeys(c.field for c in rule.conditions))
                plan.append((len(self._plans) * 1_000_000 + rule.index, rule, self._ref(table, rule), names))
            self._plans[id(table)] = plan
        return plan

    @staticmethod
    def _trial(rule: Rule, ref: RuleRef, source: Mapping[str, Any], target: Mapping[str, Any]) -> RuleTrial:
        results = []
        for condition in rule.conditions:
            failure = condition.evaluate(source, target)
            reason = None if failure is None else _reason(failure, condition.field, ref)
            results.append(ConditionResult(condition.description, failure is None, reason))
        holds = all(result.passed for result in results)
        return RuleTrial(ref, holds, tuple(results), rule.description, rule.notes)

    def _denial(self, table: Table, rule: Rule, source: Mapping[str, Any], target: Mapping[str, Any]) -> Reason:
        names = list(dict.fromkeys(c.field for c in rule.conditions))
        def values(side: Mapping[str, Any]) -> str:
            shown = []
            for name in names:
                spec = table.format.field(name)
                if spec is not None and name in side:
                    shown.append(render(spec, side[name]) if len(names) == 1 else f"{name}={render(spec, side[name])}")
            return ",".join(shown)
        return Reason(
            rule.code or "VC402", "table",
            rule.message or f"known-bad combination (rule {rule.id!r}: {rule.description or 'deny'})",
            field=",".join(names), source_value=values(source), target_value=values(target),
            hint=rule.hint or "this combination is known not to work; choose another target",
            rule=self._ref(table, rule), plugin=table.plugin,
        )

    def _ref(self, table: Table, rule: Rule) -> RuleRef:
        key = (id(table), rule.index)
        ref = self._refs.get(key)
        if ref is None:
            ref = RuleRef(table.plugin, table.id, rule.id, rule.effect, rule.source_url)
            self._refs[key] = ref
        return ref


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


def _reason(failure: Failure, field: str, ref: RuleRef) -> Reason:
    return Reason(failure.code, "table", failure.message, field, failure.source_value, failure.target_value,
                  failure.hint, ref, ref.plugin)


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
