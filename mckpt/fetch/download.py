"""`fetch`: download a hub or http(s) file into the cache, resuming and verifying, never half a file.

One fetch is a loop of attempts under the cache entry's lock. Each attempt asks for the bytes the
`.part` lacks (`Range` + `If-Range`), streams them in (see `stream.py`; large files over several
connections, see `parallel.py`), and checks size, Git LFS pointer, HTML and sha256 before the file
gets its final name. Anything that says the `.part` no longer matches the source (a 200 to a range
request, a 206 without the `.part`'s validator or with a Content-Range that does not match the
request and the total, a new X-Linked-Etag) throws the `.part` away and starts over: a spliced
file is never produced. Transient failures (dropped connections, timeouts, 5xx) are retried with
backoff from one budget for the whole fetch, refilled only by bytes beyond any held before, so a
server that keeps sending the same wrong answer cannot loop it forever.
"""

from __future__ import annotations

import itertools
import os
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ..choices import sha256_of_etag
from ..errors import MckptError
from ..io.hfhub import cached_blob
from ..io.http_source import CONTENT_RANGE
from ..io.progress import NoProgress, Progress
from ..io.transport import (
    BULK_READ,
    REDIRECTS,
    RESUME_HINT,
    Http,
    Reply,
    RetryBudget,
    TransientError,
    iter_body,
    status_error,
    with_retries,
)
from ..io.urls import Remote, hub_endpoint, origin, parse_source
from ..torchfile.archive import LFS_POINTER
from .cache import CachedFile, CacheEntry, PartInfo, cache_root, mark_used
from .options import FetchOptions, given_or_env
from .parallel import ParallelDownload, Ranges, Restart
from .place import destination, place
from .policy import AUTO_CONNECTIONS, SlowStream
from .stream import receive, write_all

MAX_RESTARTS = 3
PROBE = 8 << 20  # a fresh download's first request asks for this many bytes


@dataclass
class FetchResult:
    """Where the file is and what is known about it (the `fetch --json` document)."""

    path: str
    size: int
    sha256: str
    url: str
    cache_path: str
    revision: str | None
    commit: str | None
    from_cache: bool
    transferred: int
    resumed_from: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)




def _int(value: str | None) -> int | None:
    return int(value) if value and value.isascii() and value.isdigit() else None


def _refuse_body(reply: Reply, first: bytes, name: str) -> None:
    """An encoded body or a web page is never stored as the file."""
    enc = (reply.header("Content-Encoding") or "identity").strip().lower()
    if enc != "identity":
        raise MckptError(f"the server sent a {enc}-encoded body although mckpt asked for identity; "
                         "nothing was stored", path=name, hint="the server or a proxy compresses downloads: "
                                                               "fetch the file from another URL")
    ctype = (reply.header("Content-Type") or "").split(";")[0].strip().lower()
    head = first[:200].lstrip().lower()
    if ctype in ("text/html", "application/xhtml+xml") or head.startswith((b"<!doctype html", b"<html")):
        raise MckptError(f"the server sent a web page (HTTP {reply.status}, {ctype or 'HTML'}), not the file; "
                         "nothing was stored", path=name,
                         hint="a login, error or `blob/` page? use the file's direct URL (on the hub: "
                              "resolve/ or hf://owner/repo/path)")


