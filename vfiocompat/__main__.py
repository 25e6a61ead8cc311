"""``python -m vfiocompat``: the same as the ``vfiocompat`` command."""

import sys

from ._cli import main

sys.exit(main())
