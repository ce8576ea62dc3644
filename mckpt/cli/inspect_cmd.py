"""`mckpt inspect`: one checkpoint's args, results, tensors and training state."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import UsageError
from ..io.sources import ByteSource
from ..model.checkpoint import read_checkpoint, to_plain
from ..remote import is_remote
from ..view.render import render_args, render_checkpoint, render_tensor_list
from .common import FormatOpt, JsonOpt, QuietOpt, examples, handle_errors, make_output


@handle_errors
def inspect_command(
    file: Annotated[str, typer.Argument(
        metavar="FILE", help="A checkpoint file (.pt); an http(s)://, hf://, s3://, gs:// or az:// file; "
                             "or a remote folder's run uid.")],
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
    source: str | ByteSource = file
    if is_remote(file):
        from ..fetch.download import FetchOptions  # only remote inspects pay for obstore / HTTP
        from ..remote.open import open_checkpoint_source

        source = open_checkpoint_source(file, FetchOptions.from_env(revision=revision))
    elif revision is not None:
        raise UsageError("--revision applies to hf:// and hub URLs, not to a local file", path=file)
    try:
        ck = read_checkpoint(source)
    finally:
        if not isinstance(source, str):  # a remote source (a connection, or a cached copy's fd) is ours
            source.close()
    if args_only:
        out.show(lambda: to_plain(ck.args), lambda: render_args(out, ck.args))
    elif tensors and fmt:
        out.show(lambda: ck.to_json(full_tensors=True), lambda: render_tensor_list(out, ck))
    else:
        out.show(lambda: ck.to_json(full_tensors=tensors), lambda: render_checkpoint(out, ck, tensors=tensors))


def register(app: typer.Typer) -> None:
    app.command("inspect", epilog=examples(
        "mckpt inspect checkpoints/er_seq-mnist_..._last.pt --tensors",
        "mckpt inspect hf://owner/repo/run_4.pt --args-only --json",
    ))(inspect_command)
