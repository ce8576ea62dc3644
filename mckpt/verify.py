"""`verify`: read every byte of a checkpoint and check everything its format lets one check.

`inspect` trusts what it does not read; `verify` reads it all, once, sequentially: the zip index,
then the whole file through a few reused buffers, walking the records as they stream past (each
local header against the index, each record's CRC-32 and sizes, the data descriptors torch
writes), every tensor view against the bytes its storage holds, and the pickle through the
safe reader (the archive's byte-range check, which the reader's warnings, `diff` and
`convert` use too). A sha256 is computed only when one is known to compare with (`--sha256`, the hub's
LFS oid for a URL, the cache's record for a fetched file), in its own thread: zlib and hashlib
release the GIL for large buffers, so reading, CRC and sha256 overlap and memory stays at the
buffers (depth × chunk) whatever the file size.
"""

from __future__ import annotations

import hashlib
import os
import queue
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .choices import sha256_of_etag
from .errors import MckptError
from .io.progress import Locked, Progress
from .io.sources import ByteSource, FileSource
from .torchfile.archive import MAX_INFLATE_RATIO, ZipMember, inflate_limit, open_archive, tensor_items

CHUNK = 4 << 20
DEPTH = 4  # buffers in flight per file: memory is DEPTH × CHUNK
_LFH = b"PK\x03\x04"
_DESCRIPTOR = b"PK\x07\x08"
Consumer = Callable[[memoryview, int], None]  # (bytes, their offset in the file), in file order


@dataclass
class Verdict:
    """What `verify` found about one file: ok, or the problems, first one first."""

    path: str
    size: int = 0
    layout: str | None = None
    records: int = 0
    tensors: int = 0
    sha256: str | None = None
    expected_sha256: str | None = None
    sha256_from: str | None = None
    problems: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "problem": self.problems[0] if self.problems else None,
                "problems": self.problems, "bytes": self.size, "layout": self.layout,
                "records": self.records, "tensors": self.tensors, "sha256": self.sha256,
                "expected_sha256": self.expected_sha256, "sha256_from": self.sha256_from,
                "checks": self.checks, "seconds": round(self.seconds, 3)}


class _Damaged(Exception):
    """A problem found while streaming; the first one stops the walk."""


# ---------------------------------------------------------------------------------------------------
# the zip records, checked as the bytes stream past


