"""A small example of what Mammoth writes, for `mckpt demo` and for trying mckpt without Mammoth.

It trains nothing: it builds Mammoth's MNIST MLP (with the same aliased modules: `fc1` is also
`_features.0` and `net.0.0`), and saves checkpoints in Mammoth's current safe layout and names, as
`--savecheck task`, `--savecheck last` (with a buffer), a resumed run and an interrupted one would,
plus two more seeds of each setting for `mckpt results` and `mckpt plot`.
torch is imported here only (when writing), since real `torch.save` files need it.
"""

from __future__ import annotations

import os
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .domain.checkpoint import LOGGER_KEYS
from .io.atomic import atomic_write
from .torch_import import import_torch


def _mlp(torch: Any, hidden: int = 64) -> Any:
    nn = torch.nn

    class MNISTMLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(784, hidden)
            self.fc2 = nn.Linear(hidden, hidden)
            self._features = nn.Sequential(self.fc1, nn.ReLU(), self.fc2, nn.ReLU())
            self.classifier = nn.Linear(hidden, 10)
            self.net = nn.Sequential(self._features, self.classifier)

        def forward(self, x: Any) -> Any:
            return self.net(x)

    return MNISTMLP()


def _accuracy_matrix(rng: random.Random, n: int, forget: float) -> list[list[float]]:
    rows = []
    for t in range(n):
        rows.append([round(max(0.0, 98.0 - forget * (t - j) - rng.uniform(0, 4)), 2) for j in range(t + 1)])
    return rows


def _args(model: str, buffer_size: int, ckpt_name: str, jobnum: str, started: datetime, seed: int = 0,
          **extra: Any) -> dict[str, Any]:
    return {
        "model": model, "dataset": "seq-mnist", "backbone": "mnistmlp", "dataset_config": None,
        "buffer_size": buffer_size, "minibatch_size": 32, "n_epochs": 1, "lr": 0.03, "batch_size": 32,
        "optimizer": "sgd", "optim_mom": 0.9, "optim_wd": 0.0, "joint": 0,
        "savecheck": "task", "save_checkpoint_mode": "safe", "ckpt_name": ckpt_name, "loadcheck": None,
        "start_from": None, "stop_after": None, "device": "cpu", "conf_jobnum": jobnum,
        "conf_timestamp": str(started), "conf_host": "demo", "nowand": 1, "num_classes": 10, "seed": seed, **extra,
    }


def write_demo(folder: str | os.PathLike[str], seed: int = 0, *, force: bool = False) -> list[Path]:
    """Write the example runs into `folder/checkpoints` and return the files written.

    A file already under one of the example's names is replaced only with `force`
    (FileExistsError otherwise, even for one that appears while the example is written)."""
    torch = import_torch("writing the example checkpoints")
    torch.manual_seed(seed)
    rng = random.Random(seed)
    ckdir = Path(folder) / "checkpoints"
    (ckdir / "paused").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    base = datetime(2026, 11, 28, 9, 30, 0)

    def save(path: Path, obj: dict[str, Any]) -> None:
        with atomic_write(path, force=force) as f:
            torch.save(obj, f)
        written.append(path)

    def run(model: str, buffer_size: int, n_tasks: int, started: datetime, *, tasks: list[int | str],
            prefix: str = "", forget: float = 12.0, paused_at: int | None = None, seed: int = 0,
            parent: tuple[list[list[float]], list[list[float]]] | None = None, **extra: Any
            ) -> tuple[str, tuple[list[list[float]], list[list[float]]]]:
        net = _mlp(torch)
        opt = torch.optim.SGD(net.parameters(), lr=0.03, momentum=0.9)
        jobnum = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        stem = f"{prefix}{model}_seq-mnist_None_{buffer_size}_1_{started:%Y%m%d-%H%M%S}_{jobnum[:8]}"
        args = _args(model, buffer_size, stem, jobnum, started, seed=seed, **extra)
        cil = _accuracy_matrix(rng, n_tasks, forget)
        til = [[min(100.0, round(x + 15, 2)) for x in row] for row in cil]
        if parent is not None:  # a resumed run starts from the results its parent saved
            cil[: len(parent[0])], til[: len(parent[1])] = parent
        for t in tasks:
            done = n_tasks if t == "last" else int(t) + 1
            with torch.no_grad():
                for p in net.parameters():
                    p.add_(torch.randn_like(p) * 0.01)
            # one SGD step so the optimizer carries momentum state, as after real training
            net(torch.randn(4, 784)).sum().backward()
            opt.step()
            opt.zero_grad()
            logger = {k: [] for k in LOGGER_KEYS}
            logger["accs"] = [str(sum(r) / len(r)) for r in cil[:done]]
            logger["accs_mask_classes"] = [str(sum(r) / len(r)) for r in til[:done]]
            obj: dict[str, Any] = {
                "model": net.state_dict(prefix="net."), "optimizer": opt.state_dict(), "scheduler": None,
                "args": args, "results": [cil[:done], til[:done], logger],
            }
            if buffer_size:
                obj["buffer"] = {"examples": torch.rand(buffer_size, 1, 28, 28),
                                 "labels": torch.randint(0, 10, (buffer_size,))}
            save(ckdir / f"{stem}_{t}.pt", obj)
        if paused_at is not None:
            obj = {"model": net.state_dict(prefix="net."), "optimizer": opt.state_dict(), "scheduler": None,
                   "args": {**args, "savecheck": None, "ckpt_name": None},
                   "results": [cil[:paused_at], til[:paused_at], {k: [] for k in LOGGER_KEYS}]}
            save(ckdir / "paused" / f"{uuid.UUID(int=rng.getrandbits(128), version=4)}.pt", obj)
        return stem, (cil[: len(tasks)], til[: len(tasks)])

    first, results = run("sgd", 0, 5, base, tasks=[0, 1, 2], forget=25.0)
    run("sgd", 0, 5, base + timedelta(hours=1), tasks=[3, 4], prefix=f"{first}_", forget=25.0,
        parent=results, loadcheck=f"checkpoints/{first}_2.pt", start_from=3)
    run("er", 200, 5, base + timedelta(hours=2), tasks=["last"], forget=6.0, savecheck="last")
    run("derpp", 500, 5, base + timedelta(hours=3), tasks=[], paused_at=2, forget=4.0)
    # Two more seeds of each setting, as `--savecheck last` runs, so `mckpt results` has a mean and
    # a spread to show (and the interrupted derpp run is one it flags: 2 tasks beside 5).
    for i, (model, buffer_size, forget) in enumerate((("sgd", 0, 25.0), ("er", 200, 6.0), ("derpp", 500, 4.0))):
        for seed in (1, 2):
            run(model, buffer_size, 5, base + timedelta(hours=4 + 2 * i + seed), tasks=["last"], forget=forget,
                seed=seed, savecheck="last")
    return written
