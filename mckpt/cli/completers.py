"""Values for shell completion: run uids, model and dataset names found in `./checkpoints`.

A TAB press runs the program, so these answers come from file names alone (a directory scan of
`./checkpoints` and the name parser), before Typer, Rich, torch or httpx are imported: the shell
scripts in `completions/` call `mckpt __complete KIND PREFIX`, which `mckpt.cli.entry` routes here.
Subcommands, options and fixed choices (`--to`, `--format`) are written into those scripts; file
names are completed by the shell itself. Anything that goes wrong prints nothing: a TAB press
must never print a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator

from ..domain.names import ParsedName, parse_name
from ..domain.vocabulary import CHECKPOINTS_DIR, DATASETS, MODELS


def _names(folder: str) -> Iterator[ParsedName]:
    """Parsed names of the checkpoints directly in `folder` (no file is opened)."""
    try:
        entries = os.scandir(folder)
    except OSError:
        return
    with entries:
        for e in entries:
            if e.name.endswith(".pt"):
                parsed = parse_name(e.name)
                if parsed is not None and parsed.dialect != "paused":
                    yield parsed


def _matching(values: set[str], prefix: str) -> list[str]:
    return sorted(v for v in values if v.startswith(prefix))


def _paused_uids(folder: str) -> Iterator[str]:
    """Uids of the runs paused in `folder/paused`: a paused file is named by a fresh uuid, so its
    run's uid is read from its saved args (the pickle only, a few KiB; there are few such files)."""
    paused = os.path.join(folder, "paused")
    try:
        entries = [e.path for e in os.scandir(paused) if e.name.endswith(".pt")]
    except OSError:
        return
    from ..domain.checkpoint import read_checkpoint
    from ..errors import MckptError

    for path in entries:
        try:
            name = read_checkpoint(path).name
        except MckptError:
            continue
        if name is not None and name.uid:
            yield name.uid


def complete_runs(prefix: str, folder: str = CHECKPOINTS_DIR) -> list[str]:
    """Run uids in `folder` (the run's name for uid-less D1 runs), paused runs included: what
    `inspect`/`diff`/`load` accept as a run."""
    return _matching({n.uid or n.stem for n in _names(folder)} | set(_paused_uids(folder)), prefix)


def complete_models(prefix: str, folder: str = CHECKPOINTS_DIR) -> list[str]:
    """Models of the runs in `folder`; Mammoth's known models when the folder has none."""
    return _matching({n.model for n in _names(folder) if n.model} or set(MODELS), prefix)


def complete_datasets(prefix: str, folder: str = CHECKPOINTS_DIR) -> list[str]:
    """Datasets of the runs in `folder`; Mammoth's known datasets when the folder has none."""
    return _matching({n.dataset for n in _names(folder) if n.dataset} or set(DATASETS), prefix)


COMPLETERS: dict[str, Callable[[str, str], list[str]]] = {
    "run": complete_runs,
    "model": complete_models,
    "dataset": complete_datasets,
}


def answer(argv: list[str]) -> int:
    """`mckpt __complete KIND [PREFIX]`: print the candidates, one per line; always exit 0."""
    try:
        kind = argv[0] if argv else ""
        prefix = argv[1] if len(argv) > 1 else ""
        completer = COMPLETERS.get(kind)
        if completer is not None:
            out = "".join(f"{v}\n" for v in completer(prefix, CHECKPOINTS_DIR))
            sys.stdout.write(out)
            sys.stdout.flush()
    except Exception:
        pass  # a TAB press must stay silent whatever happens
    return 0
