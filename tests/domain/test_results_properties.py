"""Property tests of `results` grouping: runs are grouped by every arg any run has (not only the
first run's), whatever order they come in, and runs with different args are never averaged."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mckpt.domain.results import GROUP_IGNORED_ARGS, Query, RunResult, group_runs

# A few args per run, each present in some runs only; `seed` and `device` never tell runs apart.
ARG_VALUES: dict[str, list[Any]] = {
    "model": ["er", "derpp", "sgd"], "lr": [0.1, 0.03, "0.1"], "buffer_size": [200, 500],
    "alpha": [0.5, 1], "dataset_config": ["default", "best"], "seed": [0, 1, 2], "device": ["cuda:0", "cpu"],
}
assert {"seed", "device"} <= GROUP_IGNORED_ARGS

args_strategy = st.fixed_dictionaries({}, optional={k: st.sampled_from(v) for k, v in ARG_VALUES.items()})


def as_runs(arg_sets: list[dict[str, Any]]) -> list[RunResult]:
    matrix = [[50.0], [40.0, 60.0]]
    return [RunResult(f"run{i}", f"run{i}_1.pt", args, matrix, matrix) for i, args in enumerate(arg_sets)]


def identity(args: dict[str, Any]) -> frozenset[tuple[str, str]]:
    """What makes two runs the same experiment: every arg but the ignored ones (absent differs from
    any value; `0.1` and `"0.1"` differ as they do in the file)."""
    return frozenset((k, repr(v)) for k, v in args.items() if k not in GROUP_IGNORED_ARGS)


def partition(runs: list[RunResult]) -> set[frozenset[str]]:
    groups, _, _ = group_runs(runs, Query())
    return {frozenset(r.run for r in g.runs) for g in groups}


@settings(max_examples=150, derandomize=True, deadline=None)
@given(st.lists(args_strategy, min_size=1, max_size=8), st.integers(0, 2**32 - 1))
def test_groups_are_exactly_the_runs_with_the_same_args(arg_sets: list[dict[str, Any]], seed: int) -> None:
    runs = as_runs(arg_sets)
    expected: dict[frozenset[tuple[str, str]], set[str]] = {}
    for r in runs:
        expected.setdefault(identity(r.args), set()).add(r.run)
    assert partition(runs) == {frozenset(v) for v in expected.values()}

    _, by, _ = group_runs(runs, Query())
    assert set(by) == {k for a in arg_sets for k in a} - GROUP_IGNORED_ARGS

    shuffled = list(runs)
    random.Random(seed).shuffle(shuffled)
    assert partition(shuffled) == partition(runs)
    assert group_runs(shuffled, Query())[1] == by


def test_an_arg_the_first_run_lacks_still_splits_groups() -> None:
    runs = as_runs([{"model": "er"}, {"model": "er", "lr": 0.1}, {"model": "er", "lr": 0.03}])
    assert partition(runs) == {frozenset({"run0"}), frozenset({"run1"}), frozenset({"run2"})}
