"""Folders of checkpoints as runs: files grouped by the run name Mammoth gave them.

Listing reads names only (a directory scan), so a folder of thousands of files lists in the time
Python takes to start. Files whose names say nothing (`paused/<uuid>.pt`, unknown names) are opened
with the safe reader, which costs one small read each.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from ..errors import MckptError
from ..io.progress import Progress
from ..io.sources import ByteSource
from ..io.walk import walk_files
from ..words import counted
from .checkpoint import Checkpoint, read_checkpoint, to_plain
from .metrics import Metrics, compute_metrics
from .names import ParsedName, Task, parse_name, parse_stem
from .where import Where


@dataclass
class CheckpointFile:
    path: str
    task: Task
    bytes: int
    mtime: float
    inode: tuple[int, int] = field(default=(0, 0), repr=False)  # (st_dev, st_ino): hard links share it
    listed: ListedFile | None = field(default=None, repr=False, compare=False)  # how to read it

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "task": self.task, "bytes": self.bytes}


@dataclass
class CopyFile:
    """A file of a run holding a checkpoint the run already has (same file name, another folder):
    a hard link to it, a byte copy (same size), or a conversion (`mckpt convert --to safe` keeps
    the name in `safe/`). Listed apart, and not counted again in the run's size."""

    path: str
    bytes: int
    of: str  # the checkpoint it duplicates: the oldest file of that name (then the shallowest)
    relation: str  # "hard link", "copy" or "conversion"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "of": self.of, "relation": self.relation}


def _task_order(task: Task) -> tuple[int, int]:
    if isinstance(task, int):
        return (0, task)
    return {"paused": (1, 0), "last": (2, 0), "joint": (3, 0)}.get(str(task), (4, 0))


task_order = _task_order  # public: `prune` ranks a run's files as `newest` does


@dataclass
class Run:
    """One training run: the files sharing a run name, and what their names (or args) say."""

    name: ParsedName
    checkpoints: list[CheckpointFile] = field(default_factory=list)
    metrics: dict[str, Metrics] | None = None  # of the newest file, filled by `scan(..., acc=True)`
    error: str | None = None
    # The file the newest checkpoint's args.loadcheck names (`scan(..., acc=True)`): the parent of a
    # resumed run whose name carries none (older Mammoth; a resume of an unnamed run's paused file).
    loaded_from: str | None = None
    args: dict[str, Any] | None = None  # the newest file's saved args, plain (`scan(..., acc=True)`)
    copies: list[CopyFile] = field(default_factory=list)
    unreadable: list[dict[str, str]] = field(default_factory=list)  # its files that do not read (`acc`)
    # Lines of Mammoth's results logs that hold this run (`locate.run_sources.add_log_runs`):
    # {"path", "line", "setting"} each; a run found only in logs has no checkpoints.
    logged: list[dict[str, Any]] = field(default_factory=list)

    @property
    def source(self) -> str:
        """Where the run was found: "checkpoint", "log" or "checkpoint+log"."""
        return "+".join(w for w, has in (("checkpoint", self.checkpoints), ("log", self.logged)) if has)

    def fold_copies(self) -> None:
        """Move the files that duplicate another checkpoint of the run into `copies`.

        Names are read, not bytes (listing stays a directory scan): a file with the name of
        another of the run's files is a hard link when it is the same inode (local files only: a
        store's objects have none), a copy when it has the same size, else a conversion of it.
        The original is the oldest (a copy or a conversion is written later), then the shallowest path.
        """
        by_name: dict[str, list[CheckpointFile]] = {}
        for c in self.checkpoints:
            by_name.setdefault(os.path.basename(c.path), []).append(c)
        kept: list[CheckpointFile] = []
        for files in by_name.values():
            files.sort(key=lambda c: (c.mtime, c.path.count(os.sep), c.path))
            first = files[0]
            kept.append(first)
            for c in files[1:]:
                if _same_name(c, first):
                    continue  # the same file named twice on the command line
                relation = ("hard link" if c.inode == first.inode and c.inode != (0, 0) else
                            "copy" if c.bytes == first.bytes else "conversion")
                self.copies.append(CopyFile(c.path, c.bytes, first.path, relation))
        self.checkpoints = kept

    @property
    def final_acc(self) -> dict[str, float | None] | None:
        """Final average class-IL and task-IL accuracy (with `scan(..., acc=True)`)."""
        if self.metrics is None:
            return None
        return {k: m.final_avg for k, m in self.metrics.items()}

    @property
    def key(self) -> str:
        return self.name.stem

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.checkpoints)

    @property
    def newest(self) -> CheckpointFile:
        """The checkpoint furthest into training: `last`/`joint`, then the highest task, then mtime."""
        return max(self.checkpoints, key=lambda c: (_task_order(c.task), c.mtime))

    @property
    def tasks(self) -> list[Task]:
        """The task of each checkpoint, in training order: `[0, 1, 2]`, `["last"]`, `[3, 4, "paused"]`."""
        return [c.task for c in sorted(self.checkpoints, key=lambda c: _task_order(c.task))]

    @property
    def tasks_label(self) -> str:
        """`0–4`, `0–2, 4`, `last`, `joint`, `paused`, or a mix of them."""
        ints = sorted({c.task for c in self.checkpoints if isinstance(c.task, int)})
        parts: list[str] = []
        i = 0
        while i < len(ints):
            j = i
            while j + 1 < len(ints) and ints[j + 1] == ints[j] + 1:
                j += 1
            parts.append(str(ints[i]) if i == j else f"{ints[i]}–{ints[j]}")
            i = j + 1
        words = sorted({str(c.task) for c in self.checkpoints if not isinstance(c.task, int)},
                       key=lambda t: _task_order(t))
        return ", ".join(parts + words)

    def to_json(self) -> dict[str, Any]:
        n = self.name
        out = {
            "run": n.stem, "prefix": n.prefix, "model": n.model, "dataset": n.dataset,
            "dataset_config": n.dataset_config, "buffer_size": n.buffer_size, "n_epochs": n.n_epochs,
            "timestamp": n.timestamp.isoformat() if n.timestamp else None, "uid": n.uid,
            "dialect": n.dialect, "parent": n.parent.stem if n.parent else None,
            "parent_uid": n.parent.uid if n.parent else None, "guessed": list(n.guessed),
            "tasks": self.tasks, "bytes": self.bytes, "source": self.source,
            "checkpoints": [c.to_json() for c in sorted(self.checkpoints, key=lambda c: _task_order(c.task))],
        }
        if self.metrics is not None:
            # the same place and names as in `inspect --json` and `results --json`
            out["metrics"] = {k: m.summary_json() for k, m in self.metrics.items()}
            out["loaded_from"] = self.loaded_from
        if self.error:
            out["error"] = self.error
        if self.copies:
            out["copies"] = [c.to_json() for c in self.copies]
        if self.logged:
            out["log"] = self.logged
        return out


