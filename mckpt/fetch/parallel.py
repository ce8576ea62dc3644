"""A large file over several ranged connections, written at its offsets, hashed in order.

A far CDN caps each connection (tens of MB/s), so one stream cannot fill a fast link: like
hf_transfer, the file is cut into pieces that N threads fetch with `Range` requests, each
`pwrite`-ing at its offset into a `.part` of the final size. A hashing thread follows the
contiguous prefix of done bytes, so when the last piece lands the sha256 is nearly complete.
The first, unranged GET that told the size is closed after its headers; what was already in
flight (socket buffers, a bandwidth-delay product on a real link) is the only byte sent twice.

Which bytes are done is recorded in the `.part.json` (after an fdatasync of the `.part`), so a
resume fetches only the missing ranges. Every piece must come back as a 206 with the same
validator (If-Range, ETag/Last-Modified) and a Content-Range naming exactly the piece and the
total; anything else means the file changed, and the caller starts over rather than splice.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable

from ..errors import MckptError
from ..io.http_source import CONTENT_RANGE
from ..io.transport import Http, RetryBudget, TransientError, iter_body
from .stream import hash_file, leave_signals_to_main_thread, write_all, write_error

PIECE = 16 << 20
MIN_PIECE = 1 << 20
SAVE_EVERY = 64 << 20


class Restart(Exception):
    """The `.part` does not match the source any more: drop it and begin again."""


class Ranges:
    """Done byte ranges [start, end), kept merged and sorted."""

    def __init__(self, spans: list[list[int]] | None = None) -> None:
        self.spans: list[list[int]] = []
        for a, b in spans or []:
            self.add(a, b)

    def add(self, a: int, b: int) -> None:
        if a >= b:
            return
        out: list[list[int]] = []
        for s, e in self.spans:
            if e < a or s > b:
                out.append([s, e])
            else:
                a, b = min(a, s), max(b, e)
        out.append([a, b])
        self.spans = sorted(out)

    def prefix(self) -> int:
        return self.spans[0][1] if self.spans and self.spans[0][0] == 0 else 0

    def done(self) -> int:
        return sum(e - s for s, e in self.spans)

    def missing(self, total: int, piece: int = PIECE) -> list[tuple[int, int]]:
        """The gaps up to `total`, cut into pieces of at most `piece` bytes."""
        gaps, pos = [], 0
        for s, e in [*self.spans, [total, total]]:
            gaps += [(a, min(a + piece, s)) for a in range(pos, s, piece)]
            pos = max(pos, e)
        return gaps


class ParallelDownload:
    """Fetch the missing ranges of `fd` (a file of `total` bytes) from `url` on `connections` threads."""

    def __init__(self, http: Http, url: str, *, total: int, validator: str, fd: int, ranges: Ranges,
                 connections: int, budget: RetryBudget, on_bytes: Callable[[int], None],
                 save: Callable[[list[list[int]]], None]) -> None:
        self.http, self.url, self.total, self.validator = http, url, total, validator
        # The threads' own descriptor: closed only once they have all ended, so a thread still
        # blocked in a read after Ctrl-C can never write into a file that reused the number.
        self.fd = os.dup(fd)
        self.ranges, self.connections, self.budget = ranges, connections, budget
        self.on_bytes, self.save = on_bytes, save
        self.lock = threading.Condition()
        self.stop = False
        self.error: BaseException | None = None
        self.sha = hashlib.sha256()
        self.hashed = 0
        self.work: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()

    def run(self) -> str:
        """Download, hash; return the sha256. Ctrl-C stops every thread and keeps what is done."""
        # Pieces small enough that every connection gets several (the prefix the hasher follows
        # grows steadily), large enough that per-request costs vanish: 1-16 MiB.
        size = min(PIECE, max(MIN_PIECE, self.total // (self.connections * 4)))
        for piece in self.ranges.missing(self.total, size):
            self.work.put(piece)
        workers = [threading.Thread(target=self._worker, name=f"mckpt-range-{i}", daemon=True)
                   for i in range(self.connections)]
        hasher = threading.Thread(target=self._hasher, name="mckpt-hash", daemon=True)
        for t in [*workers, hasher]:
            t.start()
        saved = self.ranges.done()
        try:
            while any(t.is_alive() for t in workers):
                with self.lock:
                    self.lock.wait(0.2)
                    done = self.ranges.done()
                if done - saved >= SAVE_EVERY:
                    self._checkpoint()
                    saved = done
        finally:
            with self.lock:
                self.stop = self.stop or self.error is not None or self.ranges.done() < self.total
                self.lock.notify_all()
            for t in workers:
                t.join(timeout=2)
            self._checkpoint()
            if self.stop:
                hasher.join(timeout=2)
                if not any(t.is_alive() for t in [*workers, hasher]):
                    os.close(self.fd)
        if self.error is not None:
            raise self.error
        if self.stop:  # every thread ended, yet bytes are missing: the next attempt fetches them
            raise TransientError(f"the download stopped at {self.ranges.done()} of {self.total} bytes")
        hasher.join()
        os.close(self.fd)
        if self.error is not None:
            raise self.error
        return self.sha.hexdigest()

    def _checkpoint(self) -> None:
        with contextlib.suppress(OSError):  # the final fsync reports errors
            os.fdatasync(self.fd)
        with self.lock:
            spans = [list(s) for s in self.ranges.spans]
        self.save(spans)

    def _fail(self, error: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = error
            self.stop = True
            self.lock.notify_all()

    def _worker(self) -> None:
        leave_signals_to_main_thread()
        try:
            while not self.stop:
                try:
                    a, b = self.work.get_nowait()
                except queue.Empty:
                    return
                while a < b and not self.stop:
                    try:
                        a = self._fetch(a, b)
                    except TransientError as e:
                        with self.lock:
                            done = self.ranges.done()
                        self.budget.progress(done)
                        self.budget.spend(e, self.url)
        except BaseException as e:  # handed to the main thread, which raises it
            self._fail(e)

    def _fetch(self, a: int, b: int) -> int:
        """GET bytes a..b-1 into the file; return how far it got (b, or less after a drop)."""
        headers = {"Range": f"bytes={a}-{b - 1}", "If-Range": self.validator}
        reply = self.http.open("GET", self.url, headers)
        pos = a
        try:
            if reply.status != 206:
                raise Restart(f"a range request got HTTP {reply.status}: the file changed on the server")
            m = CONTENT_RANGE.fullmatch(reply.header("Content-Range") or "")
            if not m or (int(m[1]), int(m[2]), m[3]) != (a, b - 1, str(self.total)):
                raise Restart(f"the server answered bytes {a}-{b - 1} with Content-Range "
                              f"{reply.header('Content-Range')!r}")
            got = reply.header("ETag") or reply.header("Last-Modified")
            if got != self.validator:
                raise Restart("a range came with another validator: the file changed on the server")
            if (enc := reply.header("Content-Encoding")) and enc.lower() != "identity":
                raise MckptError(f"the server sent a {enc}-encoded range; refusing to store it", path=self.url)
            # Read to the body's end (not just to byte b): only then does the connection go back
            # to the pool for the next piece, sparing a handshake and TCP's slow start each time.
            for chunk in iter_body(reply, self.url):
                if self.stop or pos >= b:  # more than the range asked for: cut off
                    break
                piece = chunk[: b - pos]
                write_all(self.fd, piece, pos)
                with self.lock:
                    self.ranges.add(pos, pos + len(piece))
                    self.on_bytes(len(piece))
                    self.lock.notify_all()
                pos += len(piece)
        except OSError as e:
            raise write_error(e, self.url) from None
        finally:
            self.http.discard(reply)
        if pos < b and not self.stop:
            raise TransientError(f"a range ended after {pos - a} of {b - a} bytes")
        return pos

    def _hasher(self) -> None:
        leave_signals_to_main_thread()
        try:
            while self.hashed < self.total:
                with self.lock:
                    while self.ranges.prefix() <= self.hashed and not self.stop:
                        self.lock.wait(0.5)
                    if self.stop and self.ranges.prefix() <= self.hashed:
                        return
                    end = self.ranges.prefix()
                hash_file(self.fd, self.sha, self.hashed, end)
                self.hashed = end
        except OSError as e:
            self._fail(write_error(e, self.url))
