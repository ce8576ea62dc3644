"""Writes that are all-or-nothing: a temporary file in the target folder, fsync, then rename.

A crash or Ctrl-C at any point leaves either the old file or the new one under the final name,
never a torn one, which is what lets a later run trust whatever it finds.
"""

from __future__ import annotations

import os
from pathlib import Path


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
    the path is a file, which the OS reports as a bare "File exists" or "Not a directory"."""
    from ..errors import MckptError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise MckptError("is a file, not a folder", path=str(blocker), hint=hint) from None
        raise MckptError(f"cannot create the folder: {e.strerror}", path=str(folder), hint=hint) from None


def temp_beside(path: Path) -> Path:
    """A hidden temporary name in `path`'s folder, unique per process."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically."""
    tmp = temp_beside(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
