"""`mckpt inspect`: one checkpoint's args, results, tensors and training state."""

from __future__ import annotations

from typing import Annotated

import typer

from ..domain.checkpoint import to_plain
from ..locate import read
from ..view.render_inspect import render_args, render_checkpoint, render_tensor_list
from .common import (
    FormatOpt,
    JsonOpt,
    QuietOpt,
    add_command,
    checkpoint_argument,
    examples,
    handle_errors,
    make_output,
)


@handle_errors
def inspect_command(
    checkpoint: Annotated[str, checkpoint_argument("What to show")],
    tensors: Annotated[bool, typer.Option("--tensors", "-t", help="List every tensor (aliases marked).")] = False,
    args_only: Annotated[bool, typer.Option("--args-only", "-a", help="Print only the saved args.")] = False,
    revision: Annotated[str | None, typer.Option(
        "--revision", metavar="REV", help="For hf:// and hub URLs: branch, tag or commit.")] = None,
    json: JsonOpt = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Show what a checkpoint holds, without torch and without running code from it."""
    out = make_output(json, fmt, quiet)
    ck = read(checkpoint, revision=revision)
    if args_only:
        out.show(lambda: to_plain(ck.args), lambda: render_args(out, ck.args))
    elif tensors and fmt:
        out.show(lambda: ck.to_json(full_tensors=True), lambda: render_tensor_list(out, ck))
    else:
        out.show(lambda: ck.to_json(full_tensors=tensors), lambda: render_checkpoint(out, ck, tensors=tensors))


def register(app: typer.Typer) -> None:
    add_command(app, "inspect", inspect_command, epilog=examples(
        "mckpt inspect checkpoints/er_seq-mnist_..._last.pt --tensors",
        "mckpt inspect hf://owner/repo/run_4.pt --args-only --json",
        "mckpt inspect 17e0aa3c",
    ))
