"""Objects written to `s3://`, `gs://`, `az://` by obstore: whole or not at all, never over another.

A small object is one PUT with `If-None-Match: *` (obstore's `mode="create"`), so a name taken
meanwhile is refused by the store itself. A large one is a multipart upload fed from the read
that verifies the file: parts go out while the file is checked, and the upload is completed only
once the check passed and a HEAD found the name still free (object stores have no conditional
multipart completion in obstore; the window is the HEAD's round trip). Anything else (a damaged
file, a refused part, Ctrl-C) aborts the upload, and a multipart upload that is not completed is
never visible as an object.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from typing import Any

from ..errors import MckptError, NotFound
from ..remote.objstore import ObjectUrl, Store, store_for
from .dest import Destination

SINGLE_PUT_MAX = 8 << 20  # up to this size one conditional PUT (held in memory), above it multipart
PART = 10 << 20  # multipart part size: ~100 parts per GiB (moto joins many small parts slowly)
CONCURRENCY = 2  # parts in flight: memory is about PART × (CONCURRENCY + 1)
QUEUE = 2  # read blocks waiting for the uploader
WITHDRAW_WAIT = 15.0  # seconds Ctrl-C waits for the upload to be aborted (a stalled one may never answer)


class Taken(MckptError):
    """A remote name that already holds a file (refused without --force)."""


class _Abort(Exception):
    """Raised into obstore's upload to abort it."""


class StoreTarget:
    """One destination prefix in one bucket."""

    def __init__(self, dest: Destination) -> None:
        self.dest = dest
        self.store: Store = store_for(ObjectUrl(dest.scheme, dest.bucket, dest.folder))

    def etag(self, name: str) -> str | None:
        """The ETag of the object called `name` under the prefix, or None when there is none."""
        try:
            return self.store.head(self.dest.path(name)).get("e_tag") or ""
        except NotFound:
            return None

    def existing(self, names: list[str]) -> dict[str, str]:
        """{name: etag} of the `names` already there."""
        return {n: e for n in names if (e := self.etag(n)) is not None}

    def get_text(self, name: str) -> str:
        key = self.dest.path(name)
        return bytes(self.store._call(_get_all, key, self.store.store, key)).decode("utf-8", "replace")

    def put_bytes(self, name: str, data: bytes, *, force: bool, replace_etag: str | None = None) -> None:
        """One PUT: only where nothing is (or over exactly `replace_etag`), unless `force`."""
        import obstore

        key = self.dest.path(name)
        mode: Any = "overwrite" if force else {"e_tag": replace_etag} if replace_etag else "create"
        try:
            obstore.put(self.store.store, key, data, mode=mode, use_multipart=False)
        except Exception as e:
            raise self._put_error(e, name) from None

    def _put_error(self, e: BaseException, name: str) -> MckptError:
        kind = type(e).__name__
        if kind == "AlreadyExistsError" or "PreconditionFailed" in str(e) or kind == "PreconditionError":
            return Taken("already exists (or changed meanwhile); not overwritten", path=self.dest.fetch_url(name),
                         hint="pass --force to replace it")
        return self.store.error(e, self.dest.path(name))

    def uploader(self, name: str, size: int, *, force: bool) -> Uploader:
        return Uploader(self, name, size, force)


def _get_all(store: Any, key: str) -> Any:
    import obstore

    return obstore.get(store, key).bytes()


class Uploader:
    """Receives a file's bytes in order (`feed`, a consumer of `verify.stream`), uploads them, and
    publishes the object at `finish(True)`; `finish(False)` (or an error) leaves nothing."""

    def __init__(self, target: StoreTarget, name: str, size: int, force: bool) -> None:
        self.target, self.name, self.size, self.force = target, name, size, force
        self.small = size <= SINGLE_PUT_MAX
        self.body = bytearray() if self.small else None
        self.queue: queue.Queue[bytes | None] = queue.Queue(QUEUE)
        self.verdict: queue.Queue[bool] = queue.Queue(1)
        self.error: BaseException | None = None
        self.cancelled = False  # Ctrl-C: abort, and take back an object that got completed anyway
        self.published: str | None = None  # the ETag of the object the upload completed
        self.thread: threading.Thread | None = None
        if not self.small:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()

    def feed(self, buf: memoryview, pos: int) -> None:
        if self.body is not None:
            self.body += buf
            return
        if self.error is not None:
            raise _Stopped(self.error)
        self.queue.put(bytes(buf))  # copied: the read buffer is reused as soon as this returns

    def _chunks(self) -> Any:
        while (item := self.queue.get()) is not None:
            if self.cancelled:
                raise _Abort("interrupted")
            yield item
        if not self.verdict.get() or self.cancelled:
            raise _Abort("the file failed its check")
        if not self.force and self._taken_now():
            self.error = Taken("appeared while uploading; not overwritten", path=self.target.dest.fetch_url(self.name),
                               hint="pass --force to replace it")
            raise _Abort("taken")

    def _taken_now(self) -> bool:
        """A HEAD of the name, from another thread: obstore cannot be called from inside its own put."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(self.target.etag, self.name).result() is not None

    def _run(self) -> None:
        import obstore

        try:
            put = obstore.put(self.target.store.store, self.target.dest.path(self.name), self._chunks(),
                              use_multipart=True, chunk_size=PART, max_concurrency=CONCURRENCY)
            self.published = put.get("e_tag") or ""
        except BaseException as e:
            if self.error is None:
                self.error = self.target._put_error(e, self.name)
            while self.queue.get() is not None:  # let a feeding reader finish
                pass

    def finish(self, ok: bool) -> None:
        """Publish the object when `ok` (the file passed), else abort; raises what went wrong."""
        if self.body is not None:
            if ok:
                self.target.put_bytes(self.name, bytes(self.body), force=self.force)
            return
        assert self.thread is not None
        try:
            if self.thread.is_alive():
                self.queue.put(None)
                self.verdict.put(ok)
            self.thread.join()
        except KeyboardInterrupt:
            self._withdraw()
            raise
        if ok and self.error is not None:
            raise self.error if isinstance(self.error, MckptError) else MckptError(str(self.error))


    def _withdraw(self) -> None:
        """Ctrl-C while the upload ends: abort it, or if the store completed it meanwhile, delete the
        object this push created (unless it replaced one with --force: then it stays, whole)."""
        import obstore

        self.cancelled = True
        with contextlib.suppress(queue.Full):
            self.verdict.put_nowait(False)
        assert self.thread is not None
        # Wake a generator (or the drain after an abort) waiting for a block. Bounded: on a stalled
        # connection the upload thread may never return, and Ctrl-C must not hang; a multipart upload
        # left open then is never an object (nothing half-published), and a second Ctrl-C ends the
        # wait at once.
        give_up = time.monotonic() + WITHDRAW_WAIT
        while self.thread.is_alive() and time.monotonic() < give_up:
            with contextlib.suppress(queue.Full):
                self.queue.put(None, timeout=0.1)
            self.thread.join(0.1)
        if self.published is not None and not self.force and self.target.etag(self.name) == self.published:
            obstore.delete(self.target.store.store, self.target.dest.path(self.name))


class _Stopped(Exception):
    """The upload failed: the read that feeds it stops (raised through `verify.stream`)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause
