"""`mckpt diff A B`: what changed between two checkpoints or runs."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from .common import FormatOpt, JsonOpt, QuietOpt, byte_progress, examples, handle_errors, make_output


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
    if top < 0:
        raise UsageError(f"--top must be 0 or more, not {top}")
    from ..diff import diff_checkpoints, pair_weights  # imported per command, so others start without it
    from ..model.checkpoint import read_checkpoint
    from ..model.resolve import resolve_checkpoint
    from ..view.render_diff import render_diff

    pa, pb = resolve_checkpoint(a).path, resolve_checkpoint(b).path
    # Opened here, not by diff_checkpoints, so the progress bar knows how many bytes the weights are.
    with read_checkpoint(pa, keep_open=weights) as ca, read_checkpoint(pb, keep_open=weights) as cb:
        total = pair_weights(ca, cb).nbytes(ca) if weights else 0
        with byte_progress("compare weights", total, enabled=not (json or quiet)) as tick:
            d = diff_checkpoints(ca, cb, weights=weights, top=top or None, all=all_args, progress=tick)
    out = make_output(json, fmt, quiet)
    if json:
        out.emit_json(d.to_json())
    else:
        render_diff(out, d)


def register(app: typer.Typer) -> None:
    app.command("diff", epilog=examples(
        "mckpt diff e3e70682 9a164106",
        "mckpt diff a.pt b.pt --weights --top 5",
    ))(diff_command)
