"""``python -m vfiocompat`` and the ``vfiocompat`` command: the command line as a process."""

from __future__ import annotations

import gc
import os
import sys
from contextlib import suppress
from typing import NoReturn


def run() -> NoReturn:
    """Run the command on ``sys.argv`` and exit with its status, without tearing the interpreter down.

    The modules a check imports make objects that live until the exit: the collector walking them,
    at import and at every later collection, cost a cold check 2 ms of 50, so it is paused while they
    import. Freeing every module at exit cost another 5.5 ms (``benchmarks/w4_cold_cli.py``): the
    status is decided and the streams are flushed first, so no output is lost; what is skipped is
    the plugins' ``atexit`` work, which no check relies on.
    """
    gc.disable()
    try:
        from . import _cli, _registry  # noqa: F401 - imported for the pause; _registry is what every command uses
    finally:
        gc.enable()
    gc.freeze()
    status = _cli.main()
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(status)


if __name__ == "__main__":
    run()
