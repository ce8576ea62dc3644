"""The one folder walk: iterative (a folder chain of any depth costs no Python stack), never
through a symbolic link to a folder, each folder entered once (a bind mount or a loop of hard-linked
folders cannot make it go round), and a depth bound that says what it did not look into.

`list -r`, `results -r`, `verify -r`, `prune -r` and every other reader of checkpoint folders walk
through :func:`walk_files`; what was skipped comes back as one line per folder in `skipped`, for the
command to show as a warning.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

from ..errors import MckptError

MAX_DEPTH = 256  # folders below the one named; deeper ones are reported, not read


def _entries(folder: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except FileNotFoundError:
        raise MckptError("no such folder", path=folder) from None
    except NotADirectoryError:
        raise MckptError("not a folder", path=folder) from None
    except PermissionError:
        raise MckptError("permission denied", path=folder) from None


def walk_files(root: str, descend: Callable[[os.DirEntry[str]], bool], keep: Callable[[os.DirEntry[str]], bool],
               skipped: list[str] | None = None, max_depth: int = MAX_DEPTH) -> Iterator[os.DirEntry[str]]:
    """The entries of `root` that `keep` takes, depth first in name order, entering the real
    (not symlinked) sub-folders `descend` takes, at most `max_depth` levels down. A folder not
    entered for depth or because it was already entered is described in `skipped`."""
    try:
        st = os.stat(root)
        seen = {(st.st_dev, st.st_ino)}
    except OSError:
        seen = set()  # `_entries` says what is wrong with it
    stack = [(iter(_entries(root)), 0)]
    while stack:
        entries, depth = stack[-1]
        e = next(entries, None)
        if e is None:
            stack.pop()
            continue
        if e.is_dir(follow_symlinks=False):
            if not descend(e):
                continue
            if depth >= max_depth:
                if skipped is not None:
                    skipped.append(f"{e.path}: not looked into, more than {max_depth} folders below {root}")
                continue
            st = e.stat(follow_symlinks=False)
            if (st.st_dev, st.st_ino) in seen:
                if skipped is not None:
                    skipped.append(f"{e.path}: not looked into, a folder already walked (a loop)")
                continue
            seen.add((st.st_dev, st.st_ino))
            stack.append((iter(_entries(e.path)), depth + 1))
        elif keep(e):
            yield e