def _is_local(c: CheckpointFile) -> bool:
    return c.listed is None or isinstance(c.listed, LocalFile)


def _same_name(a: CheckpointFile, b: CheckpointFile) -> bool:
    """Two names for one file: a local path spelled twice (`./x.pt`, `x.pt`), or one remote URL twice."""
    if _is_local(a) and _is_local(b):
        return os.path.realpath(a.path) == os.path.realpath(b.path)
    return a.path == b.path


@dataclass
class Listing:
    runs: list[Run]
    other: list[dict[str, str]]
    skipped: list[str] = field(default_factory=list)  # folders a walk did not look into, and why

    @property
    def bytes(self) -> int:
        """What the listed runs take on disk: seen before pruning, not after."""
        return sum(r.bytes for r in self.runs)

    def names(self, bare: str) -> list[str]:
        """`list --ids`: each run's uid (its name when it has none: what every command takes as a
        run); `list --paths`: every file of each run, in task order (what `verify` or `rm` take)."""
        if bare == "ids":
            return [r.name.uid or r.key for r in self.runs]
        return [c.path for r in self.runs for c in sorted(r.checkpoints, key=lambda c: _task_order(c.task))]

    def to_json(self) -> dict[str, Any]:
        return {"runs": [r.to_json() for r in self.runs], "other": self.other, "skipped": self.skipped,
                "total": {"runs": len(self.runs), "files": sum(len(r.checkpoints) for r in self.runs),
                          "bytes": self.bytes}}


# Files people keep beside Mammoth's `.pt` (a backbone exported by hand, Lightning's `.ckpt`, a
# hub's `.safetensors`): `list` shows them under other files, read for what they are, never as runs.
OTHER_SUFFIXES = (".pth", ".ckpt", ".safetensors")


