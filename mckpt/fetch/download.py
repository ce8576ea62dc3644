"""`fetch`: download a hub or http(s) file into the cache, resuming and verifying, never half a file.

One fetch is a loop of attempts under the cache entry's lock. Each attempt asks for the bytes the
`.part` lacks (`Range` + `If-Range`), streams them in (see `stream.py`), and checks size, Git LFS
pointer and sha256 before the file gets its final name. Anything that says the `.part` no longer
matches the source (a 200 to a range request, a new ETag or X-Linked-Etag, a wrong offset) throws
the `.part` away and starts over: a spliced file is never produced. Transient failures (dropped
connections, timeouts, 5xx) are retried with backoff and resume where they stopped.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ..errors import MckptError
from ..io.http_source import HttpSource
from ..io.sources import ByteSource, FileSource
from ..io.transport import REDIRECTS, Http, Reply, TransientError, status_error, with_retries
from ..io.urls import Remote, hub_endpoint, origin, parse_source
from ..torchfile.archive import LFS_POINTER
from .cache import CachedFile, CacheEntry, PartInfo, cache_root
from .place import destination, place
from .stream import receive

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
MAX_RESTARTS = 3
_TRUE = ("1", "true", "yes", "on")


class Reporter(Protocol):
    """Where a fetch tells about its progress (a progress bar, log lines, or nothing)."""

    def start(self, name: str, total: int | None, done: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def note(self, message: str) -> None: ...


class SilentReporter:
    """The library default: say nothing."""

    def start(self, name: str, total: int | None, done: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def note(self, message: str) -> None:
        pass


@dataclass
class FetchOptions:
    """How to fetch; `from_env` fills in what huggingface_hub users already set."""

    token: str | None = None
    endpoint: str | None = None
    cache_dir: str | None = None
    offline: bool = False
    sha256: str | None = None
    retries: int = 5
    backoff: float = 1.0
    timeout: float = 30.0

    @classmethod
    def from_env(cls, **given: Any) -> FetchOptions:
        """Options given explicitly win; else HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE apply."""
        given = {k: v for k, v in given.items() if v is not None}
        given.setdefault("token", os.environ.get("HF_TOKEN") or None)
        if not given.get("offline"):
            given["offline"] = os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE
        return cls(**given)


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


class _Restart(Exception):
    """The `.part` does not match the source any more: drop it and begin again."""


def _norm_sha(value: str | None) -> str | None:
    if not value:
        return None
    v = value.strip().removeprefix("W/").strip('"').lower()
    return v if _SHA256.fullmatch(v) else None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


class _Download:
    def __init__(self, remote: Remote, entry: CacheEntry, options: FetchOptions, reporter: Reporter) -> None:
        self.remote = remote
        self.entry = entry
        self.opts = options
        self.reporter = reporter
        endpoint = hub_endpoint(options.endpoint)
        self.hub = origin(remote.url) == origin(endpoint)
        self.http = Http(token=options.token, token_origin=origin(endpoint), timeout=options.timeout)
        self.hit = entry.lookup()
        self.transferred = 0
        self.resumed_from = 0
        self.retried_mismatch = False
        self._moved = False

    def _on_bytes(self, n: int) -> None:
        self.transferred += n
        self._moved = True
        self.reporter.advance(n)

    def _progressed(self) -> bool:
        moved, self._moved = self._moved, False
        return moved

    def run(self) -> tuple[CachedFile, bool]:
        try:
            for _ in range(MAX_RESTARTS + 1):
                try:
                    return with_retries(self._attempt, self.opts.retries, self.opts.backoff,
                                        self.reporter.note, self._progressed, url=self.remote.url)
                except _Restart as e:
                    self.reporter.note(f"{e}; starting over")
            raise MckptError("the file kept changing during the download", path=self.remote.url,
                             hint="try again later")
        finally:
            self.http.close()

    def _attempt(self) -> tuple[CachedFile, bool]:
        info = self.entry.part_info()
        offset = self.entry.part.stat().st_size if info else 0
        if info and offset and not info.validator and not self._expected(info.linked_etag):
            self.entry.drop_part()  # nothing could tell a changed source: do not splice
            info, offset = None, 0
        headers: dict[str, str] = {}
        if info and offset:
            headers["Range"] = f"bytes={offset}-"
            if info.validator:
                headers["If-Range"] = info.validator
        elif self.hit and self.hit.validator:
            etag = self.hit.validator.startswith(('"', "W/"))
            headers["If-None-Match" if etag else "If-Modified-Since"] = self.hit.validator

        def stop(reply: Reply) -> bool:
            linked = _norm_sha(reply.headers.get("X-Linked-Etag"))
            return linked is not None and (
                (self.hit is not None and linked == self.hit.sha256)
                or (info is not None and linked != _norm_sha(info.linked_etag)))

        reply = self.http.open("GET", self.remote.url, headers, stop=stop)
        try:
            return self._receive(reply, info, offset)
        finally:
            self.http.discard(reply)

    def _expected(self, linked: str | None) -> tuple[str, str] | None:
        """(sha256, what said so) the download must hash to, if anyone says."""
        if self.opts.sha256:
            return self.opts.sha256.lower(), "--sha256"
        if (sha := _norm_sha(linked)) is not None:
            return sha, "the hub's X-Linked-Etag"
        return None

    def _receive(self, reply: Reply, info: PartInfo | None, offset: int) -> tuple[CachedFile, bool]:
        hub = reply.hub_headers
        linked = hub.get("X-Linked-Etag")
        status = reply.status
        if status in REDIRECTS:  # `stop` ended the chain at the hub
            if self.hit and _norm_sha(linked) == self.hit.sha256:
                return self.hit, True
            self.entry.drop_part()
            raise _Restart("the file changed on the hub since the .part was started")
        if status == 304 and self.hit:
            return self.hit, True
        if status == 416:
            self.entry.drop_part()
            raise _Restart("the server refused the resume range")
        if status not in (200, 206):
            raise status_error(reply, self.remote.url, self.hub)
        validator = reply.header("ETag") or reply.header("Last-Modified")
        if status == 206:
            m = _CONTENT_RANGE.fullmatch(reply.header("Content-Range") or "")
            if info is None or not m or int(m[1]) != offset or (
                    info.validator and validator and validator != info.validator):
                self.entry.drop_part()
                raise _Restart("the server answered the resume with other bytes")
            total = _int(m[3])
        else:
            if offset:
                self.reporter.note("the server sent the whole file (range ignored or file changed)")
            offset = 0
            length = _int(reply.header("Content-Length"))
            info = PartInfo(url=self.remote.url, validator=validator, linked_etag=linked,
                            total=_int(hub.get("X-Linked-Size")) or length)
            self.entry.start_part(info)
            total = length
        expected_size = _int(hub.get("X-Linked-Size")) or total
        self.resumed_from = offset
        if offset:
            self.reporter.note(f"resuming at byte {offset}")
        self.reporter.start(self.remote.filename, expected_size, offset)
        sha, size = receive(reply.response, self.entry.part, offset, self._on_bytes)
        self._verify(sha, size, expected_size, linked)
        return self.entry.store(sha, info, hub.get("X-Repo-Commit")), False

    def _verify(self, sha: str, size: int, expected_size: int | None, linked: str | None) -> None:
        if expected_size is not None and size < expected_size:
            raise TransientError(f"connection dropped after {size} of {expected_size} bytes")
        name = self.remote.url
        if expected_size is not None and size > expected_size:
            self.entry.drop_part()
            raise MckptError(f"size check failed: received {size} bytes, the server announced "
                             f"{expected_size}; the partial file was removed", path=name)
        if size < 1024 and self.entry.part.read_bytes().startswith(LFS_POINTER):
            self.entry.drop_part()
            raise MckptError(f"the server sent a Git LFS pointer ({size} bytes), not the file", path=name,
                             hint="the bytes live in LFS storage: use the hub's resolve/ URL, or run "
                                  "`git lfs pull` where the file is hosted")
        expected = self._expected(linked)
        if expected and expected[0] != sha:
            self.entry.drop_part()
            if self.resumed_from and not self.retried_mismatch:
                self.retried_mismatch = True
                raise _Restart("sha256 check failed after a resume")
            raise MckptError(f"sha256 check failed: the download hashes to {sha}, {expected[1]} "
                             f"says {expected[0]}; the partial file was removed", path=name,
                             hint="the source changed or sent damaged bytes; check the URL and "
                                  "the expected checksum, then try again")


def fetch(source: str, options: FetchOptions | None = None, *, output: str | os.PathLike[str] | None = None,
          force: bool = False, reporter: Reporter | None = None) -> FetchResult:
    """Download `source` (URL or hf://) into the cache and optionally place it at `output`.

    Safe to run concurrently: fetches of one file wait for each other and then reuse the result.
    """
    opts = options or FetchOptions.from_env()
    rep = reporter or SilentReporter()
    remote = parse_source(source, opts.endpoint)
    entry = CacheEntry(cache_root(opts.cache_dir), remote)
    with entry.lock(on_wait=lambda: rep.note("another mckpt is fetching this file; waiting for it")):
        cached, from_cache, transferred, resumed = _fetch_locked(remote, entry, opts, rep)
    wanted = opts.sha256.lower() if opts.sha256 else None
    if wanted and cached.sha256 != wanted:  # a download is checked while streaming; a cached copy here
        raise MckptError(f"sha256 check failed: the cached copy hashes to {cached.sha256}, --sha256 says "
                         f"{wanted}", path=remote.url,
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
                  rep: Reporter) -> tuple[CachedFile, bool, int, int]:
    hit = entry.lookup()
    wanted = opts.sha256.lower() if opts.sha256 else None
    if hit and (opts.offline or remote.pinned or wanted == hit.sha256):
        return hit, True, 0, 0
    if opts.offline:
        raise MckptError("not in the cache, and offline (HF_HUB_OFFLINE or --offline)", path=remote.url,
                         hint="fetch it once with the network on; an unpinned revision uses the last copy")
    job = _Download(remote, entry, opts, rep)
    try:
        cached, from_cache = job.run()
    except KeyboardInterrupt:
        kept = entry.part.stat().st_size if entry.part.exists() else 0
        raise _interrupted(entry, kept) from None
    return cached, from_cache, job.transferred, job.resumed_from


def _interrupted(entry: CacheEntry, kept: int) -> MckptError:
    err = MckptError(f"interrupted; {kept} bytes kept in {entry.part.name}", path=str(entry.dir),
                     hint="run the same command again to resume")
    err.exit_code = 130
    return err



def open_remote(url: str, options: FetchOptions | None = None) -> ByteSource:
    """A remote checkpoint for `read_checkpoint`: HTTP Range reads of the index and pickle only, or,
    offline (HF_HUB_OFFLINE / --offline), the cached copy from an earlier fetch."""
    opts = options or FetchOptions.from_env()
    if opts.offline:
        remote = parse_source(url, opts.endpoint)
        hit = CacheEntry(cache_root(opts.cache_dir), remote).lookup()
        if hit is None:
            raise MckptError("offline (HF_HUB_OFFLINE or --offline) and not in the cache", path=remote.url,
                             hint=f"fetch it once with the network on: mckpt fetch {shlex.quote(url)}")
        return FileSource(hit.path)
    return HttpSource(url, token=opts.token, endpoint=opts.endpoint)


def checkpoint_brief(path: str) -> dict[str, Any] | None:
    """Kind, model, dataset and tasks of a fetched file if it is a checkpoint, else None."""
    from ..model.checkpoint import read_checkpoint

    try:
        ck = read_checkpoint(path)
    except MckptError:
        return None
    name = ck.name
    return {"kind": ck.kind, "model": ck.args.get("model") or (name.model if name else None),
            "dataset": ck.args.get("dataset") or (name.dataset if name else None),
            "tasks_done": ck.tasks_done}
