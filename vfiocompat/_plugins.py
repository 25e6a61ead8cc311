"""Finding and loading vendor plugins, each in isolation from the others.

Plugins are found through the ``vfiocompat`` entry-point group. A plugin that fails to
import, fails to register, raises in a hook, overruns its time bound or returns nonsense is
recorded as a :class:`PluginFailure` against its name and distribution; the other plugins load
as usual. Every call into a plugin goes through its :class:`~vfiocompat._isolation.Sandbox`.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from functools import partial
from importlib import import_module
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union, cast

import pluggy

from . import hookspecs
from ._isolation import DEFAULT_TIMEOUT, HookFailed, Sandbox, call_plugin, call_staged_in_turn, describe_error
from ._table_files import decode_head, decode_table, read_raw
from ._table_loader import TableHandle, open_table
from ._tables import Table
from .errors import TableError

__all__ = [
    "ENTRY_POINT_GROUP",
    "DISABLE_ENV",
    "PluginFailure",
    "PluginRecord",
    "FoundPlugin",
    "find_plugins",
    "disabled_from_environment",
    "PluginSet",
    "load_plugins",
    "call_plugin",
    "HookFailed",
    "ReturnedNonsense",
    "describe_error",
    "failure_code",
]

ENTRY_POINT_GROUP = "vfiocompat"
#: Comma-separated plugin names not to load.
DISABLE_ENV = "VFIOCOMPAT_DISABLE_PLUGINS"


@dataclass(frozen=True)
class PluginFailure:
    """Something that went wrong with a plugin; ``vendor_id``/``prefixes`` when a table's claims are known."""

    plugin: str
    code: str
    message: str
    vendor_id: Optional[int] = None
    prefixes: Tuple[str, ...] = ()

    def claims(self, vendor_id: int, proprietary: str) -> bool:
        """Whether the failed table would have claimed this string."""
        return self.vendor_id == vendor_id and any(proprietary.startswith(p) for p in self.prefixes)


@dataclass(frozen=True)
class PluginRecord:
    """One plugin as loaded: where it comes from, its tables (compiled on use) and what failed."""

    name: str
    distribution: Optional[str]
    version: Optional[str]
    handles: Tuple[TableHandle, ...] = ()
    load_failures: Tuple[PluginFailure, ...] = ()
    disabled: bool = False

    @property
    def tables(self) -> Tuple[Table, ...]:
        """Every table of the plugin that compiles (compiling the rest now)."""
        tables = []
        for handle in self.handles:
            try:
                tables.append(handle.load())
            except TableError:
                continue
        return tuple(tables)

    @property
    def failures(self) -> Tuple[PluginFailure, ...]:
        """What failed at load time, and each table that does not compile (compiling them now)."""
        failures = list(self.load_failures)
        for handle in self.handles:
            try:
                handle.load()
            except TableError as error:
                failures.append(table_failure(handle, error))
        return tuple(failures)

    @property
    def ok(self) -> bool:
        """Loaded with no failure."""
        return not self.failures and not self.disabled


def table_failure(handle: TableHandle, error: TableError) -> PluginFailure:
    """The failure recorded against a plugin whose table does not compile, with the claims it makes."""
    claims = handle.claims
    return PluginFailure(handle.plugin, "VC304", f"table invalid: {error.one_line()}", claims.vendor_id,
                         claims.prefixes)


class FoundPlugin:
    """A plugin to load: its name, the object or a loader for it, and its distribution.

    A handle (it holds the loader), not a value: a plain class, which costs a cold check nothing to define.
    """

    __slots__ = ("distribution", "load", "name", "version")

    def __init__(self, name: str, load: Callable[[], Any], distribution: Optional[str] = None,
                 version: Optional[str] = None) -> None:
        self.name, self.load, self.distribution, self.version = name, load, distribution, version

    def __repr__(self) -> str:
        return f"FoundPlugin({self.name!r}, distribution={self.distribution!r}, version={self.version!r})"


def find_plugins(group: str = ENTRY_POINT_GROUP, path: Optional[Sequence[str]] = None) -> List[FoundPlugin]:
    """The plugins installed under the entry-point group, sorted by name (not loaded yet).

    Reads ``*.dist-info/entry_points.txt`` in each ``sys.path`` folder, as importlib.metadata
    does, but without importing it or parsing every distribution's metadata: a cold
    ``vfiocompat check`` pays only for the distributions that declare the group.
    """
    found: Dict[str, FoundPlugin] = {}
    seen_dists = set()
    for folder in sys.path if path is None else path:
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            info = os.path.join(folder or ".", name)
            entries = _group_entries(os.path.join(info, "entry_points.txt"), group)
            if entries is None:
                continue
            dist_name, version = _name_and_version(info, name)
            key = dist_name.lower().replace("_", "-").replace(".", "-")
            # The same distribution may be visible twice on sys.path; the first one wins, as for imports.
            if key in seen_dists:
                continue
            seen_dists.add(key)
            for entry_name, target in entries:
                earlier = found.get(entry_name)
                if earlier is None:
                    found[entry_name] = FoundPlugin(entry_name, _loader(target), dist_name, version)
                elif earlier.distribution != dist_name:
                    # Two distributions claim one plugin name: load neither rather than pick by sys.path order.
                    both = f"{earlier.distribution}, {dist_name}"
                    found[entry_name] = FoundPlugin(entry_name, _refuse(entry_name, both), both, None)
    return [found[name] for name in sorted(found)]


def _refuse(name: str, distributions: str) -> Callable[[], Any]:
    def load() -> Any:
        raise ValueError(f"plugin name {name!r} is declared by more than one distribution ({distributions});"
                         " uninstall one of them")

    return load


def _group_entries(path: str, group: str) -> Optional[List[Tuple[str, str]]]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    header = f"[{group}]"
    if header not in text:
        return None
    entries: List[Tuple[str, str]] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            inside = line == header
        elif inside and "=" in line and not line.startswith(("#", ";")):
            name, _, target = line.partition("=")
            entries.append((name.strip(), target.strip()))
    return entries


def _name_and_version(info: str, folder_name: str) -> Tuple[str, Optional[str]]:
    name: Optional[str] = None
    version: Optional[str] = None
    for metadata_file in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(info, metadata_file), encoding="utf-8") as handle:
                for line in handle:
                    if not line.strip():
                        break  # the headers end at the first blank line
                    if line.startswith("Name:"):
                        name = line[5:].strip()
                    elif line.startswith("Version:"):
                        version = line[8:].strip()
            break
        except (OSError, UnicodeDecodeError):
            continue
    stem = folder_name.rsplit(".", 1)[0]
    fallback_name, _, fallback_version = stem.partition("-")
    return name or fallback_name, version or (fallback_version or None)


def _loader(target: str) -> Callable[[], Any]:
    def load() -> Any:
        # "module:attr.attr [extras]", as the entry-point specification defines.
        module_name, _, attrs = target.split("[", 1)[0].strip().partition(":")
        obj = import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj

    return load


def disabled_from_environment() -> List[str]:
    """Plugin names listed in ``VFIOCOMPAT_DISABLE_PLUGINS``."""
    return [name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()]


ParseHook = Callable[[str, str], Optional[Mapping[str, str]]]
ProbeHook = Callable[[Any], Optional[str]]


class PluginSet:
    """The outcome of loading: every plugin's record and the hooks of those that implement them.

    Each hook here is already isolated and time-bounded: it raises only :class:`HookFailed`. It holds
    live hooks, not values: a plain class.
    """

    __slots__ = ("parse_hooks", "probe_hooks", "records")

    def __init__(self, records: Tuple[PluginRecord, ...], parse_hooks: Optional[Mapping[str, ParseHook]] = None,
                 probe_hooks: Optional[Mapping[str, ProbeHook]] = None) -> None:
        self.records = records
        self.parse_hooks: Mapping[str, ParseHook] = parse_hooks or {}
        self.probe_hooks: Mapping[str, ProbeHook] = probe_hooks or {}


class ReturnedNonsense(TypeError):
    """A hook returned a value of the wrong type (VC303, not VC302: the plugin did not raise)."""


def failure_code(error: HookFailed, raised: str = "VC302") -> str:
    """The code of a failed call: VC306 when it overran, VC303 for a wrong return, else ``raised``."""
    if error.timed_out:
        return "VC306"
    return "VC303" if isinstance(error.error, ReturnedNonsense) else raised


def load_plugins(found: Sequence[FoundPlugin], disabled: Iterable[str] = (),
                 timeout: Optional[float] = DEFAULT_TIMEOUT) -> PluginSet:
    """Import and register each plugin in its own sandbox and plugin manager, then collect its tables.

    A plugin gets a pluggy manager of its own, so pluggy calls its hooks by keyword and nothing one
    plugin registers (hook wrappers, other plugins) can reach another. Its loading is one job; its
    import, its tables hook and each of its tables get the full time bound. The plugins are loaded
    one after another on one thread (see :func:`~vfiocompat._isolation.call_staged_in_turn`); a
    plugin that overruns keeps that thread, and the next ones get a new one. Its hooks run on its
    own thread later.
    """
    disabled_names = set(disabled)
    records: List[PluginRecord] = []
    parse_hooks: Dict[str, ParseHook] = {}
    probe_hooks: Dict[str, ProbeHook] = {}
    loading = [(plugin, Sandbox(plugin.name, timeout), pluggy.PluginManager(ENTRY_POINT_GROUP))
               for plugin in found if plugin.name not in disabled_names]
    records.extend(PluginRecord(plugin.name, plugin.distribution, plugin.version, disabled=True)
                   for plugin in found if plugin.name in disabled_names)
    for _, _, manager in loading:
        manager.add_hookspecs(hookspecs)
    # One hand-off for all of them: each one's import, registration, tables hook and tables are its stages.
    outcomes = call_staged_in_turn([(sandbox, partial(_load, plugin, manager)) for plugin, sandbox, manager in loading])
    for (plugin, sandbox, manager), (marks, error) in zip(loading, outcomes):
        if error is not None and not marks:
            failure = PluginFailure(plugin.name, failure_code(error, "VC301"), f"failed to load: {error}")
            records.append(PluginRecord(plugin.name, plugin.distribution, plugin.version, load_failures=(failure,)))
            continue
        tables, failures = _tables_of(plugin.name, marks, error)
        if manager.hook.vfiocompat_parse_fields.get_hookimpls():
            parse_hooks[plugin.name] = _parse_hook(manager, sandbox)
        if manager.hook.vfiocompat_device_version.get_hookimpls():
            probe_hooks[plugin.name] = _ProbeHook(manager, sandbox)
        records.append(PluginRecord(
            plugin.name, plugin.distribution, plugin.version, tuple(tables), tuple(failures),
        ))
    records.sort(key=lambda record: record.name)
    return PluginSet(tuple(records), parse_hooks, probe_hooks)


def _first(results: Any) -> Any:
    # pluggy returns the non-None results of the (single) implementation as a list.
    return results[0] if results else None


def _plain_fields(results: Any) -> Optional[Dict[str, str]]:
    result = _first(results)
    if result is None:
        return None
    if not isinstance(result, Mapping):
        raise ReturnedNonsense(f"returned {type(result).__name__} from vfiocompat_parse_fields, not a mapping")
    fields: Dict[str, str] = {}
    for key, value in result.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ReturnedNonsense(f"returned a mapping with a {type(key).__name__} key and {type(value).__name__}"
                                   " value from vfiocompat_parse_fields; names and raw texts must be str")
        fields[_plain(key)] = _plain(value)
    return fields


def _plain_text(results: Any) -> Optional[str]:
    result = _first(results)
    if result is None:
        return None
    if not isinstance(result, str):
        raise ReturnedNonsense(f"returned {type(result).__name__} from vfiocompat_device_version, not a string")
    return _plain(result)


def _plain(text: str) -> str:
    # A str subclass may override any method; slicing through str itself makes an exact str.
    return str.__getitem__(text, slice(0, None))


def _parse_hook(manager: pluggy.PluginManager, sandbox: Sandbox) -> ParseHook:
    caller = manager.hook.vfiocompat_parse_fields

    def parse(table_id: str, proprietary: str) -> Optional[Mapping[str, str]]:
        return cast(Optional[Mapping[str, str]], sandbox.call(caller, table_id=table_id, proprietary=proprietary,
                                                              convert=_plain_fields))

    return parse


class _ProbeHook:
    """A plugin's ``vfiocompat_device_version``, isolated: one device, or many queued at once (``each``)."""

    def __init__(self, manager: pluggy.PluginManager, sandbox: Sandbox) -> None:
        self._caller = manager.hook.vfiocompat_device_version
        self._sandbox = sandbox

    def __call__(self, device: Any) -> Optional[str]:
        return cast(Optional[str], self._sandbox.call(self._caller, device=device, convert=_plain_text))

    def each(self, devices: Sequence[Any]) -> List[Tuple[bool, Any]]:
        """``(True, device_version or None)`` or ``(False, HookFailed)`` per device, in order."""
        return self._sandbox.call_each(lambda device: self._caller(device=device), devices, convert=_plain_text)


