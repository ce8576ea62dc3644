"""`mckpt list`: folders of checkpoints as runs."""

from __future__ import annotations

from typing import Annotated

import typer

from ..domain.runs import SORT_KEYS
from .bodies import list_runs
from .common import (
    DatasetOpt,
    FormatOpt,
    IdsOpt,
    JsonOpt,
    ModelOpt,
    PathsOpt,
    QuietOpt,
    RecursiveOpt,
    TimeoutOpt,
    WhereOpt,
    add_command,
    choice_option,
    examples,
    handle_errors,
    shown_as,
)


@handle_errors
def list_command(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="[PATH|UID]...", parser=shown_as("path|run|url"),
        help="Folders or files to list (default: ./checkpoints), s3://, gs://, az:// prefixes and hf:// repo "
             "folders, or run uids (only those runs, of the folders named, else of ./checkpoints).")] = None,
    recursive: RecursiveOpt = False,
    acc: Annotated[bool, typer.Option("--acc", help="Read each run's newest file for its final accuracy.")] = False,
    model: ModelOpt = None,
    dataset: DatasetOpt = None,
    where: WhereOpt = None,
    sort: Annotated[str, choice_option(
        "--sort", "-s", choices=tuple(SORT_KEYS), metavar="KEY",
        help=f"Sort by: {', '.join(SORT_KEYS)} (acc: best first).")] = "started",
    reverse: Annotated[bool, typer.Option("--reverse", help="Reverse the order.")] = False,
    timeout: TimeoutOpt = 30.0,
    json: JsonOpt = False,
    fmt: FormatOpt = None,
    ids: IdsOpt = False,
    paths_only: PathsOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """List checkpoints grouped into runs (names parsed, nothing loaded unless --acc).

    With -q it prints nothing and exits 1 when no run matched (like grep -q).
    """
    return list_runs(paths, recursive=recursive, acc=acc, model=model, dataset=dataset, where=where, sort=sort,
                     reverse=reverse, timeout=timeout, json=json, fmt=fmt, ids=ids, paths_only=paths_only, quiet=quiet)


def register(app: typer.Typer) -> None:
    add_command(app, "list", list_command, epilog=examples(
        "mckpt list --acc",
        "mckpt list runs/ -r --model er --sort acc",
        "mckpt list --paths | xargs mckpt verify",
    ))
