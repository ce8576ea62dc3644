"""Benchmark of `mckpt verify` (issue 16): a ~1 GB checkpoint, every byte read and checked,
against `sha256sum` of the same file, side by side (page cache warm for both).

Two mckpt variants: plain `verify` (CRC-32 of every record, views, pickle) and `verify --sha256`
(the same plus a sha256 in its own thread). Targets: ≤ 1.5× sha256sum's wall time, ≤ 64 MiB peak.

Run by hand: `python bench/bench_verify.py [--runs 5]`. The file goes to bench/out/ (ignored by git),
shared with bench_read.py.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_read import BIG, write_big
from timing import compare, report


def cpu_seconds(cmd: list[str], env: dict[str, str]) -> float:
    """User + system CPU of one run: on a busy machine a threaded command gets more of the cores
    than a single-threaded one, so wall time alone would flatter it."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, _, usage = os.wait4(proc.pid, 0)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    if not BIG.exists():
        BIG.parent.mkdir(parents=True, exist_ok=True)
        write_big(BIG)
    sha_tool = shutil.which("sha256sum")
    if sha_tool is None:
        sys.exit("sha256sum is not on PATH")
    h = hashlib.sha256()
    with open(BIG, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    mckpt = [sys.executable, "-m", "mckpt"]
    samples = compare({
        "sha256sum": [sha_tool, str(BIG)],
        "mckpt verify": [*mckpt, "verify", str(BIG)],
        "mckpt verify --sha256": [*mckpt, "verify", str(BIG), "--sha256", h.hexdigest()],
    }, runs=args.runs, env=env)
    print(f"file: {BIG.name} ({BIG.stat().st_size / 2**30:.2f} GiB), load average {os.getloadavg()[0]:.1f}")
    print(report(samples, "sha256sum"))
    commands = {"sha256sum": [sha_tool, str(BIG)], "mckpt verify": [*mckpt, "verify", str(BIG)],
                "mckpt verify --sha256": [*mckpt, "verify", str(BIG), "--sha256", h.hexdigest()]}
    cpu: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(args.runs):
        for name, cmd in commands.items():
            cpu[name].append(cpu_seconds(cmd, env))
    t = time.strftime("%H:%M:%S")
    print(f"CPU (user+sys, median of {args.runs}, {t}): " + ", ".join(
        f"{k} {statistics.median(v):.2f} s" for k, v in cpu.items()))


if __name__ == "__main__":
    main()
