"""`mckpt diff A B`: what changed between two checkpoints or runs."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from .common import (
    PROGRESS_MIN_BYTES,
    FormatOpt,
    JsonOpt,
    QuietOpt,
    TimeoutOpt,
    add_command,
    checkpoint_argument,
    examples,
    handle_errors,
)
from .outcome import make_output


@handle_errors
def diff_command(
    a: Annotated[str, checkpoint_argument("The first checkpoint", "A")],
    b: Annotated[str, checkpoint_argument("The checkpoint to compare with A", "B")],
    weights: Annotated[bool, typer.Option("--weights", help="Compare the weights too (streamed).")
                       ] = False,
    top: Annotated[int, typer.Option("--top", metavar="N", help="Show the N tensors that changed most (0: all).")
                   ] = 20,
    all_args: Annotated[bool, typer.Option("--all", help="Include bookkeeping args (seed, uid, timestamps…).")
                        ] = False,
    exit_code: Annotated[bool, typer.Option(
        "--exit-code", help="Exit 1 when they differ, 0 when they are the same (as `git diff --exit-code`).")
                         ] = False,
    timeout: TimeoutOpt = 30.0,
    json: JsonOpt = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Compare two checkpoints: args (bookkeeping left out), results, and with --weights the tensors."""
    out = make_output(json, fmt, quiet)
    if top < 0:
        raise UsageError(f"--top must be 0 or more, not {top}")
    from contextlib import ExitStack

    from ..diff import diff_checkpoints, pair_weights  # imported per command, so others start without it
    from ..locate import read
    from ..view.render_diff import render_diff
    from .bodies import remote_options

    with ExitStack() as stack:
        # --weights streams tensors: the files (or connections) stay open until the comparison is done.
        options = remote_options([a, b], None, timeout)
        ca, cb = (stack.enter_context(read(spec, keep_open=weights, options=options)) for spec in (a, b))
        # Opened here, not by diff_checkpoints, so the progress bar knows how many bytes the weights are.
        total = pair_weights(ca, cb).nbytes(ca) if weights else 0
        with out.progress("compare weights", total, draw=total >= PROGRESS_MIN_BYTES) as bar:
            d = diff_checkpoints(ca, cb, weights=weights, top=top or None, all=all_args, progress=bar)
    out.show(d.to_json, lambda: render_diff(out, d))
    if exit_code and not d.equal:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    add_command(app, "diff", diff_command, epilog=examples(
        "mckpt diff e3e70682 9a164106",
        "mckpt diff a.pt b.pt --weights --top 5",
        "mckpt diff 17e0 hf://owner/repo/run_last.pt --exit-code -q",
    ))
