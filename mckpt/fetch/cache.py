"""The download cache: one folder per source file and revision, one subfolder per checksum.

Layout under the root (XDG cache, `MCKPT_CACHE` or `--cache-dir`)::

    <name>-<hash of the source>/<revision>/<file>.part       bytes so far (resumable)
    <name>-<hash of the source>/<revision>/<file>.part.json  what the .part was fetched from
    <name>-<hash of the source>/<revision>/<file>.json       the completed file's record
    <name>-<hash of the source>/<revision>/<sha256>/<file>   the completed file
    <name>-<hash of the source>/<revision>/<file>.lock       flock'ed by the fetch in progress

Keying by source, revision and checksum means a moved `main` never overwrites the bytes a user
already linked elsewhere, and the `.part` sits in the same folder as its final name so completing
it is a rename. The record stores the file's size and mtime: a hard-linked copy edited in place
(e.g. `torch.save` over it) changes both, and the cache then stops trusting it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import MckptError
from ..io.atomic import place_copy, publish_file, write_atomic
from ..io.urls import Remote, safe_filename


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """`--cache-dir`, else MCKPT_CACHE, else $XDG_CACHE_HOME/mckpt, else ~/.cache/mckpt."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get("MCKPT_CACHE"):
        return Path(os.environ["MCKPT_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "mckpt"


@dataclass
class CachedFile:
    """A completed download and where it came from."""

    path: str
    size: int
    sha256: str
    url: str
    validator: str | None = None  # ETag or Last-Modified of the bytes, for If-None-Match
    linked_etag: str | None = None  # the hub's X-Linked-Etag (the LFS sha256)
    commit: str | None = None  # the hub's X-Repo-Commit
    mtime_ns: int = 0


@dataclass
class PartInfo:
    """What a `.part` holds bytes of, so a resume asks for the same bytes (`If-Range`)."""

    url: str
    validator: str | None
    linked_etag: str | None
    total: int | None
    ranges: list[list[int]] | None = None  # a parallel download's done [start, end) ranges


def _slug(remote: Remote) -> str:
    base = remote.repo.replace("/", "--") if remote.repo else remote.filename
    digest = hashlib.sha256(remote.key.encode()).hexdigest()[:16]
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', base)[:60]}-{digest}"


class CacheEntry:
    """The cache folder of one remote file at one revision."""

    def __init__(self, root: Path, remote: Remote) -> None:
        self.name = remote.filename
        self.dir = root / _slug(remote) / safe_filename(remote.revision or "_", default="_")
        self.part = self.dir / f"{self.name}.part"
        self._part_info = self.dir / f"{self.name}.part.json"
        self._record = self.dir / f"{self.name}.json"
        self._lockfile = self.dir / f"{self.name}.lock"

    @contextlib.contextmanager
    def lock(self, on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
        """Hold the entry for one fetch; a second fetch of the same file waits, then reuses it."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._lockfile, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise MckptError(f"cannot use the cache folder: {e.strerror}", path=str(self.dir),
                             hint="set MCKPT_CACHE or pass --cache-dir to a writable folder") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def lookup(self) -> CachedFile | None:
        """The completed file, if its record exists and the file is untouched since."""
        try:
            cached = CachedFile(**json.loads(self._record.read_text()))
            st = os.stat(cached.path)
        except (OSError, ValueError, TypeError):
            return None
        if st.st_size != cached.size or st.st_mtime_ns != cached.mtime_ns:
            return None
        return cached

    def store(self, sha256: str, info: PartInfo, commit: str | None) -> CachedFile:
        """Move the verified `.part` to its final name and record it."""
        final = self._final(sha256)
        publish_file(self.part, final)
        return self._record_entry(final, sha256, info, commit)

    def _final(self, sha256: str) -> Path:
        final = self.dir / sha256 / self.name
        final.parent.mkdir(exist_ok=True)
        return final

    def _record_entry(self, final: Path, sha256: str, info: PartInfo, commit: str | None) -> CachedFile:
        st = final.stat()
        cached = CachedFile(path=str(final), size=st.st_size, sha256=sha256, url=info.url,
                            validator=info.validator, linked_etag=info.linked_etag, commit=commit,
                            mtime_ns=st.st_mtime_ns)
        write_atomic(self._record, json.dumps(asdict(cached), indent=1).encode())
        self._part_info.unlink(missing_ok=True)
        return cached

    def part_info(self) -> PartInfo | None:
        """What the `.part` was fetched from; None (and no `.part`) when that is unknown."""
        try:
            return PartInfo(**json.loads(self._part_info.read_text())) if self.part.exists() else None
        except (OSError, ValueError, TypeError):
            self.drop_part()
            return None

    def start_part(self, info: PartInfo) -> None:
        """Begin a `.part` from zero bytes, recording what it will hold (a parallel one at full size)."""
        self.save_part_info(info)
        with open(self.part, "wb") as f:
            if info.ranges is not None and info.total:
                f.truncate(info.total)

    def save_part_info(self, info: PartInfo) -> None:
        write_atomic(self._part_info, json.dumps(asdict(info)).encode())

    def kept(self) -> int:
        """Bytes of the file the `.part` holds (a parallel `.part` is sparse: its done ranges)."""
        info = self.part_info()
        if info is None:
            return 0
        if info.ranges is not None:
            return sum(e - s for s, e in info.ranges)
        return self.part.stat().st_size

    def adopt(self, src: Path, sha256: str, info: PartInfo, commit: str | None) -> CachedFile:
        """Take a verified file from elsewhere (the huggingface_hub cache) as this entry's copy:
        a hard link when the file systems allow, else a copy; the original is left alone."""
        self.drop_part()
        self.dir.mkdir(parents=True, exist_ok=True)
        final = self._final(sha256)
        place_copy(src, final, force=True)
        return self._record_entry(final, sha256, info, commit)

    def drop_part(self) -> None:
        self.part.unlink(missing_ok=True)
        self._part_info.unlink(missing_ok=True)
