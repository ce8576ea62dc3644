"""Put a cached download where the user asked (`-o DIR` or `-o FILE`) without losing anything.

A hard link costs no space and no time; across file systems the file is copied (both by
`io.atomic.place_copy`). An existing different file is replaced only with `force`, also when it
appears while the copy is made; an identical one is left alone.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import MckptError
from ..io.atomic import make_folder, place_copy


def destination(output: str | os.PathLike[str], filename: str) -> Path:
    """`-o DIR` (an existing folder, or a path ending in /) gets the file's own name."""
    out = Path(output).expanduser()
    if out.is_dir() or os.fspath(output).endswith(("/", os.sep)):
        return out / filename
    return out


def _same_bytes(path: Path, size: int, sha256: str) -> bool:
    if path.stat().st_size != size:
        return False
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest() == sha256


def place(src: str, dest: Path, *, size: int, sha256: str, force: bool = False) -> Path:
    """Link or copy `src` to `dest`; refuse to replace a different file unless `force`."""
    if dest.exists():
        if dest.is_dir():
            raise MckptError("is a folder", path=str(dest), spelled=True,
                             hint="name a folder as {output}, ending in /, to save inside it")
        if os.path.samefile(src, dest) or _same_bytes(dest, size, sha256):
            return dest
        if not force:
            raise MckptError("exists and differs from the download", path=str(dest),
                             hint="pass {force=True} to replace it, or another {output}", spelled=True)
    make_folder(dest.parent, hint="choose another place with {output}")
    try:
        place_copy(Path(src), dest, force=force)
    except FileExistsError:  # took the name after the check above: never replaced without --force
        raise MckptError("appeared while fetching; not overwritten", path=str(dest),
                         hint="pass {force=True} to replace it, or another {output}", spelled=True) from None
    except OSError as e:
        raise MckptError(f"cannot write: {e.strerror}", path=str(dest)) from None
    return dest
