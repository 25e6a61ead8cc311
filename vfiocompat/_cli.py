"""The ``vfiocompat`` command: a thin layer over the library.

Exit status: 0 compatible / success; 1 not compatible (check, explain) or examples that
disagree (validate); 2 bad input or usage. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager, suppress
from importlib import import_module
from typing import Any, Callable, Dict, Iterable, Iterator, List, NoReturn, Optional, Sequence, TextIO, Tuple, cast

from . import __version__
from ._text import one_line, printable, verdict_line, verdict_lines
from ._verdict import MODES
from .errors import UsageError, VfiocompatError

__all__ = ["main", "EXIT_OK", "EXIT_REFUSED", "EXIT_BAD_INPUT"]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_BAD_INPUT = 2


class _SafeStream:
    """A text stream that escapes what a terminal would act on; newlines between lines stay.

    A reader that went away (a closed pipe) is not an error: output stops, and the exit status,
    which is the verdict, stays what the command decided.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.closed_by_reader = False

    def write(self, text: str) -> int:
        return int(self._guarded(self._stream.write, "\n".join(printable(line) for line in text.split("\n"))))

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def write_bytes(self, data: bytes) -> None:
        """Write ``data`` unchanged (a document such as the domain XML, which escaping would alter)."""
        binary = getattr(self._stream, "buffer", None)
        if binary is None:
            self._guarded(self._stream.write, data.decode("utf-8", "surrogateescape"))
            return
        self._guarded(self._stream.flush)
        self._guarded(binary.write, data)
        self._guarded(binary.flush)

    def flush(self) -> None:
        self._guarded(self._stream.flush)

    def _guarded(self, action: Callable[..., Any], *args: Any) -> Any:
        if self.closed_by_reader:
            return 0
        try:
            return action(*args)
        except (BrokenPipeError, ConnectionResetError):
            self.closed_by_reader = True
            return 0
        except ValueError:  # the stream was closed under us
            self.closed_by_reader = True
            return 0


class _HelpShown(Exception):
    """argparse printed help or the version and wanted to exit with ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


#: What argparse printed (help, --version) during this run, written out only if the run may end in 0.
_help_text: List[str] = []


class _Formatter(argparse.HelpFormatter):
    """argparse's help formatter, sized as shutil sizes it but without importing shutil.

    argparse makes a formatter for every ``add_argument``; its width came from shutil, whose
    import (bz2, lzma, zlib) was 2 ms of a cold check that prints no help.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: Optional[int] = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


def _columns() -> int:
    # shutil.get_terminal_size's rule: $COLUMNS, else the terminal of stdout, else 80.
    with suppress(KeyError, ValueError):
        columns = int(os.environ["COLUMNS"])
        if columns > 0:
            return columns
    with suppress(AttributeError, ValueError, OSError):
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        if columns > 0:
            return columns
    return 80


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line with a code, and exit 2; help exits through main."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        command = self.prog.partition(" ")[2]
        raise UsageError(f"{command + ': ' if command else ''}{message} (see --help)")

    def _print_message(self, message: str, file: Any = None) -> None:
        # Help and --version go to the command's own output (fd 1 is the plugins' stderr meanwhile).
        if message:
            _help_text.append(message)

    def exit(self, status: int = 0, message: Optional[str] = None) -> NoReturn:
        if message:
            raise UsageError(" ".join(message.split()))
        raise _HelpShown(status)


def registry_for(args: argparse.Namespace, *, also_disabled: Sequence[str] = (),
                 plugin_timeout: Optional[float] = None) -> Any:
    """The registry the common options ask for; ``--disable-plugin`` of a name not installed is a usage error.

    ``also_disabled`` (a host config's list) may name plugins this host lacks: only the command line is held
    to what is installed.
    """
    from ._registry import Registry

    registry = Registry.from_environment(
        tables=args.table, disabled=[*args.disable_plugin, *also_disabled], entry_points=not args.no_plugins,
        plugin_timeout=plugin_timeout,
    )
    known = {record.name for record in registry.plugins}
    unknown = [name for name in args.disable_plugin if name not in known]
    if unknown and not args.no_plugins:
        raise UsageError(f"--disable-plugin {unknown[0]!r}: no installed plugin has that name"
                         f" (installed: {', '.join(sorted(known)) or 'none'})")
    return registry


