"""`results --against FILE`: the published number beside each matching group, then the entries
that matched no group (as notes, so a csv/tsv table on stdout stays the one results table)."""

from __future__ import annotations

from typing import Any

from ..domain.metrics import round_acc
from ..domain.published import Comparison, Published
from .output import Cell, Output
from .render_results import stat_cell

_SHOWN_UNMATCHED = 12


def _published(e: Published) -> str:
    return f"{e.result:.2f}" if isinstance(e.result, float) else " / ".join(f"{x:.2f}" for x in e.result)


def _entry_name(e: Published) -> str:
    return f"{e.model} ({e.setting}{', ' + e.dataset if e.dataset else ''}: {_published(e)})"


def render_against(out: Output, cmp: Comparison) -> None:
    for w in cmp.warnings:
        out.warning(w)
    if cmp.matches and out.fmt not in ("csv", "tsv"):
        rows: list[list[Any]] = []
        for m in cmp.matches:
            d = m.difference
            rows.append([m.group.label(cmp.varying), m.entry.setting, Cell(_published(m.entry), m.entry.result),
                         stat_cell(m.stat, len(m.group.runs)),
                         Cell("—" if d is None else f"{d:+.2f}", round_acc(d))])
        out.table(["group", "setting", "published", "here (mean ± std)", "difference"], rows,
                  justify=["left", "left", "right", "right", "right"],
                  title=f"published numbers (--against): {len(cmp.matches)} match(es); difference = mean here "
                        "- published")
    elif cmp.matches:
        out.note(f"{len(cmp.matches)} group(s) match a published number; --json has the comparison")
    else:
        out.note("no group matches a published number (model and every arg of its cmd but the seed)")
    for m in cmp.matches:
        if m.stat is None:
            out.note(f"! {m.group.label(cmp.varying)}: not averaged (see above), so no difference from "
                     f"{_published(m.entry)}")
    if cmp.unmatched:
        names = "; ".join(_entry_name(e) for e in cmp.unmatched[:_SHOWN_UNMATCHED])
        more = f"; and {len(cmp.unmatched) - _SHOWN_UNMATCHED} more (--json lists them)" \
            if len(cmp.unmatched) > _SHOWN_UNMATCHED else ""
        out.note(f"{len(cmp.unmatched)} published number(s) match no group here: {names}{more}")
