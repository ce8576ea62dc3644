"""Peak memory and time of `mckpt diff --weights` against loading both files with torch.

Run by hand from the repo root:  python bench/bench_diff_weights.py [--mib 400] [--tensors 20]

Two Mammoth-shaped checkpoints of about `--mib` MiB each (`--tensors` equal float32 tensors, so
the largest tensor is mib/tensors MiB) are written to a temp folder. Each case runs in a fresh
process under /usr/bin/time: `import torch` alone (the floor every torch user pays), the peer
(`torch.load` both files with weights_only=True and compute the same relative L2 changes), and
`mckpt diff --weights --json`. The streamed diff should stay near torch's floor plus a few times
the largest tensor, where the peer holds both files.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PEER = """
import sys, torch
a = torch.load(sys.argv[1], weights_only=True)["model"]
b = torch.load(sys.argv[2], weights_only=True)["model"]
norm = torch.linalg.vector_norm
out = {k: float(norm(b[k].double() - a[k].double()) / norm(a[k].double())) for k in a if k in b}
print(len(out))
"""


def write_pair(folder: Path, mib: int, tensors: int) -> tuple[Path, Path]:
    import torch

    numel = mib * (1 << 20) // 4 // tensors
    g = torch.Generator().manual_seed(0)
    paths = []
    for name, scale in (("a.pt", 0.0), ("b.pt", 0.01)):
        g.manual_seed(0)
        model = {}
        for i in range(tensors):
            t = torch.randn(numel, generator=g)
            model[f"net.layer{i}.weight"] = t + scale * torch.randn(numel, generator=g) if scale else t
        path = folder / name
        torch.save({"model": model, "args": {"model": "sgd"}, "results": [[], [], {}],
                    "optimizer": None, "scheduler": None}, path)
        del model
        paths.append(path)
    return paths[0], paths[1]


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return wall, int(proc.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=400)
    ap.add_argument("--tensors", type=int, default=20)
    opts = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as tmp:
        a, b = write_pair(Path(tmp), opts.mib, opts.tensors)
        size = a.stat().st_size / (1 << 20)
        cases = [
            ("import torch (floor)", [sys.executable, "-c", "import torch"]),
            ("peer: torch.load both + rel L2", [sys.executable, "-c", PEER, str(a), str(b)]),
            ("mckpt diff --weights --json",
             [sys.executable, "-m", "mckpt", "diff", str(a), str(b), "--weights", "--json"]),
        ]
        print(f"two files of {size:.0f} MiB, {opts.tensors} tensors of {size / opts.tensors:.0f} MiB each")
        rows = [(label, *run(cmd, env)) for label, cmd in cases]
        peer_wall, peer_rss = rows[1][1], rows[1][2]
        floor_rss = rows[0][2]
        print(f"{'case':<34} {'wall':>7} {'vs peer':>8} {'peak RSS':>10} {'vs peer':>8} {'above torch':>12}")
        for label, wall, rss in rows:
            print(f"{label:<34} {wall:6.2f}s {wall / peer_wall:7.2f}x {rss:8.0f}MiB {rss / peer_rss:7.2f}x "
                  f"{rss - floor_rss:9.0f}MiB")


if __name__ == "__main__":
    main()
