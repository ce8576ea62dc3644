"""`mckpt diff A B`: what changed between two checkpoints or runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import UsageError
from ..remote import is_remote
from .common import PROGRESS_MIN_BYTES, FormatOpt, JsonOpt, QuietOpt, examples, handle_errors, make_output

if TYPE_CHECKING:
    from contextlib import ExitStack

    from ..model.checkpoint import Checkpoint


@handle_errors
def diff_command(
    a: Annotated[str, typer.Argument(
        metavar="A", help="A checkpoint file, a run folder or a run uid (its newest file); local or remote.")],
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
    from contextlib import ExitStack

    from ..diff import diff_checkpoints, pair_weights  # imported per command, so others start without it
    from ..view.render_diff import render_diff

    with ExitStack() as stack:
        ca, cb = _checkpoint(a, stack, weights), _checkpoint(b, stack, weights)
        # Opened here, not by diff_checkpoints, so the progress bar knows how many bytes the weights are.
        total = pair_weights(ca, cb).nbytes(ca) if weights else 0
        with out.progress("compare weights", total, draw=total >= PROGRESS_MIN_BYTES) as bar:
            d = diff_checkpoints(ca, cb, weights=weights, top=top or None, all=all_args, progress=bar.advance)
    out.show(d.to_json, lambda: render_diff(out, d))


def _checkpoint(spec: str, stack: ExitStack, keep_open: bool) -> Checkpoint:
    """A local file, run folder or uid, or a remote file, folder or uid (read by ranged requests),
    closed when `stack` closes; `keep_open` keeps a local file open for streaming its tensors (a
    remote source stays open until then anyway: the reader leaves a source it is handed open)."""
    from contextlib import closing

    from ..model.checkpoint import read_checkpoint

    if is_remote(spec):
        from ..remote.open import open_checkpoint_source

        return read_checkpoint(stack.enter_context(closing(open_checkpoint_source(spec))))
    from ..model.resolve import resolve_checkpoint

    return stack.enter_context(read_checkpoint(resolve_checkpoint(spec).path, keep_open=keep_open))


def register(app: typer.Typer) -> None:
    app.command("diff", epilog=examples(
        "mckpt diff e3e70682 9a164106",
        "mckpt diff a.pt b.pt --weights --top 5",
    ))(diff_command)