class ZipWalk:
    """Feed it the file's bytes in order; it checks each record against the index as they pass."""

    def __init__(self, members: list[ZipMember], size: int) -> None:
        self.members = sorted(members, key=lambda m: m.header_offset)
        self.size = size
        self.i = 0
        self.cur = 0
        self.phase = "seek"
        self.want = 0
        self.acc = bytearray()
        self.crc = 0
        self.data_end = 0
        self.zip64 = False
        self.described = False
        self.inflater: Any = None
        self.inflated = 0
        # The reader's inflate bound, per record and for the file's records together: what a
        # small file can make verify inflate (its time and work) is a multiple of its size.
        self.inflated_total = 0
        self.inflate_budget = inflate_limit(size)

    @property
    def member(self) -> ZipMember:
        return self.members[self.i]

    def feed(self, buf: memoryview, pos: int) -> None:
        end = pos + len(buf)
        while self.cur < end and self.i < len(self.members):
            m = self.member
            if self.phase == "seek":
                if m.header_offset < self.cur:
                    raise _Damaged(f"the record of {m.name} overlaps the one before it")
                self.cur = min(end, m.header_offset)
                if self.cur == m.header_offset:
                    self.phase, self.want, self.acc = "header", 30, bytearray()
            elif self.phase == "data":
                take = min(self.data_end, end) - self.cur
                self._data(buf[self.cur - pos : self.cur - pos + take])
                self.cur += take
                if self.cur == self.data_end:
                    self._data_done()
            else:
                take = min(self.want - len(self.acc), end - self.cur)
                self.acc += buf[self.cur - pos : self.cur - pos + take]
                self.cur += take
                if len(self.acc) == self.want:
                    self._collected()
        if self.i >= len(self.members):
            self.cur = end

    def finish(self) -> None:
        if self.i < len(self.members):
            raise _Damaged(f"truncated: the file ends inside the record of {self.member.name}")

    def _collected(self) -> None:
        m, acc = self.member, self.acc
        if self.phase == "header":
            if acc[:4] != _LFH:
                raise _Damaged(f"the index points {m.name} at byte {m.header_offset}, where no record starts")
            nlen, elen = struct.unpack_from("<HH", acc, 26)
            self.phase, self.want = "names", 30 + nlen + elen
            if self.want == 30:
                self._collected()
        elif self.phase == "names":
            self._header(m, bytes(acc))
        elif self.phase == "descriptor-sig":
            if acc[:4] == _DESCRIPTOR:
                self.phase, self.want = "descriptor", 4 + (20 if self.zip64 else 12)
            else:
                self.phase, self.want = "descriptor", 20 if self.zip64 else 12
        elif self.phase == "descriptor":
            body = acc[4:] if acc[:4] == _DESCRIPTOR else acc
            crc, csize, usize = struct.unpack_from("<IQQ" if self.zip64 else "<III", body, 0)
            if (crc, csize, usize) != (m.crc32, m.compressed_size, m.size):
                raise _Damaged(f"the data descriptor of {m.name} disagrees with the index "
                               f"(crc {crc:08x}, {csize}/{usize} bytes vs {m.crc32:08x}, "
                               f"{m.compressed_size}/{m.size})")
            self._next()

    def _header(self, m: ZipMember, hdr: bytes) -> None:
        flags, method, _t, _d, crc, csize, usize, nlen, _elen = struct.unpack_from("<HHHHIIIHH", hdr, 6)
        name = hdr[30 : 30 + nlen].decode("utf-8", "replace")
        if name != m.name:
            raise _Damaged(f"the index names a record {m.name!r}, its local header {name!r}")
        if method != m.method:
            raise _Damaged(f"the local header of {m.name} says compression method {method}, "
                           f"the index {m.method}")
        extra = hdr[30 + nlen :]
        self.zip64 = m.compressed_size >= 0xFFFFFFFF or m.size >= 0xFFFFFFFF or _has_zip64(extra)
        self.described = bool(flags & 0x08)
        if not self.described:
            if self.zip64 and 0xFFFFFFFF in (csize, usize):
                usize, csize = _zip64_sizes(extra, usize, csize)
            if (crc, csize, usize) != (m.crc32, m.compressed_size, m.size):
                raise _Damaged(f"the local header of {m.name} disagrees with the index (crc {crc:08x}, "
                               f"{csize}/{usize} bytes vs {m.crc32:08x}, {m.compressed_size}/{m.size})")
        if m.method not in (0, 8):
            raise _Damaged(f"{m.name} uses zip compression method {m.method}, which torch never writes")
        if m.method == 8 and m.size > (cap := inflate_limit(m.compressed_size)):
            raise _Damaged(f"{m.name} claims to inflate to {m.size} bytes from {m.compressed_size}, over the "
                           f"{cap} byte limit (a deflate bomb?)")
        if m.method == 0 and m.compressed_size != m.size:
            raise _Damaged(f"the index gives the stored record {m.name} two different sizes")
        start = m.header_offset + len(hdr)
        self.data_end = start + m.compressed_size
        if self.data_end > self.size:
            raise _Damaged(f"truncated: {m.name} runs past the end of the file")
        self.crc, self.inflated = 0, 0
        self.inflater = zlib.decompressobj(-15) if m.method == 8 else None
        self.phase = "data"
        if m.compressed_size == 0:
            self._data_done()

    def _data(self, piece: memoryview) -> None:
        if self.inflater is None:
            self.crc = zlib.crc32(piece, self.crc)
            return
        data = bytes(piece)
        while data:
            # one byte past what may come out is enough to tell that too much would
            room = min(1 << 20, self.member.size - self.inflated, self.inflate_budget - self.inflated_total) + 1
            try:
                out = self.inflater.decompress(data, room)
            except zlib.error:
                raise _Damaged(f"{self.member.name} is not valid deflate data") from None
            self.inflated += len(out)
            self.inflated_total += len(out)
            if self.inflated > self.member.size:
                raise _Damaged(f"{self.member.name} inflates past the {self.member.size} bytes the index gives")
            if self.inflated_total > self.inflate_budget:
                raise _Damaged(f"the records inflate past {self.inflate_budget} bytes, {MAX_INFLATE_RATIO} times "
                               "the file's size (a deflate bomb?)")
            self.crc = zlib.crc32(out, self.crc)
            data = self.inflater.unconsumed_tail

    def _data_done(self) -> None:
        m = self.member
        if self.inflater is not None and self.inflated != m.size:
            raise _Damaged(f"{m.name} inflates to {self.inflated} bytes, the index says {m.size}")
        if self.crc != m.crc32:
            raise _Damaged(f"{m.name} fails its CRC-32 check (the index says {m.crc32:08x}, the bytes "
                           f"give {self.crc:08x}): the file is damaged")
        if self.described:
            self.phase, self.want, self.acc = "descriptor-sig", 4, bytearray()
        else:
            self._next()

    def _next(self) -> None:
        self.i += 1
        self.phase = "seek"


