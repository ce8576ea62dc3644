"""Benchmark of the read path (issues 2 and 10), all side by side in one interleaved run.

1. `mckpt inspect` of a ~1 GB Mammoth-shaped checkpoint (ViT-B-sized model, Adam state, a buffer)
   against `torch.load(mmap=True, weights_only=True)` of the same file. Targets: ≥ 15× faster,
   peak memory ≤ 64 MiB.
2. `mckpt list` of a folder of 1,000 checkpoint names against `mckpt --version`. Target: ≤ 1.3×.
3. `python -c pass` (the interpreter's own start) as the floor for both.

Run by hand: `python bench/bench_read.py [--runs 7] [--keep]`. Files go to bench/out/ (ignored by git).
The `mckpt` beside the running interpreter is timed (the venv's console script), so run it with the
interpreter of the environment to measure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from timing import compare, report

OUT = Path(__file__).resolve().parent / "out"
BIG = OUT / "vitb_seq-cifar100-224_default_2000_5_20250101-101010_1a2b3c4d_9.pt"


def vit_b_state(torch: Any) -> dict[str, Any]:
    """A ViT-B/16-shaped state dict (~86M parameters), under Mammoth's `net.` prefix."""
    d, mlp, layers = 768, 3072, 12
    sd = {"net.cls_token": torch.zeros(1, 1, d), "net.pos_embed": torch.zeros(1, 197, d),
          "net.patch_embed.proj.weight": torch.zeros(d, 3, 16, 16), "net.patch_embed.proj.bias": torch.zeros(d)}
    for i in range(layers):
        p = f"net.blocks.{i}."
        sd |= {p + "norm1.weight": torch.ones(d), p + "norm1.bias": torch.zeros(d),
               p + "attn.qkv.weight": torch.zeros(3 * d, d), p + "attn.qkv.bias": torch.zeros(3 * d),
               p + "attn.proj.weight": torch.zeros(d, d), p + "attn.proj.bias": torch.zeros(d),
               p + "norm2.weight": torch.ones(d), p + "norm2.bias": torch.zeros(d),
               p + "mlp.fc1.weight": torch.zeros(mlp, d), p + "mlp.fc1.bias": torch.zeros(mlp),
               p + "mlp.fc2.weight": torch.zeros(d, mlp), p + "mlp.fc2.bias": torch.zeros(d)}
    sd |= {"net.norm.weight": torch.ones(d), "net.norm.bias": torch.zeros(d),
           "net.head.weight": torch.zeros(100, d), "net.head.bias": torch.zeros(100)}
    sd["net.classifier.weight"] = sd["net.head.weight"]  # an alias, as Mammoth backbones have
    return sd


def write_big(path: Path) -> None:
    import torch

    sd = vit_b_state(torch)
    params = [k for k in sd if k != "net.classifier.weight"]
    state = {i: {"step": torch.tensor(100.0), "exp_avg": torch.zeros_like(sd[k]), "exp_avg_sq": torch.zeros_like(sd[k])}
             for i, k in enumerate(params)}
    optimizer = {"state": state, "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8,
                                                    "weight_decay": 0.0, "amsgrad": False, "params": list(state)}]}
    results = [[[80.0 - j for j in range(t + 1)] for t in range(10)], [[95.0] * (t + 1) for t in range(10)], {}]
    args = {"model": "vitb", "dataset": "seq-cifar100-224", "lr": 1e-3, "n_epochs": 5, "buffer_size": 2000,
            "ckpt_name": path.stem.rsplit("_", 1)[0]}
    buffer = {"examples": torch.zeros(2000, 3, 32, 32), "labels": torch.zeros(2000, dtype=torch.long)}
    tmp = path.with_suffix(".tmp")
    torch.save({"model": sd, "optimizer": optimizer, "scheduler": None, "args": args, "results": results,
                "buffer": buffer}, tmp)
    os.replace(tmp, path)


def write_names(folder: Path, n: int = 1000) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    models = ["sgd", "er", "er_ace", "derpp", "lwf_mc", "xder_rpc", "icarl", "first_stage_starprompt"]
    for i in range(n):
        run, task = divmod(i, 10)
        name = (f"{models[run % len(models)]}_seq-cifar100_default_500_50_2025{1 + run % 12:02d}"
                f"{1 + run % 28:02d}-1010{run % 60:02d}_{run:08x}_{task}.pt")
        (folder / name).write_bytes(b"")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep bench/out/ for another run")
    ap.add_argument("--write-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    if a.write_only:
        write_big(BIG)
        return
    if not BIG.exists():
        # In a child process: a parent that held 1 GB would inflate every child's peak RSS (fork).
        print("writing the ~1 GB checkpoint…", flush=True)
        subprocess.run([sys.executable, __file__, "--write-only"], check=True)
    print(f"checkpoint: {BIG.stat().st_size / 2**30:.2f} GiB")
    py = sys.executable
    # The installed command, as users run it (`pip install .`); else the module.
    script = Path(py).parent / "mckpt"
    mckpt = [str(script)] if script.exists() else [py, "-m", "mckpt"]
    import typer  # only to report which Typer is measured

    print(f"mckpt: {' '.join(mckpt)} (typer {typer.__version__})")
    names = OUT / "names" / "checkpoints"
    if not names.exists():
        write_names(names)
    load = f"import torch; torch.load({str(BIG)!r}, mmap=True, weights_only=True)"
    samples = compare({
        "python -c pass": [py, "-c", "pass"],
        "mckpt --version": [*mckpt, "--version"],
        "mckpt list (1,000 files)": [*mckpt, "list", str(names)],
        "mckpt list --json (1,000 files)": [*mckpt, "list", "--json", str(names)],
        "mckpt inspect": [*mckpt, "inspect", str(BIG)],
        "mckpt inspect --json": [*mckpt, "inspect", "--json", str(BIG)],
        "torch.load(mmap, weights_only)": [py, "-c", load],
    }, runs=a.runs)
    print(report(samples, "python -c pass"))
    med = {k: statistics.median(s.wall for s in v) for k, v in samples.items()}
    inspect_x = med["torch.load(mmap, weights_only)"] / med["mckpt inspect"]
    list_x = med["mckpt list (1,000 files)"] / med["mckpt --version"]
    print(f"\ninspect: {inspect_x:.1f}× faster than torch.load(mmap) (target ≥ 15×)"
          f"{'' if inspect_x >= 15 else '  MISSED'}")
    print(f"list of 1,000: {list_x:.2f}× `mckpt --version` (target ≤ 1.3×){'' if list_x <= 1.3 else '  MISSED'}")
    if not a.keep:
        shutil.rmtree(OUT)


if __name__ == "__main__":
    main()