class _Download:
    def __init__(self, remote: Remote, entry: CacheEntry, options: FetchOptions, progress: Progress) -> None:
        self.remote = remote
        self.entry = entry
        self.opts = options
        self.progress = progress
        endpoint = hub_endpoint(options.endpoint)
        self.hub = origin(remote.url) == origin(endpoint)
        self.connections = max(1, options.connections or AUTO_CONNECTIONS)
        self.http = Http(token=options.token, token_origin=origin(endpoint), timeout=options.timeout,
                         connections=self.connections)
        self.budget = RetryBudget(options.retries, options.backoff, RESUME_HINT, progress.note)
        self.hit = entry.lookup()
        self.transferred = 0
        self.resumed_from = 0
        self.probed: int | None = None  # where this fetch's own first piece ended
        self.retried_mismatch = False
        # a fresh download's first request asks for its first bytes only, when it may go parallel
        self.probe = self.connections > 1
        self.hf_blob: tuple[Path, str] | Literal[False] | None = None  # in huggingface_hub's cache?

    def _on_bytes(self, n: int) -> None:
        self.transferred += n
        self.progress.advance(n)

    def run(self) -> tuple[CachedFile, bool]:
        try:
            for _ in range(MAX_RESTARTS + 1):
                try:
                    return with_retries(self._attempt, self.budget, url=self.remote.url)
                except Restart as e:
                    self.entry.drop_part()
                    self.progress.note(f"{e}; starting over")
            raise MckptError("the file kept changing during the download", path=self.remote.url,
                             hint="try again later")
        finally:
            self.http.close()

    def _stop(self, info: PartInfo | None) -> Callable[[Reply], bool]:
        def stop(reply: Reply) -> bool:
            linked = sha256_of_etag(reply.headers.get("X-Linked-Etag"))
            if linked is not None and self.remote.repo is not None and self.hf_blob is None:
                self.hf_blob = cached_blob(self.remote, linked) or False  # hashed once per fetch
            return linked is not None and (
                (self.hit is not None and linked == self.hit.sha256)
                or (info is not None and linked != sha256_of_etag(info.linked_etag))
                or bool(self.hf_blob))
        return stop

    def _attempt(self) -> tuple[CachedFile, bool]:
        info = self.entry.part_info()
        if info and info.ranges is not None:
            return self._resume_parallel(info)
        offset = self.entry.part.stat().st_size if info else 0
        if info and offset and not info.validator and not self._expected(info.linked_etag):
            self.entry.drop_part()  # nothing could tell a changed source: do not splice
            info, offset = None, 0
        headers: dict[str, str] = {}
        if info and offset:
            headers["Range"] = f"bytes={offset}-"
            if info.validator:
                headers["If-Range"] = info.validator
        else:
            if self.probe:
                headers["Range"] = f"bytes=0-{self._probe_size() - 1}"
            if self.hit and self.hit.validator:
                etag = self.hit.validator.startswith(('"', "W/"))
                headers["If-None-Match" if etag else "If-Modified-Since"] = self.hit.validator
        reply = self.http.open("GET", self.remote.url, headers, stop=self._stop(info))
        try:
            return self._receive(reply, info, offset)
        finally:
            self.http.discard(reply)

    def _expected(self, linked: str | None) -> tuple[str, str] | None:
        """(sha256, what said so) the download must hash to, if anyone says."""
        if self.opts.sha256:
            return self.opts.sha256.lower(), "--sha256"
        if (sha := sha256_of_etag(linked)) is not None:
            return sha, "the hub's X-Linked-Etag"
        return None

    def _settled(self, reply: Reply) -> tuple[CachedFile, bool] | None:
        """A redirect `stop` ended at the hub: the cache, or huggingface_hub's, already has the file."""
        linked = sha256_of_etag(reply.hub_headers.get("X-Linked-Etag"))
        if self.hit and linked == self.hit.sha256:
            return self.hit, True
        if self.hf_blob and self.hf_blob[1] == linked:
            self.progress.note("found in the huggingface_hub cache; not downloading it again")
            info = PartInfo(url=self.remote.url, validator=None, linked_etag=linked, total=None)
            path, sha = self.hf_blob
            return self.entry.adopt(path, sha, info, reply.hub_headers.get("X-Repo-Commit")), True
        return None

    def _receive(self, reply: Reply, info: PartInfo | None, offset: int) -> tuple[CachedFile, bool]:
        hub = reply.hub_headers
        linked = hub.get("X-Linked-Etag")
        status = reply.status
        if status in REDIRECTS:  # `stop` ended the chain at the hub
            if (settled := self._settled(reply)) is not None:
                return settled
            raise Restart("the file changed on the hub since the .part was started")
        if status == 304 and self.hit:
            return self.hit, True
        if status == 416:
            raise Restart("the server refused the resume range")
        if status not in (200, 206):
            raise status_error(reply, self.remote.url, self.hub, token_flag=True)
        validator = reply.header("ETag") or reply.header("Last-Modified")
        announced = _int(hub.get("X-Linked-Size"))
        commit = hub.get("X-Repo-Commit")
        if status == 206 and info is None:
            return self._first_piece(reply, validator, announced, linked)
        if status == 206:
            m = CONTENT_RANGE.fullmatch(reply.header("Content-Range") or "")
            total = _int(m[3]) if m else None
            if info is None or not m or int(m[1]) != offset or total is None or int(m[2]) != total - 1:
                raise Restart(f"the server answered the resume from byte {offset} with Content-Range "
                              f"{reply.header('Content-Range')!r}")
            if (info.total is not None and total != info.total) or (announced is not None and total != announced):
                raise Restart("the file's size changed since the .part was started")
            if info.validator and validator != info.validator:
                raise Restart("the resumed bytes carry another validator (ETag/Last-Modified) than the .part")
        else:
            if offset:
                self.progress.note("the server sent the whole file (range ignored or file changed)")
            offset = 0
            total = announced or _int(reply.header("Content-Length"))
            info = PartInfo(url=self.remote.url, validator=validator, linked_etag=linked, total=total)
        expected_size = announced or total
        limit = expected_size - offset + 1 if expected_size is not None else None
        slow = None
        if status == 206 and self.opts.connections is None and self._parallel_fits(reply, total, validator):
            slow = SlowStream(total, worth=self.opts.parallel_min // 2, mark=offset, block=BULK_READ,
                              min_rate=self.opts.min_rate, window=self.opts.rate_window)
        sha, size = self._stream(reply, info, offset, expected_size, limit, fresh=status == 200, enough=slow)
        if slow is not None and slow.fired:  # too slow alone: ranged connections fetch the rest
            self.progress.note(f"one stream ran at {slow.rate / 1e6:.0f} MB/s: fetching the rest over "
                               f"{self.connections} connections")
            self.http.discard(reply)
            info.ranges = [[0, size]]
            self.entry.save_part_info(info)
            return self._parallel(info, reply.url, commit)
        framed = _int(reply.header("Content-Length")) is not None
        self._verify(sha, size, expected_size, linked, complete=framed)
        return self.entry.store(sha, info, commit), False

    def _probe_size(self) -> int:
        """A fresh download asks for its first bytes only: small files come whole in one answer,
        large ones tell their size and validator without sending bytes that are not wanted yet."""
        return max(1, min(PROBE, self.opts.parallel_min))

    def _first_piece(self, reply: Reply, validator: str | None, announced: int | None,
                     linked: str | None) -> tuple[CachedFile, bool]:
        """The 206 to a fresh download's probe: the whole file, the start of one stream, or the first
        piece of a parallel download."""
        m = CONTENT_RANGE.fullmatch(reply.header("Content-Range") or "")
        total = _int(m[3]) if m else None
        if not m or total is None or int(m[1]) != 0 or int(m[2]) != min(total, self._probe_size()) - 1 or (
                announced is not None and total != announced):
            raise Restart(f"the server answered bytes 0-{self._probe_size() - 1} with Content-Range "
                          f"{reply.header('Content-Range')!r}")
        end = int(m[2]) + 1
        info = PartInfo(url=self.remote.url, validator=validator, linked_etag=linked, total=total)
        commit = reply.hub_headers.get("X-Repo-Commit")
        if end < total and self.opts.connections is not None and self._parallel_fits(reply, total, validator):
            info.ranges = []
            return self._parallel(info, reply.url, commit, first=reply)
        if end < total and not validator and not self._expected(linked):
            # nothing would tell a changed file at the resume: ask for the whole file instead
            self.http.discard(reply)
            self.probe = False
            return self._attempt()
        sha, size = self._stream(reply, info, 0, total, end, fresh=True)
        if size < total:  # one stream: the rest comes with a resume (Range + If-Range)
            if size < end and _int(reply.header("Content-Length")) is None:
                raise TransientError(f"connection dropped after {size} bytes")
            self.probed = size
            return self._attempt()
        self._verify(sha, size, total, linked, complete=True)
        return self.entry.store(sha, info, commit), False

    def _stream(self, reply: Reply, info: PartInfo, offset: int, expected_size: int | None,
                limit: int | None, fresh: bool,
                enough: Callable[[int], bool] | None = None) -> tuple[str, int]:
        """Refuse a web page or an encoded body, then append the body to the `.part`."""
        pieces = iter_body(reply, self.remote.url, bulk=True)
        first = next(pieces, b"")
        _refuse_body(reply, first if offset == 0 else b"", self.remote.url)
        if fresh:
            self.entry.start_part(info)
        if offset != self.probed:  # going on after this fetch's own first piece is no resume
            self.resumed_from = offset
            if offset:
                self.progress.note(f"resuming at byte {offset}")
        self.progress.reset(expected_size, offset, self.remote.filename)
        try:
            return receive(itertools.chain([first], pieces), self.entry.part, offset, self._on_bytes, limit,
                           enough)
        finally:
            self.budget.progress(self.entry.part.stat().st_size if self.entry.part.exists() else 0)

    def _parallel_fits(self, reply: Reply, total: int | None, validator: str | None) -> bool:
        strong = validator is not None and not validator.startswith("W/")
        return (self.connections > 1 and total is not None and total >= self.opts.parallel_min
                and (reply.header("Accept-Ranges") or "").lower() == "bytes" and strong
                and (reply.header("Content-Encoding") or "identity").lower() == "identity"
                and not (reply.header("Content-Type") or "").lower().startswith("text/html"))

    def _resume_parallel(self, info: PartInfo) -> tuple[CachedFile, bool]:
        """Ask again where the bytes are now (the CDN URL may be signed) and that they did not change."""
        reply = self.http.open("GET", self.remote.url, {"Range": "bytes=0-0"}, stop=self._stop(info))
        try:
            if reply.status in REDIRECTS:
                if (settled := self._settled(reply)) is not None:
                    return settled
                raise Restart("the file changed on the hub since the .part was started")
            if reply.status not in (200, 206):
                raise status_error(reply, self.remote.url, self.hub, token_flag=True)
            m = CONTENT_RANGE.fullmatch(reply.header("Content-Range") or "")
            validator = reply.header("ETag") or reply.header("Last-Modified")
            if reply.status != 206 or not m or _int(m[3]) != info.total or validator != info.validator:
                raise Restart("the file on the server is not the one the .part holds pieces of")
        finally:
            self.http.discard(reply)
        self.resumed_from = sum(e - s for s, e in info.ranges or [])
        self.progress.note(f"resuming: {self.resumed_from} of {info.total} bytes already here")
        return self._parallel(info, reply.url, reply.hub_headers.get("X-Repo-Commit"))

    def _parallel(self, info: PartInfo, url: str, commit: str | None,
                  first: Reply | None = None) -> tuple[CachedFile, bool]:
        """Fetch the missing ranges over several connections; `first` is the probe's 206, kept as
        the first piece."""
        assert info.total is not None and info.validator is not None and info.ranges is not None
        if not self.entry.part.exists() or not info.ranges:
            self.entry.start_part(info)
        ranges = Ranges(info.ranges)
        self.progress.reset(info.total, ranges.done(), self.remote.filename)

        def save(spans: list[list[int]]) -> None:
            info.ranges = spans
            self.entry.save_part_info(info)

        fd = os.open(self.entry.part, os.O_RDWR)
        try:
            if first is not None:
                try:
                    self._first_into(first, fd, ranges)
                finally:
                    save(ranges.spans)
                    self.budget.progress(ranges.done())
            job = ParallelDownload(self.http, url, total=info.total, validator=info.validator, fd=fd,
                                   ranges=ranges, connections=self.connections, budget=self.budget,
                                   on_bytes=self._on_bytes, save=save)
            sha = job.run()
            os.fsync(fd)
        finally:
            os.close(fd)
        self._verify(sha, info.total, info.total, info.linked_etag, complete=True)
        return self.entry.store(sha, info, commit), False

    def _first_into(self, reply: Reply, fd: int, ranges: Ranges) -> None:
        pieces = iter_body(reply, self.remote.url, bulk=True)
        head = next(pieces, b"")
        _refuse_body(reply, head, self.remote.url)
        pos, end = 0, int(CONTENT_RANGE.fullmatch(reply.header("Content-Range") or "")[2]) + 1  # type: ignore[index]
        for chunk in itertools.chain([head], pieces):
            piece = chunk[: end - pos]
            write_all(fd, piece, pos)
            ranges.add(pos, pos + len(piece))
            self._on_bytes(len(piece))
            pos += len(piece)
            if pos >= end:
                break

    def _verify(self, sha: str, size: int, expected_size: int | None, linked: str | None,
                complete: bool) -> None:
        """`complete`: the body ended as its own framing said (not a dropped connection)."""
        name = self.remote.url
        if size < 1024 and self.entry.part.read_bytes().startswith(LFS_POINTER):
            self.entry.drop_part()
            raise MckptError(f"the server sent a Git LFS pointer ({size} bytes), not the file", path=name,
                             hint="the bytes live in LFS storage: use the hub's resolve/ URL, or run "
                                  "`git lfs pull` where the file is hosted")
        if expected_size is not None and size < expected_size:
            if not complete:
                raise TransientError(f"connection dropped after {size} of {expected_size} bytes")
            self.entry.drop_part()
            raise MckptError(f"size check failed: the server sent a complete answer of {size} bytes, the hub "
                             f"announced {expected_size}; nothing was stored", path=name,
                             hint="the CDN serves something else than the hub describes: try again later")
        if expected_size is not None and size > expected_size:
            self.entry.drop_part()
            raise MckptError(f"size check failed: received more than the {expected_size} bytes the server "
                             "announced; the partial file was removed", path=name)
        expected = self._expected(linked)
        if expected and expected[0] != sha:
            self.entry.drop_part()
            if self.resumed_from and not self.retried_mismatch:
                self.retried_mismatch = True
                raise Restart("sha256 check failed after a resume")
            raise MckptError(f"sha256 check failed: the download hashes to {sha}, {expected[1]} "
                             f"says {expected[0]}; the partial file was removed", path=name,
                             hint="the source changed or sent damaged bytes; check the URL and "
                                  "the expected checksum, then try again")


