"""Benchmark: `mckpt fetch` against curl on the same local range server, in one run.

Serves a 1 GiB random file with bench/range_server.py on 127.0.0.1 (Range, ETag, sendfile) in two
set-ups, and downloads it alternately with curl (to a file), curl followed by `sha256sum` (what
curl needs to match fetch's checking), and `mckpt fetch` into an empty cache (sha256, fsync,
rename):

  plain    the server sends as fast as it can. mckpt runs with its defaults (ranged connections
           for a file this big) and with `--connections 1` (one stream).
  capped   the server paces each connection at 40 MB/s, as a far CDN does.

Prints medians of wall time, the ratio to curl, and each client's peak RSS (GNU time, see timing.measure_peak).

    python bench/bench_fetch.py [--size-mb 1024] [--runs 3] [--capped-runs 1] [--dir /tmp/mckpt-bench]

with the python of an environment where this checkout is installed (`pip install .`): its `mckpt`
is the one timed.

Targets (issue 13): plain: mckpt <= 1.5x curl's wall time; capped: mckpt >= 3x faster than curl;
peak memory <= 100 MiB in both.
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

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_file(path: Path, size_mb: int) -> str:
    if not path.exists() or path.stat().st_size != size_mb << 20:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            for _ in range(size_mb):
                f.write(os.urandom(1 << 20))
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            sha.update(chunk)
    return sha.hexdigest()


def bench(label: str, src: Path, sha: str, work: Path, runs: int, rate: float | None,
          mckpt_variants: dict[str, list[str]], with_sha256sum: bool) -> None:
    port = free_port()
    cmd = [sys.executable, str(HERE / "range_server.py"), str(src.parent), str(port)]
    server = subprocess.Popen([*cmd, *(["--rate-mb", str(rate)] if rate else [])])
    url = f"http://127.0.0.1:{port}/{src.name}"
    # The `mckpt` installed beside this interpreter (`pip install .`), not this source tree on
    # PYTHONPATH: where bytecode is not written, a source tree is compiled anew at every start.
    mckpt = str(Path(sys.executable).parent / "mckpt")
    out, cache = work / "curl.bin", work / "cache"
    results: dict[str, list[tuple[float, float]]] = {"curl": []}
    if with_sha256sum:
        results["curl + sha256sum"] = []
    results.update({name: [] for name in mckpt_variants})
    curl = ["curl", "-sf", "-o", str(out), url]
    try:
        time.sleep(0.5)
        for _ in range(runs):
            s = measure_peak(curl)
            results["curl"].append((s.wall, s.peak_rss_mib))
            if with_sha256sum:
                h = measure_peak(["sha256sum", str(out)])
                results["curl + sha256sum"].append((s.wall + h.wall, max(s.peak_rss_mib, h.peak_rss_mib)))
            out.unlink(missing_ok=True)
            for name, extra in mckpt_variants.items():
                shutil.rmtree(cache, ignore_errors=True)
                m = measure_peak([mckpt, "fetch", url, "-q", "--cache-dir", str(cache), *extra])
                results[name].append((m.wall, m.peak_rss_mib))
                # The cache names the file by its verified sha256: its presence is the check.
                if not list(cache.glob(f"*/*/{sha}/{src.name}")):
                    raise SystemExit(f"{name} did not produce the file with the source's sha256")
    finally:
        server.terminate()
        server.wait()
        out.unlink(missing_ok=True)
        shutil.rmtree(cache, ignore_errors=True)
    base = statistics.median(w for w, _ in results["curl"])
    print(f"\n{label}: {src.stat().st_size >> 20} MiB over loopback, median of {runs} run(s)")
    print(f"{'client':<28} {'wall s':>7} {'x curl':>7} {'curl / it':>9} {'peak RSS MiB':>13}   runs")
    for name, rs in results.items():
        wall = statistics.median(w for w, _ in rs)
        peak = max(m for _, m in rs)
        walls = " ".join(f"{w:.2f}" for w, _ in rs)
        print(f"{name:<28} {wall:>7.2f} {wall / base:>7.2f} {base / wall:>9.2f} {peak:>13.1f}   {walls}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--capped-runs", type=int, default=1)
    ap.add_argument("--rate-mb", type=float, default=40.0)
    ap.add_argument("--dir", default="/tmp/mckpt-bench")
    a = ap.parse_args()
    work = Path(a.dir)
    src = work / "serve" / "big.bin"
    sha = make_file(src, a.size_mb)
    print(f"load before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    bench("plain server", src, sha, work, a.runs, None,
          {"mckpt fetch (default)": [], "mckpt fetch --connections 1": ["--connections", "1"]},
          with_sha256sum=True)
    if a.capped_runs:
        bench(f"server capping each connection at {a.rate_mb:g} MB/s", src, sha, work, a.capped_runs,
              a.rate_mb, {"mckpt fetch (default)": []}, with_sha256sum=False)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