def _emit(out: TextIO, form: Dict[str, Any]) -> None:
    import json  # only for --json: a cold human-readable check does without it

    out.write(json.dumps(form, indent=2, sort_keys=False) + "\n")


# -- human output ---------------------------------------------------------------------------


# -- commands -------------------------------------------------------------------------------


def _cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.batch is not None:
        return _check_batch(args, out)
    if args.source is None or args.target is None:
        raise UsageError("check needs SOURCE and TARGET, or --batch FILE")
    verdict = registry_for(args).check(args.source, args.target, args.mode, args.strict)
    if args.json:
        from ._json_forms import verdict_form

        _emit(out, verdict_form(verdict))
    else:
        out.write("\n".join([*verdict_lines(verdict), *_warning_lines(verdict)]) + "\n")
    return EXIT_OK if verdict.compatible else EXIT_REFUSED


def _check_batch(args: argparse.Namespace, out: TextIO) -> int:
    from ._batch import read_pairs

    if args.source is not None:
        raise UsageError("check takes SOURCE TARGET or --batch FILE, not both")
    pairs = read_pairs(args.batch)
    registry = registry_for(args)
    all_compatible = True
    if args.json:
        import json

        from ._json_forms import verdict_form
    for source, target in pairs:
        verdict = registry.check(source, target, args.mode, args.strict)
        all_compatible = all_compatible and verdict.compatible
        if args.json:
            out.write(json.dumps(verdict_form(verdict), separators=(",", ":")) + "\n")
        else:
            warned = f" [warnings: {','.join(w.code for w in verdict.warnings)}]" if verdict.warnings else ""
            out.write(verdict_line(verdict) + printable(warned) + "\n")
    return EXIT_OK if pairs and all_compatible else EXIT_REFUSED


def _warning_lines(verdict: Any) -> List[str]:
    """A verdict's warnings, in the style of its reasons; a cold-only admission said as such."""
    lines = []
    for warning in verdict.warnings:
        lines.append(f"  table warning[{one_line(warning.code)}]: {one_line(warning.message)}")
        lines.append(f"    = note: rule {warning.rule.rule!r} of table {warning.rule.table!r}"
                     f" (plugin {warning.rule.plugin!r})")
        if warning.hint:
            lines.append(f"    = hint: {one_line(warning.hint)}")
    if verdict.levels == ("cold",) and verdict.mode == "cold":
        lines.append("  admitted for cold migration only")
    return lines