def _load(plugin: FoundPlugin, manager: pluggy.PluginManager, mark: Callable[[Any], None]) -> None:
    """On the plugin's worker: import and register it, mark; call its tables hook, mark the count; mark each table.

    Each table is marked as its handle or the failure to read it, so one bad table costs only itself.
    """
    manager.register(plugin.load(), plugin.name)
    mark(plugin.name)
    if not manager.hook.vfiocompat_tables.get_hookimpls():
        return
    sources = _source_list(manager.hook.vfiocompat_tables())
    mark(len(sources))
    for source in sources:
        mark(_opened(source, plugin.name))


def _opened(source: Any, plugin: str) -> Union[TableHandle, PluginFailure]:
    # The source is the plugin's own object (its name and read_bytes are plugin code): read it inside.
    try:
        return _open_source(source, plugin)
    except TableError as error:
        vendor, prefixes = _claims_of(source)
        return PluginFailure(plugin, "VC304", f"table invalid: {error.one_line()}", vendor, prefixes)
    except ReturnedNonsense as error:
        return PluginFailure(plugin, "VC303", f"vfiocompat_tables: {error}")
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - isolation is the point
        return PluginFailure(plugin, "VC302", f"reading a table raised {describe_error(error)}")


def _tables_of(name: str, marks: Tuple[Any, ...],
               error: Optional[HookFailed]) -> Tuple[List[TableHandle], List[PluginFailure]]:
    """The tables and table failures of a plugin that registered, from the marks :func:`_load` made."""
    if len(marks) < 2:
        if error is None:
            return [], []  # no tables hook
        code = failure_code(error)
        what = "vfiocompat_tables raised" if code == "VC302" else "vfiocompat_tables:"
        return [], [PluginFailure(name, code, f"{what} {error.error if code == 'VC303' else error}")]
    count, opened = marks[1], marks[2:]
    tables = [item for item in opened if isinstance(item, TableHandle)]
    failures = [item for item in opened if isinstance(item, PluginFailure)]
    if error is not None:
        # Reading a table overran: it and the tables after it are not read.
        failures.extend(PluginFailure(name, failure_code(error), f"reading a table raised {error}")
                        for _ in range(count - len(opened)))
    return tables, failures


def _source_list(results: Any) -> List[Any]:
    sources = _first(results)
    if sources is None:
        return []
    if isinstance(sources, (str, bytes)) or not isinstance(sources, (list, tuple)):
        raise ReturnedNonsense(f"returned {type(sources).__name__}, not a list of table files")
    return list(sources)


def _open_source(source: Any, plugin: str) -> TableHandle:
    if not isinstance(source, (str, os.PathLike)) and not (hasattr(source, "read_bytes") and hasattr(source, "name")):
        raise ReturnedNonsense(f"returned a {type(source).__name__}, not a path or file")
    return open_table(source, plugin)


_VENDOR = re.compile(r"0[xX][0-9a-fA-F]{1,8}")


def _claims_of(source: Any) -> Tuple[Optional[int], Tuple[str, ...]]:
    """Best effort: the vendor and prefixes a (broken) table file declares, to refuse what it may claim.

    Only a vendor spelt as the compiler requires counts (``"0x-1"`` claims nothing known); the rest
    of the head may be broken, since what a broken table would claim is what matters.
    """
    try:
        raw, origin, name = read_raw(source)
        head = decode_head(raw, name)
        if head is None:
            head = decode_table(raw, origin, name).data.get("table")
        vendor = head.get("vendor") if isinstance(head, dict) else None
        if not isinstance(vendor, str) or not _VENDOR.fullmatch(vendor):
            return None, ()
        prefixes = head.get("prefixes")
        listed = tuple(p for p in prefixes if isinstance(p, str)) if isinstance(prefixes, list) else ()
    except Exception:  # noqa: BLE001 - a table too broken to read claims nothing known
        return None, ()
    # Prefixes it does not spell readably may be any: it may claim every string of its vendor.
    return int(vendor[2:], 16), listed or ("",)
