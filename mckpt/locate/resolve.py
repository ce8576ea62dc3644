"""Turning what a user typed into one checkpoint: the one resolver every reading command uses.

A user may name a checkpoint by its file, by a run folder (its newest checkpoint), by a run uid or
a unique prefix of 4+ characters (looked up in `./checkpoints` unless told otherwise), or by a
URL (http(s)://, hf:// or an s3://, gs://, az:// object store). Runs are found by names only, so
naming a run costs a directory scan.

The resolver only decides *which* file; it opens nothing and imports no HTTP stack (a URL comes
back as itself, `Resolved.remote`). `mckpt.locate` opens what it returns. A remote folder listing
(an hf:// or s3:// prefix holding runs) plugs in as `remote_runs`: a callable that returns the runs
under a URL, or an empty sequence when the URL is a single file.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..domain.newest import newest_of
from ..domain.runs import Run, scan
from ..domain.vocabulary import CHECKPOINTS_DIR
from ..errors import MckptError
from ..remote import is_remote

if TYPE_CHECKING:
    from pathlib import Path

UID_PREFIX_MIN = 4  # shorter prefixes match too many runs to be a name
RemoteRuns = Callable[[str], Sequence[Run]]

SPEC_HELP = ("a checkpoint file, a run folder (its newest file), a run uid (a unique prefix of "
             f"{UID_PREFIX_MIN}+ characters) or a URL (http(s)://, hf://, s3://, gs://, az://)")


@dataclass(frozen=True)
class Resolved:
    """The file a user's words stand for (a local path or a URL), and how it was chosen (shown by
    `load --dry-run`)."""

    path: str
    chosen_by: str

    @property
    def remote(self) -> bool:
        return is_remote(self.path)


SHOWN_RUNS = 8  # runs named in the error of a folder or prefix that holds several


def single_run(runs: Sequence[Run], where: str, folders: Sequence[str]) -> Run:
    """The one run of `runs`, or an error listing them (a folder or prefix that names several),
    whose hint lists the `folders` they are in."""
    if len(runs) == 1:
        return runs[0]
    shown = sorted(r.name.uid or r.key for r in runs)[:SHOWN_RUNS]
    more = f", … and {len(runs) - len(shown)} more" if len(runs) > len(shown) else ""
    raise MckptError(f"{where} holds {len(runs)} runs ({', '.join(shown)}{more}); which one?",
                     hint=f"name one run by its uid or give a checkpoint file (see {list_hint(folders)})")


def match_runs(runs: Sequence[Run], spec: str) -> list[Run]:
    """The runs `spec` names: by full uid or run key, else by a uid prefix of 4+ characters."""
    exact = [r for r in runs if spec in (r.name.uid, r.key)]
    if exact or len(spec) < UID_PREFIX_MIN:
        return exact
    return [r for r in runs if r.name.uid and r.name.uid.startswith(spec)]


def pick_run(runs: Sequence[Run], spec: str, looked_in: Sequence[str]) -> Run:
    """The one run `spec` names (`match_runs`), else an error: none (`no_such_uid`, naming where it
    was looked for), or several (listing them). Every command that takes a run uid decides here."""
    matches = match_runs(runs, spec)
    if not matches:
        raise no_such_uid(spec, looked_in)
    return single_run(matches, f"uid {spec}", looked_in)


def names_a_path(spec: str) -> bool:
    """Whether `spec` is written as a path (a `.pt` name, or a `/` in it) rather than a run uid:
    a missing one is then a missing file, not an unknown run."""
    return spec.endswith((".pt", os.sep)) or os.sep in spec


def resolve_checkpoint(spec: str, search: Sequence[str | Path] = (CHECKPOINTS_DIR,), *,
                       remote_runs: RemoteRuns | None = None) -> Resolved:
    """The checkpoint `spec` stands for: a file or URL itself, the newest file of a run folder
    (local: the newest that reads, `domain.newest`; remote through `remote_runs`: by name), or of a
    run named by uid in the `search` folders."""
    if is_remote(spec):
        runs = remote_runs(spec) if remote_runs is not None else ()
        if runs:
            run = single_run(runs, spec, [spec])
            return Resolved(run.newest.path, f"newest checkpoint of the run at {spec}")
        return Resolved(spec, "the URL given")
    if os.path.exists(spec) and not os.path.isdir(spec):  # a pipe or device too: the reader refuses it
        return Resolved(spec, "the file given")
    if os.path.isdir(spec):
        spec = checkpoints_folder(spec)
        runs = scan([spec]).runs
        if not runs:
            raise MckptError("is a folder without Mammoth checkpoints", path=spec,
                             hint=f"give a checkpoint file, or see what is there: {list_hint([spec])}")
        return Resolved(newest_of(single_run(runs, spec, [spec])).path,
                        f"newest checkpoint of the run in folder {spec}")
    if names_a_path(spec):  # a path, not a uid: say so plainly
        raise MckptError(f"no such {'folder' if spec.endswith(os.sep) else 'file'}", path=spec)
    folders = [str(p) for p in dict.fromkeys(search) if os.path.isdir(p)]
    run = pick_run(scan(folders).runs if folders else [], spec, folders)
    return Resolved(newest_of(run).path, f"newest checkpoint of run {run.name.uid or run.key}")


def no_such_uid(spec: str, looked_in: Sequence[str]) -> MckptError:
    """The one error for a word that is no file, no folder and no run uid where it was looked for."""
    looked = (f"looked in: {', '.join(looked_in)}; see {list_hint(looked_in)}" if looked_in
              else f"no ./{CHECKPOINTS_DIR} folder here to look in")
    short = f"; a uid prefix needs {UID_PREFIX_MIN}+ characters" if len(spec) < UID_PREFIX_MIN else ""
    return MckptError(f"no such file, folder or run uid{short}", path=spec, hint=f"give {SPEC_HELP} ({looked})")


def list_hint(folders: Sequence[str]) -> str:
    """`mckpt list` of the folders runs were looked for in, as a hint writes it: a command that
    works from here (the folders named unless they are just `./checkpoints`, the default)."""
    named = [] if list(folders) == [CHECKPOINTS_DIR] else [shlex.quote(f) for f in folders]
    return "`" + " ".join(["mckpt", "list", *named]) + "`"


def checkpoints_folder(folder: str) -> str:
    """`folder`, or its `checkpoints/` when it is a Mammoth working folder (it holds a `checkpoints/`
    folder and no `.pt` file of its own): where Mammoth writes, so `mckpt list mckpt-demo` lists
    what `mckpt demo` wrote into `mckpt-demo/checkpoints`. Every command that takes a folder reads
    it through here (`resolve_checkpoint`, `targets.classify`); one directory scan."""
    inner = os.path.join(folder, CHECKPOINTS_DIR)
    if os.path.basename(os.path.normpath(folder)) == CHECKPOINTS_DIR or not os.path.isdir(inner):
        return folder
    try:
        with os.scandir(folder) as entries:
            if any(e.name.endswith(".pt") for e in entries):
                return folder
    except OSError:
        return folder  # the reader says what is wrong with it
    return inner