def iter_checkpoint_files(folder: str, recursive: bool = False, skipped: list[str] | None = None,
                          also: tuple[str, ...] = ()) -> Iterator[os.DirEntry[str]]:
    """`.pt` files in `folder` (and its `paused/`), or below it with `recursive` (one iterative
    walk, see `io.walk`; folders it did not look into are described in `skipped`); and files ending
    in one of `also`."""
    return walk_files(folder, lambda e: recursive or e.name == "paused",
                      lambda e: e.name.endswith((".pt", *also)) and e.is_file(), skipped)


class ListedFile(Protocol):
    """A checkpoint file known from a listing: a directory entry, or a remote store's object.

    `open()` gives what `read_checkpoint` takes (a local path, or a ranged-read ByteSource), so the
    grouping below never needs a local file system."""

    path: str
    bytes: int
    mtime: float

    def open(self) -> str | ByteSource: ...


@dataclass(frozen=True)
class LocalFile:
    path: str
    bytes: int
    mtime: float
    inode: tuple[int, int] = (0, 0)  # (st_dev, st_ino): how `list` tells hard links from copies

    def open(self) -> str:
        return self.path


def _read(file: ListedFile) -> Checkpoint:
    source = file.open()
    try:
        return read_checkpoint(source)
    finally:
        if not isinstance(source, str):
            source.close()


def local_files(paths: Iterable[str], recursive: bool, skipped: list[str] | None = None) -> Iterator[LocalFile]:
    """The `.pt` files of local folders (or files given directly), as `list` considers them, and
    the other checkpoint-like files beside them (`OTHER_SUFFIXES`)."""
    for folder in paths:
        entries: Iterable[Any] = [_FileEntry(folder)] if os.path.isfile(folder) else \
            iter_checkpoint_files(folder, recursive, skipped, OTHER_SUFFIXES)
        for entry in entries:
            st = entry.stat()
            yield LocalFile(entry.path, st.st_size, st.st_mtime, (st.st_dev, st.st_ino))


def scan(paths: Iterable[str], recursive: bool = False, acc: bool = False) -> Listing:
    """Group the checkpoints under `paths` into runs; unreadable or foreign files go to `other`,
    folders the walk did not look into to `skipped`."""
    skipped: list[str] = []
    listing = group_files(local_files(paths, recursive, skipped), acc=acc)
    listing.skipped = skipped
    return listing


def group_files(files: Iterable[ListedFile], acc: bool = False, workers: int = 1,
                progress: Progress | None = None) -> Listing:
    """Group listed files into runs by name (reading only nameless ones); with `acc`, read every file of
    each run and take its newest readable one (`domain.newest`): local files in one batch, remote
    runs `workers` at a time (a store pays a round trip per read), `progress` counting the runs read."""
    runs: dict[str, Run] = {}
    other: list[dict[str, str]] = []
    for file in files:
        name = parse_name(file.path) if file.path.endswith(".pt") else None  # Mammoth writes .pt only
        if name is None or name.dialect == "paused":
            try:
                ckpt = _read(file)
            except MckptError as e:
                other.append({"path": file.path, "reason": e.message})
                continue
            if ckpt.kind != "mammoth" or ckpt.name is None or not file.path.endswith(".pt"):
                other.append({"path": file.path, "reason": _why_not_a_run(ckpt)})
                continue
            name = ckpt.name
            stem = ckpt.args.get("ckpt_name")
            key = stem if isinstance(stem, str) and parse_stem(stem) else name.stem
        else:
            key = name.stem
        run = runs.get(key)
        if run is None:
            run = runs[key] = Run(_run_name(name, key))
        inode = file.inode if isinstance(file, LocalFile) else (0, 0)  # a store's objects have none
        run.checkpoints.append(CheckpointFile(file.path, name.task, file.bytes, file.mtime, inode, file))
    for run in runs.values():
        run.fold_copies()
    if acc:
        _fill_acc(list(runs.values()), other, workers, progress)
    return Listing(sorted(runs.values(), key=SORT_KEYS["started"]), other)


