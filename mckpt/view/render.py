"""Human views of the library's objects (inspect, list), written against the Output layer.

They build rows and cells; `Output` decides between Rich, plain text and tabulate formats, so the
same view serves a terminal, a pipe and `--format latex` for a paper.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ..model.checkpoint import Checkpoint
from ..model.metrics import round_acc
from ..model.names import parse_name
from ..model.runs import CopyFile, Listing
from .output import Cell, Output, human_bytes, human_count
from .text import brief

ARG_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("experiment", ("model", "dataset", "dataset_config", "backbone", "model_config", "n_epochs", "joint",
                    "seed", "permute_classes", "label_perc", "validation", "num_classes", "buffer_size")),
    ("optimisation", ("lr", "optimizer", "optim_wd", "optim_mom", "optim_nesterov", "batch_size",
                      "minibatch_size", "lr_scheduler", "lr_milestones", "sched_multistep_lr_gamma",
                      "alpha", "beta")),
    ("checkpointing", ("savecheck", "loadcheck", "ckpt_name", "ckpt_name_replace", "start_from",
                       "stop_after", "save_checkpoint_mode", "save_after_interrupt")),
    ("run", ("conf_jobnum", "conf_timestamp", "conf_host", "conf_git_hash", "conf_git_commit", "device",
             "distributed", "num_workers", "nowand", "wandb_entity", "wandb_project", "wandb_name",
             "notes", "non_verbose", "disable_log", "debug_mode", "base_path", "job_number")),
]
FOLD = 72


def _fmt_value(v: Any) -> str:
    return brief(v, FOLD)


def group_args(args: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(group, name, value) rows: known groups in order, the rest under `model/other`."""
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for group, names in ARG_GROUPS:
        for n in names:
            if n in args:
                rows.append((group, n, _fmt_value(args[n])))
                seen.add(n)
    for n in sorted(args):
        if n not in seen:
            rows.append(("other", n, _fmt_value(args[n])))
    return rows


SUMMARY_GROUPS = ("experiment", "optimisation", "checkpointing")


def render_args(out: Output, args: dict[str, Any], *, summary: bool = False, path: str | None = None) -> None:
    """All args grouped; with `summary`, the run/other groups fold into one line naming the command
    that shows them (for `path`, quoted for the shell, so it can be pasted as it is)."""
    rows = group_args(args)
    if not rows:
        out.line("(no args)")
        return
    shown = [r for r in rows if r[0] in SUMMARY_GROUPS] if summary else rows
    out.table(["group", "arg", "value"], [list(r) for r in shown], title=f"Args ({len(args)})")
    if len(shown) < len(rows):
        import shlex

        command = "mckpt inspect --args-only" + (f" {shlex.quote(path)}" if path else "")
        out.line(f"  … {len(rows) - len(shown)} more (run bookkeeping and model options): {command}", style="dim")


def _acc_style(x: float | None) -> str | None:
    if x is None:
        return None
    return "green" if x >= 80 else "yellow" if x >= 50 else "red"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def acc_cell(x: float | None) -> Cell:
    """An accuracy: `71.01` to read, 71.01 (Mammoth's precision) in csv, empty when there is none."""
    return Cell(_pct(x), round_acc(x))


def bytes_cell(n: int | None) -> Cell:
    return Cell(human_bytes(n), n)


def count_cell(n: int | None) -> Cell:
    return Cell(human_count(n), n)


def opt_cell(value: Any, text: str = "-") -> Cell:
    """A value that may be absent: shown as `text` when None, empty in csv."""
    return Cell(text if value is None else str(value), value)


