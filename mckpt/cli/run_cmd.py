"""`mckpt save` and `mckpt load`: run the user's Mammoth with checkpointing, or resume a run.

The library modules behind them are imported inside the commands: every other command (and each
TAB press) builds this module's options too, and should not pay for subprocess and the planners.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..choices import EVERY, MODES
from .common import JsonOpt, QuietOpt, choice_option, examples, handle_errors, make_output

if TYPE_CHECKING:
    from ..train.mammoth_env import MammothEnv
    from ..view.output import Output

PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}

MammothOpt = Annotated[
    str | None,
    typer.Option(
        "--mammoth",
        metavar="DIR",
        help="Mammoth checkout (default: $MAMMOTH_ROOT, else this folder or a parent holding main.py).",
    ),
]
PythonOpt = Annotated[
    str | None,
    typer.Option(
        "--python", metavar="PY", help="Interpreter for Mammoth (default: $MAMMOTH_PYTHON, else python)."
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", "-n", help="Print the command (and reasoning); run nothing.")
]
# save/load check --every and --mode in the library (strict=False), so that with --json a bad
# value is refused inside the one document these commands always print.
EveryOpt = Annotated[
    str | None, choice_option("--every", choices=EVERY, strict=False,
                              help="Checkpoint after every task, or once after the last one.")
]


class _JsonDocument:
    """`save`/`load --json` print one document whatever happens: `{plan, result, error}`, with
    `plan` null when the command was refused before it had one, `result` only after a run, and
    `error` the refusal (also said on stderr, with the exit code it always had)."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.plan: dict[str, object] | None = None

    def emit(self, **parts: object) -> None:
        self.out.emit_json({"plan": self.plan, **parts, "error": None})

    def __enter__(self) -> _JsonDocument:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        from ..errors import MckptError

        if self.out.json and isinstance(error, MckptError):
            self.out.emit_json({"plan": self.plan, "error": error.to_json()})


def _run(
    doc: _JsonDocument,
    mammoth: MammothEnv,
    command: list[str],
    watch: Path,
    env: dict[str, str],
    check: bool = False,
) -> None:
    """Run Mammoth, report what it wrote, and exit with its exit code.

    With --json, Mammoth's own output goes to stderr so stdout holds one JSON document.
    """
    from ..train.trainer import run_mammoth
    from ..view.render_run import render_result

    out = doc.out
    result = run_mammoth(
        command, mammoth.root, watch, env, notify=out.notice, stdout=sys.stderr if out.json else sys.stdout
    )
    if out.json:
        doc.emit(result=result.to_json())
    elif check:
        verdict = "accepted" if result.exit_code == 0 else f"did not accept (exit code {result.exit_code})"
        out.line(f"\nMammoth {verdict} the checkpoint.")
    else:
        render_result(out, result, mammoth)
    raise typer.Exit(result.exit_code)


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
    stops it at once. Exits with Mammoth's exit code.
    """
    from ..train.mammoth_env import find_mammoth
    from ..train.save import plan_save
    from ..view.render_run import render_command

    out = make_output(json, None, quiet)
    with _JsonDocument(out) as doc:
        env = find_mammoth(mammoth, python)
        plan = plan_save(env, list(ctx.args), every=every, name=name, mode=mode)
        doc.plan = plan.to_json()
        if dry_run and json:
            # The same document as a real run's, without "result": scripts read plan.* either way.
            doc.emit()
            return
        if not json:
            render_command(out, env, plan.command, None)
        if not dry_run:
            _run(doc, env, plan.command, plan.watch, {})


@handle_errors
def load_command(
    ctx: typer.Context,
    checkpoint: Annotated[
        str, typer.Argument(metavar="CHECKPOINT", help="A checkpoint file, a run folder, or a run uid.")
    ],
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
    where your extra arguments differ from the saved run. Exits with Mammoth's exit code.
    """
    from ..train.mammoth_env import find_mammoth
    from ..train.resume import plan_resume
    from ..view.render_run import render_plan

    out = make_output(json, None, quiet)
    with _JsonDocument(out) as doc:
        env = find_mammoth(mammoth, python)
        plan = plan_resume(checkpoint, env, list(ctx.args), every=every, check=check)
        doc.plan = plan.to_json()
        for message in plan.warnings:
            out.warning(message)
        if dry_run and json:
            # The same document as a real run's, without "result": scripts read plan.* either way.
            doc.emit()
            return
        if not json:
            render_plan(out, plan)
        if not dry_run:
            _run(doc, env, plan.command, plan.watch, plan.env, check=check)


def register(app: typer.Typer) -> None:
    app.command("save", context_settings=PASSTHROUGH, epilog=examples(
        "mckpt save -- --model er --dataset seq-mnist --buffer_size 200 --lr 0.03",
        "mckpt save --every last --name exp1 -- --model sgd --dataset seq-cifar10 --lr 0.1"))(save_command)
    app.command("load", context_settings=PASSTHROUGH, epilog=examples(
        "mckpt load e3e70682 --dry-run", "mckpt load checkpoints/ -- --lr 0.05"))(load_command)
