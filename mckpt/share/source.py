"""What `push` reads: the local files each SOURCE stands for.

The one place `push` turns a user's words into files, through the resolver every reading command
uses (`mckpt.locate`): a file, a run folder, a run uid or a URL (fetched into the cache once). With
`all_tasks`, every checkpoint of the run the resolved file belongs to, in training order.
"""

from __future__ import annotations

import os

from ..domain.runs import scan, task_order
from ..errors import UsageError
from ..locate import local_copy, resolve


def run_files(spec: str, all_tasks: bool = False) -> list[str]:
    """The local files `spec` stands for: its newest file, or with `all_tasks` all of its run's."""
    resolved = resolve(spec)
    if resolved.remote and all_tasks:
        raise UsageError("{all_tasks} reads a local run; fetch the files first (mckpt fetch)", path=spec,
                         spelled=True)
    path = local_copy(resolved).path
    if not all_tasks:
        return [path]
    folder = os.path.dirname(os.path.abspath(path))
    for run in scan([folder]).runs:
        files = sorted(run.checkpoints, key=lambda c: task_order(c.task))
        if any(os.path.samefile(c.path, path) for c in files):
            return [c.path for c in files]
    return [path]
