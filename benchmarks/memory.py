"""Memory: a 10,000-rule table loaded and compiled in a fresh process: goal at most 100 MB resident."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

GOAL_MB = 100.0

CHILD = """
import resource, sys
from vfiocompat import Registry
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
registry = Registry(tables=[sys.argv[1]])
assert len(registry.tables[0].rules) >= 10000, registry.plugins
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after)
"""


def main() -> float:
    sys.path.insert(0, str(Path(__file__).parent))
    from synthetic import write_table

    with tempfile.TemporaryDirectory() as tmp:
        path = write_table(Path(tmp), 10_000)
        output = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                                check=True, env={"VFIOCOMPAT_CACHE_DIR": "off", "PATH": ""}).stdout
    before_kb, after_kb = map(int, output.split())
    peak_mb = after_kb / 1024
    print(f"Memory: 10,000-rule table loaded and compiled: peak RSS {peak_mb:.1f} MB"
          f" (interpreter and imports {before_kb / 1024:.1f} MB)  goal <= {GOAL_MB:.0f} MB"
          f"  ratio {GOAL_MB / peak_mb:.2f}x")
    return peak_mb


if __name__ == "__main__":
    main()
