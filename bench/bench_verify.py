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
import sys
from pathlib import Path

from bench_read import BIG, write_big
from timing import compare, report


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
    print(f"file: {BIG.name} ({BIG.stat().st_size / 2**30:.2f} GiB)")
    print(report(samples, "sha256sum"))


if __name__ == "__main__":
    main()
