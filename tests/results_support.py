"""Synthetic Mammoth runs for the results, output and plot tests: one run's final checkpoint as current
Mammoth writes it, with accuracy matrices drawn from a seeded generator (the same run every time)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch

from mckpt.domain.checkpoint import LOGGER_KEYS


def _matrix(rng: random.Random, n: int, forget: float) -> list[list[float]]:
    return [[max(0.0, 97.0 - forget * (t - j) - rng.uniform(0, 6)) for j in range(t + 1)] for t in range(n)]


def write_run(folder: Path, model: str, buffer_size: int, seed: int, *, tasks: int = 5, lr: float = 0.1,
              hour: int = 0, prefix: str = "", parent_results: Any = None, **extra: Any) -> Path:
    """One run's final checkpoint, as current Mammoth writes it with --savecheck last."""
    rng = random.Random(f"{model}-{buffer_size}-{seed}-{lr}-{tasks}")
    uid = f"{rng.getrandbits(32):08x}"
    stem = f"{prefix}{model}_seq-cifar10_None_{buffer_size}_5_20250101-{hour:02d}1010_{uid}"
    cil = _matrix(rng, tasks, 10.0 if buffer_size else 25.0)
    til = [[min(100.0, x + 12) for x in row] for row in cil]
    if parent_results is not None:
        cil[: len(parent_results[0])], til[: len(parent_results[1])] = parent_results
    args = {"model": model, "dataset": "seq-cifar10", "dataset_config": None, "buffer_size": buffer_size,
            "n_epochs": 5, "lr": lr, "batch_size": 32, "seed": seed, "joint": 0, "savecheck": "last",
            "ckpt_name": stem, "conf_jobnum": f"{uid}-0000-4000-8000-000000000000", "conf_host": f"host{seed}",
            "conf_timestamp": f"2025-01-01 {hour:02d}:10:10", "device": "cpu", "num_workers": seed, **extra}
    logger = {k: [] for k in LOGGER_KEYS}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}_last.pt"
    torch.save({"model": {"net.fc.weight": torch.randn(3, 2)}, "optimizer": None, "scheduler": None,
                "args": args, "results": [cil, til, logger]}, path)
    return path
