"""Results across runs: the newest checkpoint of every run, grouped by settings, averaged over seeds.

A researcher's question is never one file ("which method wins on seq-cifar10 with buffer 500,
over three seeds, and how much does each forget?"). `collect_results` answers it from the files
alone: runs come from `scan` (names only), each run's newest file is read with the safe reader
(index and pickle, no torch, no tensor bytes; many files are read in worker processes), resumed
runs count once as their final file, and runs that share every saved arg but the seed and the
bookkeeping form a group with mean and sample standard deviation of Mammoth's metrics.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import MckptError, UsageError
from .metrics import Metrics, compute_metrics
from .names import parse_name
from .record_cache import RecordCache
from .vocabulary import BOOKKEEPING_ARGS
from .where import Where, number, show_value

if TYPE_CHECKING:
    from .runs import Run

# What a run is, minus what it is not: Mammoth's bookkeeping (seed included), how and where the
# file was written, where data and logs live, logging and the machine it ran on. None of these
# changes what is trained, so runs that differ only in them are seeds of one setting.
GROUP_IGNORED_ARGS = BOOKKEEPING_ARGS | frozenset(
    """
    ckpt_name_replace save_checkpoint_mode save_after_interrupt base_path checkpoint_path results_path
    cache_path_noisy_labels device num_workers conf_git_hash nowand wandb_entity wandb_project wandb_name
    disable_log debug_mode inference_only enable_other_metrics
    """.split()
)
SETTINGS = ("class_il", "task_il")
METRICS = ("final_avg", "forgetting", "bwt")
PARALLEL_FROM = 48  # below this many files, worker processes cost more than they save


@dataclass(frozen=True)
class Column:
    """One number a group is judged by: its name (JSON, csv, --sort), label, and which way is better."""

    name: str
    label: str
    setting: str
    metric: str
    higher_is_better: bool


COLUMNS: tuple[Column, ...] = tuple(
    Column(name=s if m == "final_avg" else f"{s}_{m}",
           label=({"final_avg": "", "forgetting": "forgetting ", "bwt": "BWT "}[m]
                  + ({"class_il": "class-IL", "task_il": "task-IL"}[s] if m == "final_avg" else
                     {"class_il": "(CIL)", "task_il": "(TIL)"}[s])),
           setting=s, metric=m, higher_is_better=m != "forgetting")
    for m in METRICS for s in SETTINGS
)
SORT_COLUMNS = ("runs", "tasks", *(c.name for c in COLUMNS))


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (n - 1) of the runs that have the value."""

    mean: float | None
    std: float | None
    n: int

    @staticmethod
    def of(values: Iterable[float | None]) -> Stat:
        xs = [x for x in values if x is not None]
        if not xs:
            return Stat(None, None, 0)
        mean = math.fsum(xs) / len(xs)
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else None
        return Stat(mean, std, len(xs))

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n}


@dataclass
class RunResult:
    """One run as its final file says: saved args, accuracy matrices, Mammoth's metrics."""

    run: str  # the run's name (its file stem without the task)
    path: str  # the file read: the run's newest checkpoint
    args: dict[str, Any]  # plain values
    class_il: list[list[float]]
    task_il: list[list[float]]
    resumed_from: list[str] = field(default_factory=list)  # ancestor runs this one's file includes
    source: str = "checkpoint"  # where the numbers come from: "checkpoint" or "log" (Mammoth's logs.pyd)
    line: int | None = None  # the log line (1-based), for a run read from a log
    uid: str | None = None  # the first 8 hex digits of conf_jobnum: one run in logs and checkpoints
    records: list[dict[str, Any]] = field(default_factory=list)  # every record of the run that was read

    @property
    def tasks_done(self) -> int:
        return max(len(self.class_il), len(self.task_il))

    @property
    def seed(self) -> Any:
        return self.args.get("seed")

    @functools.cached_property
    def metrics(self) -> dict[str, Metrics]:
        """Computed once: every column, sort and curve of a group asks for them."""
        return {"class_il": compute_metrics(self.class_il), "task_il": compute_metrics(self.task_il)}

    def value(self, column: Column) -> float | None:
        return getattr(self.metrics[column.setting], column.metric)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run, "source": self.source, "path": self.path, "line": self.line, "uid": self.uid,
            "records": self.records or [{"source": self.source, "path": self.path, "line": self.line}],
            "seed": self.seed, "tasks_done": self.tasks_done, "resumed_from": self.resumed_from,
            "metrics": {k: m.summary_json() for k, m in self.metrics.items()},
            "avg_after_task": {k: m.avg_after_task for k, m in self.metrics.items()},
            "results": {"class_il": self.class_il, "task_il": self.task_il},
        }


