"""Receive a response body into a file while hashing it, keeping up with curl on two cores.

The receiving thread only reads blocks off the connection (512 KiB: see `transport.iter_body`);
a writer thread writes each block and a hasher thread feeds it to sha256, in parallel: both
`os.write` and `hashlib` release the GIL on large buffers, so on two cores receiving, writing and
hashing overlap instead of taking turns (hashing alone is ~1.1 s per GiB of one core, writing into
the page cache ~0.7 s: done one after the other on one thread, they were the bottleneck).
Memory stays at a few MiB (bounded queues of shared, immutable blocks) whatever the file size.
Whatever was received is in the file when this returns or raises (Ctrl-C included), so the next
attempt resumes after it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import queue
import signal
import threading
from collections.abc import Callable, Iterable

from ..errors import MckptError

QUEUED = 32  # blocks in flight (16 MiB at most) between the receiving thread and the writer, the hasher
CHUNK = 1 << 20
FLUSH_EVERY = 64 << 20
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def leave_signals_to_main_thread() -> None:
    """Ctrl-C delivered to a helper thread would not interrupt the main thread's blocking recv,
    and the fetch would sit until the socket timeout; so helpers block it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


class _Consumer(threading.Thread):
    """A helper thread taking the blocks handed over, in order, until None."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.error: OSError | None = None
        self.full: queue.Queue[bytes | None] = queue.Queue(QUEUED)

    def run(self) -> None:
        leave_signals_to_main_thread()
        try:
            self.begin()
        except OSError as e:
            self.error = e
        while (piece := self.full.get()) is not None:
            if self.error is None:
                try:
                    self.take(piece)
                except OSError as e:
                    self.error = e
        self.end()

    def begin(self) -> None:
        pass

    def take(self, piece: bytes) -> None:
        raise NotImplementedError

    def end(self) -> None:
        pass


class _Writer(_Consumer):
    """Appends each block to the file, and has the flusher push pages to disk as they pile up."""

    def __init__(self, fd: int) -> None:
        super().__init__("mckpt-writer")
        self.fd = fd
        self.flusher = _Flusher(fd)
        self.unflushed = 0

    def take(self, piece: bytes) -> None:
        write_all(self.fd, piece)
        self.unflushed += len(piece)
        if self.unflushed >= FLUSH_EVERY:
            self.unflushed = 0
            self.flusher.wake.set()

    def end(self) -> None:
        self.flusher.stop()


class _Hasher(_Consumer):
    """Hashes what the file already holds (a resume), then each block as it comes."""

    def __init__(self, fd: int, prefix: int) -> None:
        super().__init__("mckpt-hash")
        self.fd, self.prefix = fd, prefix
        self.sha = hashlib.sha256()

    def begin(self) -> None:
        hash_file(self.fd, self.sha, 0, self.prefix)

    def take(self, piece: bytes) -> None:
        self.sha.update(piece)


def hash_file(fd: int, sha: hashlib._Hash, start: int, end: int) -> None:
    """Feed bytes `start`..`end` of the file to `sha` (what a resume already holds)."""
    buf = memoryview(bytearray(CHUNK))
    pos = start
    while pos < end:
        n = os.preadv(fd, [buf[: min(CHUNK, end - pos)]], pos)
        if n <= 0:
            raise OSError(errno.EIO, "the .part file shrank while downloading")
        sha.update(buf[:n])
        pos += n


def write_all(fd: int, data: bytes | memoryview, offset: int | None = None) -> None:
    """os.write (or os.pwrite at `offset`) until every byte is out."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view) if offset is None else os.pwrite(fd, view, offset)
        view = view[n:]
        if offset is not None:
            offset += n


class _Flusher(threading.Thread):
    """Pushes written pages to disk while the download goes on, so the final fsync is short.

    A fetch must fsync before the rename (a crash must not leave a named file of zeros); done
    only at the end, that is seconds of idle waiting for a 1 GB file.
    """

    def __init__(self, fd: int) -> None:
        super().__init__(name="mckpt-flusher", daemon=True)
        self.fd = fd
        self.wake = threading.Event()
        self.done = False
        self.start()

    def run(self) -> None:
        leave_signals_to_main_thread()
        while True:
            self.wake.wait()
            self.wake.clear()
            if self.done:
                return
            with contextlib.suppress(OSError):  # the final fsync reports errors
                os.fdatasync(self.fd)

    def stop(self) -> None:
        self.done = True
        self.wake.set()
        self.join()


def receive(pieces: Iterable[bytes], path: os.PathLike[str] | str, offset: int,
            on_bytes: Callable[[int], None], limit: int | None = None,
            enough: Callable[[int], bool] | None = None) -> tuple[str, int]:
    """Append `pieces` to `path` (which holds `offset` bytes already); return (sha256, size).

    At most `limit` bytes are taken (a server sending more than it announced is cut off there,
    and the caller's size check reports it); `enough(size so far)` may end it early (the caller
    then fetches the rest another way). Network errors raised by `pieces` propagate.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if os.fstat(fd).st_size != offset:
            os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
    except OSError as e:
        raise write_error(e, path) from None
    writer, hasher = _Writer(fd), _Hasher(fd, offset)
    helpers = (writer, hasher)
    for t in helpers:
        t.start()
    received = 0
    try:
        for piece in pieces:
            if writer.error is not None or hasher.error is not None:
                break
            if limit is not None and received + len(piece) > limit:
                piece = piece[: limit - received]
            for t in helpers:
                t.full.put(piece)
            received += len(piece)
            on_bytes(len(piece))
            if (limit is not None and received >= limit) or (enough is not None and enough(offset + received)):
                break
    finally:
        for t in helpers:
            t.full.put(None)
        for t in helpers:
            t.join()
        error = writer.error or hasher.error
        try:
            if error is None:
                os.fsync(fd)
        except OSError as e:
            error = e
        os.close(fd)
    if error is not None:
        raise write_error(error, path)
    return hasher.sha.hexdigest(), offset + received


def write_error(e: OSError, path: os.PathLike[str] | str) -> MckptError:
    if e.errno in _DISK_FULL:
        return MckptError("disk full while downloading", path=os.fspath(path),
                          spelled=True, hint="free some space or point MCKPT_CACHE or {cache_dir} at a bigger disk; "
                               "the .part file is kept and the next fetch resumes it")
    return MckptError(f"cannot write: {e.strerror or e}", path=os.fspath(path))
