"""Benchmark of remote stores (issue 14), against moto's S3 server on 127.0.0.1 behind a counting proxy.

1. `mckpt list s3://… --acc` over 1,000 checkpoints (1,000 runs, so 1,000 newest files read by
   ranged GETs, 16 at a time), beside `list` without `--acc` and `list --acc` of the same files on
   local disk. Target: ≤ 10 s.
2. `mckpt inspect s3://…` of a 1 GB checkpoint against a full GET of the object (obstore, streamed
   to nowhere). Target: ≥ 20× faster. Bytes sent by the server are counted for both.

Run by hand with the python of an environment where this checkout is installed (`pip install .`;
its `mckpt` is timed): `python bench/bench_remote.py [--runs 3]` (moto, in this process), or
against any S3-compatible server with an existing bucket: `--endpoint http://127.0.0.1:9000 --key
K --secret S --bucket B` (MinIO, or s3rver from npm: `s3rver -d DIR -p 9000 --configure-bucket
bench`, keys S3RVER/S3RVER). `--rate-mb R` paces each connection's replies at R MB/s, as a network
link would (on loopback a 1 GB GET takes ~3 s, about fifteen Python start-ups); `--list-only` /
`--inspect-only` run one part. Needs moto[server] and torch. Files go to bench/out/remote (removed
afterwards unless --keep).

Measured here (2 cores, quiet machine, load 1-3 with the server's own work), side by side in one
run each, 3-5 runs, medians:

| server | list --acc, 1,000 objects | inspect 1 GB | full GET 1 GB | ratio |
| --- | --- | --- | --- | --- |
| s3rver 3.7.1 (node), loopback | 3.45 s (min 3.22 s) | 0.188 s | 4.45 s | 23.6× |
| s3rver, paced at 110 MB/s per connection (the GET ran at 91 MB/s: ~1 Gbit/s) | - | 0.191 s | 11.75 s | 61.6× |
| moto 5.2.5, its own process (see below) | 6.45 s (min 6.15 s) | - | - | - |
| moto 5.2.5, threaded in this process (the default) | 11.4 s (min 7.5 s) | - | - | - |

moto in its own process: `python -m moto.server -p 9100`, `curl -X PUT http://127.0.0.1:9100/bench`,
then `--endpoint http://127.0.0.1:9100 --key testing --secret testing`. Threaded in this process it
shares the GIL with the counting proxy.

(An earlier run, when an object opened by URL took a HEAD before its two reads: inspect 0.214 s
against a 3.10 s GET, 14.5×; the loopback GET of s3rver varies 3.1-4.5 s between runs.) Bytes the
server sent: 159 KiB per 158 KiB file for `list --acc` (objects up to 256 KiB are read whole, one
GET each), and 129 KiB for the inspect of the 1 GB object against 1,024 MiB for the
full GET (8,134× fewer). mckpt's own CPU: 2.5-3.0 s for the 1,000-file `list --acc`, 0.17-0.20 s
for the inspect (1.1-1.7 s for the GET). moto copies the whole object for every GET and serves
about 100 a second here, in the same process as the counting proxy, so its wall times are its own.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from timing import compare, report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out" / "remote"
sys.path.insert(0, str(REPO / "tests"))

import s3_server  # noqa: E402  (the test suite's moto + counting proxy)


def _save_checkpoint(path: Path, weights: int, results: str) -> None:
    """A real torch.save of a Mammoth-shaped checkpoint, in a subprocess (the bench imports no torch)."""
    subprocess.run([sys.executable, "-c", (
        "import argparse, sys, torch\n"
        f"torch.save({{'model': {{'net.fc.weight': torch.zeros({weights}), 'net.fc.bias': torch.zeros(10)}},"
        " 'args': argparse.Namespace(model='er', dataset='seq-cifar10', buffer_size=500, n_epochs=1),"
        f" 'results': {results}}}, sys.argv[1])"), str(path)], check=True)


def small_checkpoint(path: Path) -> bytes:
    """~165 KB: read by ranged GETs."""
    _save_checkpoint(path, 40000, "[[[91.5], [80.0, 88.0]], [[95.0], [90.0, 93.0]], {}]")
    return path.read_bytes()


def big_checkpoint(path: Path) -> None:
    """1 GiB of weights: inspect against a full GET."""
    _save_checkpoint(path, 256 << 20, "[[[91.5]], [[95.0]], {}]")


class Target:
    """Where the objects live: moto in this process (default), or any S3-compatible server given by
    --endpoint (MinIO, s3rver, …) reached through the same counting proxy."""

    def __init__(self, endpoint: str | None, key: str, secret: str, bucket: str, rate: float = 0.0) -> None:
        self.bucket = bucket
        if endpoint is None:
            self.moto = s3_server.start_threaded()
            self.proxy = self.moto.proxy
            self.proxy.rate = rate
            self.direct, self.key, self.secret = self.moto.direct, "testing", "testing"
            s3_server.make_bucket(self.moto, bucket, {})
        else:
            self.moto = None
            parts = urlsplit(endpoint)
            self.proxy = s3_server.CountingProxy((parts.hostname or "127.0.0.1", parts.port or 80), rate=rate)
            self.proxy.start()
            self.direct, self.key, self.secret = endpoint, key, secret
        self.endpoint = f"http://127.0.0.1:{self.proxy.port}"
        self.name = "moto (threaded, this process)" if endpoint is None else endpoint

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.key,
                "AWS_SECRET_ACCESS_KEY": self.secret, "AWS_REGION": "us-east-1", "AWS_PROFILE": ""}

    def put(self, key: str, body: bytes | Path) -> None:
        if self.moto is not None:  # moto's HTTP upload of 1 GB takes about a minute: hand it over
            from moto.core import DEFAULT_ACCOUNT_ID
            from moto.s3.models import s3_backends

            data = body.read_bytes() if isinstance(body, Path) else body
            s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(self.bucket, key, data)
            return
        import obstore
        from obstore.store import S3Store

        store = S3Store(self.bucket, endpoint=self.direct, access_key_id=self.key, secret_access_key=self.secret,
                        region="us-east-1", client_options={"allow_http": True})
        obstore.put(store, key, body)

    def stop(self) -> None:
        self.proxy.stop()
        if self.moto is not None:
            self.moto.threaded.stop()


def counted(target: Target, cmd: list[str], env: dict[str, str]) -> tuple[int, float]:
    """(bytes the server sent, CPU seconds the client used) for one run of `cmd`."""
    before = target.proxy.sent
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{' '.join(cmd)} failed")
    return target.proxy.sent - before, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--list-only", action="store_true", help="only the list --acc part")
    ap.add_argument("--inspect-only", action="store_true", help="only the inspect-against-GET part")
    ap.add_argument("--rate-mb", type=float, default=0.0,
                    help="pace each connection's replies at this many MB/s (a network link; 0: loopback speed)")
    ap.add_argument("--endpoint", help="an S3-compatible server to use instead of moto (http://host:port)")
    ap.add_argument("--key", default="S3RVER")
    ap.add_argument("--secret", default="S3RVER")
    ap.add_argument("--bucket", default="bench", help="an existing bucket on --endpoint")
    a = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    target = Target(a.endpoint, a.key, a.secret, a.bucket, rate=a.rate_mb * 1e6)
    env = {**os.environ, **target.env(), "MCKPT_CACHE": str(OUT / "cache")}
    py = sys.executable
    # The `mckpt` installed beside this interpreter (`pip install .` of this checkout): a source
    # tree on PYTHONPATH would be compiled anew at every run where bytecode is not written.
    mckpt = [str(Path(py).parent / "mckpt")]
    link = f", each connection paced at {a.rate_mb:g} MB/s" if a.rate_mb else ", loopback speed"
    print(f"server: {target.name}{link}")
    try:
        if not a.inspect_only:
            list_part(a, target, mckpt, env)
        if not a.list_only:
            inspect_part(a, target, mckpt, env)
    finally:
        target.stop()
        if not a.keep:
            shutil.rmtree(OUT)


def list_part(a: argparse.Namespace, target: Target, mckpt: list[str], env: dict[str, str]) -> None:
    """`list --acc` of 1,000 remote checkpoints, beside `list` and the same files on disk."""
    b = a.bucket
    body = small_checkpoint(OUT / "one.pt")
    local = OUT / "checkpoints"
    local.mkdir(exist_ok=True)
    for i in range(1000):
        name = f"er_seq-cifar10_None_500_1_2025{1 + i % 12:02d}{1 + i % 28:02d}-1010{i % 60:02d}_{i:08x}_1.pt"
        target.put(f"ck/{name}", body)
        (local / name).write_bytes(body)
    print(f"1,000 checkpoints of {len(body) / 1024:.0f} KiB in s3://{b}/ck/ and {local}")
    samples = compare({
        "list s3:// (1,000)": [*mckpt, "list", f"s3://{b}/ck"],
        "list s3:// --acc (1,000)": [*mckpt, "list", f"s3://{b}/ck", "--acc"],
        "list local --acc (1,000)": [*mckpt, "list", str(local), "--acc"],
    }, runs=a.runs, env=env)
    print(report(samples, "list local --acc (1,000)"))
    sent, cpu = counted(target, [*mckpt, "list", f"s3://{b}/ck", "--acc"], env)
    print(f"list s3:// --acc: the server sent {sent / 2**20:.1f} MiB for 1,000 files "
          f"({sent / 1000 / 1024:.0f} KiB each, of {len(body) / 1024:.0f} KiB); mckpt used {cpu:.1f} s of CPU")


def inspect_part(a: argparse.Namespace, target: Target, mckpt: list[str], env: dict[str, str]) -> None:
    """`inspect` of a 1 GB object against a full GET of it, with the bytes each made the server send."""
    b, py = a.bucket, sys.executable
    big = OUT / "er_seq-cifar10_None_500_1_20250101-101010_1a2b3c4d_1.pt"
    print("\nwriting the 1 GB checkpoint…", flush=True)
    big_checkpoint(big)
    target.put(f"big/{big.name}", big)
    size = big.stat().st_size
    big.unlink()
    url = f"s3://{b}/big/{big.name}"
    get_all = ("import os, obstore; from obstore.store import S3Store\n"
               f"s = S3Store({b!r}, endpoint=os.environ['AWS_ENDPOINT_URL'], access_key_id={target.key!r},"
               f" secret_access_key={target.secret!r}, region='us-east-1', client_options={{'allow_http': True}})\n"
               f"n = sum(len(c) for c in obstore.get(s, 'big/{big.name}').stream(8 << 20))\nassert n == {size}")
    samples = compare({"mckpt inspect s3:// (1 GB)": [*mckpt, "inspect", url],
                       "full GET (obstore, 1 GB)": [py, "-c", get_all]}, runs=a.runs, env=env)
    print(report(samples, "full GET (obstore, 1 GB)"))
    inspect_sent, inspect_cpu = counted(target, [*mckpt, "inspect", url], env)
    get_sent, get_cpu = counted(target, [py, "-c", get_all], env)
    print(f"bytes sent by the server: inspect {inspect_sent / 1024:.0f} KiB, full GET {get_sent / 2**20:.0f} MiB "
          f"({get_sent / inspect_sent:.0f}×); client CPU: inspect {inspect_cpu:.2f} s, full GET {get_cpu:.2f} s")


if __name__ == "__main__":
    main()