def fetch(source: str, options: FetchOptions | None = None, *, output: str | os.PathLike[str] | None = None,
          force: bool = False, progress: Progress | None = None) -> FetchResult:
    """Download `source` (URL or hf://) into the cache and optionally place it at `output`.

    Safe to run concurrently: fetches of one file wait for each other and then reuse the result.
    """
    opts = given_or_env(options)
    rep = progress or NoProgress()
    remote = parse_source(source, opts.endpoint, opts.revision)
    entry = CacheEntry(cache_root(opts.cache_dir), remote)
    try:
        with entry.lock(on_wait=lambda: rep.note("another mckpt is fetching this file; waiting for it")):
            cached, from_cache, transferred, resumed = _fetch_locked(remote, entry, opts, rep)
            if from_cache:
                mark_used(entry)
    except KeyboardInterrupt:
        raise FetchInterrupted(source, entry.kept()) from None
    wanted = opts.sha256.lower() if opts.sha256 else None
    if wanted and cached.sha256 != wanted:  # a download is checked while streaming; a cached copy here
        raise MckptError(f"sha256 check failed: the cached copy hashes to {cached.sha256}, {{sha256}} says "
                         f"{wanted}", path=remote.url, spelled=True,
                         hint="the file upstream is not the one you expect: check the URL, the revision and "
                              "the checksum")
    path = cached.path
    if output is not None:
        path = os.fspath(place(cached.path, destination(output, remote.filename), size=cached.size,
                               sha256=cached.sha256, force=force))
    return FetchResult(path=path, size=cached.size, sha256=cached.sha256, url=remote.url,
                       cache_path=cached.path, revision=remote.revision, commit=cached.commit,
                       from_cache=from_cache, transferred=transferred, resumed_from=resumed)


