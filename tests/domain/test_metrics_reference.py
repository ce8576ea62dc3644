"""Forgetting, backward transfer and final average against Mammoth's own definitions
(aimagelab/mammoth `utils/metrics.py`, restated below with numpy as Mammoth computes them), on
hand-built matrices where every row matters: the best accuracy of a task may come from any row,
the last one included (positive backward transfer), and resumed runs hold more rows than tasks.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from mckpt.domain.metrics import compute_metrics


def mammoth_backward_transfer(results: list[list[float]]) -> float:
    """Mean over tasks 0..n-2 of (accuracy after the last task) - (accuracy just after learning it)."""
    n_tasks = len(results)
    return float(np.mean([results[-1][i] - results[i][i] for i in range(n_tasks - 1)]))


def mammoth_forgetting(results: list[list[float]]) -> float:
    """Rows padded with zeros to n columns; the best accuracy of each task over ALL rows (the last
    included) minus its accuracy in the last row, averaged over tasks 0..n-2."""
    n_tasks = len(results)
    padded = [row + [0.0] * (n_tasks - len(row)) for row in results[:-1]] + [results[-1]]
    best = np.max(np.array(padded), axis=0)
    return float(np.mean([best[i] - results[-1][i] for i in range(n_tasks - 1)]))


def reference(matrix: list[list[float]]) -> tuple[float | None, float | None, float]:
    """(forgetting, bwt, final average) by Mammoth's definitions. They read row t as "after task t";
    a resumed run's extra rows are not (Mammoth's forgetting raises on them, its bwt would compare
    shifted rows), so there, as for a single task, there is no forgetting or bwt (None)."""
    final = float(np.mean(matrix[-1]))
    if len(matrix) < 2 or any(len(row) != t + 1 for t, row in enumerate(matrix)):
        return None, None, final
    return mammoth_forgetting([list(r) for r in matrix]), mammoth_backward_transfer(matrix), final


def triangular(rng: random.Random, n: int) -> list[list[float]]:
    return [[round(rng.uniform(0, 100), 2) for _ in range(t + 1)] for t in range(n)]


HAND_BUILT = {
    # the last row holds the best accuracy of task 0: positive backward transfer, zero forgetting there
    "last row is best": [[50.0], [40.0, 90.0], [70.0, 95.0, 80.0]],
    "every task improves at the end": [[10.0], [20.0, 30.0], [30.0, 40.0, 50.0], [90.0, 95.0, 99.0, 60.0]],
    "best in a middle row": [[60.0], [95.0, 70.0], [80.0, 75.0, 65.0], [50.0, 72.0, 66.0, 40.0]],
    "two tasks": [[88.5], [77.25, 91.0]],
    # a 5-task run resumed from its last task: six rows, the last task measured twice
    "resumed, six rows": [[90.0], [80.0, 85.0], [70.0, 75.0, 80.0], [72.0, 74.0, 81.0, 60.0],
                          [71.0, 73.0, 79.0, 62.0, 70.0], [75.0, 70.0, 78.0, 66.0, 71.0]],
    # resumed below its task count: row 3 repeats task 2's shape and never reaches task 3 itself
    "resumed, short rows": [[90.0], [80.0, 85.0], [70.0, 75.0, 80.0], [71.0, 74.0, 79.0],
                            [72.0, 73.0, 78.0, 66.0], [73.0, 72.0, 77.0, 65.0, 64.0]],
    "one task": [[42.0]],
}


def assert_like_mammoth(matrix: list[list[float]]) -> None:
    m = compute_metrics(matrix)
    forgetting, bwt, final = reference(matrix)
    assert m.final_avg == pytest.approx(final)
    assert (m.forgetting is None) == (forgetting is None), matrix
    assert (m.bwt is None) == (bwt is None), matrix
    if forgetting is not None:
        assert m.forgetting == pytest.approx(forgetting), matrix
    if bwt is not None:
        assert m.bwt == pytest.approx(bwt), matrix
    assert m.avg_after_task == pytest.approx([float(np.mean(r)) for r in matrix])


@pytest.mark.parametrize("name", sorted(HAND_BUILT))
def test_hand_built_matrices_match_mammoth(name: str) -> None:
    assert_like_mammoth(HAND_BUILT[name])


def test_the_hand_built_matrices_reach_every_case() -> None:
    # positive backward transfer, a best accuracy found only in the last row, and a six-row run
    assert compute_metrics(HAND_BUILT["last row is best"]).bwt > 0
    assert compute_metrics(HAND_BUILT["every task improves at the end"]).forgetting == 0
    assert compute_metrics(HAND_BUILT["resumed, six rows"]).final_avg == 72.0


@pytest.mark.parametrize("n", [2, 3, 5, 6, 10])
def test_generated_matrices_match_mammoth(n: int) -> None:
    rng = random.Random(f"metrics-{n}")
    for _ in range(200):
        matrix = triangular(rng, n)
        if rng.random() < 0.5:  # the last row is the best for some tasks: learning helped them
            matrix[-1] = [min(100.0, x + rng.uniform(0, 60)) for x in matrix[-1]]
        assert_like_mammoth(matrix)


def test_every_row_moves_forgetting() -> None:
    """Raising one task's accuracy in any single row above all others changes forgetting: no row,
    first or last, is left out of the best-accuracy scan."""
    base = [[50.0], [50.0, 50.0], [50.0, 50.0, 50.0], [50.0, 50.0, 50.0, 50.0]]
    for row in range(len(base)):
        matrix = [list(r) for r in base]
        matrix[row][0] = 90.0
        assert_like_mammoth(matrix)
        expected = 0.0 if row == len(base) - 1 else 40.0 / 3
        assert compute_metrics(matrix).forgetting == pytest.approx(expected)
