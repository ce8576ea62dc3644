"""The human view of one checkpoint (`mckpt inspect`), written against the Output layer.

It builds rows and cells; `Output` decides between Rich, plain text and tabulate formats, so the
same view serves a terminal, a pipe and `--format latex` for a paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..domain.checkpoint import Checkpoint
from ..words import counted
from .cells import acc_cell, acc_style, bytes_cell, count_cell, format_value
from .output import Cell, Output, human_bytes, human_count
from .text import brief

NONE = Cell("-", None)  # a field with no value: `-` to read, an empty cell in csv/tsv (as `list` has)

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


def group_args(args: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(group, name, value) rows: known groups in order, the rest under `model/other`."""
    rows: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for group, names in ARG_GROUPS:
        for n in names:
            if n in args:
                rows.append((group, n, format_value(args[n])))
                seen.add(n)
    for n in sorted(args):
        if n not in seen:
            rows.append(("other", n, format_value(args[n])))
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
        styles.append([None, *[acc_style(x) for x in row], *([None] * (n - len(row))), "bold"])
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
            ("model", a.get("model") or (n and n.model) or NONE),
            ("dataset", a.get("dataset") or (n and n.dataset) or NONE),
            ("config", a.get("dataset_config") or (n and n.dataset_config) or NONE),
            ("buffer", a.get("buffer_size", n.buffer_size if n else None) or 0),
            ("epochs", a.get("n_epochs", n.n_epochs if n else NONE)),
            ("started", (n.timestamp.isoformat(sep=" ") if n and n.timestamp else a.get("conf_timestamp", NONE))),
            ("uid", (n.uid if n and n.uid else str(a.get("conf_jobnum") or "-").split("-")[0])),
            ("task", n.task if n else NONE),
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
        ("tensors", f"{t.count}" + (f" ({counted(aliases, 'alias', 'aliases')})" if aliases else "")),
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
        detail = ", ".join(f"{k} {format_value(v)}" for k, v in s.state.items())
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
