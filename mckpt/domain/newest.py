"""Which of a run's files is its newest: decided by reading them, never by their names alone.

A run's files rank by the tasks done inside (the accuracy rows Mammoth saved), then by the name
(`last`/`joint` above a task index, a task index above a lower one), then by time. A file that does
not read (cut short, empty, a bad zip index, a pickle the reader refuses, not a Mammoth checkpoint)
never ranks: it is never a run's newest, whatever its name says. `prune`, `list --acc` and the
resolver behind `inspect`/`diff`/`load`/`verify`/`convert` all rank here.

Reading goes through `results.read_records` (index and pickle only, no tensor bytes, no torch;
worker processes for many files; the record cache when the caller has one), so this module stays
as light as `list` and `inspect` must be.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import MckptError
from .record_cache import RecordCache
from .results import read_records
from .runs import CheckpointFile, Run, task_order


@dataclass(frozen=True)
class FileRead:
    """What reading one file gave: its saved args and accuracy rows, or why it does not read."""

    args: dict[str, Any] | None = None  # plain values
    class_il: list[list[float]] = field(default_factory=list)
    task_il: list[list[float]] = field(default_factory=list)
    error: str | None = None  # set: the file does not read (or is not a Mammoth checkpoint)

    @property
    def tasks_done(self) -> int:
        return len(self.class_il)

    @property
    def readable(self) -> bool:
        return self.error is None


Reads = Mapping[str, FileRead]


def read_files(paths: Iterable[str], cache: RecordCache | None = None, workers: int | None = None
               ) -> tuple[dict[str, FileRead], list[str]]:
    """Each local file of `paths` read (from `cache` where unchanged): path → FileRead, and the
    cache's notices (a cache it could not write)."""
    records, notices = read_records(list(dict.fromkeys(paths)), workers, cache)
    return {path: FileRead(args, cil, til) if args is not None else FileRead(error=error or "unreadable")
            for path, args, cil, til, error in records}, notices


def rank_key(c: CheckpointFile, reads: Reads) -> tuple[int, tuple[int, int], float]:
    """Contents first (tasks done), then the name (`last`/`joint` above a task index), then time."""
    return (reads[c.path].tasks_done, task_order(c.task), c.mtime)


def readable(c: CheckpointFile, reads: Reads) -> bool:
    r = reads.get(c.path)
    return r is not None and r.readable


def by_contents(files: Iterable[CheckpointFile], reads: Reads) -> list[CheckpointFile]:
    """The files of `files` that read, newest first (`rank_key`); the others are left out."""
    return sorted((c for c in files if readable(c, reads)), key=lambda c: rank_key(c, reads), reverse=True)


def by_name(files: Iterable[CheckpointFile]) -> list[CheckpointFile]:
    """Newest first by name and time alone: the order the reasons of unreadable files are given in."""
    return sorted(files, key=lambda c: (task_order(c.task), c.mtime), reverse=True)


def newest_readable(run: Run, reads: Reads) -> CheckpointFile:
    """The run's newest file that reads (`by_contents`), else a one-line error naming the run and
    why its newest-named file does not read."""
    ranked = by_contents(run.checkpoints, reads)
    if ranked:
        return ranked[0]
    raise no_readable_file(run, reads)


def no_readable_file(run: Run, reads: Reads) -> MckptError:
    files = by_name(run.checkpoints)
    first = files[0]
    why = reads[first.path].error if first.path in reads else "not read"
    n = len(files)
    return MckptError(f"no checkpoint of run {run.name.uid or run.key} reads ({n} file{'s' if n != 1 else ''}; "
                      f"{first.path}: {why})", hint="see `mckpt list --acc` for each file's reason")


def newest_of(run: Run, cache: RecordCache | None = None) -> CheckpointFile:
    """The run's newest readable file, its local files read here (through `cache` when given)."""
    reads, _ = read_files((c.path for c in run.checkpoints), cache)
    return newest_readable(run, reads)


def split_broken(files: Sequence[CheckpointFile], reads: Reads) -> tuple[list[CheckpointFile], list[CheckpointFile]]:
    """(the files that read, the files that do not), each in the order given."""
    return [c for c in files if readable(c, reads)], [c for c in files if not readable(c, reads)]
