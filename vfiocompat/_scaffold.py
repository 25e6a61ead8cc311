"""``vfiocompat new-plugin``: start a vendor plugin project from the template, renamed consistently.

The template is ``vfiocompat/plugin_template/`` (shown in the repository as
``examples/vendor-plugin-template/``): a working plugin for the placeholder vendor 0xfffd.
Scaffolding copies it and replaces, in file names and contents alike, its plugin name, package,
distribution, table id, reason-code prefix, vendor name and vendor id. It writes only into a
new or empty directory and never overwrites a file.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, TextIO, Tuple, Union

from .errors import ScaffoldError

if TYPE_CHECKING:
    from importlib.abc import Traversable

__all__ = [
    "TEMPLATE_PACKAGE_DIR",
    "ScaffoldError",
    "PluginNames",
    "plugin_names",
    "TEMPLATE_NAMES",
    "template_files",
    "scaffold_plugin",
    "add_commands",
]

#: The template's folder inside the vfiocompat package.
TEMPLATE_PACKAGE_DIR = "plugin_template"
# Left behind by building or testing the template in place; never part of a new project.
_SKIPPED_NAMES = frozenset({
    "__pycache__", "build", "dist", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", ".venv", ".eggs",
})
_SKIPPED_SUFFIXES = (".egg-info", ".pyc", ".pyo")
_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_MAX_NAME = 50
_VENDOR_NAME_FORBIDDEN = frozenset("\"'\\`|<>{}$")
# Text meant for readers of the template only: Markdown blocks and trailing comments, dropped when scaffolding.
_TEMPLATE_BLOCK = re.compile(r"^<!-- template-only -->\n.*?^<!-- /template-only -->\n\n?", re.M | re.S)
_TEMPLATE_COMMENT = re.compile(r"[ \t]+# template: [^\n]*$", re.M)


@dataclass(frozen=True)
class PluginNames:
    """Every name a plugin project uses, derived from its plugin name so they stay consistent."""

    name: str
    vendor_id: str
    vendor_name: str

    @property
    def snake(self) -> str:
        """The name with ``_`` for ``-`` (``acme_gpu``)."""
        return self.name.replace("-", "_")

    @property
    def distribution(self) -> str:
        """The PyPI distribution, ``vfiocompat-NAME``."""
        return f"vfiocompat-{self.name}"

    @property
    def package(self) -> str:
        """The import package, ``vfiocompat_NAME``."""
        return f"vfiocompat_{self.snake}"

    @property
    def table_id(self) -> str:
        """The id of the template's table once renamed."""
        return f"{self.name}-devices"

    @property
    def code_prefix(self) -> str:
        """The prefix of the plugin's own reason codes (``ACME_GPU``)."""
        return self.snake.upper()

    def replacements(self) -> Dict[str, str]:
        """Template token -> this plugin's text, for the tokens :data:`TEMPLATE_NAMES` defines."""
        template = TEMPLATE_NAMES
        return {
            template.name: self.name,
            template.snake: self.snake,
            template.code_prefix: self.code_prefix,
            template.vendor_name: self.vendor_name,
            template.vendor_id: self.vendor_id,
        }


def plugin_names(name: str, vendor_id: Union[str, int], vendor_name: Optional[str] = None) -> PluginNames:
    """Check and normalise a plugin's names; raise :class:`ScaffoldError` saying what is wrong.

    :param name: lowercase words joined by ``-`` (``acme-gpu``): the entry point's name.
    :param vendor_id: the PCI vendor id, ``0x1234`` (or an ``int``).
    :param vendor_name: how descriptions name the vendor (default: from ``name``, ``Acme Gpu``).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > _MAX_NAME:
        raise ScaffoldError(f"plugin name {name!r} must be lowercase letters and digits in words joined by '-',"
                            f" starting with a letter, at most {_MAX_NAME} characters (e.g. acme-gpu)")
    if name == "vfiocompat" or name.startswith("vfiocompat-"):
        raise ScaffoldError(f"plugin name {name!r} must not start with 'vfiocompat': the distribution is"
                            f" already called vfiocompat-NAME")
    if re.match(r"VC[0-9]", name.replace("-", "_").upper()):
        raise ScaffoldError(f"plugin name {name!r} would give reason codes starting with VC and a digit,"
                            " which vfiocompat reserves for its own codes")
    vendor = _vendor_id(vendor_id)
    if vendor_name is None:
        vendor_name = " ".join(word.capitalize() for word in name.split("-"))
    text = vendor_name.strip()
    if not text or len(text) > 64 or any(not ch.isprintable() or ch in _VENDOR_NAME_FORBIDDEN for ch in text):
        raise ScaffoldError(f"vendor name {vendor_name!r} must be 1 to 64 printable characters without quotes,"
                            " backslashes or any of ` | < > { } $")
    return PluginNames(name, vendor, text)


def _vendor_id(value: Union[str, int]) -> str:
    from ._device_version import format_vendor

    if isinstance(value, bool):
        raise ScaffoldError(f"vendor id {value!r} is not a number")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        digits = text[2:] if text[:2] in ("0x", "0X") else text
        if not digits or len(digits) > 8 or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
            raise ScaffoldError(f"vendor id {value!r} must be hex with at most 8 digits, e.g. 0x1234")
        number = int(digits, 16)
    if not 0 <= number <= 0xFFFFFFFF:
        raise ScaffoldError(f"vendor id {value!r} does not fit in 32 bits")
    return format_vendor(number)


#: The names the template itself uses; scaffolding with these reproduces it byte for byte.
TEMPLATE_NAMES = PluginNames("example-vendor", "0xfffd", "Example Vendor")


def _template_root() -> Traversable:
    from importlib import resources

    root = resources.files("vfiocompat").joinpath(TEMPLATE_PACKAGE_DIR)
    if not root.joinpath("pyproject.toml").is_file():
        raise ScaffoldError("the plugin template is missing from this vfiocompat installation"
                            f" (vfiocompat/{TEMPLATE_PACKAGE_DIR}/); reinstall vfiocompat")
    return root


def template_files() -> List[Tuple[str, bytes]]:
    """The template's files as (relative POSIX path, content), without build or cache leftovers."""
    found: List[Tuple[str, bytes]] = []
    stack: List[Tuple[str, Traversable]] = [("", _template_root())]
    while stack:
        prefix, folder = stack.pop()
        for entry in folder.iterdir():
            if entry.name in _SKIPPED_NAMES or entry.name.endswith(_SKIPPED_SUFFIXES):
                continue
            path = f"{prefix}{entry.name}"
            if entry.is_dir():
                stack.append((path + "/", entry))
            elif entry.is_file():
                found.append((path, entry.read_bytes()))
    return sorted(found)


