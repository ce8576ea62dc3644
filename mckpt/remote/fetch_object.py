"""`fetch s3://…` (and gs://, az://) with the guarantees of an http(s) fetch, on the same cache.

The object's bytes stream into the cache entry's `.part` (through the same hashing writer as an
http download); a `.part` is resumed with a ranged GET from where it stopped, guarded by If-Match
on the ETag it was started with, so a replaced object means a clean restart, never a spliced file.
The size comes from the store; the sha256 from `--sha256` (object stores give none that covers
every upload). A cached copy whose ETag still matches costs one HEAD request.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from functools import partial
from typing import Any

from ..errors import MckptError
from ..fetch.cache import CachedFile, CacheEntry, PartInfo, cache_root
from ..fetch.download import FetchInterrupted, FetchResult
from ..fetch.options import FetchOptions, given_or_env
from ..fetch.place import destination, place
from ..fetch.stream import CHUNK, receive
from ..io.progress import NoProgress, Progress
from ..io.transport import RESUME_HINT, RetryBudget, TransientError, with_retries
from ..io.urls import Remote, safe_filename
from .aws_config import aws_settings
from .listing import RemoteChanged
from .objstore import ObjectUrl, Store, parse_object_url, store_for

MAX_RESTARTS = 3


def cache_remote(url: str) -> Remote:
    """The cache identity of an object: its store (the S3 endpoint too), bucket and key."""
    u = parse_object_url(url)
    where = (aws_settings().endpoint or "aws") if u.scheme == "s3" else u.scheme
    return Remote(url=u.url, filename=safe_filename(u.key.rsplit("/", 1)[-1]),
                  key=f"{u.scheme}://{where}/{u.bucket}/{u.key}")


def _pieces(chunks: Iterable[Any]) -> Iterator[memoryview]:
    """An object's byte stream as the pieces `receive` takes; a store error mid-stream is a dropped
    connection, which the retry budget resumes after."""
    it = iter(chunks)
    while True:
        try:
            piece = next(it)
        except StopIteration:
            return
        except Exception as e:  # obstore raises builtins and its own BaseError types mid-stream
            raise TransientError(f"the store's stream broke: {str(e).split(chr(10), 1)[0]}") from None
        yield memoryview(piece)


class _ObjectDownload:
    def __init__(self, u: ObjectUrl, store: Store, entry: CacheEntry, opts: FetchOptions,
                 progress: Progress, budget: RetryBudget) -> None:
        self.u, self.store, self.entry, self.opts, self.progress = u, store, entry, opts, progress
        self.transferred = self.resumed_from = 0
        self.budget = budget

    def _on_bytes(self, n: int) -> None:
        self.transferred += n
        self.progress.advance(n)

    def run(self, size: int, etag: str | None) -> CachedFile:
        for _ in range(MAX_RESTARTS + 1):
            try:
                return with_retries(partial(self._attempt, size, etag), self.budget, url=self.u.url)
            except RemoteChanged:
                self.entry.drop_part()
                self.progress.note("the object changed during the download; starting over")
                meta = with_retries(partial(self.store.head, self.u.key), self.budget, url=self.u.url)
                size, etag = int(meta["size"]), meta.get("e_tag")
        raise MckptError("the object kept changing during the download", path=self.u.url, hint="try again later")

    def _attempt(self, size: int, etag: str | None) -> CachedFile:
        info = self.entry.part_info()
        if info is not None and (info.validator != etag or info.total != size or etag is None):
            self.entry.drop_part()  # started from other bytes (or nothing can tell): never splice
            info = None
        offset = self.entry.part.stat().st_size if info else 0
        if info is None or offset > size:
            info = PartInfo(url=self.u.url, validator=etag, linked_etag=None, total=size)
            self.entry.start_part(info)
            offset = 0
        self.resumed_from = offset
        if offset:
            self.progress.note(f"resuming at byte {offset}")
        self.progress.reset(size, offset, self.entry.name)
        chunks = self.store.get(self.u.key, offset, None, etag).stream(min_chunk_size=CHUNK) if offset < size else ()
        try:
            sha, got = receive(_pieces(chunks), self.entry.part, offset, self._on_bytes,
                               limit=size - offset + 1)  # one byte more than announced shows a lie
        finally:
            self.budget.progress(self.entry.part.stat().st_size if self.entry.part.exists() else 0)
        if got < size:
            raise TransientError(f"connection dropped after {got} of {size} bytes")
        if got > size:
            self.entry.drop_part()
            raise MckptError(f"size check failed: received {got} bytes, the store announced {size}; "
                             "the partial file was removed", path=self.u.url)
        wanted = self.opts.sha256.lower() if self.opts.sha256 else None
        if wanted and sha != wanted:
            self.entry.drop_part()
            raise MckptError(f"sha256 check failed: the download hashes to {sha}, {{sha256}} says {wanted}; "
                             "the partial file was removed", path=self.u.url, spelled=True,
                             hint="the object is not the one you expect: check the URL and the checksum")
        return self.entry.store(sha, info, None)


def fetch_object(source: str, options: FetchOptions | None = None, *, output: str | os.PathLike[str] | None = None,
                 force: bool = False, progress: Progress | None = None) -> FetchResult:
    """Download an object-store URL into the cache (resumable, verified) and optionally place it."""
    opts = given_or_env(options)
    rep = progress or NoProgress()
    u = parse_object_url(source)
    if opts.revision is not None:
        raise MckptError("applies to hf:// and hub URLs, not to an object store", path=source, param="revision")
    if not u.key or u.key.endswith("/"):
        raise MckptError("fetch takes one object, not a prefix", path=source,
                         hint=f"see what is there: mckpt list {source}")
    remote = cache_remote(source)
    entry = CacheEntry(cache_root(opts.cache_dir), remote)
    wanted = opts.sha256.lower() if opts.sha256 else None
    transferred = resumed = 0
    try:
        with entry.lock(on_wait=lambda: rep.note("another mckpt is fetching this file; waiting for it")):
            hit = entry.lookup()
            if hit and (opts.offline or (wanted and wanted == hit.sha256)):
                cached, from_cache = hit, True
            elif opts.offline:
                raise MckptError("not in the cache, and offline (HF_HUB_OFFLINE or {offline=True})", path=source,
                                 spelled=True)
            else:
                # One budget for the whole fetch, every request and restart included (refilled only
                # by new bytes), as for http(s): obstore's own retries are off (`max_retries=0`).
                budget = RetryBudget(opts.retries, opts.backoff, RESUME_HINT, rep.note)
                store = store_for(u, max_retries=0)
                meta = with_retries(partial(store.head, u.key), budget, url=u.url)
                size, etag = int(meta["size"]), meta.get("e_tag")
                if hit and etag and hit.validator == etag and hit.size == size:
                    cached, from_cache = hit, True
                else:
                    job = _ObjectDownload(u, store, entry, opts, rep, budget)
                    cached, from_cache = job.run(size, etag), False
                    transferred, resumed = job.transferred, job.resumed_from
    except KeyboardInterrupt:
        raise FetchInterrupted(source, entry.kept()) from None
    if wanted and cached.sha256 != wanted:
        raise MckptError(f"sha256 check failed: the cached copy hashes to {cached.sha256}, {{sha256}} says "
                         f"{wanted}", path=source, spelled=True, hint="the object is not the one you expect")
    path = cached.path
    if output is not None:
        path = os.fspath(place(cached.path, destination(output, remote.filename), size=cached.size,
                               sha256=cached.sha256, force=force))
    return FetchResult(path=path, size=cached.size, sha256=cached.sha256, url=u.url, cache_path=cached.path,
                       revision=None, commit=None, from_cache=from_cache, transferred=transferred,
                       resumed_from=resumed)
