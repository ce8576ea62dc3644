"""The human view of a folder's runs (`mckpt list`), written against the Output layer."""

from __future__ import annotations

import os
from typing import Any

from ..domain.names import parse_name
from ..domain.runs import CopyFile, Listing
from .cells import acc_cell, acc_style, bytes_cell, opt_cell
from .output import Cell, Output, human_bytes


def _parent_file(path: str | None) -> str:
    """The run a resumed run's args.loadcheck names: its uid when the file name has one, else the
    file's name (a paused file's uuid says nothing more)."""
    if not path:
        return ""
    parsed = parse_name(path)
    return parsed.uid if parsed and parsed.uid else os.path.basename(path)


def _render_copies(out: Output, copies: list[CopyFile]) -> None:
    """Files that duplicate a checkpoint of their run: told apart, and left out of its size."""
    if not copies:
        return
    title = (f"{len(copies)} {'copy' if len(copies) == 1 else 'copies'} of runs' checkpoints "
             "(not counted in the runs' size)")
    if out.fmt in ("csv", "tsv"):
        out.note(f"{title} left out of the {out.fmt} table; --json lists them")
    elif out.fmt:
        out.table(["path", "size", "relation", "of"],
                  [[c.path, human_bytes(c.bytes), c.relation, c.of] for c in copies], title=title)
    else:
        out.heading(title)
        for c in copies:
            out.line(f"  {c.path} ({human_bytes(c.bytes)}): {c.relation} of {c.of}", style="dim")


def render_listing(out: Output, listing: Listing, *, acc: bool = False, no_match: str | None = None) -> None:
    """The runs table and the other files; `no_match` says why filters left no run."""
    runs = listing.runs
    if no_match:
        out.note(no_match)
    elif not runs and not listing.other:
        out.note("no checkpoints found")
        return
    has_prefix = any(r.name.prefix and not r.name.parent for r in runs)
    has_parent = any(r.name.parent or r.loaded_from for r in runs)
    headers = ["uid", "model", "dataset", "config", "buffer", "epochs", "started", "tasks", "size"]
    justify = ["left"] * 4 + ["right", "right", "left", "left", "right"]
    if has_prefix:
        headers.insert(1, "prefix")
        justify.insert(1, "left")
    if acc:
        headers += ["class-IL", "task-IL"]
        justify += ["right", "right"]
    if has_parent:
        headers.append("resumed from")
        justify.append("left")
    has_log = any(r.logged for r in runs)  # logs were read: say where each run was found
    if has_log:
        headers.append("source")
        justify.append("left")
    rows, styles = [], []
    for r in runs:
        n = r.name
        row: list[Any] = [
            opt_cell(n.uid), Cell((n.model or "?") + ("?" if "model" in n.guessed else ""), n.model),
            Cell(n.dataset or "?", n.dataset), opt_cell(n.dataset_config), opt_cell(n.buffer_size),
            opt_cell(n.n_epochs),
            Cell(n.timestamp.strftime("%Y-%m-%d %H:%M"), n.timestamp.isoformat()) if n.timestamp else opt_cell(None),
            Cell(r.tasks_label, " ".join(map(str, r.tasks))), bytes_cell(r.bytes),
        ]
        st: list[str | None] = ["cyan", "bold", None, "dim", None, None, "dim", None, None]
        if has_prefix:
            row.insert(1, n.prefix if n.prefix and not n.parent else "")
            st.insert(1, "dim")
        if acc:
            fa = r.final_acc or {}
            row += [acc_cell(fa.get("class_il")), acc_cell(fa.get("task_il"))]
            st += [acc_style(fa.get("class_il")), acc_style(fa.get("task_il"))]
        if has_parent:
            row.append(n.parent.uid or n.parent.stem if n.parent else _parent_file(r.loaded_from))
            st.append("magenta")
        if has_log:
            row.append(r.source)
            st.append("dim")
        rows.append(row)
        styles.append(st)
    if rows:
        # On a narrow terminal, hide what matters least for telling runs apart first.
        # buffer size is what tells ER runs of one setting apart: it goes last, after started.
        optional = [headers.index(h) for h in ("config", "epochs", "started", "size", "prefix", "resumed from",
                                               "buffer") if h in headers]
        files = sum(len(r.checkpoints) for r in runs)
        title = f"{len(runs)} run(s), {files} file(s), {human_bytes(listing.bytes)}"
        out.table(headers, rows, styles=styles, justify=justify, title=title, optional=optional)
    _render_copies(out, [c for r in runs for c in r.copies])
    if listing.other and out.fmt in ("csv", "tsv"):
        # stdout holds one machine-readable table; the rest is a note beside it.
        out.note(f"{len(listing.other)} other file(s) (not runs) left out of the {out.fmt} table; --json lists them")
    elif listing.other and out.fmt:
        out.table(["path", "reason"], [[o["path"], o["reason"]] for o in listing.other],
                  title=f"{len(listing.other)} other file(s)")
    elif listing.other:
        out.heading(f"{len(listing.other)} other file(s)")
        for o in listing.other:
            out.line(f"  {o['path']}: {o['reason']}", style="yellow")
