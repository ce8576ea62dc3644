"""The bodies of `mckpt inspect`, `mckpt list` and `mckpt fetch`, without Typer.

The Typer commands (`inspect_cmd`, `list_cmd`, `fetch_cmd`) declare the options and call these;
`cli.direct` calls them too, before Typer is even imported, so the commands a researcher runs
most start in a fraction of the time (and a download's wall time is not a third start-up).
Every parameter is passed explicitly (no defaults here): the defaults live once, in the Typer
declarations, and reach `cli.direct` through its generated table.
Each returns the command's exit code.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from ..choices import check_sha256
from ..domain.checkpoint import checkpoint_brief, to_plain
from ..domain.runs import SORT_KEYS, filter_runs, scan
from ..domain.where import parse_where
from ..errors import IsSafetensors, MckptError, UsageError
from ..locate import read
from ..locate.targets import expand, select_runs
from ..remote import is_remote, is_store_url
from ..view.output import Output, human_bytes
from ..view.render_inspect import render_args, render_checkpoint, render_tensor_list
from ..view.render_list import render_listing
from .outcome import make_output

if TYPE_CHECKING:
    from ..fetch.download import FetchInterrupted, FetchResult
    from ..fetch.options import FetchOptions


def remote_options(specs: list[str], revision: str | None, timeout: float) -> FetchOptions | None:
    """The options a read of remote `specs` takes (`--timeout` as each read's deadline); None when
    every spec is local, so a local read never looks for a token or imports the fetch modules."""
    if not timeout > 0:  # NaN too
        raise UsageError(f"{timeout:g} is not a time to wait: give seconds above 0", param="timeout")
    if not any(is_remote(s) for s in specs):
        return None
    from ..fetch.options import FetchOptions

    return FetchOptions.from_env(revision=revision, deadline=timeout)


def inspect_checkpoint(checkpoint: str, *, tensors: bool, args_only: bool, revision: str | None, timeout: float,
                       json: bool, fmt: str | None, quiet: bool) -> int:
    """`mckpt inspect`: one checkpoint's args, results, tensors and training state."""
    out = make_output(json, fmt, quiet)
    options = remote_options([checkpoint], revision, timeout)
    try:
        ck = read(checkpoint, revision=revision, options=options)
    except IsSafetensors as e:  # not a checkpoint, but its header is worth showing
        if args_only:
            raise MckptError("a safetensors file holds tensors and metadata, no args", path=e.path,
                             hint=f"`mckpt inspect {shlex.quote(checkpoint)}` (without --args-only) shows its "
                                  "metadata") from None
        return _inspect_safetensors(out, checkpoint, revision=revision, options=options, tensors=tensors)
    if args_only:
        out.show(lambda: to_plain(ck.args), lambda: render_args(out, ck.args))
    elif tensors and fmt:
        out.show(lambda: ck.to_json(full_tensors=True), lambda: render_tensor_list(out, ck))
    else:
        out.show(lambda: ck.to_json(full_tensors=tensors), lambda: render_checkpoint(out, ck, tensors=tensors))
    return 0


def _inspect_safetensors(out: Output, spec: str, *, revision: str | None, options: FetchOptions | None,
                         tensors: bool) -> int:
    """`inspect` of a safetensors file (local, or read by ranges from a URL): its header only."""
    from contextlib import closing

    from ..io.sources import FileSource
    from ..locate import open_source, resolve
    from ..torchfile.safetensors import read_safetensors
    from ..view.render_safetensors import render_safetensors

    source = open_source(resolve(spec, revision=revision), revision=revision, options=options)
    with closing(FileSource(source) if isinstance(source, str) else source) as src:
        st = read_safetensors(src)
    out.show(lambda: st.to_json(full_tensors=tensors), lambda: render_safetensors(out, st, tensors=tensors))
    return 0


def list_runs(paths: list[str] | None, *, recursive: bool, acc: bool, model: str | None, dataset: str | None,
              where: list[str] | None, sort: str, reverse: bool, timeout: float, json: bool, fmt: str | None,
              ids: bool, paths_only: bool, quiet: bool) -> int:
    """`mckpt list`: folders (or remote prefixes) of checkpoints as runs; 1 with -q when none matched."""
    out = make_output(json, fmt, quiet, ids=ids, paths=paths_only)
    conditions = parse_where(where)
    if (sort == "acc" or conditions) and not acc:
        acc = True  # the accuracy, or the saved args --where filters on, are in each run's newest file
    named = expand(paths, "list", remote=True, recursive=recursive, whole=True)  # a working folder: logs too
    targets = named.scope()
    from ..locate.run_sources import add_log_runs, split_targets

    if named.urls:
        from ..locate.remote import list_paths  # only remote listings import obstore / the HTTP modules

        options = remote_options(targets, None, timeout)

        if acc:
            with out.progress("reading newest checkpoints", unit="items") as bar:
                listing, logs, remote_logs = list_paths(targets, recursive=recursive, acc=True, progress=bar,
                                                        options=options)
        else:
            listing, logs, remote_logs = list_paths(targets, recursive=recursive, options=options)
    else:
        found = split_targets(targets, recursive)  # logs named, or in Mammoth's layout under a folder named
        listing = scan(found.checkpoints, recursive=recursive, acc=acc)
        logs, remote_logs = found.logs, []
    listing.skipped += add_log_runs(listing, logs, remote_logs) if logs or remote_logs else []
    for line in listing.skipped:
        out.warning(line)
    if named.uids:
        listing.runs = select_runs(listing.runs, named.uids, targets)
    found = len(listing.runs)
    listing.runs = sorted(filter_runs(listing.runs, model, dataset, conditions), key=SORT_KEYS[sort],
                          reverse=reverse)
    filters = " ".join([f"{flag} {value}" for flag, value in (("--model", model), ("--dataset", dataset)) if value]
                       + [f"--where {w.text}" for w in conditions])
    no_match = f"no run matches {filters} (of {found} run(s) found)" if found and not listing.runs else None
    out.show(listing.to_json, lambda: render_listing(out, listing, acc=acc or any(r.logged for r in listing.runs),
                                                     no_match=no_match), listing.names)
    return 1 if quiet and not listing.runs else 0


def fetch_file(source: str, *, output: str | None, sha256: str | None, revision: str | None, token: str | None,
               offline: bool, cache_dir: str | None, force: bool, retries: int, connections: int | None,
               json: bool, quiet: bool) -> int:
    """`mckpt fetch`: a file into the cache (resumed, verified), and placed at `output` if given."""
    from ..fetch.download import FetchInterrupted, fetch  # HTTP stack: fetch only
    from ..fetch.options import FetchOptions

    out = make_output(json, None, quiet)

    sha256 = check_sha256(sha256)
    opts = FetchOptions.from_env(token=token, offline=offline or None, cache_dir=cache_dir,
                                 sha256=sha256, retries=retries, revision=revision, connections=connections)
    try:
        with out.progress("fetching") as bar:
            if is_store_url(source):
                from ..remote.fetch_object import fetch_object  # s3://, gs://, az://: the object-store client

                result = fetch_object(source, opts, output=output, force=force, progress=bar)
            else:
                result = fetch(source, opts, output=output, force=force, progress=bar)
    except FetchInterrupted as e:
        given = {"source": source, "output": output, "sha256": sha256, "revision": revision, "token": token,
                 "offline": offline, "cache_dir": cache_dir, "force": force, "retries": retries,
                 "connections": connections, "json": json, "quiet": quiet}
        raise _interrupted(e, given) from None
    brief = checkpoint_brief(result.path)
    out.show(lambda: {**result.to_json(), "checkpoint": brief}, lambda: _render_fetched(out, result, brief))
    return 0


# How `fetch_file`'s parameters are written on a command line (the Typer declarations' names).
_FETCH_FLAGS = {"output": "-o", "sha256": "--sha256", "revision": "--revision", "token": "--token",
                "offline": "--offline", "cache_dir": "--cache-dir", "force": "--force", "retries": "--retries",
                "connections": "--connections", "json": "--json", "quiet": "-q"}


def _interrupted(e: FetchInterrupted, given: dict[str, Any]) -> MckptError:
    """Ctrl-C's error in the user's terms: what is kept in binary units, and the same command to
    resume with, every option that was given repeated (a token by name only, never its value)."""
    from .direct_table import COMMANDS

    defaults = COMMANDS["fetch"]["defaults"]
    words = ["mckpt", "fetch", shlex.quote(given["source"])]
    for param, flag in _FETCH_FLAGS.items():
        value = given[param]
        if value == defaults[param]:
            continue
        if isinstance(value, bool):
            words.append(flag)
        else:
            words += [flag, "<your token>" if param == "token" else shlex.quote(str(value))]
    kept = e.kept
    err = MckptError(f"interrupted; {human_bytes(kept)} kept in the cache" if kept else
                     "interrupted before any byte came", path=e.path,
                     hint=f"run the same command again to resume{' from there' if kept else ''}: {' '.join(words)}")
    err.exit_code = e.exit_code
    return err



def _render_fetched(out: Output, result: FetchResult, brief: dict[str, Any] | None) -> None:
    if result.from_cache:
        how = "from the cache (nothing transferred)"
    elif result.resumed_from:
        how = f"resumed at {human_bytes(result.resumed_from)}, {human_bytes(result.transferred)} transferred"
    else:
        how = f"downloaded, {human_bytes(result.transferred)} transferred"
    pairs: list[tuple[str, Any]] = [("path", result.path), ("size", f"{human_bytes(result.size)} "
                                     f"({result.size} bytes)"), ("sha256", result.sha256), ("source", how)]
    if result.commit:
        pairs.append(("commit", result.commit))
    if brief:
        pairs += [("kind", brief["kind"]), ("model", brief["model"] or "-"),
                  ("dataset", brief["dataset"] or "-"), ("tasks", brief["tasks_done"])]
    out.fields(pairs)
