"""`mckpt inspect`: one checkpoint's args, results, tensors and training state."""

from __future__ import annotations

from typing import Annotated

import typer

from .bodies import inspect_checkpoint
from .common import FormatOpt, JsonOpt, QuietOpt, TimeoutOpt, add_command, checkpoint_argument, examples, handle_errors


@handle_errors
def inspect_command(
    checkpoint: Annotated[str, checkpoint_argument("What to show")],
    tensors: Annotated[bool, typer.Option("--tensors", "-t", help="List every tensor (aliases marked).")] = False,
    args_only: Annotated[bool, typer.Option("--args-only", "-a", help="Print only the saved args.")] = False,
    revision: Annotated[str | None, typer.Option(
        "--revision", metavar="REV", help="For hf:// and hub URLs: branch, tag or commit.")] = None,
    timeout: TimeoutOpt = 30.0,
    json: JsonOpt = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> int:
    """Show what a checkpoint holds, without torch and without running code from it."""
    return inspect_checkpoint(checkpoint, tensors=tensors, args_only=args_only, revision=revision, timeout=timeout,
                              json=json, fmt=fmt, quiet=quiet)


def register(app: typer.Typer) -> None:
    add_command(app, "inspect", inspect_command, epilog=examples(
        "mckpt inspect checkpoints/er_seq-mnist_..._last.pt --tensors",
        "mckpt inspect hf://owner/repo/run_4.pt --args-only --json",
        "mckpt inspect 17e0aa3c",
    ))
