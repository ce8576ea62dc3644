"""`mckpt demo`: write a small example run and show `list` and `inspect` on it."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from ..errors import MckptError
from .common import QuietOpt, add_command, examples, handle_errors
from .outcome import make_output


@handle_errors
def demo_command(
    folder: Annotated[Path, typer.Argument(help="Where to write the example.")] = Path("mckpt-demo"),
    force: Annotated[bool, typer.Option("--force", help="Write the example again over the folder's files.")] = False,
    quiet: QuietOpt = False,
) -> None:
    """Write example Mammoth checkpoints (needs torch), then list and inspect them.

    Run again on the same folder, it shows what is there (exit 0) and writes nothing, unless --force.
    """
    from ..domain.checkpoint import read_checkpoint  # the library is imported here: other commands
    from ..domain.runs import scan  # start without it
    from ..view.render_inspect import render_checkpoint
    from ..view.render_list import render_listing

    ck = folder / "checkpoints"
    for where in (folder, ck):
        if where.exists() and not where.is_dir():
            raise MckptError("is a file, not a folder", path=str(where), hint="give the demo a folder to write into")
    out = make_output(quiet=quiet)
    existing = sorted(ck.rglob("*.pt")) if ck.is_dir() else []
    if existing and not force:
        out.line(f"{ck} already holds {len(existing)} checkpoint(s), left as they are; showing them "
                 "(--force writes the example again)")
        files = existing
    else:
        from ..demo import write_demo

        try:
            with out.spinner("writing the example (loading torch takes a few seconds)…"):
                files = write_demo(folder, force=force)
        except FileExistsError as e:  # appeared after the check above: someone else's file, kept
            raise MckptError("appeared while the example was written; not overwritten", path=e.filename,
                             hint="--force writes the example again over it") from None
        out.line(f"wrote {len(files)} example checkpoints into {ck}")
    if quiet:
        return  # the files are written; reading them back only to print nothing would be wasted
    out.line(f"$ mckpt list {shlex.quote(str(ck))} --acc", style="bold")
    render_listing(out, scan([str(ck)], acc=True), acc=True)
    newest = max((f for f in files if f.name.endswith("_last.pt")), key=lambda f: f.name, default=None)
    if newest is not None:
        out.line(f"\n$ mckpt inspect {shlex.quote(str(newest))}", style="bold")
        render_checkpoint(out, read_checkpoint(newest))


def register(app: typer.Typer) -> None:
    add_command(app, "demo", demo_command, epilog=examples(
        "mckpt demo",
        "mckpt demo /tmp/try-mckpt",
    ))
