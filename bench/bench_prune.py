"""Benchmark of `mckpt prune --dry-run` over 1,000 runs (issue 20: no more than 1.5× the time of
the tree before it).

Before issue 20, prune ranked a run's files by name and read one file per run (its saved args);
now every file is read to know it is a checkpoint and how many tasks it holds, through the
results record cache (an unchanged file is not read again). The folder: 1,000 runs of three
files each (`_0`, `_1`, `_2`, hard links of the real Mammoth run's files, so 3,000 names cost no
disk). Measured side by side, interleaved:

- `before`: the tree to compare with (`--before DIR`, e.g. `git worktree add /tmp/orig ba2fa85`);
- `prune -n`: this tree, the record cache warm (the usual case: results, list or a previous prune
  filled it);
- `prune -n, cold`: this tree with a cache folder it cannot write, so every file is read each time.

Run by hand: `python bench/bench_prune.py --before /tmp/orig [--runs 5] [--n 1000]`.
Needs the real fixtures (../shared/fixtures/mammoth or MCKPT_FIXTURES). Files go to bench/out/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from timing import compare, report

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "prune"
FIXTURES = Path(os.environ.get("MCKPT_FIXTURES", ROOT.parent / "shared" / "fixtures" / "mammoth"))
PARENT = "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744"


def write_runs(folder: Path, n: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        stem = f"sgd_seq-mnist_None_0_1_20260101-{i // 3600 % 24:02d}{i // 60 % 60:02d}{i % 60:02d}_{i:08x}"
        for t in range(3):
            os.link(FIXTURES / "checkpoints" / f"{PARENT}_{t}.pt", folder / f"{stem}_{t}.pt")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="a checkout of the tree to compare with")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--n", type=int, default=1000)
    a = ap.parse_args()
    if not FIXTURES.is_dir():
        raise SystemExit(f"the real Mammoth fixtures are not at {FIXTURES}")
    shutil.rmtree(OUT, ignore_errors=True)
    folder = OUT / "checkpoints"
    write_runs(folder, a.n)
    py = [sys.executable, "-m", "mckpt", "prune", "-n", str(folder)]
    # `python -m` puts the working folder first on sys.path, before PYTHONPATH: run from a folder
    # without a checkout in it, or every row times the checkout the benchmark was started in.
    os.chdir(OUT)
    samples = compare({
        "prune -n": ["env", f"PYTHONPATH={ROOT}", f"MCKPT_CACHE={OUT / 'cache'}", *py],
        "prune -n, cold": ["env", f"PYTHONPATH={ROOT}", "MCKPT_CACHE=/dev/null/no-cache", *py],
        "before": ["env", f"PYTHONPATH={Path(a.before).resolve()}", *py],
    }, runs=a.runs, env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"})
    print(f"{a.n} runs × 3 files in {folder}")
    print(report(samples, "before"))
    shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
