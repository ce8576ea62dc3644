"""`mckpt diff A B`: what changed between two checkpoints or runs."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from .common import FormatOpt, JsonOpt, QuietOpt, examples, handle_errors, make_output


@handle_errors
def diff_command(
    a: Annotated[str, typer.Argument(
        metavar="A", help="A checkpoint file, a run folder or a run uid (its newest file).")],
    b: Annotated[str, typer.Argument(metavar="B", help="The checkpoint, folder or run to compare with A.")],
    weights: Annotated[bool, typer.Option("--weights", "-w", help="Compare the weights too (streamed).")
                       ] = False,
    top: Annotated[int, typer.Option("--top", "-n", metavar="N", help="Show the N tensors that changed most (0: all).")
                   ] = 20,
    all_args: Annotated[bool, typer.Option("--all", help="Include bookkeeping args (seed, uid, timestamps…).")
                        ] = False,
    json: JsonOpt = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Compare two checkpoints: args (bookkeeping left out), results, and with --weights the tensors."""
    out = make_output(json, fmt, quiet)
    if top < 0:
        raise UsageError(f"--top must be 0 or more, not {top}")
    from ..diff import diff_checkpoints  # imported per command, so other commands start without it
    from ..model.resolve import resolve_checkpoint
    from ..view.render_diff import render_diff

    d = diff_checkpoints(resolve_checkpoint(a).path, resolve_checkpoint(b).path, weights=weights,
                         top=top or None, all=all_args)
    out.show(d.to_json, lambda: render_diff(out, d))


def register(app: typer.Typer) -> None:
    app.command("diff", epilog=examples(
        "mckpt diff e3e70682 9a164106",
        "mckpt diff a.pt b.pt --weights --top 5",
    ))(diff_command)
