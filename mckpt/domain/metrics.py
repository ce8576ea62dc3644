"""Continual-learning metrics from Mammoth's accuracy matrices, computed as Mammoth computes them.

`matrix[t]` lists the accuracy on tasks `0..t` measured after training task `t`, so the matrix is
lower-triangular and its length is the number of tasks done.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metrics:
    """Summary of one accuracy matrix (class-IL or task-IL)."""

    avg_after_task: list[float]  # mean accuracy over seen tasks, after each task
    final_avg: float | None
    forgetting: float | None  # Mammoth's utils.metrics.forgetting
    bwt: float | None  # backward transfer, Mammoth's utils.metrics.backward_transfer

    def to_json(self) -> dict[str, object]:
        """The values as computed from the stored matrix (55.00000000000001 stays so): JSON is for
        scripts, which must get the numbers the file gives; only tables round."""
        return {"avg_after_task": list(self.avg_after_task), **self.summary_json()}

    def summary_json(self) -> dict[str, float | None]:
        """The three numbers a run is judged by, under the names every command uses."""
        return {"final_avg": self.final_avg, "forgetting": self.forgetting, "bwt": self.bwt}


def _pairwise_sum(xs: list[float]) -> float:
    """numpy's pairwise summation of float64 (`np.add.reduce`), in the same order, so a mean here is
    bit for bit the `np.mean` Mammoth logs and computes its metrics with (Python's `sum` differs in
    the last bits for most lists)."""
    n = len(xs)
    if n < 8:
        res = 0.0
        for x in xs:
            res += x
        return res
    if n <= 128:
        r = list(xs[:8])
        i = 8
        while i < n - n % 8:
            for j in range(8):
                r[j] += xs[i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        for x in xs[i:]:
            res += x
        return res
    half = n // 2
    half -= half % 8
    return _pairwise_sum(xs[:half]) + _pairwise_sum(xs[half:])


def _mean(xs: list[float]) -> float | None:
    return _pairwise_sum([float(x) for x in xs]) / len(xs) if xs else None


def compute_metrics(matrix: list[list[float]]) -> Metrics:
    """Average accuracy per task, forgetting and BWT; the latter two need at least two tasks."""
    avgs = [m for m in (_mean(row) for row in matrix) if m is not None]
    n = len(matrix)
    forgetting = bwt = None
    if n >= 2 and all(len(row) > i for i, row in enumerate(matrix)):
        final = matrix[-1]
        if len(final) >= n - 1:
            best = [max(row[i] for row in matrix if len(row) > i) for i in range(n - 1)]
            forgetting = _mean([best[i] - final[i] for i in range(n - 1)])
            bwt = _mean([final[i] - matrix[i][i] for i in range(n - 1)])
    return Metrics(avgs, avgs[-1] if avgs else None, forgetting, bwt)


ACC_DECIMALS = 2  # Mammoth prints and logs accuracies with round(x, 2) (utils/loggers.py)


def round_acc(x: float | None) -> float | None:
    """An accuracy (or a difference of accuracies) at the precision Mammoth logs, for tables (csv
    too); JSON carries the exact value."""
    return None if x is None else round(x, ACC_DECIMALS)

