"""Benchmark of `mckpt results` and `mckpt plot` (issue 15).

A folder of 1,000 Mammoth-shaped runs (MNIST MLP with its aliases, SGD momentum state, ~70 saved
args, a 5-task result matrix; 4 models × 250 seeds, one `_last.pt` each). Measured side by side:

1. `mckpt results DIR` (a rerun: unchanged files come from the results cache), `--no-cache` (every
   pickle read, in worker processes) against `mckpt list DIR --acc` (reads the same files, one by
   one) and a script doing it the usual way: `torch.load(weights_only=True)` of every file.
   Target ≤ 2 s.
2. `mckpt plot DIR -o fig.png` (and .pdf) against `python -c "import matplotlib.pyplot"`. Target ≤ 3 s.
3. (`--logs`, issue 22) `mckpt results` of Mammoth results logs: 10,000 lines (`str(dict)` as Mammoth's
   `Logger.write` prints them, numpy 2 reprs) across 200 `logs.pyd` files (100 class-IL/task-IL
   pairs), read cold, against `mckpt list --acc` over the 1,000 checkpoints. Target ≤ 2x, ≤ 128 MiB.

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


def write_logs(folder: Path, files: int = 200, lines: int = 10_000) -> None:
    """`files` logs (class-IL and task-IL twins of files // 2 models) of `lines` lines in all."""
    import numpy as np
    import torch

    rng = random.Random(1)
    per_model = lines // files
    extra = {f"option_{i}": (i if i % 3 else f"value{i}") for i in range(40)}
    for m in range(files // 2):
        model = f"model{m}"
        for setting in ("class-il", "task-il"):
            (folder / setting / "seq-cifar10" / model).mkdir(parents=True, exist_ok=True)
        with open(folder / "class-il" / "seq-cifar10" / model / "logs.pyd", "w") as cil, \
                open(folder / "task-il" / "seq-cifar10" / model / "logs.pyd", "w") as til:
            for k in range(per_model):
                uid = f"{rng.getrandbits(32):08x}-0000-4000-8000-000000000000"
                args = {"model": model, "dataset": "seq-cifar10", "buffer_size": 500, "lr": 0.03, "seed": k,
                        "device": torch.device("cpu"), "conf_jobnum": uid, "ckpt_name": None, **extra}
                for f in (cil, til):
                    line = dict(args)
                    rows = [[rng.randint(0, 1000) / 10 for _ in range(t + 1)] for t in range(10)]
                    for i, row in enumerate(rows):
                        line[f"accmean_task{i + 1}"] = np.mean(row)
                    for i, row in enumerate(rows):
                        for j, a in enumerate(row):
                            line[f"accuracy_{j + 1}_task{i + 1}"] = a
                    line.update(cpu_memory_usage=[1747.77734375] * 30, gpu_memory_usage=[], forward_transfer=None,
                                backward_transfer=None, forgetting=None)
                    f.write(str(line) + "\n")


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
    ap.add_argument("--logs", action="store_true", help="only part 3: results logs against list --acc")
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
    if a.logs:
        logs = OUT / "data" / "results"
        shutil.rmtree(logs, ignore_errors=True)
        write_logs(logs)
        samples = compare({
            "mckpt results LOGS --no-cache": [*mckpt, "results", str(logs), "--no-cache"],
            "mckpt list --acc": [*mckpt, "list", str(folder), "--acc"],
        }, runs=a.runs, env=env)
        print(report(samples, "mckpt results LOGS --no-cache"))
        return
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