def _cmd_explain(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.target is None:
        return _explain_code(args, out)
    registry = registry_for(args)
    explanation = registry.explain(args.source, args.target, args.mode, args.strict)
    if args.json:
        from ._json_forms import explanation_form

        _emit(out, explanation_form(explanation, registry.resolve(args.source), registry.resolve(args.target)))
    else:
        out.write("\n".join(_explanation_lines(explanation, registry)) + "\n")
    return EXIT_OK if explanation.verdict.compatible else EXIT_REFUSED


def _explanation_lines(explanation: Any, registry: Any) -> List[str]:
    from ._conditions import render

    verdict = explanation.verdict
    lines = []
    for side, text in (("source", verdict.source), ("target", verdict.target)):
        resolved = registry.resolve(text)
        lines.append(f"{side}: {printable(text)}")
        if resolved.table is not None and resolved.fields is not None:
            shown = ", ".join(
                f"{spec.name}={render(spec, resolved.fields[spec.name])}"
                for spec in resolved.table.format.fields if spec.name in resolved.fields
            )
            lines.append(f"  table {resolved.table.id!r} (plugin {resolved.table.plugin!r}): {shown}")
    lines.append("")
    lines.extend(verdict_lines(verdict))
    lines.extend(_warning_lines(verdict))
    if explanation.table is not None:
        levels = {("live", "cold"): "live and cold", ("cold",): "cold only"}.get(verdict.levels, "none")
        lines.append(f"  admitted at: {levels} (checked for a {verdict.mode} migration)")
    if explanation.trials:
        lines.append("")
        lines.append("rules tried, nearest miss first:")
        for trial in explanation.trials:
            ref = trial.rule
            state = "holds" if trial.holds else f"{len(trial.failed)} of {len(trial.conditions)} conditions fail"
            level = f" ({trial.level} migration)" if trial.level != "live" else ""
            lines.append(f"  {ref.effect} rule {ref.rule!r}{level}: {state}")
            if trial.description:
                # Prose may hold line breaks; shown on one line, it cannot stand as a line of its own.
                lines.append(f"    {one_line(trial.description)}")
            for condition in trial.conditions:
                mark = "ok  " if condition.passed else "FAIL"
                lines.append(f"    [{mark}] {one_line(condition.description)}")
                if condition.reason is not None:
                    reason = condition.reason
                    values = [f"{side} {one_line(value)}" for side, value in
                              (("source", reason.source_value), ("target", reason.target_value)) if value is not None]
                    shown = f" ({', '.join(values)})" if values else ""
                    lines.append(f"           {reason.code}: {one_line(reason.message)}{shown}")
            if trial.notes:
                lines.append(f"    notes: {one_line(trial.notes)}")
            if ref.source_url:
                lines.append(f"    source: {ref.source_url}")
    if not verdict.compatible:
        hints = list(dict.fromkeys(r.hint for r in verdict.reasons if r.hint))
        if hints:
            lines.append("")
            lines.append("what would have to change:")
            lines.extend(f"  - {one_line(hint)}" for hint in hints)
    return lines


def _explain_code(args: argparse.Namespace, out: TextIO) -> int:
    from ._codes import lookup

    code = args.source
    info = lookup(code)
    uses: List[Dict[str, Any]] = []
    if info is not None:
        form = {"schema_version": 1, "code": info.code, "name": info.name, "layer": info.layer,
                "summary": info.summary, "hint": info.hint, "uses": []}
    else:
        uses = _vendor_code_uses(registry_for(args), code)
        if not uses:
            raise UsageError(f"unknown reason code {code!r}: not a core code nor used by an installed table")
        form = {"schema_version": 1, "code": code, "name": None, "layer": "table", "summary": None,
                "hint": None, "uses": uses}
    if args.json:
        _emit(out, form)
        return EXIT_OK
    if info is not None:
        out.write(f"{info.code} ({info.name}), layer {info.layer}\n  {info.summary}\n  hint: {info.hint}\n")
    else:
        out.write(f"{code}: a vendor reason code, used by:\n")
        for use in uses:
            out.write(f"  table {use['table']!r} (plugin {use['plugin']!r}), rule {use['rule']!r}: "
                      f"{one_line(use['message'] or use['description'] or '')}\n")
            if use["hint"]:
                out.write(f"    hint: {one_line(use['hint'])}\n")
            if use["source_url"]:
                out.write(f"    source: {use['source_url']}\n")
    return EXIT_OK


def _vendor_code_uses(registry: Any, code: str) -> List[Dict[str, Any]]:
    uses = []
    for table in registry.tables:
        for rule in table.rules:
            for item in (rule, *rule.conditions):
                if getattr(item, "code", None) == code:
                    uses.append({"plugin": table.plugin, "table": table.id, "rule": rule.id,
                                 "message": item.message, "hint": item.hint,
                                 "description": rule.description, "source_url": rule.source_url})
    return uses


def _cmd_parse(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._device_version import parse

    device = parse(args.device_version)
    side = None if args.no_plugins and not args.table else registry_for(args).resolve(args.device_version)
    if args.json:
        from ._json_forms import device_version_form

        _emit(out, device_version_form(device, side))
        return EXIT_OK
    out.write(f"vendor:      {device.vendor}\ninterface:   {device.interface}\nproprietary: {device.proprietary}\n")
    if side is not None and side.table is not None and side.fields is not None:
        from ._conditions import render

        out.write(f"table:       {side.table.id} (plugin {side.table.plugin})\n")
        for spec in side.table.format.fields:
            if spec.name in side.fields:
                out.write(f"  {spec.name} ({spec.type}): {render(spec, side.fields[spec.name])}\n")
    elif side is not None:
        for reason in side.reasons:
            out.write(f"not served: error[{reason.code}]: {reason.message}\n")
    return EXIT_OK


def _cmd_plugins(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._json_forms import plugins_form

    form = plugins_form(registry_for(args).plugins)
    if args.json:
        _emit(out, form)
        return EXIT_OK
    if not form["plugins"]:
        out.write("no plugins installed (entry-point group 'vfiocompat')\n")
    for plugin in form["plugins"]:
        dist = f"{plugin['distribution']} {plugin['version']}" if plugin["distribution"] else "(not installed)"
        state = "disabled" if plugin["disabled"] else ("FAILED" if plugin["errors"] else "ok")
        out.write(f"{plugin['name']}: {dist} [{state}]\n")
        for table in plugin["tables"]:
            claims = ", ".join(repr(p) for p in table["prefixes"])
            out.write(f"  table {table['id']!r} vendor {table['vendor']} claims {claims}:"
                      f" {table['rules']['allow']} allow, {table['rules']['deny']} deny rules,"
                      f" {table['examples']} examples\n")
        for error in plugin["errors"]:
            out.write(f"  error[{error['code']}]: {error['message']}\n")
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._validation import run_examples, validate_file

    results = []
    if args.installed:
        from ._registry import Registry

        registry = registry_for(args)
        for record in registry.plugins:
            single = Registry.of_tables(record.tables, registry.parse_hooks_of(record.name))
            for table in record.tables:
                results.append(_result_form(table.origin, table, [], table.warnings, run_examples(table, single)))
            for failure in record.failures:
                results.append({"file": f"plugin {record.name}", "table": None, "valid": False,
                                "errors": [{"code": failure.code, "message": failure.message}],
                                "warnings": [], "examples": []})
    for path in args.files:
        checked = validate_file(path)
        results.append(_result_form(checked.origin, checked.table, checked.errors, checked.warnings,
                                    checked.examples))
    if not results:
        raise UsageError("validate needs table files or --installed")
    if args.json:
        from ._json_forms import validation_form

        _emit(out, validation_form(results))
    else:
        for result in results:
            _print_result(result, out, err)
    if any(result["errors"] for result in results):
        return EXIT_BAD_INPUT
    return EXIT_OK if all(result["valid"] for result in results) else EXIT_REFUSED


def _result_form(origin: str, table: Any, errors: Sequence[Any], warnings: Sequence[Any],
                 examples: Sequence[Any]) -> Dict[str, Any]:
    return {
        "file": origin,
        "table": table.id if table is not None else None,
        "valid": not errors and all(e.passed for e in examples),
        "errors": [{"code": e.code, "message": e.message} for e in errors],
        "warnings": [{"code": w.code, "message": w.message, "rule": w.rule} for w in warnings],
        "examples": [
            {"source": e.example.source, "target": e.example.target, "expected": e.example.compatible,
             "compatible": e.verdict.compatible, "codes": list(e.verdict.codes), "passed": e.passed,
             "problem": e.problem}
            for e in examples
        ],
    }


def _print_result(result: Dict[str, Any], out: TextIO, err: TextIO) -> None:
    for error in result["errors"]:
        err.write(f"vfiocompat: error[{error['code']}]: {' '.join(error['message'].split())}\n")
    for warning in result["warnings"]:
        err.write(f"vfiocompat: warning[{warning['code']}]: {printable(result['file'])}: rule {warning['rule']!r}"
                  f" {warning['message']}\n")
    failed = [e for e in result["examples"] if not e["passed"]]
    for number, example in enumerate(result["examples"], start=1):
        if not example["passed"]:
            err.write(f"vfiocompat: error[VC506]: {printable(result['file'])}: [[examples]] #{number}"
                      f" {printable(example['source'])} -> {printable(example['target'])}: {example['problem']}\n")
    if not result["errors"]:
        passed = len(result["examples"]) - len(failed)
        state = "ok" if not failed else "FAILED"
        out.write(f"{printable(result['file'])}: table {result['table']!r} {state}, {passed}/{len(result['examples'])}"
                  " examples as expected\n")


def _cmd_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from ._schema import SCHEMA_NAMES, schema_text

    if args.name not in SCHEMA_NAMES:
        raise UsageError(f"unknown schema {args.name!r}; known: {', '.join(SCHEMA_NAMES)}")
    out.write(schema_text(args.name))
    return EXIT_OK


# -- wiring ---------------------------------------------------------------------------------


class _Unused:
    """Stands in for the parser of a command that is not being run: every call is a no-op."""

    def __getattr__(self, name: str) -> Callable[..., _Unused]:
        return lambda *args, **kwargs: self


class _OnlyCommand:
    """Subparsers that build only the command being run.

    Each argparse parser costs gettext look-ups on disk; building fourteen of them was a tenth of a
    cold ``vfiocompat check``. Help and unknown commands still get the full parser.
    """

    def __init__(self, commands: Any, only: Optional[str]) -> None:
        self.commands = commands
        self.only = only

    def add_parser(self, name: str, **kwargs: Any) -> Any:
        if self.only is not None and name != self.only:
            return _Unused()
        return self.commands.add_parser(name, **kwargs)


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The argument parser with every subcommand (or, given ``only``, just that one) and shared options."""
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", help="print the stable JSON form (see schemas/)")
    common.add_argument("--table", action="append", default=[], metavar="FILE",
                        help="also load this table file (TOML or JSON); repeatable")
    common.add_argument("--disable-plugin", action="append", default=[], metavar="NAME",
                        help="do not load this plugin; repeatable (also VFIOCOMPAT_DISABLE_PLUGINS=a,b)")
    common.add_argument("--no-plugins", action="store_true", help="load no installed plugin, only --table files")
    parser = _Parser(prog="vfiocompat", description="Ask before migrating a VFIO device: is the target compatible?")
    parser.add_argument("--version", action="version", version=f"vfiocompat {__version__}")
    # `vfiocompat --json check ...` as well as `vfiocompat check --json ...` (its own dest: a subcommand's
    # defaults would overwrite it).
    parser.add_argument("--json", dest="json_first", action="store_true", help="the same as COMMAND --json")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    commands = _OnlyCommand(subparsers, only)

    check = commands.add_parser("check", parents=[common], help="judge SOURCE -> TARGET (exit 0 yes, 1 no)")
    check.add_argument("source", nargs="?", help="the source device_version, VENDOR:INTERFACE:PROPRIETARY")
    check.add_argument("target", nargs="?", help="the target device_version")
    check.add_argument("--batch", metavar="FILE", default=None,
                       help="judge every 'SOURCE TARGET' line of FILE ('-': stdin), one verdict line each"
                            " (JSON Lines with --json); exit 0 only if every pair is compatible")
    check.set_defaults(handler=_cmd_check)
    explain = commands.add_parser("explain", parents=[common],
                                  help="diagnose SOURCE -> TARGET, or document a reason CODE")
    explain.add_argument("source", metavar="SOURCE|CODE")
    explain.add_argument("target", nargs="?", metavar="TARGET")
    explain.set_defaults(handler=_cmd_explain)
    for command in (check, explain):
        command.add_argument("--mode", choices=MODES, default="live",
                             help="judge a live (default) or a cold migration (the VM stopped)")
        command.add_argument("--strict", action="store_true", help="refuse a pair that any warn rule warns about")
    parse = commands.add_parser("parse", parents=[common], help="parse a device_version and split its fields")
    parse.add_argument("device_version")
    parse.set_defaults(handler=_cmd_parse)
    plugins = commands.add_parser("plugins", parents=[common], help="list plugins, their tables, claims and errors")
    plugins.set_defaults(handler=_cmd_plugins)
    validate = commands.add_parser("validate", parents=[common],
                                   help="validate table files and run their examples (for vendor CI)")
    validate.add_argument("files", nargs="*", metavar="FILE")
    validate.add_argument("--installed", action="store_true", help="validate every installed plugin's tables")
    validate.set_defaults(handler=_cmd_validate)
    schema = commands.add_parser("schema", parents=[common], help="print a JSON Schema (default: table)")
    schema.add_argument("name", nargs="?", default="table")
    schema.set_defaults(handler=_cmd_schema)
    # Only the module of the command being run is imported (doctor alone pulls in platform and
    # subprocess): a cold check imports none of them.
    if only is None:
        modules = list(dict.fromkeys(_COMMAND_MODULES.values()))
    else:
        modules = [_COMMAND_MODULES[only]] if only in _COMMAND_MODULES else []
    for module in modules:
        # Each module adds its subcommands with set_defaults(handler=...); heavy imports stay in handlers.
        import_module(f"vfiocompat.{module}").add_commands(commands, common)
    if only is not None and only not in subparsers.choices:
        return build_parser()  # an unknown command: the full parser names every valid one
    return parser


#: The module that adds each command not defined here, through ``add_commands(subparsers, common_parent)``.
_COMMAND_MODULES: Dict[str, str] = {
    "new-plugin": "_scaffold",
    "probe": "host.cli", "place": "host.cli", "labels": "host.cli",
    "libvirt-hook": "host.libvirt_cli", "libvirt-metadata": "host.libvirt_cli",
    "install-libvirt-hook": "host.libvirt_cli",
    "doctor": "host.doctor",
    "completion": "_completion",
}


_HELP_WORDS = frozenset({"-h", "--help", "--version"})


def main(argv: Optional[Sequence[str]] = None, out: Optional[TextIO] = None, err: Optional[TextIO] = None) -> int:
    """Run the command line; return the exit status (0 only for a compatible pair or a success)."""
    words = list(sys.argv[1:] if argv is None else argv)
    if out is None and err is None:
        with _process_streams() as (real_out, real_err):
            return _run(words, real_out, real_err)
    return _run(words, out or sys.stdout, err or sys.stderr)


def _run(words: List[str], out: TextIO, err: TextIO) -> int:
    safe_out = _SafeStream(out)
    safe_err = _SafeStream(err)
    args: Optional[argparse.Namespace] = None
    _help_text.clear()
    try:
        first = words[0] if words and not words[0].startswith("-") else None
        args = build_parser(first).parse_args(words)
        if getattr(args, "json_first", False):
            args.json = True
        handler: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.handler
        return handler(args, cast(TextIO, safe_out), cast(TextIO, safe_err))
    except _HelpShown as shown:
        # Help or the version alone is a success; beside anything else nothing was judged, so never 0.
        if shown.status == 0 and (len(words) == 1 or (len(words) == 2 and words[1] in _HELP_WORDS)):
            safe_out.write("".join(_help_text))
            return EXIT_OK
        error = UsageError("--help or --version given with other arguments: nothing was judged")
        _report(error, safe_out, safe_err, _wants_json(words, args))
        return EXIT_BAD_INPUT
    except VfiocompatError as error:
        _report(error, safe_out, safe_err, _wants_json(words, args))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        safe_err.write("vfiocompat: interrupted\n")
        return 130
    finally:
        safe_out.flush()
        safe_err.flush()


def _wants_json(words: Sequence[str], args: Optional[argparse.Namespace]) -> bool:
    if args is not None:
        return bool(getattr(args, "json", False))
    # The command line did not parse: look for --json where an option can stand (not in the hook's data).
    for word in words:
        if word in ("--", "libvirt-hook"):
            return False
        if word == "--json":
            return True
    return False


def _report(error: VfiocompatError, out: _SafeStream, err: _SafeStream, as_json: bool) -> None:
    if not as_json:
        err.write(f"vfiocompat: {error.one_line()}\n")
        return
    from ._json_forms import error_form

    _emit(cast(TextIO, out), error_form(error))


@contextmanager
def _process_streams() -> Iterator[Tuple[TextIO, TextIO]]:
    """The process's stdout for the command alone; file descriptor 1 goes to stderr meanwhile.

    Plugins are foreign code running in this process: whatever they print, from Python or C, or
    from a child they start, must not reach the command's own output (JSON a scheduler parses, the
    domain XML libvirt takes back from the hook).
    """
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    saved = None
    with suppress(OSError):
        saved = os.dup(1)
    target = None
    with suppress(OSError):
        os.fstat(2)
        target = 2
    if target is None:
        target = os.open(os.devnull, os.O_WRONLY)
    with suppress(OSError):
        os.dup2(target, 1)
    if saved is None:
        saved = os.open(os.devnull, os.O_WRONLY)
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    real_out = open(saved, "w", encoding=encoding, errors="backslashreplace", closefd=True)  # noqa: SIM115
    real_err = sys.stderr if sys.stderr is not None else open(os.devnull, "w")  # noqa: SIM115
    old_stdout = sys.stdout
    sys.stdout = real_err
    try:
        yield real_out, real_err
    finally:
        sys.stdout = old_stdout
        with suppress(Exception):
            real_out.close()
        # Flushing at interpreter exit must not turn a closed pipe into "Exception ignored" and exit 120.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed reader is not the command's failure
                with suppress(OSError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