def _renamer(names: PluginNames) -> Any:
    table = names.replacements()
    # One pass, longest token first, so replaced text is never replaced again.
    pattern = re.compile("|".join(re.escape(token) for token in sorted(table, key=len, reverse=True)))
    return lambda text: pattern.sub(lambda match: table[match.group(0)], text)


def _strip_template_notes(text: str) -> str:
    return _TEMPLATE_COMMENT.sub("", _TEMPLATE_BLOCK.sub("", text))


def scaffold_plugin(
    dest: Union[str, Path],
    name: str,
    vendor_id: Union[str, int],
    *,
    vendor_name: Optional[str] = None,
) -> List[Path]:
    """Write a new plugin project into ``dest`` (new or empty) and return the files written.

    Raises :class:`ScaffoldError` for a bad name or vendor id, a ``dest`` that is a file or not
    empty, or a file that cannot be written (what was written is removed again).
    """
    names = plugin_names(name, vendor_id, vendor_name)
    rename = _renamer(names)
    files = [(rename(path), rename(_strip_template_notes(content.decode("utf-8"))).encode("utf-8"))
             for path, content in template_files()]
    root = Path(dest)
    if root.exists() and not root.is_dir():
        raise ScaffoldError(f"{root}: exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        raise ScaffoldError(f"{root}: directory is not empty; new-plugin writes only into a new or empty"
                            " directory and never overwrites files")
    made_dirs: List[Path] = []
    written: List[Path] = []
    try:
        for folder in [root, *sorted({(root / path).parent for path, _ in files})]:
            for part in reversed([folder, *folder.parents]):
                if not part.exists():
                    part.mkdir()
                    made_dirs.append(part)
        for path, content in files:
            target = root / path
            # "x": a file that appeared meanwhile is an error, never overwritten.
            with target.open("xb") as handle:
                written.append(target)
                handle.write(content)
    except OSError as error:
        for path in reversed(written):
            path.unlink()
        for folder in reversed(made_dirs):
            folder.rmdir()
        raise ScaffoldError(f"{error.filename or root}: cannot write: {error.strerror or error}") from None
    return written


# -- command line ------------------------------------------------------------------------------


def add_commands(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``new-plugin`` to the ``vfiocompat`` command."""
    parser = subparsers.add_parser(
        "new-plugin", parents=[common], help="start a vendor plugin project (from the template, renamed)",
        description="Copy the vendor plugin template into DEST (new or empty), renamed for your plugin and vendor.",
    )
    parser.add_argument("dest", metavar="DEST", help="a new or empty directory for the project")
    parser.add_argument("--name", required=True,
                        help="plugin (entry point) name, e.g. acme-gpu: distribution vfiocompat-acme-gpu,"
                             " package vfiocompat_acme_gpu")
    parser.add_argument("--vendor-id", required=True, help="your PCI vendor id in hex, e.g. 0x1234")
    parser.add_argument("--vendor-name", help="the vendor as descriptions name it (default: from --name)")
    parser.set_defaults(handler=_cmd_new_plugin)


def _cmd_new_plugin(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    written = scaffold_plugin(args.dest, args.name, args.vendor_id, vendor_name=args.vendor_name)
    names = plugin_names(args.name, args.vendor_id, args.vendor_name)
    root = Path(args.dest)
    relative = [path.relative_to(root).as_posix() for path in written]
    if args.json:
        form = {"schema_version": 1, "dest": str(root), "plugin": names.name, "distribution": names.distribution,
                "package": names.package, "table": names.table_id, "vendor": names.vendor_id,
                "vendor_name": names.vendor_name, "files": relative}
        out.write(json.dumps(form, indent=2) + "\n")
        return 0
    table = f"{names.package}/devices.toml"
    out.write(f"created {len(relative)} files in {root}: plugin {names.name!r}, distribution"
              f" {names.distribution!r}, package {names.package!r}, vendor {names.vendor_id}\n")
    # One write per line block: the stream may be a plain text stream without writelines.
    out.write("".join(f"  {path}\n" for path in relative))
    out.write(f"next:\n  cd {root}\n  edit {table}: your string format, prefix, rules (with source_url) and"
              f" examples\n  pip install -e '.[test]' && vfiocompat validate {table} && pytest\n")
    return 0
