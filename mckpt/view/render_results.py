"""The `mckpt results` table: one row per group, mean ± sample std of Mammoth's metrics.

Human formats show `71.01 ± 2.31` (LaTeX `71.01 $\\pm$ 2.31`) with the best value per column
highlighted; csv/tsv carry the raw numbers in separate mean, std and n columns, so a script or a
spreadsheet never parses a display string.
"""

from __future__ import annotations

from typing import Any

from ..domain.metrics import round_acc
from ..domain.results import COLUMNS, Column, Group, Results, Stat
from ..domain.where import show_value
from .output import Cell, Output

_SHOWN_COMMON = 6  # settings shared by every group, named under the table


def stat_cell(stat: Stat | None, runs: int) -> Cell:
    """`71.01 ± 2.31`, with `(n=2)` when fewer runs than the group's have the value."""
    if stat is None:
        return Cell("—", None)
    if stat.mean is None:
        return Cell("-", None)
    n = f" (n={stat.n})" if stat.n != runs else ""
    if stat.std is None:
        return Cell(f"{stat.mean:.2f}{n}", round_acc(stat.mean))
    return Cell(f"{stat.mean:.2f} ± {stat.std:.2f}{n}", round_acc(stat.mean),
                latex=f"{stat.mean:.2f} $\\pm$ {stat.std:.2f}{n}")


def _best(groups: list[Group], column: Column) -> float | None:
    means = [s.mean for g in groups if (s := g.stat(column)) is not None and s.mean is not None]
    if len(means) < 2:
        return None
    return max(means) if column.higher_is_better else min(means)


def _tasks_cell(g: Group) -> Cell:
    counts = g.task_counts
    if g.mismatched:
        return Cell(" ≠ ".join(map(str, counts)) + " !", " ".join(map(str, counts)))
    return Cell(str(counts[0]), counts[0]) if counts else Cell("-", None)


def _seeds_cell(g: Group) -> Cell:
    """`0, 1, 2`; a seed two runs share is flagged (`0, 0 !`): one config twice, not two seeds."""
    text = ", ".join(show_value(s) for s in g.seeds)
    return Cell(text + " !", text) if g.duplicate_seeds else Cell(text, text)


def render_results(out: Output, res: Results) -> None:
    """The groups table, then notes: groups not averaged, settings shared by all, files left out."""
    if not res.groups:
        out.note("no run found" if not res.found else f"no run matches the filters (of {res.found} run(s) found)")
        _notes(out, res)
        return
    if out.fmt in ("csv", "tsv"):
        _machine_table(out, res)
    else:
        _human_table(out, res)
    _notes(out, res)


def _key_cells(g: Group, names: list[str]) -> list[Any]:
    return [Cell(show_value(g.key.get(k)), g.key.get(k)) for k in names]


def _human_table(out: Output, res: Results) -> None:
    headers = [*res.varying, "runs", "seeds", "tasks", *(c.label for c in COLUMNS)]
    justify = ["left"] * len(res.varying) + ["right", "left", "right"] + ["right"] * len(COLUMNS)
    best = {c.name: _best(res.groups, c) for c in COLUMNS}
    rows, styles = [], []
    for g in res.groups:
        row: list[Any] = [*_key_cells(g, res.varying), len(g.runs), _seeds_cell(g), _tasks_cell(g)]
        st: list[str | None] = ["bold"] * len(res.varying) + [None, "yellow" if g.duplicate_seeds else "dim",
                                                               "yellow" if g.mismatched else None]
        for c in COLUMNS:
            s = g.stat(c)
            row.append(stat_cell(s, len(g.runs)))
            is_best = s is not None and s.mean is not None and best[c.name] is not None and s.mean == best[c.name]
            st.append("bold green" if is_best else "dim" if s is None else None)
        rows.append(row)
        styles.append(st)
    n_runs = sum(len(g.runs) for g in res.groups)
    groups = f"{len(res.groups)} group" + ("" if len(res.groups) == 1 else "s")
    out.table(headers, rows, styles=styles, justify=justify,
              title=f"{groups}, {_runs(n_runs)}: final accuracy, forgetting and BWT, mean ± sample std over runs")


def _machine_table(out: Output, res: Results) -> None:
    headers = [*res.varying, "runs", "seeds", "tasks"]
    for c in COLUMNS:
        headers += [f"{c.name}_mean", f"{c.name}_std", f"{c.name}_n"]
    rows = []
    for g in res.groups:
        row: list[Any] = [*_key_cells(g, res.varying), len(g.runs), " ".join(show_value(s) for s in g.seeds),
                          _tasks_cell(g)]
        for c in COLUMNS:
            s = g.stat(c)
            row += [None, None, None] if s is None else [round_acc(s.mean), round_acc(s.std), s.n]
        rows.append(row)
    out.table(headers, rows)


def _common_settings(res: Results) -> list[str]:
    """Grouping args every group shares, the telling ones first (dataset, epochs, lr, …)."""
    shared = [k for k in res.by if k not in res.varying
              and len({show_value(g.key.get(k)) for g in res.groups}) == 1]
    first = res.groups[0].key
    return [f"{k}={show_value(first.get(k))}" for k in shared]


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _notes(out: Output, res: Results) -> None:
    for g in res.groups:
        if g.mismatched:
            counts = "; ".join(f"{t} tasks: {_runs(sum(r.tasks_done == t for r in g.runs))}" for t in g.task_counts)
            out.note(f"! {g.label(res.varying)}: runs did different numbers of tasks ({counts}); not averaged "
                     f"(--tasks {max(g.task_counts)} keeps the runs that finished them)")
        if g.duplicate_seeds:
            seeds = ", ".join(show_value(s) for s in g.duplicate_seeds)
            uids = ", ".join(r.uid or r.run for r in g.runs if r.seed in g.duplicate_seeds)
            out.note(f"! {g.label(res.varying)}: seed {seeds} in more than one run ({uids}): the same config run, "
                     "saved or copied twice, not separate seeds; not averaged (--json says where each came from)")
    if res.groups:
        common = _common_settings(res)
        if common:
            extra = len(common) - _SHOWN_COMMON
            more = f" (and {extra} more; --json has every key)" if extra > 0 else ""
            out.note("same in every group: " + ", ".join(common[:_SHOWN_COMMON]) + more)
    if res.superseded:
        out.note(f"{_runs(len(res.superseded))} counted once, through the resumed run that continues "
                 + ("them" if len(res.superseded) > 1 else "it"))
    if res.skipped:
        out.note(f"{len(res.skipped)} file(s) left out (not runs, or unreadable): "
                 + "; ".join(f"{s['path']}: {s['reason']}" for s in res.skipped[:3])
                 + (" …" if len(res.skipped) > 3 else ""))
