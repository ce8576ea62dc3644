"""`mckpt list`: folders of checkpoints as runs."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import MckptError, UsageError
from ..model.runs import SORT_KEYS, filter_runs, scan
from ..view.render_list import render_listing
from .common import FormatOpt, JsonOpt, QuietOpt, add_command, examples, handle_errors, make_output, shown_as


@handle_errors
def list_command(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="[PATH]...", parser=shown_as("path"),
        help="Folders (or files) to list (default: ./checkpoints).")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Look into sub-folders too.")] = False,
    acc: Annotated[bool, typer.Option("--acc", help="Read each run's newest file for its final accuracy.")] = False,
    model: Annotated[str | None, typer.Option(
        "--model", "-m", metavar="MODEL", help="Only runs of this model.")] = None,
    dataset: Annotated[str | None, typer.Option(
        "--dataset", "-d", metavar="DATASET", help="Only runs on this dataset.")] = None,
    sort: Annotated[str, typer.Option(
        "--sort", "-s", metavar="KEY", help=f"Sort by: {', '.join(SORT_KEYS)}.")] = "started",
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the order.")] = False,
    json: JsonOpt = False,
    fmt: FormatOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """List checkpoints grouped into runs (names parsed, nothing loaded unless --acc)."""
    if sort not in SORT_KEYS:
        raise UsageError(f"unknown sort key {sort!r}; one of: {', '.join(SORT_KEYS)}")
    if sort == "acc" and not acc:
        acc = True
    targets = paths or ["checkpoints"]
    if not paths:
        import os

        if not os.path.isdir("checkpoints"):
            raise MckptError("no ./checkpoints folder here", path="checkpoints",
                             hint="run inside a Mammoth working folder, or pass a folder: mckpt list PATH")
    listing = scan(targets, recursive=recursive, acc=acc)
    found = len(listing.runs)
    listing.runs = sorted(filter_runs(listing.runs, model, dataset), key=SORT_KEYS[sort], reverse=reverse)
    out = make_output(json, fmt, quiet)
    if json:
        out.emit_json(listing.to_json())
    else:
        filters = " ".join(f"{flag} {value}" for flag, value in (("--model", model), ("--dataset", dataset))
                           if value)
        no_match = (f"no run matches {filters} (of {found} run(s) found)"
                    if found and not listing.runs else None)
        render_listing(out, listing, acc=acc, no_match=no_match)


def register(app: typer.Typer) -> None:
    add_command(app, "list", list_command, epilog=examples(
        "mckpt list --acc",
        "mckpt list runs/ -r --model er --sort acc",
    ))