def _fill_acc(runs: list[Run], other: list[dict[str, str]], workers: int,
              progress: Progress | None) -> None:
    from .newest import FileRead, by_contents, by_name, read_files  # it ranks `Run`s: imported here

    # Every file of a run is read (local ones in one batch, in worker processes when many): the
    # run's newest is the one that reads and holds the most tasks (`domain.newest`). A file that
    # does not read is listed apart with its reason and counted in neither the tasks nor the size.
    local = [c.path for r in runs for c in r.checkpoints if _is_local(c)]
    reads: dict[str, FileRead] = read_files(local)[0] if local else {}

    def read_remote(c: CheckpointFile) -> FileRead:
        try:
            ckpt = _read(c.listed or LocalFile(c.path, c.bytes, c.mtime))
        except MckptError as e:
            return FileRead(error=e.message)
        if ckpt.kind != "mammoth":
            return FileRead(error="not a Mammoth checkpoint")
        return FileRead(to_plain(ckpt.args), ckpt.class_il, ckpt.task_il)

    def one(run: Run) -> None:
        run_reads = {c.path: reads[c.path] if c.path in reads else read_remote(c) for c in run.checkpoints}
        ranked = by_contents(run.checkpoints, run_reads)
        run.unreadable = [{"path": c.path, "reason": run_reads[c.path].error or ""}
                          for c in by_name(run.checkpoints) if run_reads[c.path].error is not None]
        if not ranked:
            run.error = run.unreadable[0]["reason"]
            return
        run.checkpoints = [c for c in run.checkpoints if run_reads[c.path].error is None]
        best = run_reads[ranked[0].path]
        run.metrics = {"class_il": compute_metrics(best.class_il), "task_il": compute_metrics(best.task_il)}
        run.args = best.args
        loaded = (best.args or {}).get("loadcheck")
        run.loaded_from = loaded if isinstance(loaded, str) and loaded else None

    if progress is not None:
        progress.total = len(runs)
    if workers <= 1:
        for run in runs:
            one(run)
            if progress is not None:
                progress.advance()
    else:
        from concurrent.futures import ThreadPoolExecutor, as_completed

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mckpt-acc") as pool:
            for done in as_completed([pool.submit(one, r) for r in runs]):
                done.result()  # a bug in a worker is raised here, not lost
                if progress is not None:
                    progress.advance()
    other.extend(u for r in runs for u in r.unreadable)


def _why_not_a_run(ckpt: Checkpoint) -> str:
    if ckpt.kind == "mammoth":
        # A real checkpoint someone renamed (best.pt, final.pt): say so, and which run it came from.
        stem = ckpt.args.get("ckpt_name")
        run = parse_stem(stem) if isinstance(stem, str) else None
        origin = f" of run {run.uid or run.stem}" if run else ""
        return f"a Mammoth checkpoint{origin}, renamed (not a name Mammoth writes)"
    what = "a bare backbone" if ckpt.kind == "backbone" else "not a Mammoth checkpoint"
    return f"{what} ({counted(ckpt.tensors.count, 'tensor')})"


def _run_name(name: ParsedName, key: str) -> ParsedName:
    """The run's identity: a paused file that belongs to a named run takes that run's name."""
    if name.dialect == "paused" and key != name.stem:
        parsed = parse_stem(key)
        if parsed is not None:
            return parsed
    return name


class _FileEntry:
    """A path given directly on the command line, shaped like an `os.DirEntry`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = os.path.basename(path)

    def stat(self) -> os.stat_result:
        return os.stat(self.path)


def _best_acc_first(r: Run) -> tuple[bool, float]:
    """A metric sorts best first, as in `results`; a run without one goes last (0.0 is a result)."""
    acc = (r.final_acc or {}).get("class_il")
    return (acc is None, -acc if acc is not None else 0.0)


SORT_KEYS = {
    "started": lambda r: r.name.timestamp or datetime.min,
    "model": lambda r: (r.name.model or "", r.name.timestamp or datetime.min),
    "dataset": lambda r: (r.name.dataset or "", r.name.timestamp or datetime.min),
    "size": lambda r: r.bytes,
    "name": lambda r: r.key,
    "acc": _best_acc_first,
}


def filter_runs(runs: list[Run], model: str | None = None, dataset: str | None = None,
                where: Sequence[Where] = ()) -> list[Run]:
    """The runs of `model` and `dataset` (by name) whose saved args (read by `scan(..., acc=True)`)
    meet every `where` condition; a run whose args could not be read meets none."""
    def norm(s: str | None) -> str:
        return (s or "").replace("-", "_").lower()

    return [r for r in runs
            if (model is None or norm(r.name.model) == norm(model))
            and (dataset is None or norm(r.name.dataset) == norm(dataset))
            and (not where or (r.args is not None and all(w.matches(r.args) for w in where)))]