def render_matrix(out: Output, title: str, matrix: Sequence[Sequence[float]]) -> None:
    if not matrix:
        return
    n = max(len(r) for r in matrix)
    headers = ["after", *[f"T{i + 1}" for i in range(n)], "avg"]
    rows, styles = [], []
    for t, row in enumerate(matrix):
        avg = sum(row) / len(row) if row else None
        cells = [Cell(f"task {t + 1}", t + 1), *[acc_cell(x) for x in row], *([None] * (n - len(row))),
                 acc_cell(avg)]
        rows.append(cells)
        styles.append([None, *[_acc_style(x) for x in row], *([None] * (n - len(row))), "bold"])
    out.table(headers, rows, title=title, styles=styles, justify=["left", *["right"] * (n + 1)])


def render_checkpoint(out: Output, ck: Checkpoint, *, tensors: bool = False) -> None:
    """The full `inspect` view."""
    kind = {"mammoth": "Mammoth checkpoint", "backbone": "bare backbone", "other": "torch file"}[ck.kind]
    out.fields([
        ("file", ck.path),
        ("kind", f"{kind}" + (f" ({ck.format})" if ck.format and ck.kind == "mammoth" else "")),
        ("size", bytes_cell(ck.size)),
        *([("layout", "legacy torch format (torch < 1.6)")] if ck.layout == "legacy" else []),
    ], title="Checkpoint")
    n = ck.name
    a = ck.args
    if ck.kind == "mammoth":
        ident = [
            ("model", a.get("model") or (n and n.model) or "-"),
            ("dataset", a.get("dataset") or (n and n.dataset) or "-"),
            ("config", a.get("dataset_config") or (n and n.dataset_config) or "-"),
            ("buffer", a.get("buffer_size", n.buffer_size if n else None) or 0),
            ("epochs", a.get("n_epochs", n.n_epochs if n else "-")),
            ("started", (n.timestamp.isoformat(sep=" ") if n and n.timestamp else a.get("conf_timestamp", "-"))),
            ("uid", (n.uid if n and n.uid else str(a.get("conf_jobnum") or "-").split("-")[0])),
            ("task", n.task if n else "-"),
            ("tasks done", ck.tasks_done),
        ]
        if n is not None:
            ident.append(("name dialect", n.dialect + (f" (guessed: {', '.join(n.guessed)})" if n.guessed else "")))
            if n.lineage:
                ident.append(("resumed from", " → ".join(n.lineage)))
        if isinstance(a.get("loadcheck"), str):
            ident.append(("loaded from", a["loadcheck"]))
        out.fields(ident, title="Run")
        render_args(out, a, summary=True, path=str(ck.path))
        if ck.class_il:
            render_matrix(out, "Class-IL accuracy (%)", ck.class_il)
            render_matrix(out, "Task-IL accuracy (%)", ck.task_il)
            m = ck.metrics
            rows = [[label, acc_cell(mm.final_avg), acc_cell(mm.forgetting), acc_cell(mm.bwt)]
                    for label, mm in (("class-IL", m["class_il"]), ("task-IL", m["task_il"]))]
            out.table(["setting", "final avg", "forgetting", "BWT"], rows, title="Metrics",
                      justify=["left", "right", "right", "right"])
        else:
            out.heading("Results")
            out.line("  no task finished yet")
    render_tensor_summary(out, ck)
    if tensors:
        render_tensor_list(out, ck)
    if ck.kind == "mammoth":
        render_training_state(out, ck)
    if ck.kind == "backbone":
        render_backbone_use(out, ck)
    if ck.warnings:
        out.heading("Warnings")
        for w in ck.warnings:
            out.line(f"  ! {w}", style="yellow")


