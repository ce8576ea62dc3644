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

from ..choices import is_sha256
from ..errors import MckptError
from ..io.atomic import place_copy, publish_file, write_atomic
from ..io.cachedir import SOURCE_DIR, prepare_root
from ..io.hfhub import xdg_cache_home
from ..io.urls import Remote, safe_filename


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """`--cache-dir`, else MCKPT_CACHE, else $XDG_CACHE_HOME/mckpt, else ~/.cache/mckpt."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get("MCKPT_CACHE"):
        return Path(os.environ["MCKPT_CACHE"]).expanduser()
    return xdg_cache_home() / "mckpt"


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
        self.root = root
        self.dir = root / _slug(remote) / safe_filename(remote.revision or "_", default="_")
        self.part = self.dir / f"{self.name}.part"
        self._part_info = self.dir / f"{self.name}.part.json"
        self._record = self.dir / f"{self.name}.json"
        self._lockfile = self.dir / f"{self.name}.lock"

    @contextlib.contextmanager
    def lock(self, on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
        """Hold the entry for one fetch; a second fetch of the same file waits, then reuses it."""
        prepare_root(self.root)  # a new cache (or an older mckpt's) gets its mark
        while True:
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(self._lockfile, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise MckptError(f"cannot use the cache folder: {e.strerror}", path=str(self.dir),
                                 hint="point MCKPT_CACHE or {cache_dir} at a writable folder", spelled=True) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                on_wait()
                fcntl.flock(fd, fcntl.LOCK_EX)
            # `cache rm/prune` may have removed the lock file while we waited on it: a lock on a
            # file no longer at that path excludes nobody, so take the one that is there now.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self._lockfile))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
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


# ===================================================================================================
# Cache administration: what `mckpt cache ls|rm|prune|verify` and `mckpt verify` need to know about
# the layout above. Everything below only reads that layout (and removes from it under the entry's
# lock); the fetch path above does not depend on it. Added with issue 16.
# ===================================================================================================



@dataclass
class StoredFile:
    """A completed file in the cache, with its record when one names it."""

    path: Path
    revision_dir: Path
    size: int
    last_used: float  # the record's mtime: written by the download, touched by each cache hit
    record: CachedFile | None  # None: no record names this file (an older sha256 of a moved revision)
    intact: bool  # the record's size and mtime still match the file
    links: int  # hard links: above 1, removing the cache's copy frees no space

    @property
    def sha256(self) -> str:
        return self.path.parent.name

    @property
    def referenced(self) -> bool:
        return self.record is not None


@dataclass
class Leftover:
    """Something in the cache that is not a completed file: a `.part`, its note, a lock, a record
    whose file is gone."""

    path: Path
    revision_dir: Path
    kind: str  # "part", "part-note", "lock", "record"
    size: int


def _record_of(path: Path) -> CachedFile | None:
    try:
        return CachedFile(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def _real_dirs(folder: Path) -> list[os.DirEntry[str]]:
    """The sub-folders of `folder` that are folders themselves (a symbolic link is never entered)."""
    with os.scandir(folder) as it:
        return sorted((e for e in it if e.is_dir(follow_symlinks=False)), key=lambda e: e.name)


def _regular_files(folder: Path) -> list[os.DirEntry[str]]:
    """The regular files of `folder`: a symbolic link is neither read through nor ever listed."""
    with os.scandir(folder) as it:
        return sorted((e for e in it if e.is_file(follow_symlinks=False)), key=lambda e: e.name)


_LEFTOVER_KINDS = ((".part.json", "part-note"), (".part", "part"), (".lock", "lock"))


def scan_cache(root: Path) -> tuple[list[StoredFile], list[Leftover]]:
    """Every completed file under `root` and every leftover, as they are on disk now: only what
    lies in mckpt's own layout (`<name>-<16 hex>/<revision>/…`, `<sha256>/<file>`), and never
    through a symbolic link."""
    files: list[StoredFile] = []
    leftovers: list[Leftover] = []
    revisions = [Path(r.path) for s in _real_dirs(root) if SOURCE_DIR.fullmatch(s.name)
                 for r in _real_dirs(Path(s.path))]
    for rev in revisions:
        entries = _regular_files(rev)
        records = {}
        for e in entries:
            if not e.name.endswith(".json") or e.name.endswith(".part.json"):
                continue
            rec = Path(e.path)
            cached = _record_of(rec)
            if cached is None or not Path(cached.path).is_file():
                leftovers.append(Leftover(rec, rev, "record", e.stat(follow_symlinks=False).st_size))
            else:
                records[Path(cached.path)] = (cached, rec)
        for sha_dir in _real_dirs(rev):
            if not is_sha256(sha_dir.name):
                continue
            for e in _regular_files(Path(sha_dir.path)):
                f = Path(e.path)
                st = e.stat(follow_symlinks=False)
                cached, rec = records.get(f, (None, None))
                files.append(StoredFile(
                    f, rev, st.st_size, rec.stat().st_mtime if rec else st.st_mtime, cached,
                    cached is not None and (st.st_size, st.st_mtime_ns) == (cached.size, cached.mtime_ns),
                    st.st_nlink))
        for e in entries:
            kind = next((k for suffix, k in _LEFTOVER_KINDS if e.name.endswith(suffix)), None)
            if kind is not None:
                leftovers.append(Leftover(Path(e.path), rev, kind, e.stat(follow_symlinks=False).st_size))
    return files, leftovers


@contextlib.contextmanager
def hold_if_free(revision_fd: int, name: str) -> Iterator[bool]:
    """Take the lock a fetch of `name` takes, without waiting, in the revision folder held open as
    `revision_fd` (so the lock file is made there and nowhere else, never through a link): False
    when a fetch holds it."""
    lock = f"{name}.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=revision_fd)
    except OSError:
        yield True  # the folder is going or read-only: removals will report their own errors
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock, dir_fd=revision_fd, follow_symlinks=False))
        except FileNotFoundError:
            same = False
        yield same  # else another remover took the file away meanwhile: treat it as busy
    finally:
        os.close(fd)


def entry_name(path: Path, revision_dir: Path) -> str:
    """The remote file's name an item of `revision_dir` belongs to (its lock is `<name>.lock`)."""
    if path.parent != revision_dir:  # <sha256>/<name>
        return path.name
    for suffix in (".part.json", ".part", ".json", ".lock"):
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name


def mark_used(entry: CacheEntry) -> None:
    """Note that the cached file was just used (a cache hit), for `cache ls`'s "last used"."""
    with contextlib.suppress(OSError):
        os.utime(entry._record)


def checksums_by_inode(root: Path) -> dict[tuple[int, int], tuple[str, str]]:
    """(device, inode) → (sha256, where it comes from) for every intact cached file, so `verify`
    knows the checksum of a file `fetch -o` hard-linked out of the cache."""
    out = {}
    for f in scan_cache(root)[0] if root.is_dir() else []:
        if f.record is not None and f.intact:
            st = f.path.stat()
            hub = f.record.linked_etag and f.record.linked_etag.strip('"').lower()
            if hub == f.record.sha256:
                out[(st.st_dev, st.st_ino)] = (hub, "the hub's checksum (LFS oid), recorded by fetch")
            else:
                out[(st.st_dev, st.st_ino)] = (f.record.sha256, "the sha256 recorded when it was fetched")
    return out
