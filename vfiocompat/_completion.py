"""``vfiocompat completion bash|zsh|fish``: a shell completion script generated from the real parser.

The script is written by shtab (https://github.com/iterative/shtab) from
:func:`vfiocompat._cli.build_parser`, so it names exactly the commands and options the installed
vfiocompat has. shtab is an optional dependency (``pip install 'vfiocompat[completion]'``),
imported only when this command runs.
"""

from __future__ import annotations

import argparse
from typing import Any, Dict, Iterator, TextIO

from .errors import UsageError

__all__ = ["SHELLS", "add_commands", "completion_script"]

#: The shells a script is generated for (shtab writes fish from version 1.9 on).
SHELLS = ("bash", "zsh", "fish")
# What an argument names, by its metavar, so the shell offers files or folders for it.
_FILES = frozenset({"FILE", "INVENTORY.json"})
_DIRECTORIES = frozenset({"DIR", "DEST"})
_INSTALL_HINT = "pip install 'vfiocompat[completion]' (or pip install 'shtab>=1.9')"


def add_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``completion`` to the ``vfiocompat`` command."""
    parser = subparsers.add_parser(
        "completion", help="print a shell completion script (bash, zsh or fish)",
        description="Print a completion script for SHELL, generated from this vfiocompat's commands. "
                    "bash: source <(vfiocompat completion bash); zsh: save it as _vfiocompat in a folder of"
                    ' $fpath, or eval "$(vfiocompat completion zsh)" after compinit; fish: vfiocompat completion'
                    " fish > ~/.config/fish/completions/vfiocompat.fish",
    )
    parser.add_argument("shell", choices=SHELLS, metavar="SHELL", help="one of: " + ", ".join(SHELLS))
    parser.set_defaults(handler=_cmd_completion)


def _walk(parser: argparse.ArgumentParser) -> Iterator[argparse.Action]:
    for action in parser._actions:
        yield action
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield from _walk(child)


def completion_script(shell: str) -> str:
    """The completion script for ``shell``; raises :class:`UsageError` without a shtab that writes it."""
    if shell not in SHELLS:
        raise UsageError(f"unknown shell {shell!r}; known: {', '.join(SHELLS)}")
    try:
        import shtab
    except ImportError:
        raise UsageError(f"completion needs the shtab package: {_INSTALL_HINT}") from None
    if shell not in getattr(shtab, "SUPPORTED_SHELLS", ()):
        raise UsageError(f"the installed shtab {getattr(shtab, '__version__', '?')} cannot write {shell}"
                         f" completion: {_INSTALL_HINT}")
    from ._cli import build_parser

    parser = build_parser()
    kinds: Dict[str, Any] = {**dict.fromkeys(_FILES, shtab.FILE), **dict.fromkeys(_DIRECTORIES, shtab.DIRECTORY)}
    for action in _walk(parser):
        kind = kinds.get(action.metavar) if isinstance(action.metavar, str) else None
        if kind is not None:
            action.complete = kind  # type: ignore[attr-defined]  # shtab reads this attribute
    return str(shtab.complete(parser, shell=shell))


def _cmd_completion(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    script = completion_script(args.shell)
    # The script is a document for the shell: written as it is, not escaped like messages.
    write_bytes = getattr(out, "write_bytes", None)
    if write_bytes is not None:
        write_bytes(script.encode("utf-8"))
    else:
        out.write(script)
    return 0
