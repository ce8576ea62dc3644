"""Human views for `save` and `load`: the checkout found, the plan and its reasons, what a run wrote."""

from __future__ import annotations

import os
import shlex

from ..train.mammoth_env import MammothEnv
from ..train.resume import ResumePlan
from ..train.trainer import TrainingResult
from .output import Cell, Output, human_bytes


def shown_path(path: str) -> str:
    """A path as the user would type it from here: relative below the current folder."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def command_line(command: list[str], env: dict[str, str] | None = None) -> str:
    prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in (env or {}).items())
    return prefix + shlex.join(command)


def render_command(out: Output, mammoth: MammothEnv, command: list[str], env: dict[str, str] | None) -> None:
    out.fields(
        [*mammoth.describe(), ("cwd", str(mammoth.root)), ("command", command_line(command, env))],
        title="Mammoth",
    )


def _uid_only(plan: ResumePlan) -> str:
    name = plan.checkpoint.name
    return f"uid {name.uid} (its name was not saved)" if name and name.uid else "-"


def _no_total(plan: ResumePlan) -> str:
    return " (task count not known)" if plan.checkpoint.kind == "mammoth" else " (a bare backbone)"


def render_plan(out: Output, plan: ResumePlan) -> None:
    pairs = [
        ("file", shown_path(plan.file)),
        ("chosen", plan.chosen_by),
        ("run", plan.run or _uid_only(plan)),
        ("tasks done", f"{plan.tasks_done}" + (f" of {plan.total_tasks}" if plan.total_tasks else _no_total(plan))),
        ("start from", str(plan.start_from)),
        ("lineage", " → ".join([*plan.lineage, plan.run or "this run"]) if plan.lineage else "(first run)"),
    ]
    out.fields(pairs, title="Check" if plan.check else "Resume")
    out.heading("Reasoning")
    for reason in plan.reasons:
        out.line(f"  - {reason}")
    if plan.changes:
        out.table(
            ["arg", "saved", "new"],
            [[c.name, c.saved_text, c.given_text] for c in plan.changes],
            title="Arguments that differ from the saved run",
        )
    else:
        out.line("\nNo argument differs from the saved run (bookkeeping arguments aside).")
    render_command(out, plan.mammoth, plan.command, plan.env)
    if plan.missing:
        out.heading("Missing to run it (planned without)")
        for line in plan.missing:
            out.line(f"  - {line}")


def resume_hint(path: str, mammoth: MammothEnv) -> str:
    """The `mckpt load` command for a file, with the flags needed to find the same checkout."""
    words = ["mckpt", "load", shown_path(path)]
    if mammoth.found_by == "--mammoth":
        words += ["--mammoth", str(mammoth.root)]
    if mammoth.python_found_by == "--python":
        words += ["--python", mammoth.python]
    return shlex.join(words)


def render_result(out: Output, result: TrainingResult, mammoth: MammothEnv) -> None:
    if result.written:
        # the path goes last: a terminal too narrow for it folds only that column
        rows = [
            [Cell("-" if w.task is None else str(w.task), w.task), Cell(human_bytes(w.bytes), w.bytes),
             shown_path(w.path)]
            for w in result.written
        ]
        out.table(["task", "size", "checkpoint"], rows, title="Checkpoints written by this run",
                  justify=["right", "right", "left"])
    else:
        out.line("\nThis run wrote no checkpoint.")
    if result.run_name:
        out.line(f"run: {result.run_name}")
    for w in result.paused:
        out.line(f"\nPaused checkpoint: {shown_path(w.path)}")
        out.line(f"Resume it with:    {resume_hint(w.path, mammoth)}")
    if result.interrupted and not result.paused:
        out.line(
            "\nInterrupted, and Mammoth wrote no paused checkpoint"
            + (" (stopped at once by a second Ctrl-C)." if result.killed else ".")
        )
    out.line(f"Mammoth exited with code {result.exit_code}.")
