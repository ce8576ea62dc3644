"""`mckpt load`: resume a run from its checkpoint with the user's Mammoth."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import JsonOpt, QuietOpt, add_command, checkpoint_argument, examples, handle_errors
from .mammoth_run import PASSTHROUGH, DryRunOpt, EveryOpt, JsonDocument, MammothOpt, PythonOpt, run
from .outcome import error_line, make_output


@handle_errors
def load_command(
    ctx: typer.Context,
    checkpoint: Annotated[str, checkpoint_argument("The run to resume")],
    every: EveryOpt = None,
    check: Annotated[
        bool, typer.Option("--check", help="Ask Mammoth to load the file and exit, training nothing.")
    ] = False,
    mammoth: MammothOpt = None,
    python: PythonOpt = None,
    dry_run: DryRunOpt = False,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Resume a run: mckpt load CHECKPOINT [OPTIONS] [-- extra Mammoth arguments].

    Computes --start_from from the file's results, adds what the Mammoth checkout needs, and shows
    where your extra arguments differ from the saved run. Exits with Mammoth's exit code. With
    --dry-run it plans without a Mammoth checkout too, and says what is missing to run it.
    """
    from ..train.mammoth_env import find_mammoth, find_or_assume_mammoth
    from ..train.resume import plan_resume
    from ..view.render_run import render_plan

    out = make_output(json, None, quiet)
    with JsonDocument(out) as doc:
        # A dry run plans without a checkout (or python) and says what is missing; a run needs both.
        assumed = find_or_assume_mammoth(mammoth, python) if dry_run else None
        env = assumed.env if assumed else find_mammoth(mammoth, python)
        plan = plan_resume(checkpoint, env, list(ctx.args), every=every, check=check)
        if assumed:
            plan.missing = [error_line(e) for e in assumed.missing]
        doc.plan = plan.to_json()
        for message in plan.warnings:
            out.warning(message)
        if dry_run:
            # --json: the same document as a real run's, without "result": scripts read plan.* either way.
            out.show(doc.document, lambda: render_plan(out, plan))
            return
        if not json:  # what is about to run; --json prints its one document at the end
            render_plan(out, plan)
        run(doc, env, plan.command, plan.watch, plan.env, check=check)


def register(app: typer.Typer) -> None:
    add_command(app, "load", load_command, context_settings=PASSTHROUGH, epilog=examples(
        "mckpt load e3e70682 --dry-run", "mckpt load checkpoints/ -- --lr 0.05"))
