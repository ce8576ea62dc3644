"""Human view of a conversion plan and of what was written (`mckpt convert`)."""

from __future__ import annotations

from ..convert import Plan, WriteResult
from ..words import counted
from .cells import format_value
from .output import Output, human_bytes

_SHOWN_ARGS = ("model", "dataset", "dataset_config", "buffer_size", "n_epochs", "ckpt_name", "conf_jobnum")


def render_plan(out: Output, plan: Plan, *, keys: bool = True) -> None:
    """The plan: where from and to, every key's source (with `keys`), args and notes."""
    n_keys = len(plan.mapped) + len(plan.aliased) + len(plan.copied)
    pairs = [("conversion", plan.conversion), ("source", plan.source)]
    if plan.template:
        pairs.append(("template", plan.template))
    pairs += [
        ("output", plan.output),
        ("keys", f"{len(plan.mapped)} mapped · {len(plan.aliased)} aliased · {len(plan.copied)} copied · "
                 f"{len(plan.unmatched)} unmatched · {len(plan.unused)} left out"),
        ("storages", f"{len(plan.storages)} ({human_bytes(plan.nbytes)}), copied raw"),
    ]
    out.fields(pairs, title=f"convert: {plan.conversion} ({counted(n_keys, 'key')} in the new file)")
    if keys:
        rows = [[k, "←", s] for k, s in plan.mapped]
        rows += [[k, "=", f"{s} (same storage)"] for k, s in plan.aliased]
        rows += [[k, "←", "template"] for k in plan.copied]
        styles = [[None, "dim", None]] * len(rows)
        if rows:
            out.table(["key", "", "from"], rows, title="keys", styles=styles)
    if plan.unmatched:
        out.table(["without a source"], [[k] for k in plan.unmatched], title="unmatched",
                  styles=[["red"]] * len(plan.unmatched))
    if plan.unused and keys:
        out.table(["left out"], [[k] for k in plan.unused], title="source keys not written")
    if plan.args:
        shown = [(k, format_value(plan.args[k])) for k in _SHOWN_ARGS if k in plan.args]
        out.fields(shown, title=f"args ({len(plan.args)} entries)")
    problems = plan.problems + ([plan.collision] if plan.collision else [])
    if problems:
        out.heading("cannot write")
        for problem in problems:
            out.line(f"  - {problem}", style="red")
    if plan.notes:
        out.heading("notes")
        for note in plan.notes:
            out.line(f"  - {note}")


def render_written(out: Output, result: WriteResult, seconds: float) -> None:
    out.line()
    if result.removed_partials:
        total = human_bytes(sum(n for _, n in result.removed_partials))
        out.line(f"removed {len(result.removed_partials)} partial file(s) ({total}) left beside the output by "
                 "conversions that were killed", style="dim")
    size = human_bytes(result.bytes)
    out.line(f"wrote {result.path} ({size}, {counted(result.storages, 'storage')}) in {seconds:.2f} s",
             style="green")
    out.line(f"checked: {'; '.join(result.checks)}", style="dim")
