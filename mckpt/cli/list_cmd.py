"""`mckpt list`: folders of checkpoints as runs."""

from __future__ import annotations

from typing import Annotated

import typer

from ..domain.runs import SORT_KEYS, filter_runs, scan
from ..errors import MckptError
from ..remote import is_remote
from ..view.render_list import render_listing
from .common import (
    FormatOpt,
    JsonOpt,
    QuietOpt,
    add_command,
    choice_option,
    examples,
    handle_errors,
    make_output,
    shown_as,
)


@handle_errors
def list_command(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="[PATH]...", parser=shown_as("path"),
        help="Folders or files to list (default: ./checkpoints), or s3://, gs://, az:// prefixes and "
             "hf:// repo folders.")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Look into sub-folders too.")] = False,
    acc: Annotated[bool, typer.Option("--acc", help="Read each run's newest file for its final accuracy.")] = False,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", metavar="MODEL", help="Only runs of this model.")] = None,
    dataset: Annotated[str | None, typer.Option(
        "--dataset", "-d", metavar="DATASET", help="Only runs on this dataset.")] = None,
    sort: Annotated[str, choice_option(
        "--sort", "-s", choices=tuple(SORT_KEYS), metavar="KEY",
        help=f"Sort by: {', '.join(SORT_KEYS)} (acc: best first).")] = "started",
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the order.")] = False,
    json: JsonOpt = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """List checkpoints grouped into runs (names parsed, nothing loaded unless --acc).

    With -q it prints nothing and exits 1 when no run matched (like grep -q).
    """
    out = make_output(json, fmt, quiet)
    if sort == "acc" and not acc:
        acc = True
    targets = paths or ["checkpoints"]
    if not paths:
        import os

        if not os.path.isdir("checkpoints"):
            raise MckptError("no ./checkpoints folder here", path="checkpoints",
                             hint="run inside a Mammoth working folder, or pass a folder: mckpt list PATH")
    if any(is_remote(p) for p in targets):
        from ..remote.open import list_paths  # only remote listings import obstore / the HTTP modules

        if acc:
            with out.progress("reading newest checkpoints", unit="items") as bar:
                def update(done: int, total: int) -> None:
                    bar.total = total
                    bar.advance(done - bar.done)

                listing = list_paths(targets, recursive=recursive, acc=True, progress=update)
        else:
            listing = list_paths(targets, recursive=recursive)
    else:
        listing = scan(targets, recursive=recursive, acc=acc)
    found = len(listing.runs)
    listing.runs = sorted(filter_runs(listing.runs, model, dataset), key=SORT_KEYS[sort], reverse=reverse)
    filters = " ".join(f"{flag} {value}" for flag, value in (("--model", model), ("--dataset", dataset)) if value)
    no_match = f"no run matches {filters} (of {found} run(s) found)" if found and not listing.runs else None
    out.show(listing.to_json, lambda: render_listing(out, listing, acc=acc, no_match=no_match))
    if quiet and not listing.runs:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    add_command(app, "list", list_command, epilog=examples(
        "mckpt list --acc",
        "mckpt list runs/ -r --model er --sort acc",
    ))
