"""Mammoth's results log as Mammoth writes it, for tests: `utils/loggers.py::Logger.write` and the
metrics of `utils/metrics.py`, transcribed (numpy and torch values included, so `str(dict)` prints
their real reprs: numpy 2's `np.float64(…)`, or numpy 1's plain numbers under
`np.printoptions(legacy="1.25")`, and `device(type='cpu')`)."""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch


@contextlib.contextmanager
def numpy_reprs(major: int) -> Iterator[None]:
    """Scalars print as numpy `major` prints them (numpy 2 is installed; legacy mode gives numpy 1's)."""
    if major == 1:
        with np.printoptions(legacy="1.25"):
            yield
    else:
        yield


def backward_transfer(results: list[list[float]]) -> Any:
    """Mammoth's utils/metrics.py::backward_transfer."""
    n_tasks = len(results)
    li = []
    for i in range(n_tasks - 1):
        li.append(results[-1][i] - results[i][i])
    return np.mean(li)


def forgetting(results: list[list[float]]) -> Any:
    """Mammoth's utils/metrics.py::forgetting (it pads the rows in place: a copy is padded here)."""
    results = [list(r) for r in results]
    n_tasks = len(results)
    li = []
    for i in range(n_tasks - 1):
        results[i] += [0.0] * (n_tasks - len(results[i]))
    np_res = np.array(results)
    maxx = np.max(np_res, axis=0)
    for i in range(n_tasks - 1):
        li.append(maxx[i] - results[-1][i])
    return np.mean(li)


@dataclass
class Run:
    """One run's evaluations: after task t, the accuracy on tasks 0..t, class-IL and task-IL."""

    args: dict[str, Any]
    accs: list[list[float]]
    accs_mask_classes: list[list[float]]
    restored: int = 0  # tasks restored by --loadcheck: their means are strings in the log
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def jobnum(self) -> str:
        return str(self.args["conf_jobnum"])


def make_run(rng: random.Random, *, model: str = "er", dataset: str = "seq-cifar10", tasks: int = 5,
             seed: Any = 0, restored: int = 0, **args: Any) -> Run:
    """A run with random accuracies (correct/total * 100, as Mammoth's evaluate computes them)."""
    total = rng.choice([1000, 2000, 10000])

    def acc() -> float:
        return rng.randint(0, total) / total * 100

    cil = [[acc() for _ in range(t + 1)] for t in range(tasks)]
    til = [[acc() for _ in range(t + 1)] for t in range(tasks)]
    jobnum = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    full = {"dataset": dataset, "model": model, "buffer_size": 500, "lr": 0.03, "seed": seed, "n_epochs": 50,
            "batch_size": 32, "device": torch.device("cpu"), "savecheck": None, "ckpt_name": None,
            "conf_jobnum": jobnum, "conf_timestamp": "2025-01-01 10:00:00", "conf_host": "vm",
            "inference_only": False, "lr_milestones": [35, 45], "optim_wd": 0.0, "model_config": "default", **args}
    return Run(full, cil, til, restored)


class Logger:
    """Mammoth's Logger, the parts `write` uses: `log` and `log_fullacc` after each task."""

    def __init__(self, setting: str, run: Run) -> None:
        self.setting = setting
        self.accs: list[Any] = []
        self.fullaccs: list[list[float]] = []
        self.accs_mask_classes: list[Any] = []
        self.fullaccs_mask_classes: list[list[float]] = []
        for t, (c, m) in enumerate(zip(run.accs, run.accs_mask_classes, strict=True)):
            mean_acc = np.mean([c, m], axis=1)  # utils/training.py: mean_acc = np.mean(accs, axis=1)
            cm, mm = mean_acc
            if t < run.restored:  # a checkpoint's logger dump holds them as strings (safe mode)
                cm, mm = str(cm), str(mm)
            self.accs.append(cm)
            self.accs_mask_classes.append(mm)
            self.fullaccs.append(c)
            self.fullaccs_mask_classes.append(m)
        self.cpu_res = [1747.77734375] * (3 * len(run.accs))
        self.gpu_res: list[float] = []
        self.fwt = self.bwt = self.forgetting = None
        self.fwt_mask_classes = self.bwt_mask_classes = self.forgetting_mask_classes = None

    def write(self, args: dict[str, Any]) -> list[tuple[str, str]]:
        """(setting, line) for each log Logger.write appends to."""
        wrargs = args.copy()
        for i, acc in enumerate(self.accs):
            wrargs["accmean_task" + str(i + 1)] = acc
        for i, fa in enumerate(self.fullaccs):
            for j, acc in enumerate(fa):
                wrargs["accuracy_" + str(j + 1) + "_task" + str(i + 1)] = acc
        wrargs["cpu_memory_usage"] = self.cpu_res
        wrargs["gpu_memory_usage"] = self.gpu_res
        wrargs["forward_transfer"] = self.fwt
        wrargs["backward_transfer"] = self.bwt
        wrargs["forgetting"] = self.forgetting
        out = [(self.setting, str(wrargs) + "\n")]
        if self.setting == "class-il":
            for i, acc in enumerate(self.accs_mask_classes):
                wrargs["accmean_task" + str(i + 1)] = acc
            for i, fa in enumerate(self.fullaccs_mask_classes):
                for j, acc in enumerate(fa):
                    wrargs["accuracy_" + str(j + 1) + "_task" + str(i + 1)] = acc
            wrargs["forward_transfer"] = self.fwt_mask_classes
            wrargs["backward_transfer"] = self.bwt_mask_classes
            wrargs["forgetting"] = self.forgetting_mask_classes
            out.append(("task-il", str(wrargs) + "\n"))
        return out


def write_runs(results: Path, runs: list[Run], *, setting: str = "class-il", numpy_major: int = 2,
               model_dir: str | None = None) -> None:
    """Append each run's lines under `results/<setting>/<dataset>/<model>/logs.pyd`, as Mammoth does."""
    with numpy_reprs(numpy_major):
        for run in runs:
            for s, line in Logger(setting, run).write(run.args):
                folder = results / s / run.args["dataset"] / (model_dir or run.args["model"].replace("-", "_"))
                folder.mkdir(parents=True, exist_ok=True)
                with open(folder / "logs.pyd", "a") as f:
                    f.write(line)


def working_folder(work: Path, fixtures: Path, runs: int = 3) -> None:
    """A Mammoth working folder at `work`: the fixtures' real logs (as `data/results`) and
    checkpoints, and `runs` generated runs' log lines beside them."""
    (work / "data").mkdir(parents=True)
    copies = ((fixtures / "results", work / "data" / "results"), (fixtures / "checkpoints", work / "checkpoints"))
    for src, dest in copies:
        for p in src.rglob("*"):
            if p.is_file() and not p.name.endswith(".json"):
                (dest / p.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
                (dest / p.relative_to(src)).write_bytes(p.read_bytes())
    write_runs(work / "data" / "results", [make_run(random.Random(s), seed=s) for s in range(runs)])
