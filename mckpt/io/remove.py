"""Deletion by identity: the one way mckpt removes a file (`prune`, `cache rm`, `cache prune`).

A plan records, for each file, the folder it is in (its real path and its (device, inode)) and
the file's own (device, inode, size, mtime_ns), all without following a symbolic link. Carrying
it out opens that folder with O_DIRECTORY|O_NOFOLLOW, checks the open folder is the one planned
(a folder swapped for a symlink, or a parent swapped, fails here), looks the name up relative
to it without following a link, compares the four numbers, and unlinks relative to the same
folder descriptor. Anything that differs is left alone and said so: nothing outside the planned
folders is ever removed, and a symbolic link is removed as a link (only when planned as one),
never through it. The window left is the one the kernel leaves between a `fstatat` and an
`unlinkat` on the same folder descriptor, which no path swap can widen.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import MckptError

DELETED = "deleted"
GONE = "already gone"
CHANGED = "changed since the plan was made: left alone"
OK_RESULTS = (DELETED, GONE)


@dataclass(frozen=True)
class Planned:
    """One file to remove, as it was when the plan was made."""

    folder: str  # the real folder (no symbolic link on the way), resolved at planning time
    name: str  # the entry in it
    folder_id: tuple[int, int]  # (st_dev, st_ino) of the folder
    file_id: tuple[int, int, int, int]  # (st_dev, st_ino, st_size, st_mtime_ns), of the entry itself
    link: bool = False  # the entry is a symbolic link, and the link itself is what goes

    @property
    def path(self) -> str:
        return os.path.join(self.folder, self.name)


def _file_id(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def plan_removal(path: str | os.PathLike[str], *, link: bool = False) -> Planned:
    """Record `path` for removal as it is now. The entry itself is looked at (never a link's
    target): a symbolic link is refused unless `link` (the user named the link and asked for it
    to go), anything but a regular file or link is refused."""
    path = os.fspath(path)
    folder = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    name = os.path.basename(path)
    try:
        fst = os.stat(folder, follow_symlinks=False)
        st = os.stat(os.path.join(folder, name), follow_symlinks=False)
    except OSError as e:
        raise MckptError(f"cannot look at it: {e.strerror}", path=path) from None
    if stat.S_ISLNK(st.st_mode) and not link:
        raise MckptError("is a symbolic link: never deleted through", path=path)
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        raise MckptError("not a regular file", path=path)
    return Planned(folder, name, (fst.st_dev, fst.st_ino), _file_id(st), stat.S_ISLNK(st.st_mode))


def open_planned_folder(folder: str, folder_id: tuple[int, int]) -> int | None:
    """A descriptor of `folder`, opened without following a final symbolic link, when it is still
    the folder planned (device and inode); None when it is not (or is gone)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != folder_id:
        os.close(fd)
        return None
    return fd


def remove_planned(p: Planned, before: Callable[[int], str | None] | None = None) -> str:
    """Remove `p` if it is still what the plan saw; the result as text (`DELETED`, `GONE`,
    `CHANGED` or why not). `before(folder_fd)` runs with the folder held and may veto with a reason
    (the cache takes a fetch's lock there)."""
    fd = open_planned_folder(p.folder, p.folder_id)
    if fd is None:
        return GONE if not os.path.lexists(p.folder) else "its folder changed since the plan was made: left alone"
    try:
        try:
            st = os.stat(p.name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return GONE
        if _file_id(st) != p.file_id or stat.S_ISLNK(st.st_mode) != p.link:
            return CHANGED
        if before is not None:
            veto = before(fd)
            if veto:
                return veto
        os.unlink(p.name, dir_fd=fd)
        return DELETED
    except FileNotFoundError:
        return GONE
    except OSError as e:
        return f"cannot delete: {e.strerror}"
    finally:
        os.close(fd)