@dataclass
class Group:
    """Runs that share the grouping args' values; averaged only when they did the same tasks."""

    key: dict[str, Any]
    runs: list[RunResult]

    @property
    def task_counts(self) -> list[int]:
        return sorted({r.tasks_done for r in self.runs})

    @property
    def mismatched(self) -> bool:
        """Runs that did different numbers of tasks: their metrics mean different things."""
        return len(self.task_counts) > 1

    @property
    def seeds(self) -> list[Any]:
        return [r.seed for r in self.runs]

    @functools.cached_property
    def duplicate_seeds(self) -> list[Any]:
        """Seeds that two runs of the group share with every other setting (`--by` may group
        several): one config run, saved or copied twice, not two seeds. No seed (Mammoth's
        default) is a fresh random one each time: never a duplicate. Computed once, when asked
        after grouping (every column's stat asks: each run's args are serialised to compare)."""
        seen: dict[str, list[Any]] = {}
        for r in self.runs:
            if r.seed is not None:
                setting = {k: v for k, v in r.args.items() if k not in GROUP_IGNORED_ARGS}
                seen.setdefault(_hashable([r.seed, setting]), []).append(r.seed)
        return list(dict.fromkeys(v[0] for v in seen.values() if len(v) > 1))

    @property
    def averaged(self) -> bool:
        """Whether the group's runs are seeds of one setting that can be averaged."""
        return not self.mismatched and not self.duplicate_seeds

    def stat(self, column: Column) -> Stat | None:
        """The column over the group's runs; None for a mismatched group or one with a seed twice
        (never averaged silently)."""
        return Stat.of(r.value(column) for r in self.runs) if self.averaged else None

    def curve(self, setting: str) -> list[Stat]:
        """Average accuracy on the tasks seen so far, after each task, over the runs that got there."""
        per_run = [r.metrics[setting].avg_after_task for r in self.runs]
        n = max((len(c) for c in per_run), default=0)
        return [Stat.of(c[t] if t < len(c) else None for c in per_run) for t in range(n)]

    def label(self, names: Sequence[str]) -> str:
        """The group named by `names` (the args that differ between groups): `er, buffer_size=200`."""
        parts = []
        for k in names:
            v = self.key.get(k)
            parts.append(str(v) if k == "model" else f"{k}={show_value(v)}")
        return ", ".join(parts) or "all runs"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "runs": [r.to_json() for r in self.runs],
            "seeds": self.seeds,
            "tasks": self.task_counts,
            "mismatched": self.mismatched,
            "duplicate_seeds": self.duplicate_seeds,
            "aggregates": None if not self.averaged else {
                s: {c.metric: Stat.of(r.value(c) for r in self.runs).to_json() for c in COLUMNS if c.setting == s}
                for s in SETTINGS
            },
        }


@dataclass
class Results:
    groups: list[Group]
    by: list[str]  # the grouping args
    varying: list[str]  # grouping args whose value differs between groups (they name the groups)
    skipped: list[dict[str, str]]  # files that could not be read or are not runs, with the reason
    superseded: list[str]  # runs left out because a resumed run's final file holds them
    found: int = 0  # runs read, before the filters
    warnings: list[str] = field(default_factory=list)

    def names(self, bare: str) -> list[str]:
        """`results --ids`: each run's uid (else its name), group by group; `--paths`: the file read
        for each run (its newest)."""
        runs = [r for g in self.groups for r in g.runs]
        return [r.uid or r.run for r in runs] if bare == "ids" else [r.path for r in runs]

    def to_json(self) -> dict[str, Any]:
        return {"found": self.found, "by": self.by, "varying": self.varying,
                "groups": [g.to_json() for g in self.groups], "superseded": self.superseded, "skipped": self.skipped,
                "warnings": self.warnings}


# --- reading -------------------------------------------------------------------------------------

def _read_one(path: str) -> tuple[str, dict[str, Any] | None, list[list[float]], list[list[float]], str | None]:
    """The parts of one file `results` needs, as plain data (cheap to send back from a worker)."""
    from .checkpoint import read_run_record, to_plain  # the reader: only when a file is read

    try:
        record = read_run_record(path)
    except MckptError as e:
        return path, None, [], [], e.message
    if record is None:
        return path, None, [], [], "not a Mammoth checkpoint"
    args, class_il, task_il = record
    return path, to_plain(args), class_il, task_il, None


