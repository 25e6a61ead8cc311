"""Reading a sysfs tree without ever leaving it: every path and symlink is resolved first.

A path whose resolution lands outside the root (``..``, an absolute symlink, a link to
``/etc``) raises :class:`SysfsEscape` and is not read. Reads are bounded: a sysfs attribute
is at most a page, so anything bigger than :data:`MAX_ATTRIBUTE_BYTES` is cut.
"""

from __future__ import annotations

import os
from typing import List, Optional

from ..errors import SysfsEscape, UsageError

__all__ = ["MAX_ATTRIBUTE_BYTES", "SysfsEscape", "SysfsRoot"]

#: Longest attribute read (sysfs attributes are one page, 4096 bytes on most hosts).
MAX_ATTRIBUTE_BYTES = 65536
_MAX_LINKS = 40


class SysfsRoot:
    """A sysfs tree (``/sys`` or a copy of one) read strictly inside its root."""

    def __init__(self, root: str) -> None:
        """Resolve ``root`` once; it must be a directory."""
        resolved = os.path.realpath(root)
        if not os.path.isdir(resolved):
            raise UsageError(f"sysfs root {root!r} is not a directory")
        self.root = resolved

    def resolve(self, relative: str) -> str:
        """The real path of ``relative`` (symlinks followed), or :class:`SysfsEscape` when outside.

        Components are walked one by one, so no link outside the root is ever looked at.
        """
        if "\0" in relative or os.path.isabs(relative):
            raise SysfsEscape(f"sysfs path {relative!r} is not relative to the root")
        stack: List[str] = []
        pending = relative.split("/")
        hops = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if not stack:
                    raise self._escape(relative, "climbs above the root")
                stack.pop()
                continue
            candidate = os.path.join(self.root, *stack, part)
            if not os.path.islink(candidate):
                stack.append(part)
                continue
            hops += 1
            if hops > _MAX_LINKS:
                raise self._escape(relative, "follows too many symlinks")
            target = os.readlink(candidate)
            if os.path.isabs(target):
                if target != self.root and not target.startswith(self.root + os.sep):
                    raise self._escape(relative, f"has a symlink to {target!r}")
                stack = []
                target = target[len(self.root):]
            pending = target.split("/") + pending
        return os.path.join(self.root, *stack)

    def _escape(self, relative: str, why: str) -> SysfsEscape:
        return SysfsEscape(f"sysfs path {relative!r} {why}, outside the root {self.root!r}; not followed")

    def relative(self, path: str) -> str:
        """``path`` (already resolved inside the root) relative to the root."""
        return os.path.relpath(path, self.root)

    def list_dir(self, relative: str) -> List[str]:
        """The sorted entries of a directory inside the root; empty when it does not exist."""
        path = self.resolve(relative)
        if not os.path.isdir(path):
            return []
        try:
            return sorted(os.listdir(path))
        except OSError:
            return []

    def is_dir(self, relative: str) -> bool:
        """Whether ``relative`` is a directory inside the root."""
        return os.path.isdir(self.resolve(relative))

    def read(self, relative: str) -> Optional[str]:
        """The text of an attribute file, without its trailing newline; ``None`` when absent or unreadable."""
        path = self.resolve(relative)
        if not os.path.isfile(path):
            return None
        try:
            # O_NOFOLLOW: the path was just resolved; refuse a symlink swapped in since.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                data = handle.read(MAX_ATTRIBUTE_BYTES)
        except OSError:
            return None
        return data.decode("utf-8", errors="replace").rstrip("\n")

    def link_name(self, relative: str) -> Optional[str]:
        """The basename of the target of the symlink ``relative`` (``driver``, ``mdev_type``), if any.

        The target must resolve inside the root, else :class:`SysfsEscape`.
        """
        head, name = os.path.split(relative)
        if not name or name in (".", ".."):
            return None
        lexical = os.path.join(self.resolve(head or "."), name)
        if not os.path.islink(lexical):
            return None
        return os.path.basename(self.resolve(relative))
