"""``python -m vfiocompat`` and the ``vfiocompat`` command: the command line as a process."""

from __future__ import annotations

import gc
from typing import NoReturn


def run() -> NoReturn:
    """Import what every command needs with the collector paused, then run the command and exit."""
    # The modules a check imports make objects that live until the exit; the collector walking them,
    # at import and again at every later collection, cost a cold check 2 ms of 50.
    gc.disable()
    try:
        from . import _cli, _registry  # noqa: F401 - imported for the pause, used below
    finally:
        gc.enable()
    gc.freeze()
    _cli.run()


if __name__ == "__main__":
    run()