def _has_zip64(extra: bytes) -> bool:
    i = 0
    while i + 4 <= len(extra):
        tag, ln = struct.unpack_from("<HH", extra, i)
        if tag == 1:
            return True
        i += 4 + ln
    return False


def _zip64_sizes(extra: bytes, usize: int, csize: int) -> tuple[int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, ln = struct.unpack_from("<HH", extra, i)
        if tag == 1 and ln >= 16:
            return struct.unpack_from("<QQ", extra, i + 4)  # type: ignore[return-value]
        i += 4 + ln
    return usize, csize


# ---------------------------------------------------------------------------------------------------
# streaming: one reader, one thread per consumer, a few reused buffers


def stream(source: ByteSource, consumers: list[Callable[[memoryview, int], None]], *,
           chunk: int = CHUNK, depth: int = DEPTH, progress: Progress | None = None) -> int:
    """Pass every byte of `source`, in order, to each consumer (each in its own thread).

    Buffers are reused: memory is `depth × chunk` whatever the size. The first exception a
    consumer raises stops the stream and is raised here. Returns the bytes read."""
    size = source.size
    chunk = max(1, min(chunk, size or 1))
    free: queue.Queue[bytearray] = queue.Queue()
    for _ in range(depth):
        free.put(bytearray(chunk))
    pending: dict[int, int] = {}
    lock = threading.Lock()
    failed: list[BaseException] = []
    queues: list[queue.Queue[tuple[bytearray, int, int] | None]] = [queue.Queue() for _ in consumers]

    def release(buf: bytearray) -> None:
        with lock:
            pending[id(buf)] -= 1
            done = pending[id(buf)] == 0
        if done:
            free.put(buf)

    def work(consume: Callable[[memoryview, int], None], q: queue.Queue[tuple[bytearray, int, int] | None]
             ) -> None:
        while (item := q.get()) is not None:
            buf, n, pos = item
            try:
                if not failed:
                    consume(memoryview(buf)[:n], pos)
            except BaseException as e:  # handed to the reader, which raises it
                failed.append(e)
            finally:
                release(buf)

    threads = [threading.Thread(target=work, args=(c, q), daemon=True) for c, q in zip(consumers, queues,
                                                                                       strict=True)]
    for t in threads:
        t.start()
    readinto = getattr(source, "readinto_at", None)
    pos = 0
    try:
        while pos < size and not failed:
            buf = free.get()
            want = min(chunk, size - pos)
            if readinto is not None:
                n = readinto(pos, memoryview(buf)[:want])
            else:
                data = source.read_at(pos, want)
                n = len(data)
                buf[:n] = data
            if n == 0:
                free.put(buf)
                raise MckptError(f"truncated while reading: the file ends at byte {pos}, not {size} "
                                 "(did it change during verify?)", path=source.name)
            with lock:
                pending[id(buf)] = len(consumers)
            for q in queues:
                q.put((buf, n, pos))
            pos += n
            if progress is not None:
                progress.advance(n)
    finally:
        for q in queues:
            q.put(None)
        for t in threads:
            t.join()
    if failed:
        raise failed[0]
    return pos


# ---------------------------------------------------------------------------------------------------
# one file


def verify_source(source: ByteSource, *, sha256: str | None = None, sha256_from: str | None = None,
                  progress: Progress | None = None, chunk: int = CHUNK, depth: int = DEPTH,
                  also: Sequence[Consumer] = (), hash_all: bool = False) -> Verdict:
    """Check one checkpoint, reading every byte; `sha256` (with where it comes from) is compared
    with the bytes when given. Problems are returned in the verdict, never raised.

    `also` are more consumers of the same read (`push` uploads the bytes as they are checked), and
    `hash_all` computes the sha256 even with nothing to compare it with (`push` publishes it)."""
    t0 = time.perf_counter()
    v = Verdict(source.name, source.size, expected_sha256=sha256.lower() if sha256 else None,
                sha256_from=sha256_from if sha256 else None)
    try:
        arch = open_archive(source)
    except MckptError as e:
        v.problems.append(e.message)
        v.seconds = time.perf_counter() - t0
        return v
    v.layout = arch.layout
    v.checks.append("the pickle reads with the safe reader")
    # The archive's one byte-range check (shared with the reader's warnings, diff and convert).
    v.tensors = sum(1 for _ in tensor_items(arch.obj))
    v.problems += arch.tensor_problems(limit=20)
    consumers: list[Callable[[memoryview, int], None]] = []
    walk = ZipWalk(arch.members, source.size) if arch.layout == "zip" else None
    if walk is not None:
        v.records = len(arch.members)
        consumers.append(walk.feed)
    hasher = hashlib.sha256() if v.expected_sha256 or hash_all else None
    if hasher is not None:
        consumers.append(lambda buf, pos: hasher.update(buf))
    consumers += also
    if not consumers:
        consumers.append(lambda buf, pos: None)  # still read every byte: a bad sector shows here
    try:
        stream(source, consumers, chunk=chunk, depth=depth, progress=progress)
        if walk is not None:
            walk.finish()
    except _Damaged as e:
        v.problems.insert(0, str(e))
    except MckptError as e:
        v.problems.insert(0, e.message)
    except OSError as e:
        v.problems.insert(0, f"read error: {e.strerror or e}")
    else:
        if walk is not None:
            v.checks.append(f"{v.records} zip records: local headers match the index, CRC-32 and sizes")
        v.checks.append(f"{v.tensors} tensor views inside their storages")
        if hasher is not None:
            v.sha256 = hasher.hexdigest()
            if v.expected_sha256 is None:
                v.checks.append("sha256 computed")
            elif v.sha256 != v.expected_sha256:
                v.problems.append(f"sha256 {v.sha256} differs from {v.expected_sha256} ({v.sha256_from})")
            else:
                v.checks.append(f"sha256 matches {v.sha256_from}")
    v.seconds = time.perf_counter() - t0
    return v


# ---------------------------------------------------------------------------------------------------
# many files


@dataclass(frozen=True)
class Target:
    """One thing to verify: a local path or a URL, and the checksum known for it."""

    spec: str
    url: bool = False
    sha256: str | None = None
    sha256_from: str | None = None


def collect_targets(specs: Iterable[str], *, recursive: bool = False, sha256: str | None = None,
                    known: Callable[[str], tuple[str, str] | None] | None = None,
                    skipped: list[str] | None = None, empty: list[str] | None = None) -> list[Target]:
    """Files, the `.pt` files of folders (and their `paused/`; `recursive` for all below), URLs,
    run uids (the run's newest file, looked up in the folders named beside it, else ./checkpoints).

    `sha256` applies to a single file; `known(path)` may name a checksum for a local file (the
    cache's record of a fetched file); folders the walk did not look into are described in `skipped`,
    folders (local or remote) that hold no `.pt` file are named in `empty`: nothing to verify there
    is an answer, not an error, as for `list`."""
    from .domain.runs import iter_checkpoint_files
    from .locate.targets import Folder, RemoteFile, RemoteFolder, RunUid, expand

    out: list[Target] = []
    named = expand(specs, "verify", remote=True, recursive=recursive)
    for t in named.items:
        if isinstance(t, RemoteFolder):
            out += _folder_targets(t.url, _remote_folder_targets(t.url, recursive), empty)
        elif isinstance(t, RemoteFile):
            out.append(Target(t.url, url=True))
        elif isinstance(t, Folder) and os.path.isdir(t.path):
            files = [Target(e.path) for e in iter_checkpoint_files(t.path, recursive, skipped)]
            out += _folder_targets(t.path, files, empty)
        elif isinstance(t, RunUid):
            # a run uid (or a unique prefix of one): its newest file, as every reading command takes it
            out.append(Target(named.newest_file(t.uid)))
        else:
            out.append(Target(t.path))
    if sha256 is not None:
        if len(out) != 1:
            raise MckptError(f"names one file's checksum, but {len(out)} files are to be verified", param="sha256",
                             hint="verify the files one by one, each with its own checksum")
        out[0] = Target(out[0].spec, out[0].url, sha256, "--sha256")
    elif known is not None:
        out = [t if t.url else Target(t.spec, False, *(known(t.spec) or (None, None))) for t in out]
    return out


def _folder_targets(folder: str, files: list[Target], empty: list[str] | None) -> list[Target]:
    """A folder's files; a folder without any is named in `empty`."""
    if not files and empty is not None:
        empty.append(folder)
    return files


def _remote_folder_targets(spec: str, recursive: bool) -> list[Target]:
    """The `.pt` objects of a remote folder (an object-store prefix or a hub repo folder), each with
    the checksum the listing gives (the hub's lfs.oid), as `list` would find them."""
    from .locate.remote import open_folder

    entries = open_folder(spec).entries(recursive)
    return [Target(e.path, True, e.sha256, "the listing's checksum (LFS oid)" if e.sha256 else None)
            for e in entries]




def verify_target(target: Target, *, progress: Progress | None = None, open_remote: Callable[[str], ByteSource]
                  | None = None, chunk: int = CHUNK, depth: int = DEPTH) -> Verdict:
    """Open `target` (a local file, or a URL through the same byte source as `inspect`) and verify it."""
    try:
        if target.url:
            if open_remote is None:
                from .locate.remote import open_checkpoint_source as _open  # HTTP/object store: only for URLs

                open_remote = _open
            source = open_remote(target.spec)
        else:
            source = FileSource(target.spec)
    except MckptError as e:
        return Verdict(target.spec, problems=[e.message])
    try:
        sha, what = target.sha256, target.sha256_from
        if sha is None and (hub := sha256_of_etag(getattr(source, "linked_etag", None))):
            sha, what = hub, "the hub's checksum (LFS oid)"
        return verify_source(source, sha256=sha, sha256_from=what, progress=progress, chunk=chunk, depth=depth)
    finally:
        source.close()


def verify_all(targets: list[Target], *, workers: int | None = None, progress: Progress | None = None,
               on_done: Callable[[Verdict], None] | None = None, **kw: Any) -> list[Verdict]:
    """Verify `targets` in parallel (`workers` threads; each file streams through its own buffers).

    `on_done` gets the verdicts in the targets' order, each as soon as it and every one before it
    are done: a report prints in the same order on every run, however the threads finish. The
    verdicts come back in that order too."""
    workers = workers or min(4, os.cpu_count() or 1, max(1, len(targets)))
    lock = threading.Lock()
    safe_progress = serialized(progress, lock)
    finished: dict[int, Verdict] = {}
    told = 0  # verdicts handed to on_done so far

    def one(i: int, t: Target) -> Verdict:
        nonlocal told
        v = verify_target(t, progress=safe_progress, **kw)
        if on_done is not None:
            with lock:
                finished[i] = v
                while told in finished:
                    on_done(finished.pop(told))
                    told += 1
        return v

    if workers == 1:
        return [one(i, t) for i, t in enumerate(targets)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, range(len(targets)), targets))


def serialized(progress: Progress | None, lock: Any) -> Progress | None:
    """`progress`, called under `lock`: files verified in parallel report to one bar."""
    return None if progress is None else Locked(progress, lock)
