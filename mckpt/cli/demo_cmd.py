"""`mckpt demo`: write a small example run and show `list` and `inspect` on it."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from ..errors import MckptError
from .common import examples, handle_errors, make_output


@handle_errors
def demo_command(
    folder: Annotated[Path, typer.Argument(help="Where to write the example.")] = Path("mckpt-demo"),
    force: Annotated[bool, typer.Option("--force", help="Write even if the folder has checkpoints.")] = False,
) -> None:
    """Write example Mammoth checkpoints (needs torch), then list and inspect them."""
    from ..demo import write_demo  # the library is imported here: other commands start without it
    from ..model.checkpoint import read_checkpoint
    from ..model.runs import scan
    from ..view.render import render_checkpoint, render_listing

    ck = folder / "checkpoints"
    for where in (folder, ck):
        if where.exists() and not where.is_dir():
            raise MckptError("is a file, not a folder", path=str(where), hint="give the demo a folder to write into")
    if ck.is_dir() and any(ck.iterdir()) and not force:
        raise MckptError("already holds checkpoints", path=str(ck),
                         hint="use another folder, or --force to write the example into it (its files are replaced)")
    files = write_demo(folder)
    out = make_output()
    out.line(f"wrote {len(files)} example checkpoints into {ck}")
    out.line(f"$ mckpt list {shlex.quote(str(ck))} --acc", style="bold")
    render_listing(out, scan([str(ck)], acc=True), acc=True)
    newest = next(f for f in files if f.name.endswith("_last.pt"))
    out.line(f"\n$ mckpt inspect {shlex.quote(str(newest))}", style="bold")
    render_checkpoint(out, read_checkpoint(newest))


def register(app: typer.Typer) -> None:
    app.command("demo", epilog=examples(
        "mckpt demo",
        "mckpt demo /tmp/try-mckpt",
    ))(demo_command)
