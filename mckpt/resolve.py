"""Turning what a user typed (a file, a run folder, a run uid) into one checkpoint file.

Commands that compare or resume runs accept a run where a file is expected: the run's newest
checkpoint (`last`/`joint`, else the highest task) stands for it. Runs are found by names only,
in `./checkpoints` unless told otherwise, so naming a run costs a directory scan.
"""

from __future__ import annotations

import os

from .errors import MckptError
from .runs import Run, scan

CHECKPOINTS_DIR = "checkpoints"


def _run_ids(run: Run) -> set[str]:
    return {run.name.stem, run.name.uid or run.name.stem}


def _newest(runs: list[Run], spec: str) -> str:
    if len(runs) == 1:
        return runs[0].newest.path
    names = ", ".join(sorted(r.name.uid or r.name.stem for r in runs))
    raise MckptError(f"names {len(runs)} runs ({names})", path=spec, hint="name one run by its uid")


def resolve_checkpoint(spec: str, folder: str = CHECKPOINTS_DIR) -> str:
    """The checkpoint file `spec` stands for: itself, the newest file of a run folder or of a run uid."""
    if os.path.isfile(spec):
        return spec
    if os.path.isdir(spec):
        runs = scan([spec]).runs
        if not runs:
            raise MckptError("a folder without Mammoth checkpoints", path=spec)
        return _newest(runs, spec)
    runs = scan([folder]).runs if os.path.isdir(folder) else []
    matches = [r for r in runs if spec in _run_ids(r)]
    if not matches and len(spec) >= 4:
        matches = [r for r in runs if r.name.uid and r.name.uid.startswith(spec)]
    if not matches:
        raise MckptError(
            "no such file, folder or run", path=spec,
            hint=f"give a .pt file, a folder, or the uid of a run in ./{folder} (see `mckpt list`)",
        )
    return _newest(matches, spec)
