"""The bodies of `mckpt inspect` and `mckpt list`, without Typer.

The Typer commands (`inspect_cmd`, `list_cmd`) declare the options and call these; `cli.direct`
calls them too, before Typer is even imported, so the two commands a researcher runs most start
in a fraction of the time. Every parameter is passed explicitly (no defaults here): the defaults
live once, in the Typer declarations, and reach `cli.direct` through its generated table.
Each returns the command's exit code.
"""

from __future__ import annotations

import os

from ..domain.checkpoint import to_plain
from ..domain.runs import SORT_KEYS, filter_runs, scan
from ..errors import MckptError
from ..locate import read
from ..remote import is_remote
from ..view.render_inspect import render_args, render_checkpoint, render_tensor_list
from ..view.render_list import render_listing
from .outcome import make_output


def inspect_checkpoint(checkpoint: str, *, tensors: bool, args_only: bool, revision: str | None, json: bool,
                       fmt: str | None, quiet: bool) -> int:
    """`mckpt inspect`: one checkpoint's args, results, tensors and training state."""
    out = make_output(json, fmt, quiet)
    ck = read(checkpoint, revision=revision)
    if args_only:
        out.show(lambda: to_plain(ck.args), lambda: render_args(out, ck.args))
    elif tensors and fmt:
        out.show(lambda: ck.to_json(full_tensors=True), lambda: render_tensor_list(out, ck))
    else:
        out.show(lambda: ck.to_json(full_tensors=tensors), lambda: render_checkpoint(out, ck, tensors=tensors))
    return 0


def list_runs(paths: list[str] | None, *, recursive: bool, acc: bool, model: str | None, dataset: str | None,
              sort: str, reverse: bool, json: bool, fmt: str | None, quiet: bool) -> int:
    """`mckpt list`: folders (or remote prefixes) of checkpoints as runs; 1 with -q when none matched."""
    out = make_output(json, fmt, quiet)
    if sort == "acc" and not acc:
        acc = True
    targets = paths or ["checkpoints"]
    if not paths and not os.path.isdir("checkpoints"):
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
    return 1 if quiet and not listing.runs else 0
