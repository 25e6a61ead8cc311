"""``python -m vfiocompat``: the same as the ``vfiocompat`` command."""

from ._cli import run

run()
