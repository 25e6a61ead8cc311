"""Installing the libvirt hook: ``qemu.d/vfiocompat``, a POSIX sh script with this interpreter baked in.

libvirt runs hooks with a bare environment (``LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
HOME=/root``), so the script names the interpreter by absolute path and the configuration file
by name. Every call but ``migrate`` is passed in the shell, before Python starts: a moved,
broken or removed vfiocompat can then refuse migrations (one line, exit 1) but never stop a VM
from starting. Arguments go to Python after ``-c CODE`` and to vfiocompat after ``--``, so a
guest named ``-h`` or ``--table=X`` is data, never an option.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys
import tempfile
from typing import Optional

from ..errors import HookInstallError

__all__ = ["DEFAULT_HOOKS_DIR", "HOOK_NAME", "hook_script", "install_hook"]

DEFAULT_HOOKS_DIR = "/etc/libvirt/hooks"
#: The file in ``qemu.d/``; libvirt runs that folder's scripts in alphabetical order, after ``qemu``.
HOOK_NAME = "vfiocompat"

# Runs under `python -c`: drop the working directory from sys.path before importing anything, and
# keep every failure to one line on stderr, since libvirt shows stderr as the migration's error.
_BOOTSTRAP = """\
import sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
def refuse(what, error):
    text = " ".join(str(error).split())[:300] or type(error).__name__
    sys.stderr.write("vfiocompat: refusing migration: error[VC611]: %s: %s\\n" % (what, text))
    sys.exit(1)
try:
    from vfiocompat._cli import main
except BaseException as error:
    refuse("vfiocompat cannot be imported by " + sys.executable, error)
try:
    status = main(["libvirt-hook", "--", *sys.argv[1:]])
except BaseException as error:  # a SystemExit(0) from anywhere must not pass a migration
    refuse("internal error", error)
sys.exit(status)
"""

_TEMPLATE = """\
#!/bin/sh
# vfiocompat's libvirt qemu hook, written by `vfiocompat install-libvirt-hook`: reinstall, do not edit.
# libvirt runs it as `qemu.d/vfiocompat GUEST OPERATION SUBOPERATION EXTRA`, the domain XML on stdin.
# Only an incoming migration is judged. Every other call passes here, in the shell, so that a broken,
# moved or removed vfiocompat can never stop a VM from starting.
case "$2" in migrate) ;; *) exit 0 ;; esac
python={python}
{config}if [ ! -x "$python" ]; then
    printf 'vfiocompat: refusing migration: error[VC611]: the interpreter %s is missing;%s\\n' "$python" \\
        ' reinstall vfiocompat, then run vfiocompat install-libvirt-hook --force' >&2
    exit 1
fi
exec "$python" -c '{bootstrap}' "$@"
"""


def _quote(text: str) -> str:
    """``text`` as one single-quoted sh word."""
    return "'" + text.replace("'", "'\\''") + "'"


def _plain_path(what: str, path: str) -> str:
    if not os.path.isabs(path) or any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise HookInstallError(f"{what} {path!r} must be an absolute path without control characters")
    return path


def hook_script(python: str, config: Optional[str] = None) -> str:
    """The hook's text for interpreter ``python`` (absolute) and, if given, configuration file ``config``."""
    lines = ""
    if config is not None:
        lines = f"VFIOCOMPAT_CONFIG={_quote(_plain_path('configuration file', config))}\nexport VFIOCOMPAT_CONFIG\n"
    if "'" in _BOOTSTRAP:  # pragma: no cover - guards the template against an edit
        raise AssertionError("the bootstrap must not contain a single quote")
    return _TEMPLATE.format(python=_quote(_plain_path("interpreter", python)), config=lines,
                            bootstrap=_BOOTSTRAP.rstrip("\n"))


def install_hook(hooks_dir: str = DEFAULT_HOOKS_DIR, *, python: Optional[str] = None,
                 config: Optional[str] = None, force: bool = False) -> str:
    """Write ``HOOKS_DIR/qemu.d/vfiocompat`` (mode 0755) and return its path.

    An existing file (or symlink) there is kept unless ``force``; with ``force`` it is replaced by
    renaming a complete new file over it, so the link is never followed and libvirt never sees a
    half-written hook. Raises :class:`vfiocompat.errors.HookInstallError`, having changed nothing.
    """
    text = hook_script(os.path.abspath(python or sys.executable),
                       None if config is None else os.path.abspath(config))
    folder = os.path.join(hooks_dir, "qemu.d")
    destination = os.path.join(folder, HOOK_NAME)
    try:
        existing = os.lstat(destination)
    except FileNotFoundError:
        existing = None
    except OSError as error:
        raise HookInstallError(f"{destination}: {error.strerror}") from None
    if existing is not None and not force:
        raise HookInstallError(f"{destination} exists; not replaced (pass --force to replace it)")
    if existing is not None and os.path.isdir(destination) and not os.path.islink(destination):
        raise HookInstallError(f"{destination} is a directory; not replaced")
    _make_folder(hooks_dir)
    _make_folder(folder)
    _write(folder, destination, text, replace=force)
    return destination


def _make_folder(path: str) -> None:
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        if not os.path.isdir(path):
            raise HookInstallError(f"{path} exists and is not a directory") from None
        return
    except OSError as error:
        raise HookInstallError(f"cannot create {path}: {error.strerror}") from None
    os.chmod(path, 0o755)  # whatever the umask


def _write(folder: str, destination: str, text: str, *, replace: bool) -> None:
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{HOOK_NAME}.", dir=folder)
    except OSError as error:
        raise HookInstallError(f"cannot write in {folder}: {error.strerror}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fchmod(stream.fileno(), 0o755)
            os.fsync(stream.fileno())
        if replace:
            os.replace(temporary, destination)
        else:
            # A link fails if anything appeared at the destination meanwhile; a rename would replace it.
            os.link(temporary, destination)
            os.unlink(temporary)
    except OSError as error:
        _discard(temporary)
        if error.errno == errno.EEXIST:
            raise HookInstallError(f"{destination} exists; not replaced (pass --force to replace it)") from None
        raise HookInstallError(f"cannot write {destination}: {error.strerror}") from None


def _discard(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
