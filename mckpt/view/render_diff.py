"""The human view of `mckpt diff`: args side by side, accuracy deltas, the tensors that moved most."""

from __future__ import annotations

import math

from ..diff import ArgsDiff, CheckpointDiff, MatrixDiff, WeightsDiff
from ..domain.metrics import round_acc
from ..words import counted
from .cells import acc_cell, format_value, percent
from .output import Cell, Output


def _delta_style(d: float | None, higher_is_better: bool = True) -> str | None:
    if d is None or abs(d) < 1e-9:
        return None
    return "green" if (d > 0) == higher_is_better else "red"


def _signed(d: float | None) -> str:
    return "-" if d is None else f"{d:+.2f}"


def render_args_diff(out: Output, diff: ArgsDiff) -> None:
    hidden = f" ({len(diff.ignored)} bookkeeping args differ; --all shows them)" if diff.ignored else ""
    if diff.equal:
        out.heading("Args")
        out.line(f"identical{hidden}", style="green")
        return
    rows, styles = [], []
    for c in diff.changed:
        rows.append(["~", c.name, format_value(c.a), format_value(c.b)])
        styles.append(["yellow", "bold", None, "yellow"])
    for name, v in diff.removed.items():
        rows.append(["-", name, format_value(v), ""])
        styles.append(["red", "bold", "red", None])
    for name, v in diff.added.items():
        rows.append(["+", name, "", format_value(v)])
        styles.append(["green", "bold", None, "green"])
    out.table(["", "arg", "A", "B"], rows, title=f"Args: {len(rows)} differ{hidden}", styles=styles)


def _render_matrix_diff(out: Output, title: str, m: MatrixDiff) -> None:
    if not m.a and not m.b:
        return
    deltas = m.deltas
    n = max((len(r) for r in deltas), default=0)
    rows, styles = [], []
    for t, row in enumerate(deltas):
        ra = m.a[t] if t < len(m.a) else []
        rb = m.b[t] if t < len(m.b) else []
        cells, cell_styles = [f"task {t + 1}"], [None]
        for i in range(n):
            a = ra[i] if i < len(ra) else None
            b = rb[i] if i < len(rb) else None
            d = row[i] if i < len(row) else None
            if a is None and b is None:
                cells.append("")
            elif d is not None and abs(d) < 1e-9:
                cells.append(percent(a))
            else:
                cells.append(f"{percent(a)} → {percent(b)}" + (f" ({_signed(d)})" if d is not None else ""))
            cell_styles.append(_delta_style(d))
        rows.append(cells)
        styles.append(cell_styles)
    out.table(["after", *[f"T{i + 1}" for i in range(n)]], rows, title=title, styles=styles,
              justify=["left", *["right"] * n])
    mrows, mstyles = [], []
    for name, v in m.metric_deltas().items():
        # Forgetting is better when lower; BWT and accuracy when higher.
        mrows.append([name, acc_cell(v["a"]), acc_cell(v["b"]), Cell(_signed(v["delta"]), round_acc(v["delta"]))])
        mstyles.append([None, None, None, _delta_style(v["delta"], higher_is_better=name != "forgetting")])
    out.table(["metric", "A", "B", "Δ"], mrows, styles=mstyles, justify=["left", "right", "right", "right"])


def render_weights_diff(out: Output, w: WeightsDiff) -> None:
    out.heading("Weights")
    out.fields([
        ("compared", f"{counted(w.compared, 'tensor')} (aliases once), {w.identical} identical"),
        ("only in A", ", ".join(w.only_a) or "-"),
        ("only in B", ", ".join(w.only_b) or "-"),
    ])
    if w.shape_changes:
        out.table(["key", "A", "B"],
                  [[s.key, f"{s.dtype_a} {list(s.a)}", f"{s.dtype_b} {list(s.b)}"] for s in w.shape_changes],
                  title="Shape or dtype changes", styles=[[None, "red", "red"]] * len(w.shape_changes))
    rows, styles = [], []
    for c in w.shown:
        rel = "n/a" if c.rel_l2 is None else "inf (A is 0)" if math.isinf(c.rel_l2) else f"{c.rel_l2:.3e}"
        rows.append([c.key, Cell("×".join(map(str, c.shape)) or "scalar", "x".join(map(str, c.shape))),
                     Cell(rel, c.rel_l2), Cell("-" if c.max_abs is None else f"{c.max_abs:.3e}", c.max_abs),
                     Cell(str(len(c.aliases) or ""), len(c.aliases))])
        styles.append([None, None, None if c.max_abs == 0.0 else "yellow", None, "dim"])
    if rows:
        shown = f"top {len(rows)} of {len(w.changes)}" if len(rows) < len(w.changes) else f"{len(rows)}"
        out.table(["tensor", "shape", "rel L2 change", "max |Δ|", "aliases"], rows, styles=styles,
                  title=f"Relative change ‖B−A‖/‖A‖, biggest first ({shown})",
                  justify=["left", "right", "right", "right", "right"])


def render_diff(out: Output, d: CheckpointDiff) -> None:
    """The full `diff` view."""
    out.fields([
        (side, f"{x.path}  ({x.format or x.kind}, {x.tasks_done} task{'' if x.tasks_done == 1 else 's'})")
        for side, x in (("A", d.a), ("B", d.b))
    ], title="Diff")
    for note in d.notes:
        out.line(f"note: {note}", style="yellow")
    if d.args is None:
        out.heading("Args")
        out.line("not compared (a file without args)")
    else:
        render_args_diff(out, d.args)
    if d.results.equal:
        out.heading("Results")
        out.line("identical", style="green")
    _render_matrix_diff(out, "Class-IL accuracy (A → B)", d.results.class_il)
    _render_matrix_diff(out, "Task-IL accuracy (A → B)", d.results.task_il)
    if d.weights is not None:
        render_weights_diff(out, d.weights)