def _fetch_locked(remote: Remote, entry: CacheEntry, opts: FetchOptions,
                  rep: Progress) -> tuple[CachedFile, bool, int, int]:
    hit = entry.lookup()
    wanted = opts.sha256.lower() if opts.sha256 else None
    if hit and (opts.offline or remote.pinned or wanted == hit.sha256):
        return hit, True, 0, 0
    if hit is None and (opts.offline or remote.pinned) and (blob := cached_blob(remote)):
        # huggingface_hub already downloaded this revision: its snapshot needs no network
        rep.note("found in the huggingface_hub cache; not downloading it again")
        info = PartInfo(url=remote.url, validator=None, linked_etag=blob[1], total=None)
        commit = remote.revision if remote.pinned else None
        return entry.adopt(blob[0], blob[1], info, commit), True, 0, 0
    if opts.offline:
        raise MckptError("not in the cache, and offline (HF_HUB_OFFLINE or {offline=True})", path=remote.url,
                         hint="fetch it once with the network on; an unpinned revision uses the last copy",
                         spelled=True)
    job = _Download(remote, entry, opts, rep)
    cached, from_cache = job.run()
    return cached, from_cache, job.transferred, job.resumed_from


class FetchInterrupted(MckptError):
    """Ctrl-C during a fetch: `kept` bytes stay in the cache, and the same fetch resumes from there
    (the CLI words the hint with the command line that was given)."""

    exit_code = 130

    def __init__(self, source: str, kept: int) -> None:
        how = (f"run the same command again to resume at byte {kept}" if kept else "run the same command again")
        super().__init__(f"interrupted; {kept} bytes kept in the cache" if kept else
                         "interrupted before any byte came", path=source,
                         hint=f"{how}: mckpt fetch {shlex.quote(source)}")
        self.source, self.kept = source, kept
