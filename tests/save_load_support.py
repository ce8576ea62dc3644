"""Helpers for the save/load tests: stand-in Mammoth checkouts and real torch.save checkpoints."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from mckpt.domain.checkpoint import LOGGER_KEYS

FAKE_MAIN = Path(__file__).parent / "fake_mammoth" / "main.py"


def make_checkout(root: Path, layout: str = "current", savecheck_flag: bool = False) -> Path:
    """A Mammoth-shaped folder running the stand-in: `main.py` (current) or `utils/main.py` (old)."""
    (root / "utils").mkdir(parents=True, exist_ok=True)
    if layout == "current":
        shutil.copy(FAKE_MAIN, root / "main.py")
        (root / "utils" / "checkpoints.py").write_text("# stand-in\n")
    else:
        shutil.copy(FAKE_MAIN, root / "utils" / "main.py")
        action = "action='store_true'" if savecheck_flag else "type=str, choices=['task', 'last']"
        (root / "utils" / "args.py").write_text(f"parser.add_argument('--savecheck', {action})\n")
    return root


def env_for(root: Path | None = None) -> dict[str, str]:
    """Environment for `mckpt` subprocesses: the stand-in runs with this interpreter (it has torch)."""
    env = {"MAMMOTH_PYTHON": sys.executable, "MAMMOTH_ROOT": ""}
    if root is not None:
        env["MAMMOTH_ROOT"] = str(root)
    return env


def write_checkpoint(path: Path, args: dict[Any, Any], tasks_done: int, *, old_pickle: bool = False) -> Path:
    """A Mammoth-shaped checkpoint (safe dict, or Namespace args for old pickles) with real tensors."""
    import torch

    rows = [[90.0] * (t + 1) for t in range(tasks_done)]
    logger = {k: ([str(90.0)] * tasks_done if k == "accs" else None) for k in LOGGER_KEYS}
    obj = {
        "model": {"net.fc.weight": torch.ones(2, 3), "net.fc.bias": torch.zeros(2)},
        "optimizer": None,
        "scheduler": None,
        "args": _namespace(args) if old_pickle else dict(args),
        "results": [rows, [list(r) for r in rows], logger],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path)
    return path


def _namespace(args: dict[Any, Any]) -> argparse.Namespace:
    """A Namespace holding `args` whatever their keys (a crafted pickle can hold any)."""
    ns = argparse.Namespace()
    ns.__dict__.update(args)
    return ns


def run_args(**over: Any) -> dict[str, Any]:
    """Saved args of a typical current-Mammoth sgd run on seq-mnist (5 tasks)."""
    args: dict[str, Any] = {
        "model": "sgd",
        "dataset": "seq-mnist",
        "dataset_config": None,
        "lr": 0.1,
        "n_epochs": 1,
        "batch_size": 32,
        "seed": 0,
        "joint": 0,
        "savecheck": "task",
        "start_from": None,
        "stop_after": None,
        "loadcheck": None,
        "conf_jobnum": "1a2b3c4d-0000-4000-8000-000000000000",
        "save_checkpoint_mode": "safe",
        "ckpt_name": "sgd_seq-mnist_None_0_1_20260101-101010_1a2b3c4d",
    }
    args.update(over)
    return args


def read_calls(root: Path) -> list[dict[str, Any]]:
    """What the stand-in was called with, one entry per run."""
    path = root / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
