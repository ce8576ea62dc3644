"""Benchmark of `mckpt results` and `mckpt plot` (issue 15).

A folder of 1,000 Mammoth-shaped runs (MNIST MLP with its aliases, SGD momentum state, ~70 saved
args, a 5-task result matrix; 4 models × 250 seeds, one `_last.pt` each). Measured side by side:

1. `mckpt results DIR` (a rerun: unchanged files come from the results cache), `--no-cache` (every
   pickle read, in worker processes) against `mckpt list DIR --acc` (reads the same files, one by
   one) and a script doing it the usual way: `torch.load(weights_only=True)` of every file.
   Target ≤ 2 s.
2. `mckpt plot DIR -o fig.png` (and .pdf) against `python -c "import matplotlib.pyplot"`. Target ≤ 3 s.

Run by hand: `python bench/bench_results.py [--runs 5] [--keep]`. Files go to bench/out/ (ignored by git).
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import sys
from pathlib import Path

from timing import compare, report

OUT = Path(__file__).resolve().parent / "out" / "results"
MODELS = (("sgd", 0), ("er", 200), ("derpp", 500), ("er_ace", 500))


def write_runs(folder: Path, n: int) -> None:
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mckpt.demo import _accuracy_matrix, _args, _mlp
    from mckpt.domain.checkpoint import LOGGER_KEYS

    folder.mkdir(parents=True, exist_ok=True)
    net = _mlp(torch)
    opt = torch.optim.SGD(net.parameters(), lr=0.03, momentum=0.9)
    net(torch.randn(4, 784)).sum().backward()
    opt.step()
    state, opt_state = net.state_dict(prefix="net."), opt.state_dict()
    extra = {f"option_{i}": (i if i % 3 else f"value{i}") for i in range(40)}  # Mammoth saves ~70 args
    rng = random.Random(0)
    for i in range(n):
        model, buffer_size = MODELS[i % len(MODELS)]
        uid = f"{rng.getrandbits(32):08x}"
        stem = f"{model}_seq-mnist_None_{buffer_size}_1_20260101-{i // 60 % 24:02d}{i % 60:02d}00_{uid}"
        args = _args(model, buffer_size, stem, f"{uid}-0000-4000-8000-000000000000", "2026-01-01", seed=i // 4,
                     **extra)
        cil = _accuracy_matrix(rng, 5, 6.0 + 4 * (i % 4))
        logger = {k: [] for k in LOGGER_KEYS}
        buf = io.BytesIO()
        torch.save({"model": state, "optimizer": opt_state, "scheduler": None, "args": args,
                    "results": [cil, [[min(100.0, x + 15) for x in r] for r in cil], logger]}, buf)
        (folder / f"{stem}_last.pt").write_bytes(buf.getvalue())


TORCH_SCRIPT = """
import glob, statistics, sys, torch
groups = {}
for f in glob.glob(sys.argv[1] + '/*.pt'):
    ck = torch.load(f, weights_only=True)
    a = ck['args']
    groups.setdefault((a['model'], a['buffer_size']), []).append(statistics.fmean(ck['results'][0][-1]))
print({k: (statistics.fmean(v), statistics.stdev(v)) for k, v in groups.items()})
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--keep", action="store_true", help="keep bench/out/results for another run")
    a = ap.parse_args()
    folder = OUT / "checkpoints"
    if not (a.keep and folder.is_dir() and len(list(folder.glob("*.pt"))) == a.n):
        shutil.rmtree(OUT, ignore_errors=True)
        write_runs(folder, a.n)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "NO_COLOR": "1",
           "MCKPT_CACHE": str(OUT / "cache")}
    mckpt = [sys.executable, "-m", "mckpt"]
    fig = OUT / "fig.png"
    print(f"{a.n} runs in {folder}")
    samples = compare({
        "mckpt results": [*mckpt, "results", str(folder)],
        "mckpt results --no-cache": [*mckpt, "results", str(folder), "--no-cache"],
        "mckpt list --acc": [*mckpt, "list", str(folder), "--acc"],
        "torch.load(weights_only) loop": [sys.executable, "-c", TORCH_SCRIPT, str(folder)],
        "mckpt --version": [*mckpt, "--version"],
    }, runs=a.runs, env=env)
    print(report(samples, "mckpt results"))
    print()
    samples = compare({
        "mckpt plot -o fig.png": [*mckpt, "plot", str(folder), "-o", str(fig), "--force"],
        "mckpt plot -o fig.pdf": [*mckpt, "plot", str(folder), "-o", str(fig.with_suffix(".pdf")), "--force"],
        "mckpt plot --no-cache": [*mckpt, "plot", str(folder), "-o", str(fig), "--force", "--no-cache"],
        "import matplotlib.pyplot": [sys.executable, "-c", "import matplotlib; matplotlib.use('Agg'); "
                                                           "import matplotlib.pyplot"],
    }, runs=a.runs, env=env)
    print(report(samples, "mckpt plot -o fig.png"))
    if not a.keep:
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
