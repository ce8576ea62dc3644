"""Many targets: the words of `list`, `results`, `plot`, `prune` and `verify`, as typed targets.

`locate.resolve` turns one word into one checkpoint; the commands that take many words (folders,
files, run uids, URLs) expand them here, so each kind of word means the same in every command and
each case has one message: no words means `./checkpoints` (one rule, one "no ./checkpoints folder
here"), a run uid is looked up with the one uid matcher (`resolve.match_runs`) in the folders named
beside it (else `./checkpoints`), and a command that reads only local files refuses every URL
kind with the same words and exit code. Nothing here opens a file or imports an HTTP stack.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..domain.log_runs import looks_like_log
from ..domain.runs import Run
from ..domain.vocabulary import CHECKPOINTS_DIR
from ..errors import MckptError, UsageError
from ..io.urls import url_kind
from .resolve import checkpoints_folder, names_a_path, no_such_uid, pick_run, resolve_checkpoint


@dataclass(frozen=True)
class LocalFile:
    """A file on this disk that is not a results log (or a path written as one that does not exist:
    the reader says so)."""

    path: str


@dataclass(frozen=True)
class Folder:
    """A local folder of checkpoints (or a path written as one that does not exist)."""

    path: str


@dataclass(frozen=True)
class RunUid:
    """A run uid or a unique prefix of 4+ characters, looked up with `resolve.match_runs`."""

    uid: str


@dataclass(frozen=True)
class RemoteFile:
    """An http(s) URL, a hub file or an object-store `.pt` object."""

    url: str


@dataclass(frozen=True)
class RemoteFolder:
    """An `hf://` repo folder or an object-store prefix (its runs, as `list` groups them)."""

    url: str


@dataclass(frozen=True)
class ResultsLog:
    """A Mammoth results log (`logs.pyd`), known by its first byte (`log_runs.looks_like_log`): read
    by `results`, `plot` and `list`; the checkpoint readers say it is not a checkpoint."""

    path: str


# The kinds a word can be.
Target = LocalFile | ResultsLog | Folder | RunUid | RemoteFile | RemoteFolder
LOCAL = (LocalFile, ResultsLog, Folder)
REMOTE = (RemoteFile, RemoteFolder)


def classify(word: str, recursive: bool = False, whole: bool = False) -> Target:
    """What one word names, from its URL kind (`io.urls.url_kind`) and what is on disk: a URL, a
    folder (a Mammoth working folder as its `checkpoints/`, unless `recursive` walks all of it or
    `whole` takes it as it is: results and plot find its results logs too), a file (an existing
    one, or a missing one written as a path), else a run uid."""
    kind = url_kind(word)
    if kind is not None:
        return RemoteFile(word) if kind == "http" or word.endswith(".pt") else RemoteFolder(word)
    if os.path.isdir(word):
        return Folder(word if recursive or whole else checkpoints_folder(word))
    if os.path.exists(word):  # a pipe or device too: the reader refuses it
        return ResultsLog(word) if os.path.isfile(word) and looks_like_log(word) else LocalFile(word)
    if names_a_path(word):
        return Folder(word) if word.endswith(os.sep) or not word.endswith(".pt") else LocalFile(word)
    return RunUid(word)


def default_folder(command: str) -> str:
    """`./checkpoints`, the folder every command reads when given no words: the one place that
    says it is missing."""
    if not os.path.isdir(CHECKPOINTS_DIR):
        raise MckptError(f"no ./{CHECKPOINTS_DIR} folder here", path=CHECKPOINTS_DIR,
                         hint=f"run inside a Mammoth working folder, or pass a folder: mckpt {command} PATH")
    return CHECKPOINTS_DIR


def refuse_remote(word: str, command: str) -> UsageError:
    """The one refusal of a URL by a command that reads local files only (a usage error, exit 2)."""
    return UsageError(f"{command} reads local folders, files and run uids, not URLs", path=word,
                      hint=f"download the runs first: mckpt fetch URL -o DIR, then mckpt {command} DIR")


@dataclass(frozen=True)
class Targets:
    """A command's words as typed targets, in the order given (`./checkpoints` when none)."""

    items: tuple[Target, ...]
    defaulted: bool = False
    command: str = field(default="", compare=False)

    @property
    def local_paths(self) -> list[str]:
        """The files and folders named, as given."""
        return [t.path for t in self.items if isinstance(t, LOCAL)]

    @property
    def uids(self) -> list[str]:
        return [t.uid for t in self.items if isinstance(t, RunUid)]

    @property
    def urls(self) -> list[str]:
        return [t.url for t in self.items if isinstance(t, REMOTE)]

    def scope(self) -> list[str]:
        """What to read: the files, folders and URLs named, else (only run uids, or nothing named)
        `./checkpoints`; run uids select runs from it (`select_runs`)."""
        named = [t.path if isinstance(t, LOCAL) else t.url
                 for t in self.items if not isinstance(t, RunUid)]
        return named or self._uid_folders(self.uids[0])

    def newest_file(self, uid: str) -> str:
        """The newest file of the run `uid` names, looked up in the folders named beside it, else in
        `./checkpoints` (as `inspect` takes a uid)."""
        return resolve_checkpoint(uid, self._uid_folders(uid)).path

    def _uid_folders(self, uid: str) -> list[str]:
        """The folders named, else `./checkpoints`; a uid with neither is the one no-such-uid error."""
        folders = [t.path for t in self.items if isinstance(t, Folder)]
        if folders:
            return folders
        if not os.path.isdir(CHECKPOINTS_DIR):
            raise no_such_uid(uid, [])
        return [CHECKPOINTS_DIR]

    def newest_files(self) -> list[str]:
        """The files, folders and URLs named, in order, with each run uid standing for its run's
        newest file."""
        return [self.newest_file(t.uid) if isinstance(t, RunUid) else t.url if isinstance(t, REMOTE) else t.path
                for t in self.items]


def expand(words: Sequence[str] | None, command: str, *, remote: bool = False, recursive: bool = False,
           whole: bool = False) -> Targets:
    """`words` as typed targets; no words is `./checkpoints` (which must exist). A URL is refused
    with `refuse_remote` unless `remote` (the command reads URLs); `recursive`: the command walks
    each folder's sub-folders too; `whole`: a Mammoth working folder is read whole, logs included
    (`classify`)."""
    if not words:
        return Targets((Folder(default_folder(command)),), defaulted=True, command=command)
    items = tuple(classify(w, recursive, whole) for w in words)
    if not remote:
        for t in items:
            if isinstance(t, REMOTE):
                raise refuse_remote(t.url, command)
    return Targets(items, command=command)


def select_runs(runs: Iterable[Run], uids: Sequence[str], looked_in: Sequence[str]) -> list[Run]:
    """The runs the `uids` name (each through the one uid matcher), in their order; a uid that names
    no run is the one "no such file, folder or run uid" error, naming where it was looked for."""
    runs = list(runs)
    chosen: dict[int, Run] = {}
    for uid in uids:
        run = pick_run(runs, uid, looked_in)
        chosen[id(run)] = run
    return list(chosen.values())
