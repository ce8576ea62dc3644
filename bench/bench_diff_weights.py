"""Peak memory and time of `mckpt diff --weights` against loading both files with torch.

Run by hand from the repo root:
    python bench/bench_diff_weights.py [--mib 300] [--tensors 8] [--largest 0.9] [--other-tree DIR]

Two Mammoth-shaped checkpoints of about `--mib` MiB each are written to a temp folder: one float32
tensor holding `--largest` of the bytes and `--tensors` - 1 equal ones sharing the rest (the shape
of a big backbone: one layer dominates). Each case runs in a fresh process under /usr/bin/time:
`import torch` alone (the floor every torch user pays), the peer (`torch.load` both files with
weights_only=True and compute the same relative L2 changes), `mckpt diff --weights --json`, and,
with `--other-tree`, the same command run from another checkout (an older mckpt, side by side).
The target: peak RSS <= 1.2x the largest tensor + 64 MiB.
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


def write_pair(folder: Path, mib: int, tensors: int, largest: float) -> tuple[Path, Path, int]:
    """The two files and the largest tensor's size in bytes."""
    import torch

    total = mib * (1 << 20) // 4
    big = int(total * largest) if tensors > 1 else total
    sizes = [big] + [(total - big) // (tensors - 1)] * (tensors - 1)
    g = torch.Generator().manual_seed(0)
    paths = []
    for name, scale in (("a.pt", 0.0), ("b.pt", 0.01)):
        g.manual_seed(0)
        model = {}
        for i, numel in enumerate(sizes):
            t = torch.randn(numel, generator=g)
            model[f"net.layer{i}.weight"] = t + scale * torch.randn(numel, generator=g) if scale else t
        path = folder / name
        torch.save({"model": model, "args": {"model": "sgd"}, "results": [[], [], {}],
                    "optimizer": None, "scheduler": None}, path)
        del model
        paths.append(path)
    return paths[0], paths[1], big * 4


def run(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of `cmd`, run in `cwd` (not the repo: `python -m` would put
    the current folder's mckpt before PYTHONPATH's)."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], env=env, capture_output=True, text=True, cwd=cwd)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
    return wall, int(proc.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=300)
    ap.add_argument("--tensors", type=int, default=8)
    ap.add_argument("--largest", type=float, default=0.9, help="share of the bytes in the largest tensor")
    ap.add_argument("--other-tree", type=Path, help="another checkout whose mckpt runs side by side")
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a, b, largest = write_pair(Path(tmp), opts.mib, opts.tensors, opts.largest)
        size = a.stat().st_size / (1 << 20)
        diff = [sys.executable, "-m", "mckpt", "diff", str(a), str(b), "--weights", "--json"]
        cases = [
            ("import torch (floor)", [sys.executable, "-c", "import torch"], REPO),
            ("peer: torch.load both + rel L2", [sys.executable, "-c", PEER, str(a), str(b)], REPO),
            ("mckpt diff --weights --json", diff, REPO),
        ]
        if opts.other_tree:
            cases.append((f"same, {opts.other_tree.name}", diff, opts.other_tree.resolve()))
        print(f"two files of {size:.0f} MiB; largest tensor {largest / (1 << 20):.0f} MiB")
        rows = [(label, *run(cmd, {**os.environ, "PYTHONPATH": str(tree)}, tmp)) for label, cmd, tree in cases]
        peer_wall, peer_rss = rows[1][1], rows[1][2]
        floor_rss = rows[0][2]
        bound = 1.2 * largest / (1 << 20) + 64
        print(f"{'case':<34} {'wall':>7} {'vs peer':>8} {'peak RSS':>10} {'vs peer':>8} {'above torch':>12} "
              f"{'vs largest':>11}")
        for label, wall, rss in rows:
            print(f"{label:<34} {wall:6.2f}s {wall / peer_wall:7.2f}x {rss:8.0f}MiB {rss / peer_rss:7.2f}x "
                  f"{rss - floor_rss:9.0f}MiB {rss / (largest / (1 << 20)):10.2f}x")
        print(f"target: peak <= 1.2 x largest + 64 MiB = {bound:.0f} MiB")


if __name__ == "__main__":
    main()
