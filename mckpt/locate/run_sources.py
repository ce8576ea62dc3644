"""Every run a user named, from checkpoints and results logs, local or in a store, counted once.

What a path stands for (`split_targets`): a checkpoint file or folder as before; a results log
(a file that reads as one); a folder holding logs in Mammoth's layout (a results folder, a data
folder, a Mammoth checkout, whose `checkpoints/` is read too); an `s3://`, `gs://`, `az://` or
`hf://` folder holding any of these. Runs are then read (`read_every_run`) and made one per
experiment (`join_runs`, `supersede`):

- one run, one row: a run found in a log and in checkpoints (the same `conf_jobnum`; checkpoint
  names carry its first 8 hex digits), or in two copies of a log, is one run; its numbers come
  from the record furthest into training (a log line on a tie: Mammoth wrote it at the end, with
  both settings), and JSON lists every record that was read;
- a resumed run supersedes the runs it continues, whichever record each came from.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..domain.log_runs import (
    LAYOUTS,
    LOG_NAME,
    LogPlace,
    LogRuns,
    find_logs,
    looks_like_log,
    read_local_logs,
    runs_from_logs,
    twin_of,
    uid_of,
)
from ..domain.names import ParsedName, parse_stem
from ..domain.results import Query, Results, group_runs
from ..remote import is_remote
from .resolve import checkpoints_folder

if TYPE_CHECKING:
    from ..domain.record_cache import RecordCache
    from ..domain.results import RunResult
    from ..domain.results_log import LogFile
    from ..domain.runs import Listing
    from ..fetch.options import FetchOptions
    from ..remote.listing import RemoteEntry

REMOTE_WORKERS = 16  # concurrent reads from a store: enough to hide round trips, few enough for a lab server
CHECKPOINTS_DIR = "checkpoints"
DATA_RESULTS = ("data", "results")


@dataclass
class Targets:
    """What the paths a user gave hold: local checkpoint paths (files or folders), local logs,
    and remote folders."""

    checkpoints: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    remote: list[str] = field(default_factory=list)


def split_targets(paths: Iterable[str], recursive: bool = False) -> Targets:
    """Sort the paths into checkpoints, logs and remote folders (see the module's docstring)."""
    t = Targets()
    for p in paths:
        if is_remote(p):
            t.remote.append(p)
        elif os.path.isfile(p) and looks_like_log(p):
            t.logs += [p] + [tw for tw in [twin_of(p)] if tw]
        elif os.path.isdir(p):
            t.checkpoints.append(p)
            t.logs += find_logs(p, recursive)
            working = checkpoints_folder(p)
            if not recursive and working != p:
                t.checkpoints.append(working)  # a Mammoth working folder: its runs' checkpoints too
        else:
            t.checkpoints.append(p)  # a checkpoint file, or a missing path the scan names
    unique: dict[str, str] = {}
    for p in t.logs:
        unique.setdefault(os.path.realpath(p), p)  # a log named twice (or through its twin) is read once
    t.logs = list(unique.values())
    return t


def _twin_groups(logs: Iterable[str]) -> list[list[str]]:
    """Local logs in groups read together: a log with its twins (the other setting's log of the
    same runs). A log's lines are held only until its twin is paired: memory grows with runs,
    not lines read."""
    twins: dict[tuple[str, ...], list[str]] = {}
    for p in logs:
        twins.setdefault(LogPlace.of(p).twins, []).append(p)
    return list(twins.values())


def add_log_runs(listing: Listing, logs: Sequence[str], remote: Sequence[RemoteEntry] = ()) -> list[str]:
    """Add the runs of results logs (local paths, and `remote` logs in a store) to a `list`
    listing, each run once: a log run whose uid a listed checkpoint run carries is that run (its
    log lines are attached, and its accuracy filled from the log when its checkpoints were not
    read); two copies of a log give one run. Lines that are not training runs go to the listing's
    other files (`FILE:LINE`, why); the warnings about bad lines are returned."""
    from ..domain.runs import Run

    def batches() -> Iterator[LogRuns]:  # local logs a twin group at a time; a store's read whole, concurrently
        for paths in _twin_groups(logs):
            yield runs_from_logs(read_local_logs(paths))
        if remote:
            yield runs_from_logs(read_remote_logs(remote))

    by_uid = {r.name.uid: r for r in listing.runs if r.name.uid}
    warnings: list[str] = []
    for found in batches():
        warnings += found.warnings
        listing.other += found.skipped
        for r in found.runs:
            run = by_uid.get(r.uid) if r.uid else None
            if run is None:
                run = Run(_log_name(r))
                listing.runs.append(run)
                if r.uid:
                    by_uid[r.uid] = run
            run.logged += [rec for rec in r.records if rec not in run.logged]
            if run.metrics is None:
                run.metrics, run.args = r.metrics, r.args
    return warnings


def _log_name(r: RunResult) -> ParsedName:
    """What a log line says of its run, as a checkpoint name would: its ckpt_name when that parses,
    else its args (model, dataset, buffer, epochs, uid)."""
    parsed = parse_stem(r.run)
    if parsed is not None:
        return parsed
    a = r.args

    def text(key: str) -> str | None:
        return a[key] if isinstance(a.get(key), str) else None

    def integer(key: str) -> int | None:
        return a[key] if type(a.get(key)) is int else None

    return ParsedName(r.run, "log", "last", model=text("model"), dataset=text("dataset"),
                      buffer_size=integer("buffer_size"), n_epochs=integer("n_epochs"), uid=r.uid)


def default_targets() -> list[str]:
    """What `results` reads when given no path: the Mammoth working folder's `checkpoints` and
    `data/results`, those that are here."""
    return [p for p in (CHECKPOINTS_DIR, os.path.join(*DATA_RESULTS)) if os.path.isdir(p)]


def _matches(parts: Sequence[str], layout: Sequence[str]) -> bool:
    return len(parts) == len(layout) and all(x == "*" or x == p for p, x in zip(parts, layout, strict=True))


def split_remote(entries: list[RemoteEntry], recursive: bool) -> tuple[list[RemoteEntry], list[RemoteEntry]]:
    """(checkpoint entries, log entries) of a store folder, as `split_targets` sees a local one: a
    working folder (a `checkpoints/` and no `.pt` of its own, `resolve.checkpoints_folder`'s rule)
    has its `checkpoints/` read too."""
    from ..remote.listing import keep

    logs = [e for e in entries if e.name.rsplit("/", 1)[-1] == LOG_NAME
            and (recursive or any(_matches(e.name.split("/"), lay) for lay in LAYOUTS))]
    prefix = CHECKPOINTS_DIR + "/"
    working = not recursive and any(e.name.startswith(prefix) for e in entries) \
        and not any(keep(e.name, False) and "/" not in e.name for e in entries)

    def is_checkpoint(name: str) -> bool:
        return keep(name, recursive) or (working and name.startswith(prefix) and keep(name[len(prefix):], False))

    return [e for e in entries if is_checkpoint(e.name)], logs


def store_files(url: str, recursive: bool, options: FetchOptions | None = None
                ) -> tuple[list[RemoteEntry], list[RemoteEntry]]:
    """(checkpoint entries, log entries) of a store folder from ONE listing of everything below it
    (S3 without a delimiter, the hub's recursive tree: one paginated listing each), split as
    `split_remote` says."""
    from .remote import open_folder

    return split_remote(open_folder(url, options).files(), recursive)


def read_remote_logs(entries: Sequence[RemoteEntry]) -> list[LogFile]:
    """Results logs in a store, each read whole, REMOTE_WORKERS at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from ..domain.results_log import read_log

    def read_one(entry: RemoteEntry) -> LogFile:
        source = entry.open()
        try:
            return read_log(source, entry.path)
        finally:
            source.close()

    if not entries:
        return []
    with ThreadPoolExecutor(max_workers=REMOTE_WORKERS, thread_name_prefix="mckpt-logs") as pool:
        return list(pool.map(read_one, entries))


def _read_remote(urls: list[str], recursive: bool) -> tuple[list[RunResult], list[dict[str, str]], list[LogFile]]:
    """Checkpoint runs and logs of store folders: one listing each, then every read (newest
    checkpoints, logs read whole) REMOTE_WORKERS at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from ..domain.checkpoint import read_run_record, to_plain
    from ..domain.results import RunResult, _ancestors
    from ..domain.runs import group_files
    from ..errors import MckptError

    if any(u.startswith(("http://", "https://")) for u in urls):
        bad = next(u for u in urls if u.startswith(("http://", "https://")))
        raise MckptError("results reads folders: s3://, gs://, az:// prefixes and hf:// repo folders, not "
                         "an http(s) URL", path=bad, hint="fetch the file first: mckpt fetch URL -o DIR")
    checkpoints: list[RemoteEntry] = []
    logs: list[RemoteEntry] = []
    for url in urls:
        ck, lg = store_files(url, recursive)
        checkpoints += ck
        logs += lg
    listing = group_files(checkpoints)
    skipped = list(listing.other)

    def read_run(run: Any) -> RunResult | dict[str, str]:
        source = run.newest.listed.open()
        try:
            record = read_run_record(source)
        except MckptError as e:
            return {"path": run.newest.path, "reason": e.message}
        finally:
            source.close()
        if record is None:
            return {"path": run.newest.path, "reason": "not a Mammoth checkpoint"}
        args, cil, til = record
        plain = to_plain(args)
        return RunResult(run.key, run.newest.path, plain, cil, til, _ancestors(run, plain))

    with ThreadPoolExecutor(max_workers=REMOTE_WORKERS, thread_name_prefix="mckpt-results") as pool:
        got = list(pool.map(read_run, listing.runs))
    runs = [r for r in got if not isinstance(r, dict)]
    skipped += [r for r in got if isinstance(r, dict)]
    return runs, skipped, read_remote_logs(logs)


def _uid(run: RunResult) -> str | None:
    if run.uid:
        return run.uid
    parsed = parse_stem(run.run)
    return uid_of(run.args) or (parsed.uid if parsed else None)


def _rank(run: RunResult) -> tuple[int, bool, bool]:
    return (run.tasks_done, bool(run.class_il) and bool(run.task_il), run.source == "log")


def join_runs(runs: list[RunResult], warnings: list[str] | None = None) -> list[RunResult]:
    """One RunResult per run uid: the record furthest into training, with every record listed.

    Checkpoint runs of different names that carry one uid (a copied args dict, a hand-made file)
    are never folded into one: each stays a run, the log lines of that uid join the furthest one,
    and `warnings` says so. Only what is surely the same run is counted once."""
    by_uid: dict[str, list[RunResult]] = {}
    out: list[RunResult] = []
    for r in runs:
        r.uid = _uid(r)
        if not r.records:
            r.records = [{"source": r.source, "path": r.path, "line": r.line}]
        if r.uid is None:
            out.append(r)
        else:
            by_uid.setdefault(r.uid, []).append(r)
    for uid, same in by_uid.items():
        named = {r.run for r in same if r.source != "log"}
        apart: list[RunResult] = []
        if len(named) > 1:
            furthest = max((r for r in same if r.source != "log"), key=_rank)
            apart = [r for r in same if r.source != "log" and r is not furthest]
            same = [r for r in same if r not in apart]
            if warnings is not None:
                warnings.append(f"runs {', '.join(sorted(named))} carry one uid ({uid}): counted as separate runs")
        best = max(same, key=_rank)
        best.records = [rec for r in [best, *(r for r in same if r is not best)] for rec in r.records]
        out += [best, *apart]
    return out


def supersede(runs: list[RunResult]) -> tuple[list[RunResult], list[str]]:
    """(runs kept, runs left out): a run another run resumed from (by name or by uid) is left out,
    since the resumed run's record holds its results too."""
    stems = {a for r in runs for a in r.resumed_from}
    uids = {p.uid for a in stems if (p := parse_stem(a)) is not None and p.uid}
    gone = [r for r in runs if r.run in stems or (r.uid is not None and r.uid in uids)]
    return [r for r in runs if r not in gone], sorted({r.run for r in gone})


def read_every_run(paths: Iterable[str], *, recursive: bool = False, workers: int | None = None,
                   cache: RecordCache | None = None
                   ) -> tuple[list[RunResult], list[dict[str, str]], list[str], list[str]]:
    """Every run under `paths`, checkpoints and logs, counted once: (runs, records left out with
    the reason, superseded runs, warnings)."""
    from ..domain.results import read_runs

    targets = split_targets(paths, recursive)
    runs: list[RunResult] = []
    skipped: list[dict[str, str]] = []
    superseded: list[str] = []
    warnings: list[str] = []
    if targets.checkpoints:
        runs, skipped, superseded, warnings = read_runs(targets.checkpoints, recursive=recursive, workers=workers,
                                                        cache=cache)
    batches = [runs_from_logs(read_local_logs(paths)) for paths in _twin_groups(targets.logs)]
    if targets.remote:
        more, more_skipped, remote_logs = _read_remote(targets.remote, recursive)
        runs += more
        skipped += more_skipped
        batches.append(runs_from_logs(remote_logs))
    for from_logs in batches:
        runs += from_logs.runs
        skipped += from_logs.skipped
        warnings += from_logs.warnings
    runs, gone = supersede(join_runs(runs, warnings))
    return runs, skipped, sorted(set(superseded) | set(gone)), warnings


def collect_results(paths: Iterable[str], query: Query | None = None, *, recursive: bool = False,
                    workers: int | None = None, cache: RecordCache | None = None) -> Results:
    """Read every run under `paths` and group them as `query` says (the `mckpt results` API).

    With a `cache` (the CLI passes one under the mckpt cache folder), unchanged files are not read again.
    """
    query = query or Query()
    runs, skipped, superseded, warnings = read_every_run(paths, recursive=recursive, workers=workers, cache=cache)
    groups, by, varying = group_runs(runs, query)
    return Results(groups, by, varying, skipped, superseded, found=len(runs), warnings=warnings)
