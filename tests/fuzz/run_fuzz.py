#!/usr/bin/env python3
"""Run every atheris harness (parser, tables, rules) for a bounded time; exit 1 if any finds a crash.

Usage: ``tests/fuzz/run_fuzz.py --seconds N [--out DIR] [--only NAME]``. The time is split evenly between
the harnesses. Each starts from the checked-in corpus (tests/corpus/) copied to a scratch folder, so the
corpus is never written; crashes are saved as ``DIR/<harness>/crash-*`` (default DIR: ./fuzz-out).
A crash input worth keeping becomes a tests/corpus/ entry.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parent / "corpus"
HARNESSES = ("parser", "tables", "rules")


def seed(name: str, folder: Path) -> None:
    """Starting inputs for a harness, from the checked-in corpus."""
    folder.mkdir(parents=True, exist_ok=True)
    if name == "parser":
        strings = json.loads((CORPUS / "device_versions.json").read_text("utf-8"))["strings"]
        for number, entry in enumerate(strings):
            text = entry.get("text")
            if text is not None:
                (folder / f"s{number}").write_bytes(text.encode("utf-8", "surrogateescape"))
    elif name == "tables":
        for number, path in enumerate(sorted((CORPUS / "tables").iterdir())):
            prefix = {".toml": b"\x00", ".json": b"\x01"}.get(path.suffix, b"\x02")
            (folder / f"t{number}").write_bytes(prefix + path.read_bytes()[:65536])
        (folder / "base").write_bytes(b"\x00" + (CORPUS / "base.toml").read_bytes())
    else:
        (folder / "r0").write_bytes(bytes(range(256)))


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="total fuzzing time, split between harnesses")
    parser.add_argument("--out", type=Path, default=Path("fuzz-out"), help="where crash inputs are written")
    parser.add_argument("--only", choices=HARNESSES, help="run just this harness, for the whole time")
    args = parser.parse_args(argv)
    names = [args.only] if args.only else list(HARNESSES)
    each = max(1, args.seconds // len(names))
    failed = []
    with tempfile.TemporaryDirectory(prefix="vfiocompat-fuzz-corpus-") as scratch:
        for name in names:
            corpus = Path(scratch) / name
            seed(name, corpus)
            artifacts = args.out / name
            artifacts.mkdir(parents=True, exist_ok=True)
            command = [sys.executable, str(HERE / "harnesses.py"), name, f"-max_total_time={each}",
                       "-timeout=10", "-rss_limit_mb=2048", "-max_len=65536", f"-artifact_prefix={artifacts}/",
                       str(corpus)]
            print(f"fuzzing {name} for {each}s: {' '.join(command)}", flush=True)
            # libFuzzer stops by itself; the margin only catches a harness that hangs outside it.
            try:
                status = subprocess.run(command, timeout=each + 120, check=False).returncode
            except subprocess.TimeoutExpired:
                status = -1
            if status != 0:
                failed.append(name)
                print(f"{name}: FAILED (exit {status}); inputs in {artifacts}", flush=True)
    for name in names:
        if name not in failed:
            shutil.rmtree(args.out / name, ignore_errors=True)
    print("fuzzing:", "failed: " + ", ".join(failed) if failed else "no crash found", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
