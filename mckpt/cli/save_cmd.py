"""`mckpt save`: train with the user's Mammoth, writing checkpoints."""

from __future__ import annotations

from typing import Annotated

import typer

from ..choices import MODES
from .common import JsonOpt, QuietOpt, add_command, choice_option, examples, handle_errors
from .mammoth_run import PASSTHROUGH, DryRunOpt, EveryOpt, JsonDocument, MammothOpt, PythonOpt, run
from .outcome import make_output


@handle_errors
def save_command(
    ctx: typer.Context,
    every: EveryOpt = None,
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="PREFIX", help="A prefix for the run's checkpoint names (--ckpt_name)."),
    ] = None,
    mode: Annotated[
        str | None,
        choice_option("--mode", choices=MODES, strict=False, help="Checkpoint format (Mammoth's default: safe)."),
    ] = None,
    mammoth: MammothOpt = None,
    python: PythonOpt = None,
    dry_run: DryRunOpt = False,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Train with Mammoth, writing checkpoints: mckpt save [OPTIONS] -- <Mammoth arguments>.

    Output streams live. Ctrl-C makes Mammoth write checkpoints/paused/<uuid>.pt; a second Ctrl-C
    stops it at once. Ctrl-Z stops Mammoth too, fg resumes it. A pipe that closes (| tee killed by
    Ctrl-C) never stops the run. Exits with Mammoth's exit code.
    """
    from ..train.mammoth_env import find_mammoth
    from ..train.save import plan_save
    from ..view.render_run import render_command

    out = make_output(json, None, quiet)
    with JsonDocument(out) as doc:
        env = find_mammoth(mammoth, python)
        plan = plan_save(env, list(ctx.args), every=every, name=name, mode=mode)
        doc.plan = plan.to_json()
        if dry_run:
            # --json: the same document as a real run's, without "result": scripts read plan.* either way.
            out.show(doc.document, lambda: render_command(out, env, plan.command, None))
            return
        if not json:  # what is about to run; --json prints its one document at the end
            render_command(out, env, plan.command, None)
        run(doc, env, plan.command, plan.watch, {})


def register(app: typer.Typer) -> None:
    add_command(app, "save", save_command, context_settings=PASSTHROUGH, epilog=examples(
        "mckpt save -- --model er --dataset seq-mnist --buffer_size 200 --lr 0.03",
        "mckpt save --every last --name exp1 -- --model sgd --dataset seq-cifar10 --lr 0.1"))
