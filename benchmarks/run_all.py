"""``make bench``: every benchmark, each in its own process, printing its figure and its ratio to the goal."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("w1_checks.py", "w2_table_size.py", "w3_placement.py", "w4_cold_cli.py", "memory.py")


def main() -> int:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
          f" {platform.platform()}")
    failed = 0
    for script in SCRIPTS:
        if not (HERE / script).exists():
            continue
        result = subprocess.run([sys.executable, str(HERE / script)], cwd=HERE, check=False)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