def read_records(paths: list[str], workers: int | None, cache: RecordCache | None
                 ) -> tuple[list[tuple[Any, ...]], list[str]]:
    """Read files in order: from the cache where a file is unchanged, the rest in worker processes
    when there are many (the reader is pure Python, so processes, not threads)."""
    from concurrent.futures import ProcessPoolExecutor

    stats: dict[str, os.stat_result] = {}
    done: dict[str, tuple[Any, ...]] = {}
    if cache is not None:
        for p in paths:
            try:
                stats[p] = os.stat(p)
            except OSError:
                continue  # gone since the scan: the reader says so
            hit = cache.get(p, stats[p])
            if hit is not None:
                done[p] = (p, *hit, None)
    todo = [p for p in paths if p not in done]
    workers = workers if workers is not None else min(os.cpu_count() or 1, 8)
    if workers <= 1 or len(todo) < PARALLEL_FROM:
        fresh = [_read_one(p) for p in todo]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            fresh = list(pool.map(_read_one, todo, chunksize=max(1, len(todo) // (workers * 4))))
    notices: list[str] = []
    if cache is not None:
        for path, args, cil, til, error in fresh:
            if error is None and path in stats:
                cache.put(path, stats[path], (args, cil, til))
        notices = cache.save()
    done.update((r[0], r) for r in fresh)
    return [done[p] for p in paths], notices


def _ancestors(run: Run, args: dict[str, Any]) -> list[str]:
    """The runs a resumed run continues: its name's lineage, or (older Mammoth) the file it loaded."""
    if run.name.lineage:
        return run.name.lineage
    loaded = args.get("loadcheck")
    parent = parse_name(loaded) if isinstance(loaded, str) else None
    return [parent.stem] if parent is not None else []


def read_runs(paths: Iterable[str], *, recursive: bool = False, workers: int | None = None,
              cache: RecordCache | None = None) -> tuple[list[RunResult], list[dict[str, str]], list[str], list[str]]:
    """Every run's final results under `paths`: (runs, skipped files, superseded runs, warnings).

    A resumed run's final file holds its parents' results too, so a parent that has a resumed
    child in the set is left out (named in `superseded`): each experiment counts once.
    """
    from .runs import scan

    listing = scan(list(paths), recursive=recursive)
    skipped = list(listing.other)
    walk_warnings = list(listing.skipped)
    runs: list[RunResult] = []
    records, cache_notices = read_records([r.newest.path for r in listing.runs], workers, cache)
    for run, (path, args, cil, til, error) in zip(listing.runs, records, strict=True):
        if args is None:
            skipped.append({"path": path, "reason": error or "unreadable"})
            continue
        runs.append(RunResult(run.key, path, args, cil, til, _ancestors(run, args), uid=run.name.uid))
    present = {r.run for r in runs}
    superseded = sorted({a for r in runs for a in r.resumed_from if a in present})
    return [r for r in runs if r.run not in superseded], skipped, superseded, walk_warnings + cache_notices


# --- grouping ------------------------------------------------------------------------------------

@dataclass
class Query:
    """What to read and how to group it (the options of `mckpt results` and `mckpt plot`)."""

    by: list[str] | None = None  # None: every saved arg but the seed and bookkeeping
    where: list[Where] = field(default_factory=list)
    tasks: int | None = None  # keep only runs that did this many tasks
    sort: str | None = None
    top: int | None = None


def _hashable(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def group_runs(runs: list[RunResult], query: Query) -> tuple[list[Group], list[str], list[str]]:
    """Filter, group and sort: (groups, grouping args, args that differ between groups)."""
    known = {k for r in runs for k in r.args}
    for w in query.where:
        _check_arg(w.arg, known, "where")
    for k in query.by or ():
        _check_arg(k, known, "by")
    runs = [r for r in runs if all(w.matches(r.args) for w in query.where)
            and (query.tasks is None or r.tasks_done == query.tasks)]
    by = list(query.by) if query.by else sorted({k for r in runs for k in r.args} - GROUP_IGNORED_ARGS)
    groups: dict[str, Group] = {}
    for r in runs:
        key = {k: r.args.get(k) for k in by}
        g = groups.setdefault(_hashable(key), Group(key, []))
        g.runs.append(r)
    for g in groups.values():
        g.runs.sort(key=lambda r: (_sortable(r.seed), r.run))
    if query.sort is not None and query.sort not in SORT_COLUMNS and query.sort not in by:
        raise UsageError(f"{query.sort!r}: not a column ({', '.join(SORT_COLUMNS)}) or a grouping arg",
                         param="sort")
    by.sort(key=arg_order)
    varying = [k for k in by if len({_hashable(g.key.get(k)) for g in groups.values()}) > 1]
    if len(groups) == 1 or not varying:
        varying = [k for k in ("model", "dataset") if k in by] or varying
    ordered = sort_groups(list(groups.values()), query.sort, varying)
    return (ordered[: query.top] if query.top else ordered), by, varying


# The args that tell runs apart best, first: they lead the table and name the groups.
_LEADING_ARGS = ("model", "dataset", "dataset_config", "backbone", "buffer_size", "n_epochs", "joint", "lr",
                 "optimizer", "batch_size", "minibatch_size", "alpha", "beta")


def arg_order(name: str) -> tuple[int, str]:
    return (_LEADING_ARGS.index(name) if name in _LEADING_ARGS else len(_LEADING_ARGS), name)


def _check_arg(name: str, known: set[str], param: str) -> None:
    if known and name not in known:
        close = difflib.get_close_matches(name, sorted(known), n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "`mckpt inspect --args-only FILE` lists a run's args"
        raise UsageError(f"{name!r}: no run has an arg of that name", param=param, hint=hint)


def _sortable(v: Any) -> tuple[int, Any]:
    n = number(v)
    return (0, n) if n is not None else (1, show_value(v))


def sort_groups(groups: list[Group], sort: str | None, varying: Sequence[str]) -> list[Group]:
    """Best first for a metric column (lower forgetting is better), else by the naming args."""
    if sort is None:
        return sorted(groups, key=lambda g: [_sortable(g.key.get(k)) for k in varying])
    column = next((c for c in COLUMNS if c.name == sort), None)
    if column is not None:
        def key(g: Group) -> tuple[int, float]:
            s = g.stat(column)
            if s is None or s.mean is None:
                return (1, 0.0)  # unaveraged groups go last
            return (0, -s.mean if column.higher_is_better else s.mean)
        return sorted(groups, key=key)
    by_sort: dict[str, Callable[[Group], Any]] = {
        "runs": lambda g: -len(g.runs), "tasks": lambda g: -max(g.task_counts, default=0),
    }
    if sort in by_sort:
        return sorted(groups, key=by_sort[sort])
    return sorted(groups, key=lambda g: _sortable(g.key.get(sort)))
