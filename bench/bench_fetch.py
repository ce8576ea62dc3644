"""Benchmark: `mckpt fetch` against curl on the same local server, in one run.

Serves a 1 GiB random file with `python -m http.server` on 127.0.0.1 and downloads it alternately
with curl (to a file), curl followed by `sha256sum` (what curl needs to match fetch's checking),
and `mckpt fetch` into an empty cache (sha256 while streaming, fsync, rename). Prints medians of
wall time, the ratio to curl, and each client's peak RSS (from wait4's rusage of the child).

    python bench/bench_fetch.py [--size-mb 1024] [--runs 3] [--dir /tmp/mckpt-bench]

Targets (issue 4): mckpt wall <= 1.2x curl, peak memory <= 100 MiB.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from timing import measure_peak

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process."""
    sample = measure_peak(cmd, env)
    return sample.wall, sample.peak_rss_mib


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dir", default="/tmp/mckpt-bench")
    a = ap.parse_args()
    work = Path(a.dir)
    work.mkdir(parents=True, exist_ok=True)
    src = work / "serve" / "big.bin"
    src.parent.mkdir(exist_ok=True)
    if not src.exists() or src.stat().st_size != a.size_mb << 20:
        with open(src, "wb") as f:
            for _ in range(a.size_mb):
                f.write(os.urandom(1 << 20))
    sha = hashlib.sha256()
    with open(src, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              cwd=src.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/big.bin"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out, cache = work / "curl.bin", work / "cache"
    results: dict[str, list[tuple[float, float]]] = {"curl": [], "curl + sha256sum": [], "mckpt fetch": []}
    try:
        time.sleep(0.5)
        run(["curl", "-sf", "-o", str(out), url])  # warm the page cache and the server
        for _ in range(a.runs):
            results["curl"].append(run(["curl", "-sf", "-o", str(out), url]))
            w1, m1 = run(["curl", "-sf", "-o", str(out), url])
            w2, m2 = run(["sha256sum", str(out)])
            results["curl + sha256sum"].append((w1 + w2, max(m1, m2)))
            shutil.rmtree(cache, ignore_errors=True)
            results["mckpt fetch"].append(run([sys.executable, "-m", "mckpt", "fetch", url, "-q",
                                               "--cache-dir", str(cache)], env))
            # The cache names the file by its verified sha256: its presence is the check.
            if not list(cache.glob(f"*/*/{sha.hexdigest()}/big.bin")):
                raise SystemExit("mckpt fetch did not produce the file with the source's sha256")
    finally:
        server.terminate()
        server.wait()
        out.unlink(missing_ok=True)
        shutil.rmtree(cache, ignore_errors=True)
    base = statistics.median(w for w, _ in results["curl"])
    print(f"{a.size_mb} MiB over loopback from python -m http.server, median of {a.runs} runs")
    print(f"{'client':<18} {'wall s':>7} {'x curl':>7} {'peak RSS MiB':>13}   runs")
    for name, rs in results.items():
        wall = statistics.median(w for w, _ in rs)
        peak = max(m for _, m in rs)
        runs = " ".join(f"{w:.2f}" for w, _ in rs)
        print(f"{name:<18} {wall:>7.2f} {wall / base:>7.2f} {peak:>13.1f}   {runs}")


if __name__ == "__main__":
    main()
