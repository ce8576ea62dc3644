"""Receive a response body into a file while hashing it, as fast as curl on two cores.

The socket is read with `readinto` into a few reused 256 KiB buffers; a second thread writes each
filled buffer and feeds it to sha256. Both `os.write` and `hashlib` release the GIL on large
buffers, so receiving, writing and hashing overlap instead of taking turns, and memory stays at
a few MiB whatever the file size. Whatever was received is in the file when this returns or
raises (Ctrl-C included), so the next attempt resumes after it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import os
import queue
import signal
import threading
from collections.abc import Callable

from ..errors import MckptError
from ..io.transport import TransientError

# readinto fills a whole buffer before returning: 256 KiB keeps a slow link's progress (and what
# Ctrl-C can lose) small, and is large enough that per-buffer overhead does not show.
CHUNK = 256 << 10
BUFFERS = 16
FLUSH_EVERY = 64 << 20
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _leave_signals_to_main_thread() -> None:
    """Ctrl-C delivered to a helper thread would not interrupt the main thread's blocking recv,
    and the fetch would sit until the socket timeout; so helpers block it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


class _Writer(threading.Thread):
    """Hashes what the file already holds, then writes and hashes each buffer handed over."""

    def __init__(self, fd: int, prefix: int) -> None:
        super().__init__(name="mckpt-writer", daemon=True)
        self.fd = fd
        self.prefix = prefix
        self.flusher = _Flusher(fd)
        self.unflushed = 0
        self.sha = hashlib.sha256()
        self.error: OSError | None = None
        self.free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        self.full: queue.SimpleQueue[tuple[memoryview, int] | None] = queue.SimpleQueue()
        for _ in range(BUFFERS):
            self.free.put(memoryview(bytearray(CHUNK)))

    def run(self) -> None:
        _leave_signals_to_main_thread()
        try:
            self._hash_prefix()
        except OSError as e:
            self.error = e
        while (item := self.full.get()) is not None:
            buf, n = item
            if self.error is None:
                try:
                    self._write(buf[:n])
                    self.sha.update(buf[:n])
                except OSError as e:
                    self.error = e
                self.unflushed += n
                if self.unflushed >= FLUSH_EVERY:
                    self.unflushed = 0
                    self.flusher.wake.set()
            self.free.put(buf)
        self.flusher.stop()

    def _hash_prefix(self) -> None:
        buf = memoryview(bytearray(CHUNK))
        pos = 0
        while pos < self.prefix:
            n = os.preadv(self.fd, [buf[: min(CHUNK, self.prefix - pos)]], pos)
            if n <= 0:
                raise OSError(errno.EIO, "the .part file shrank while resuming")
            self.sha.update(buf[:n])
            pos += n

    def _write(self, data: memoryview) -> None:
        while data:
            n = os.write(self.fd, data)
            data = data[n:]


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
        _leave_signals_to_main_thread()
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


def receive(response: http.client.HTTPResponse, path: os.PathLike[str] | str, offset: int,
            on_bytes: Callable[[int], None]) -> tuple[str, int]:
    """Append the body to `path` (which holds `offset` bytes already); return (sha256, size)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if os.fstat(fd).st_size != offset:
            os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
    except OSError as e:
        raise _write_error(e, path) from None
    writer = _Writer(fd, offset)
    writer.start()
    received = 0
    try:
        while writer.error is None:
            buf = writer.free.get()
            n = response.readinto(buf)
            if not n:
                writer.free.put(buf)
                break
            writer.full.put((buf, n))
            received += n
            on_bytes(n)
    except (OSError, http.client.HTTPException) as e:
        raise TransientError(
            f"connection dropped after {offset + received} bytes ({type(e).__name__})") from None
    finally:
        writer.full.put(None)
        writer.join()
        try:
            if writer.error is None:
                os.fsync(fd)
        except OSError as e:
            writer.error = e
        os.close(fd)
    if writer.error is not None:
        raise _write_error(writer.error, path)
    return writer.sha.hexdigest(), offset + received


def _write_error(e: OSError, path: os.PathLike[str] | str) -> MckptError:
    if e.errno in _DISK_FULL:
        return MckptError("disk full while downloading", path=os.fspath(path),
                          hint="free some space or point MCKPT_CACHE/--cache-dir at a bigger disk; "
                               "the .part file is kept and the next fetch resumes it")
    return MckptError(f"cannot write: {e.strerror or e}", path=os.fspath(path))
