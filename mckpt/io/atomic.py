"""Writes that are all-or-nothing: a temporary file in the target folder, fsync, then rename.

A crash or Ctrl-C at any point leaves either the old file or the new one under the final name,
never a torn one, which is what lets a later run trust whatever it finds. This is the one place
that renames or links files into place: every writer in mckpt comes through :func:`atomic_write`,
:func:`write_atomic`, :func:`place_copy` or, for a file it has filled itself, :func:`publish`.

One temporary-name scheme (:class:`PartialFile`: hidden, random, locked while its writer lives)
and one no-clobber policy (:func:`publish`: without `force` a name taken meanwhile is never
replaced, decided by the kernel at rename time, not by an earlier check).
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename in `folder` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_folder(folder: Path, hint: str | None = None) -> None:
    """Create `folder` (and its parents), or say in one line why not: above all when a part of
    the path is a file, which the OS reports as a bare "File exists" or "Not a directory".
    `hint` may name parameters as `{output}` (see `MckptError`)."""
    from ..errors import MckptError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise MckptError("is a file, not a folder", path=str(blocker), hint=hint, spelled=True) from None
        raise MckptError(f"cannot create the folder: {e.strerror}", path=str(folder), hint=hint,
                         spelled=True) from None


# ---------------------------------------------------------------------------------------------------
# publishing a finished temporary file, and the partial files of writers that were killed

_RENAME_NOREPLACE = 1  # linux/fs.h


def publish(tmp: Path, final: Path, *, force: bool = False) -> None:
    """Give the finished `tmp` its final name, atomically, then fsync the folder.

    Without `force` a file that took the name meanwhile is never replaced (FileExistsError):
    a hard link fails if the name exists, and where hard links are not supported
    `renameat2(RENAME_NOREPLACE)` does the same. With `force` the old file is replaced.
    """
    if force:
        os.replace(tmp, final)
    else:
        try:
            os.link(tmp, final)
        except FileExistsError:  # named for the file that holds the name, not the temporary one
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final)) from None
        except OSError:  # no hard links here (some network and FAT file systems)
            _rename_noreplace(tmp, final)
        else:
            tmp.unlink()
    fsync_dir(final.parent)


def _rename_noreplace(src: Path, dst: Path) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOTSUP, "cannot rename without replacing on this system", str(dst))
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), _RENAME_NOREPLACE) != 0:
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            raise FileExistsError(err, os.strerror(err), str(dst))
        raise OSError(err, os.strerror(err), str(dst))


PARTIAL_SUFFIX = ".partial"
_PARTIAL_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.partial$")


class PartialFile:
    """A hidden `.<name>.<random>.partial` beside `final`, held with an exclusive `flock` for as
    long as its writer lives.

    The kernel drops the lock when the process dies, however it dies (SIGKILL, OOM, power), so
    a partial whose lock can be taken has no writer left: :func:`remove_stale_partials` deletes
    exactly those, and never the file of a writer still at work.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        while True:
            self.path = final.parent / f".{final.name}.{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            # A cleaner may have taken the lock and removed the file between the two calls above.
            if os.fstat(self.fd).st_nlink > 0:
                return
            os.close(self.fd)

    def publish(self, force: bool = False) -> None:
        """:func:`publish` it under its final name, still holding the lock while it is renamed."""
        publish(self.path, self.final, force=force)

    def close(self, discard: bool) -> None:
        """Release the lock (closing the file); remove it first when `discard`."""
        if discard:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)


def remove_stale_partials(folder: Path) -> list[tuple[str, int]]:
    """Remove the partial files in `folder` that no live writer holds; return (path, bytes) of each."""
    removed: list[tuple[str, int]] = []
    try:
        names = [e.name for e in os.scandir(folder) if _PARTIAL_NAME.match(e.name)]
    except OSError:
        return removed
    for name in sorted(names):
        path = folder / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:  # gone meanwhile, or not ours to open
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a writer is at work
            st = os.fstat(fd)
            try:
                same = os.stat(path, follow_symlinks=False).st_ino == st.st_ino
            except FileNotFoundError:
                continue
            if same and stat.S_ISREG(st.st_mode):
                try:
                    os.unlink(path)
                except OSError:  # another user's file in a shared folder: theirs to remove
                    continue
                removed.append((str(path), st.st_size))
        finally:
            os.close(fd)
    return removed


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_write(final: Path, *, force: bool = True) -> Iterator[BinaryIO]:
    """A binary file to fill; on a clean exit it is fsynced and published under `final`.

    On an exception (or Ctrl-C) nothing appears under `final` and the partial file is removed.
    Without `force`, a file that holds the name when the write ends is kept (FileExistsError).
    """
    partial = PartialFile(final)
    done = False
    try:
        with open(partial.fd, "wb", closefd=False) as f:
            yield f
            f.flush()
            os.fsync(partial.fd)
        partial.publish(force)
        done = True
    finally:
        partial.close(discard=not done)


def write_atomic(path: Path, data: bytes, *, force: bool = True) -> None:
    """Replace `path` with `data` atomically (without `force`: FileExistsError if it exists)."""
    with atomic_write(path, force=force) as f:
        f.write(data)


def place_copy(src: Path, final: Path, *, force: bool = False) -> None:
    """Give `final` the content of `src`: a hard link when the file system allows (no space, no
    time), else a copy, fsynced; published by :func:`publish` with its no-clobber policy."""
    tmp = final.parent / f".{final.name}.{secrets.token_hex(4)}.link"
    try:
        try:
            os.link(src, tmp)
        except OSError:  # another file system, or no hard links there
            shutil.copyfile(src, tmp)
            _fsync_file(tmp)
        publish(tmp, final, force=force)
    finally:
        tmp.unlink(missing_ok=True)


def publish_file(path: Path, final: Path, *, force: bool = True) -> None:
    """Fsync the finished `path` (filled by its own writer) and :func:`publish` it as `final`."""
    _fsync_file(path)
    publish(path, final, force=force)
