"""Reading a sysfs tree without ever leaving it: what is checked is what is opened.

Every path is walked component by component from a directory descriptor of the root
(``openat`` style: ``O_NOFOLLOW|O_DIRECTORY`` per folder), and every symlink met is read with
``readlink`` and followed by the walk itself, so a folder swapped for a symlink between two
steps is seen as a symlink, never opened through. A path whose walk would leave the root
(``..`` above it, an absolute symlink elsewhere, a link to ``/etc``) raises
:class:`SysfsEscape` and is not read. Reads are bounded (:data:`MAX_ATTRIBUTE_BYTES`) and
only of regular files, opened ``O_NONBLOCK``, so a FIFO or device node never blocks a probe.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import Any, List, Optional, Tuple

from ..errors import SysfsEscape, UsageError

__all__ = ["MAX_ATTRIBUTE_BYTES", "SysfsEscape", "SysfsRoot", "SysfsDir"]

#: Longest attribute read (sysfs attributes are one page, 4096 bytes on most hosts).
MAX_ATTRIBUTE_BYTES = 65536
_MAX_LINKS = 40
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
_FILE_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC
# What open(O_NOFOLLOW) reports for a symlink (Linux: ELOOP; with O_DIRECTORY: ENOTDIR; BSDs: EMLINK).
_MAYBE_LINK = frozenset({errno.ELOOP, errno.ENOTDIR, errno.EMLINK})


class _Walk:
    """One walk's state: the folders entered (names from the root) and the descriptors it owns.

    ``fds[i]`` is the open folder ``names[:base + i + 1]``; ``base`` names are held by
    ``base_fd``, which the walk does not own (the root, or a :class:`SysfsDir`'s folder).
    A name past a missing component has no descriptor (``dangling``).
    """

    def __init__(self, sysfs: SysfsRoot, relative: str, base: Tuple[Tuple[str, ...], int]) -> None:
        self.sysfs = sysfs
        self.relative = relative
        self.base_names, self.base_fd = base
        self.names: List[str] = list(self.base_names)
        self.fds: List[int] = []
        self.dangling = 0
        self.hops = 0
        # A trailing '/' asks for a folder: the final component is then never read as a file or link.
        self.trailing = relative.endswith(("/", "/."))

    def here(self) -> int:
        return self.fds[-1] if self.fds else self.base_fd

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def up(self, count: int) -> None:
        """``count`` times '..' at once (a link like ``../../../bus/pci/drivers/X`` re-walks once)."""
        if count > len(self.names):
            raise self.sysfs._escape(self.relative, "climbs above the root")
        del self.names[len(self.names) - count:]
        while count and self.dangling:
            self.dangling -= 1
            count -= 1
        while count and self.fds:
            os.close(self.fds.pop())
            count -= 1
        if count:
            # Above the borrowed folder: walk down again from the root, never through '..'.
            self._rebase(self.names)

    def _rebase(self, names: List[str]) -> None:
        """Re-enter ``names`` from the root descriptor, each component refused if it is a symlink."""
        self.close()
        self.base_names, self.base_fd = (), self.sysfs._fd
        wanted, self.names = list(names), []
        for name in wanted:
            fd = self.open_dir(name)
            if fd is None:
                # It changed under us (now a symlink, or gone): the rest of the walk must not guess.
                raise SysfsEscape(f"sysfs path {self.relative!r}: folder {'/'.join(wanted)!r} changed while it"
                                  " was being read; not followed")
            self.enter(name, fd)

    def enter(self, name: str, fd: Optional[int]) -> None:
        self.names.append(name)
        if fd is None:
            self.dangling += 1
        else:
            self.fds.append(fd)

    def open_dir(self, name: str) -> Optional[int]:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=self.here())
        except OSError:
            return None

    def readlink(self, name: str) -> Optional[str]:
        try:
            return os.readlink(name, dir_fd=self.here())
        except (OSError, ValueError):
            return None

    def follow(self, target: str, pending: List[str]) -> None:
        """Continue the walk through a symlink's ``target`` (as the kernel would), or refuse it."""
        self.hops += 1
        if self.hops > _MAX_LINKS:
            raise self.sysfs._escape(self.relative, "follows too many symlinks")
        if "\0" in target:
            raise self.sysfs._escape(self.relative, f"has a symlink to {target!r}")
        if os.path.isabs(target):
            root = self.sysfs.root
            if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
                raise self.sysfs._escape(self.relative, f"has a symlink to {target!r}")
            target = target[len(root):]
            self.close()
            self.base_names, self.base_fd = (), self.sysfs._fd
            self.names, self.dangling = [], 0
        pending.extend(_parts(target))


def _parts(relative: str) -> List[str]:
    """The components of ``relative`` that move the walk, in reverse (the next one last)."""
    return [part for part in reversed(relative.split("/")) if part and part != "."]


class SysfsRoot:
    """A sysfs tree (``/sys`` or a copy of one) read strictly inside its root.

    The root is opened once and held; :meth:`close` (or ``with``) releases it.
    """

    def __init__(self, root: str) -> None:
        """Resolve ``root`` once and open it; it must be a directory."""
        resolved = os.path.realpath(root)
        try:
            self._fd = os.open(resolved, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
        except OSError:
            self._fd = -1
            raise UsageError(f"sysfs root {root!r} is not a directory") from None
        self.root = resolved

    def close(self) -> None:
        """Release the root's descriptor; later reads fail."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> SysfsRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __copy__(self) -> SysfsRoot:
        return self

    def __deepcopy__(self, memo: Any) -> SysfsRoot:
        # A copy sharing the descriptor would close it twice; the root is one open folder.
        return self

    def __reduce__(self) -> Any:
        return (SysfsRoot, (self.root,))

    def __del__(self) -> None:
        with contextlib.suppress(AttributeError, OSError):
            self.close()

    def _escape(self, relative: str, why: str) -> SysfsEscape:
        return SysfsEscape(f"sysfs path {relative!r} {why}, outside the root {self.root!r}; not followed")

    # -- the walk ----------------------------------------------------------------------------------

    def _start(self, relative: str, base: Optional[SysfsDir] = None) -> _Walk:
        if "\0" in relative or relative.startswith("/"):
            raise SysfsEscape(f"sysfs path {relative!r} is not relative to the root")
        if self._fd < 0:
            raise UsageError(f"sysfs root {self.root!r} is closed")
        if base is None:
            return _Walk(self, relative, ((), self._fd))
        # Messages name the whole path, not just the part below the held folder.
        return _Walk(self, f"{base.path}/{relative}" if base.names else relative, (base.names, base.fd))

    def _walk(self, walk: _Walk, pending: List[str], *, last: str) -> Optional[str]:
        """Walk ``pending`` (consumed); what is left for the caller depends on ``last``.

        ``"file"``/``"link"``: the final component's name, unopened, in ``walk.here()``;
        ``"dir"``: ``""`` with the final folder entered; ``"resolve"``: ``""`` with missing
        components kept as names. None when the path does not exist as asked.
        """
        while pending:
            part = pending.pop()
            if part == "..":
                count = 1
                while pending and pending[-1] == "..":
                    pending.pop()
                    count += 1
                walk.up(count)
                continue
            final = not pending
            if walk.dangling:
                if final and last in ("file", "link"):
                    return None
                walk.enter(part, None)
                continue
            if final and last in ("file", "link") and not walk.trailing:
                return part
            fd = walk.open_dir(part)
            if fd is not None:
                walk.enter(part, fd)
                continue
            target = walk.readlink(part)
            if target is not None:
                walk.follow(target, pending)
                continue
            if final and last != "resolve":
                return None
            walk.enter(part, None)  # missing (or a file): later components are only names
        return "" if last in ("dir", "resolve") and not walk.dangling else None

    # -- reading -----------------------------------------------------------------------------------

    def resolve(self, relative: str, base: Optional[SysfsDir] = None) -> str:
        """The physical path of ``relative`` (symlinks followed), or :class:`SysfsEscape` when outside.

        Components that do not exist are kept as names, as ``os.path.realpath`` does.
        """
        found = self.physical(relative, base)
        return self.root if found == "." else os.path.join(self.root, found)

    def physical(self, relative: str, base: Optional[SysfsDir] = None) -> str:
        """:meth:`resolve`, relative to the root (``.`` for the root itself)."""
        walk = self._start(relative, base)
        try:
            self._walk(walk, _parts(relative), last="resolve")
            return "/".join(walk.names) or "."
        finally:
            walk.close()

    def relative(self, path: str) -> str:
        """``path`` (already resolved inside the root) relative to the root."""
        return os.path.relpath(path, self.root)

    def open_dir(self, relative: str) -> Optional[SysfsDir]:
        """A held folder inside the root, to read many attributes of one device cheaply; None if absent.

        Close it (or use ``with``); reads through it stay confined like any other.
        """
        walk = self._start(relative)
        try:
            if self._walk(walk, _parts(relative), last="dir") is None:
                return None
            fd = os.dup(walk.here())
            return SysfsDir(self, tuple(walk.names), fd)
        finally:
            walk.close()

    def list_dir(self, relative: str, base: Optional[SysfsDir] = None) -> List[str]:
        """The sorted entries of a directory inside the root; empty when it does not exist."""
        walk = self._start(relative, base)
        try:
            if self._walk(walk, _parts(relative), last="dir") is None:
                return []
            try:
                return sorted(os.listdir(walk.here()))
            except OSError:
                return []
        finally:
            walk.close()

    def is_dir(self, relative: str, base: Optional[SysfsDir] = None) -> bool:
        """Whether ``relative`` is a directory inside the root."""
        walk = self._start(relative, base)
        try:
            return self._walk(walk, _parts(relative), last="dir") is not None
        finally:
            walk.close()

    def read(self, relative: str, base: Optional[SysfsDir] = None) -> Optional[str]:
        """The text of an attribute file, without its trailing newline; ``None`` when absent or unreadable.

        Only regular files are read (sysfs attributes are); a FIFO, socket or device node is
        opened non-blocking, seen by ``fstat`` and left unread.
        """
        walk = self._start(relative, base)
        pending = _parts(relative)
        try:
            while True:
                name = self._walk(walk, pending, last="file")
                if not name:
                    return None
                try:
                    fd = os.open(name, _FILE_FLAGS, dir_fd=walk.here())
                    break
                except OSError as error:
                    # O_NOFOLLOW refused a symlink: follow it by the walk, inside the root only.
                    target = walk.readlink(name) if error.errno in _MAYBE_LINK else None
                    if target is None:
                        return None
                    walk.follow(target, pending)
        finally:
            walk.close()
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = _read_bounded(fd)
        except OSError:
            return None
        finally:
            os.close(fd)
        return data.decode("utf-8", errors="replace").rstrip("\n")

    def link_name(self, relative: str, base: Optional[SysfsDir] = None) -> Optional[str]:
        """The basename of the target of the symlink ``relative`` (``driver``, ``mdev_type``), if any.

        The target must resolve inside the root, else :class:`SysfsEscape`.
        """
        target = self.link_target(relative, base)
        return None if target is None else os.path.basename(self.root) if target == "." else target.rsplit("/", 1)[-1]

    def link_target(self, relative: str, base: Optional[SysfsDir] = None) -> Optional[str]:
        """Where the symlink ``relative`` leads (physical, relative to the root), or None if it is no symlink."""
        walk = self._start(relative, base)
        try:
            name = self._walk(walk, _parts(relative), last="link")
            if not name or name in (".", ".."):
                return None
            target = walk.readlink(name)
            if target is None:
                return None
            pending: List[str] = []
            walk.follow(target, pending)
            self._walk(walk, pending, last="resolve")
            return "/".join(walk.names) or "."
        finally:
            walk.close()


class SysfsDir:
    """A folder of a :class:`SysfsRoot` held open: reads relative to it skip the walk down to it."""

    def __init__(self, sysfs: SysfsRoot, names: Tuple[str, ...], fd: int) -> None:
        self.sysfs = sysfs
        self.names = names
        self.fd = fd

    @property
    def path(self) -> str:
        """The folder relative to the root (``.`` for the root itself)."""
        return "/".join(self.names) or "."

    def read(self, name: str) -> Optional[str]:
        """:meth:`SysfsRoot.read` of ``name`` relative to this folder."""
        return self.sysfs.read(name, self)

    def link_name(self, name: str) -> Optional[str]:
        """:meth:`SysfsRoot.link_name` of ``name`` relative to this folder."""
        return self.sysfs.link_name(name, self)

    def list_dir(self, name: str = ".") -> List[str]:
        """:meth:`SysfsRoot.list_dir` of ``name`` relative to this folder."""
        return self.sysfs.list_dir(name, self)

    def is_dir(self, name: str) -> bool:
        """:meth:`SysfsRoot.is_dir` of ``name`` relative to this folder."""
        return self.sysfs.is_dir(name, self)

    def close(self) -> None:
        """Release the folder's descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> SysfsDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_bounded(fd: int) -> bytes:
    chunks: List[bytes] = []
    left = MAX_ATTRIBUTE_BYTES
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