def render_tensor_summary(out: Output, ck: Checkpoint) -> None:
    t = ck.tensors
    aliases = sum(1 for x in t.tensors if x.alias_of)
    dtypes = ", ".join(f"{k} ×{v}" for k, v in t.dtypes.items()) or "-"
    out.fields([
        ("tensors", f"{t.count}" + (f" ({aliases} aliases)" if aliases else "")),
        ("storages", t.storages),
        ("parameters", Cell(f"{human_count(t.parameters)} ({t.parameters:,})", t.parameters)),
        ("bytes", bytes_cell(t.bytes)),
        ("dtypes", dtypes),
    ], title="Model tensors" if ck.kind == "mammoth" else "Tensors")
    if t.modules and len(t.modules) > 1:
        rows = [[m.name, m.tensors, count_cell(m.parameters), Cell(str(m.aliases or ""), m.aliases)]
                for m in t.modules[:40]]
        out.table(["module", "tensors", "params", "aliases"], rows, justify=["left", "right", "right", "right"])
        if len(t.modules) > 40:
            out.line(f"  … {len(t.modules) - 40} more modules (--tensors lists every tensor)")


def render_backbone_use(out: Output, ck: Checkpoint) -> None:
    """What a bare backbone is good for in Mammoth: the question a user inspecting one has next."""
    import shlex

    keys = list(ck.model_state)
    quoted = shlex.quote(str(ck.path))
    out.heading("Use with Mammoth")
    if keys and all(k.startswith("net.") for k in keys):
        out.line("  --loadcheck takes it as it is (keys under `net.`): a new run starts from these weights")
    else:
        out.line("  --loadcheck may reject keys without `net.` (it cuts 4 characters off any key containing `net`);")
        out.line(f"  the form it takes for every backbone: mckpt convert {quoted} --to backbone")
    out.line(f"  a full checkpoint to resume from: mckpt convert {quoted} --like <a checkpoint of the same model>")


def render_tensor_list(out: Output, ck: Checkpoint) -> None:
    rows = [[x.name, x.dtype, Cell("×".join(map(str, x.shape)) or "scalar", "x".join(map(str, x.shape))),
             Cell(f"{x.parameters:,}", x.parameters), Cell(f"= {x.alias_of}", x.alias_of) if x.alias_of else None]
            for x in ck.tensors.tensors]
    out.table(["name", "dtype", "shape", "params", "alias of"], rows, title="Tensors",
              justify=["left", "left", "left", "right", "left"])


def render_training_state(out: Output, ck: Checkpoint) -> None:
    o, s, b = ck.optimizer, ck.scheduler, ck.buffer
    pairs: list[tuple[str, Any]] = []
    if o is None:
        pairs.append(("optimizer", "none"))
    else:
        g0 = o.param_groups[0] if o.param_groups else {}
        hp = ", ".join(f"{k} {brief(g0[k], 40)}" for k in ("lr", "momentum", "betas", "weight_decay", "nesterov")
                       if k in g0)
        pairs.append(("optimizer", f"{o.type or 'unknown'} · {len(o.param_groups)} group(s) · {hp}"))
        pairs.append(("optimizer state", f"{o.state_entries} entries"
                      + (f" ({', '.join(o.state_keys)})" if o.state_keys else "")
                      + f" · {human_bytes(o.state_bytes)}"))
    if s is None:
        pairs.append(("scheduler", "none"))
    else:
        detail = ", ".join(f"{k} {_fmt_value(v)}" for k, v in s.state.items())
        pairs.append(("scheduler", f"{s.type or 'unknown'} · {detail}"))
    if b is None:
        pairs.append(("buffer", "none"))
    else:
        ts = ", ".join(f"{k} {v.dtype}[{','.join(map(str, v.shape))}]" for k, v in b.tensors.items())
        pairs.append(("buffer", f"{b.cls or 'dict'} · size {b.size if b.size is not None else '?'}"
                      + (f" · seen {b.seen}" if b.seen is not None else "")
                      + f" · {human_bytes(b.bytes)}"))
        if ts:
            pairs.append(("buffer tensors", ts))
    out.fields(pairs, title="Training state")


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
            st += [_acc_style(fa.get("class_il")), _acc_style(fa.get("task_il"))]
        if has_parent:
            row.append(n.parent.uid or n.parent.stem if n.parent else _parent_file(r.loaded_from))
            st.append("magenta")
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
