"""JSON carries the values stored in the file, everywhere (issue 21, item 6); only tables round.

Each run's matrices hold values whose 2-decimal rounding differs from them (55.00000000000001,
71.123456, 1e-9): a script recomputing a mean from `--json` must get what the file gives.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run_cli
from results_support import write_run


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCKPT_CACHE", str(tmp_path / "cache"))


def _odd(rng: random.Random) -> float:
    """A value 2-decimal rounding changes."""
    return rng.choice([55.00000000000001, 1e-9, 33.333333333333336]) if rng.random() < 0.3 else rng.uniform(0, 100)


def _runs(folder: Path, n: int, seed: int, tasks: int | None = None) -> list[tuple[Path, list[list[float]]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        tasks = tasks or rng.randint(2, 5)
        cil = [[_odd(rng) for _ in range(t + 1)] for t in range(tasks)]
        til = [[_odd(rng) for _ in range(t + 1)] for t in range(tasks)]
        path = write_run(folder, "er", 200, i, hour=i, tasks=tasks, parent_results=(cil, til))
        out.append((path, cil))
    return out


def _json(*args: str) -> Any:
    r = run_cli(*args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _forgetting(m: list[list[float]]) -> float:
    n = len(m)
    return _mean([max(row[i] for row in m if len(row) > i) - m[-1][i] for i in range(n - 1)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inspect_list_results_and_diff_json_are_exact(tmp_path: Path, seed: int) -> None:
    runs = _runs(tmp_path / "runs", 3, seed)
    for path, cil in runs:
        stored = torch.load(path, weights_only=True)["results"][0]
        assert stored == cil
        doc = _json("inspect", str(path))
        assert doc["results"]["class_il"] == cil
        m = doc["metrics"]["class_il"]
        assert m["avg_after_task"] == [_mean(row) for row in cil]
        assert m["final_avg"] == _mean(cil[-1]) and m["forgetting"] == _forgetting(cil)
        assert m["bwt"] == _mean([cil[-1][i] - cil[i][i] for i in range(len(cil) - 1)])
    listing = _json("list", str(tmp_path / "runs"), "--acc")
    finals = sorted(r["metrics"]["class_il"]["final_avg"] for r in listing["runs"])
    assert finals == sorted(_mean(cil[-1]) for _, cil in runs)
    res = _json("results", str(tmp_path / "runs"), "--by", "seed")
    got = {run["path"]: run["results"]["class_il"] for g in res["groups"] for run in g["runs"]}
    assert got == {str(p): cil for p, cil in runs}
    (a, ca), (b, cb) = runs[0], runs[1]
    d = _json("diff", str(a), str(b))
    mat = d["results"]["class_il"]
    assert mat["a"] == ca and mat["b"] == cb
    for i, row in enumerate(mat["delta"]):
        for j, v in enumerate(row):
            if v is not None:
                assert v == cb[i][j] - ca[i][j]
    fa, fb = _mean(ca[-1]), _mean(cb[-1])
    assert mat["metrics"]["final_avg"] == {"a": fa, "b": fb, "delta": fb - fa}


def test_results_group_mean_is_exact_and_table_rounds(tmp_path: Path) -> None:
    runs = _runs(tmp_path / "runs", 3, 7, tasks=4)
    res = _json("results", str(tmp_path / "runs"), "--by", "model")
    finals = [_mean(cil[-1]) for _, cil in runs]
    stat = res["groups"][0]["aggregates"]["class_il"]["final_avg"]
    assert stat["mean"] == math.fsum(finals) / len(finals) and stat["n"] == 3
    table = run_cli("results", str(tmp_path / "runs"), "--by", "model", "-f", "plain")
    assert table.returncode == 0 and "55.00000000000001" not in table.stdout
