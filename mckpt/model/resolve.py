"""Turning what a user typed (a file, a run folder, a run uid) into one checkpoint file.

Commands that compare or resume runs accept a run where a file is expected: the run's newest
checkpoint (`last`/`joint`, else the highest task) stands for it. Runs are found by names only,
in `./checkpoints` unless told otherwise, so naming a run costs a directory scan.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import MckptError
from .runs import Run, scan
from .vocabulary import CHECKPOINTS_DIR


@dataclass(frozen=True)
class Resolved:
    """The file a user's words stand for, and how it was chosen (shown by `load --dry-run`)."""

    path: str
    chosen_by: str


def single_run(runs: list[Run], where: str) -> Run:
    """The one run of `runs`, or an error listing them (uids) and asking which."""
    if len(runs) == 1:
        return runs[0]
    names = ", ".join(sorted(r.name.uid or r.key for r in runs)[:8])
    raise MckptError(f"{where} holds {len(runs)} runs ({names}); which one?",
                     hint="name one run by its uid or give a checkpoint file (see `mckpt list`)")


def match_runs(runs: list[Run], spec: str) -> list[Run]:
    """Runs named by `spec`: their uid or run name, else a uid prefix of 4+ characters."""
    matches = [r for r in runs if spec in (r.name.uid, r.key)]
    if not matches and len(spec) >= 4:
        matches = [r for r in runs if r.name.uid and r.name.uid.startswith(spec)]
    return matches


def resolve_checkpoint(spec: str, search: Sequence[str | Path] = (CHECKPOINTS_DIR,)) -> Resolved:
    """The checkpoint `spec` stands for: itself, the newest file of a run folder, or of a run
    named by uid (a unique prefix of 4+ characters will do) or by name in the `search` folders."""
    if os.path.isfile(spec):
        return Resolved(spec, "the file given")
    if os.path.isdir(spec):
        runs = scan([spec]).runs
        if not runs:
            raise MckptError("a folder without Mammoth checkpoints", path=spec)
        return Resolved(single_run(runs, spec).newest.path, f"newest checkpoint of the run in folder {spec}")
    folders = [str(p) for p in dict.fromkeys(search) if os.path.isdir(p)]
    runs = scan(folders).runs if folders else []
    matches = match_runs(runs, spec)
    if not matches:
        looked = ", ".join(folders) or "no checkpoints folder here"
        raise MckptError("no such file, folder or run uid", path=spec,
                         hint=f"give a .pt file, a folder, or a run uid (looked in: {looked}; see `mckpt list`)")
    run = single_run(matches, f"uid {spec}")
    return Resolved(run.newest.path, f"newest checkpoint of run {run.name.uid or run.key}")
