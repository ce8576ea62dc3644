"""`mckpt convert`: bare backbone → full checkpoint, full → backbone, old pickle → safe layout."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from ..choices import TARGETS
from ..errors import MckptError, UsageError
from .common import (
    PROGRESS_MIN_BYTES,
    JsonOpt,
    QuietOpt,
    add_command,
    checkpoint_argument,
    choice_option,
    examples,
    handle_errors,
)
from .outcome import make_output

if TYPE_CHECKING:
    from ..convert import Plan


@handle_errors
def convert_command(
    checkpoint: Annotated[str, checkpoint_argument("What to convert (it is never modified)")],
    to: Annotated[str | None, choice_option(
        "--to", choices=TARGETS,
        help="Target; by default from the input: backbone→full, old pickle→safe, full→backbone.")] = None,
    like: Annotated[str | None, typer.Option(
        "--like", metavar="CHECKPOINT", help="A full checkpoint of the same model (file, run or URL): key layout, "
                                             "args.")] = None,
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE|DIR",
        help="A .pt file or a folder (default: checkpoints/ for full, else by the input).")] = None,
    model: Annotated[str | None, typer.Option(
        "--model", metavar="MODEL", help="Set args.model (--to full or safe).")] = None,
    dataset: Annotated[str | None, typer.Option(
        "--dataset", metavar="DATASET", help="Set args.dataset (--to full or safe).")] = None,
    buffer_size: Annotated[int | None, typer.Option("--buffer-size", metavar="N", help="Set args.buffer_size.")] = None,
    n_epochs: Annotated[int | None, typer.Option("--n-epochs", metavar="N", help="Set args.n_epochs.")] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", metavar="KEY=VALUE", help="Set any arg (JSON: 0.1, null), --to full or safe; repeatable.")] = None,
    strip_prefix: Annotated[bool, typer.Option(
        "--strip-prefix", help="--to backbone: drop `net.` (for plain PyTorch, not for Mammoth).")] = False,
    allow_partial: Annotated[bool, typer.Option(
        "--allow-partial", help="--to full: fill sourceless keys from the template.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Print the plan; write nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Convert checkpoints without torch: copies tensor bytes raw, checks the result, writes atomically."""
    out = make_output(json, None, quiet)
    # The library is imported here, not at the top: every other command starts without it.
    from ..convert import ArgOverrides, parse_set, plan_conversion, write_plan
    from ..locate import local_copy, resolve
    from ..view.render_convert import render_plan, render_written

    source = local_copy(resolve(checkpoint)).path  # a URL is fetched into the cache once
    template = local_copy(resolve(like)).path if like is not None else None
    overrides = ArgOverrides(model, dataset, buffer_size, n_epochs, parse_set(set_ or []))
    plan = plan_conversion(source, to, like=template, output=output, overrides=overrides,
                           strip_prefix=strip_prefix, allow_partial=allow_partial, force=force)
    if not dry_run and not plan.writable and (_needs_template(plan, like) or not plan.problems):
        raise _unwritable(plan, like)  # what is needed (a template, a free output), before any plan
    if dry_run or not plan.writable:
        out.show(plan.to_json, lambda: render_plan(out, plan))
        if not plan.writable and not dry_run:
            raise _unwritable(plan, like)
        return
    started = time.perf_counter()
    # a small file is written before a bar could show anything
    with out.progress("copy + check", 2 * plan.nbytes, draw=plan.nbytes >= PROGRESS_MIN_BYTES) as bar:
        result = write_plan(plan, force=force, progress=bar)
    seconds = time.perf_counter() - started

    def render() -> None:
        render_plan(out, plan, keys=False)
        render_written(out, result, seconds)

    out.show(lambda: {**plan.to_json(), "written": {**result.to_json(), "seconds": round(seconds, 3)}}, render)


def _needs_template(plan: Plan, like: str | None) -> bool:
    """A bare backbone to a full checkpoint without --like: only a guess can be planned."""
    return like is None and plan.conversion == "backbone->full"


def _unwritable(plan: Plan, like: str | None) -> MckptError:
    if _needs_template(plan, like):
        return UsageError(
            "a full checkpoint needs the target model's key layout, which a bare backbone does not carry",
            path=plan.source,
            hint="pass --like <a full checkpoint of the same model>, or write the `net.` form Mammoth "
                 "accepts for any backbone: --to backbone")
    if plan.collision and not plan.problems:
        return MckptError(plan.collision, hint="pass --force to replace it, or choose another -o")
    return MckptError(f"{'; '.join(plan.problems)} (listed above); nothing written", path=plan.source,
                      hint="use a template of the same model and backbone, or --allow-partial to fill "
                           "keys from the template and leave extra source keys out")


def register(app: typer.Typer) -> None:
    add_command(app, "convert", convert_command, epilog=examples(
        "mckpt convert backbone.pt --like checkpoints/er_seq-mnist_..._last.pt",
        "mckpt convert old_run_4.pt --to safe --dry-run",
    ))
