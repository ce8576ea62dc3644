"""Benchmark of `mckpt push` to an S3-compatible server (issue 23): a 1 GiB safe checkpoint pushed
with `--no-card` against obstore alone uploading the same file (multipart, the same part size).

Reported per run, side by side: wall time of each, their ratio (target ≤ 1.5×), the push's peak
RSS (target ≤ 100 MiB) and the bytes the push process read from files (`rchar`; target: one read
of the file, plus the few KiB the plan reads). Both run in their own processes.

Run by hand: `python bench/bench_push.py [--gib 1] [--runs 3]` (moto_server in its own process);
`--endpoint URL --key K --secret S --bucket B` for another server (MinIO, s3rver). Files go to
bench/out/push (removed afterwards unless --keep). Needs moto[server] and torch.

Measured here (2 cores shared with other work, moto 5.2 in its own process, 1 GiB, 10 MiB parts,
2 in flight for both), `python bench/bench_push.py --gib 1 --runs 2`:

| run | push | obstore alone | ratio | push peak RSS | bytes read / file size |
| --- | --- | --- | --- | --- | --- |
| 0 | 42.56 s | 56.87 s | 0.75x | 95 MiB | 1.004 |
| 1 | 39.71 s | 35.66 s | 1.11x | 95 MiB | 1.004 |

moto (~25-40 MB/s here) dominates both times and varies run to run by more than the difference.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "push"
NAME = "er_seq-cifar10_buf500_e1_20240101-000000_abcd1234_last.pt"

MEASURE = """
import os, resource, sys, runpy
def report():
    io = dict(l.split(": ") for l in open("/proc/self/io").read().splitlines())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sys.stderr.write("BENCH " + str(int(io["rchar"])) + " " + str(peak) + "\\n")
import atexit; atexit.register(report)
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__")
"""

OBSTORE_ALONE = """
import sys, obstore
from obstore.store import S3Store
store = S3Store(sys.argv[2], endpoint=sys.argv[1], access_key_id=sys.argv[3], secret_access_key=sys.argv[4],
                region="us-east-1", client_options={"allow_http": True})
obstore.put(store, sys.argv[5], open(sys.argv[6], "rb"), chunk_size=10 << 20, max_concurrency=2)
"""


def make_checkpoint(path: Path, gib: float) -> None:
    """A real torch.save of a safe Mammoth-shaped checkpoint (dict args), in a subprocess."""
    n = int(gib * (1 << 30)) // 4
    code = ("import sys, torch\n"
            f"torch.save({{'model': {{'net.fc.weight': torch.zeros({n}), 'net.fc.bias': torch.zeros(10)}},"
            " 'args': {'model': 'er', 'dataset': 'seq-cifar10', 'buffer_size': 500, 'n_epochs': 1},"
            " 'results': [[[91.5], [80.0, 88.0]], [[95.0], [90.0, 93.0]], {}]}, sys.argv[1])")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr}")
    return seconds, r.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--endpoint")
    ap.add_argument("--key", default="testing")
    ap.add_argument("--secret", default="testing")
    ap.add_argument("--bucket", default="bench")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    OUT.mkdir(parents=True, exist_ok=True)
    server = None
    if a.endpoint is None:
        import s3_server

        server = s3_server.start_moto({})
        s3_server.make_bucket(server, a.bucket, {})
        a.endpoint = server.direct
    try:
        path = OUT / NAME
        if not path.exists():
            make_checkpoint(path, a.gib)
        size = path.stat().st_size
        env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_ENDPOINT_URL": a.endpoint, "AWS_ACCESS_KEY_ID": a.key,
               "AWS_SECRET_ACCESS_KEY": a.secret, "AWS_REGION": "us-east-1"}
        rows = []
        for i in range(a.runs):
            alone, _ = timed([sys.executable, "-c", OBSTORE_ALONE, a.endpoint, a.bucket, a.key, a.secret,
                              f"alone/{i}/{NAME}", str(path)], env)
            push, err = timed([sys.executable, "-c", MEASURE, "mckpt", "push", str(path),
                               f"s3://{a.bucket}/push/{i}", "--no-card", "-q"], env)
            rchar, peak = (int(x) for x in err.split("BENCH ")[1].split()[:2])
            rows.append((push, alone, push / alone, peak / (1 << 20), rchar / size))
            print(f"run {i}: push {push:.2f} s, obstore alone {alone:.2f} s, ratio {push / alone:.2f}x, "
                  f"peak {peak / (1 << 20):.0f} MiB, read {rchar / size:.3f}x the file")
        med = [statistics.median(r[k] for r in rows) for k in range(5)]
        print(json.dumps({"bytes": size, "push_s": round(med[0], 2), "obstore_s": round(med[1], 2),
                          "ratio": round(med[2], 2), "peak_mib": round(med[3]), "reads_of_file": round(med[4], 3)}))
    finally:
        if server is not None:
            server.proxy.stop()
            server.process.terminate()
            server.process.wait(10)
        if not a.keep:
            shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
