"""A remote file as a ByteSource: `inspect <URL>` reads the zip index and data.pkl, not the tensors.

Each `read_at` is an HTTP Range request to the URL the hub redirected to (the CDN, without the
token), guarded by `If-Match` on the ETag so a file replaced mid-read is an error, not a mix of two
files. Small reads are widened to 64 KiB blocks and kept by `RangedSource` (the same block rules
as an object store's ranged reads): three requests typically cover a checkpoint of any size.

A server's answer is untrusted: at most the bytes asked for are read (an endless 206 costs one
block, not memory), the `Content-Range` must name exactly the range asked for, and each read
(headers, body, redirects, retries and their waits) ends within a total deadline (`Http.deadline`,
`--timeout`, 30 s by default): a server dripping one byte a second cannot hold `inspect` longer.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..errors import MckptError
from .ranged import BLOCK, RangedSource
from .transport import RETRY_HINT, Http, Reply, RetryBudget, TransientError, iter_body, status_error, with_retries
from .urls import hub_endpoint, origin, parse_source

CONTENT_RANGE = re.compile(r"bytes ([0-9]+)-([0-9]+)/([0-9]+|\*)")


def read_range(reply: Reply, start: int, length: int, url: str) -> bytes:
    """The body of a 206 for bytes `start`..`start+length-1`: exactly those bytes or an error (in
    time: the caller reads under `Http.deadline`)."""
    m = CONTENT_RANGE.fullmatch(reply.header("Content-Range") or "")
    if not m or int(m[1]) != start or int(m[2]) != start + length - 1:
        raise MckptError(f"the server answered a range request for bytes {start}-{start + length - 1} with "
                         f"Content-Range {reply.header('Content-Range')!r}", path=url)
    if (enc := reply.header("Content-Encoding")) and enc.lower() != "identity":
        raise MckptError(f"the server sent a {enc}-encoded body to a range request", path=url)
    out = bytearray()
    for chunk in iter_body(reply, url):
        out += chunk[: length - len(out)]
        if len(out) >= length:
            break
    if len(out) < length:
        raise TransientError(f"connection to {urlsplit(url).hostname} ended after {len(out)} of {length} bytes")
    return bytes(out)


class HttpSource(RangedSource):
    """Random access to a remote file through Range requests; counts `bytes_read` off the wire.

    `deadline` bounds each ranged read as a whole (retries included); `timeout` each network wait.
    `name` is what errors call the file (default: the URL requested).
    """

    def __init__(self, url: str, *, token: str | None = None, endpoint: str | None = None,
                 revision: str | None = None, timeout: float = 30.0, deadline: float = 30.0,
                 retries: int = 3, backoff: float = 0.5, name: str | None = None) -> None:
        super().__init__()
        remote = parse_source(url, endpoint, revision)
        self.name = name or remote.url  # what errors call it (a listing's hf:// spelling, say)
        self._hub = origin(remote.url) == origin(hub_endpoint(endpoint))
        self._http = Http(token=token, token_origin=origin(hub_endpoint(endpoint)), timeout=min(timeout, deadline),
                          connections=1)
        self._retries, self._backoff, self._deadline = retries, backoff, deadline
        self._url, self._etag = remote.url, None
        self.linked_etag: str | None = None  # the hub's checksum (LFS oid), which `verify` checks bytes against
        self.size = 1 << 62  # unknown until the first answer says
        first = self._read(0, BLOCK, first=True)
        self.requests += 1
        self.bytes_read += len(first)
        self._blocks[0] = first

    def _fetch(self, start: int, length: int) -> bytes:
        return self._read(start, length)

    def _read(self, start: int, length: int, first: bool = False) -> bytes:
        budget = RetryBudget(self._retries, self._backoff, hint=RETRY_HINT)
        with self._http.deadline(self._deadline, self.name):
            return with_retries(lambda: self._attempt(start, length, first), budget, url=self.name)

    def _attempt(self, start: int, length: int, first: bool) -> bytes:
        hdrs = {"Range": f"bytes={start}-{start + length - 1}"}
        if self._etag:
            hdrs["If-Match"] = self._etag
        reply = self._http.open("GET", self._url, hdrs)
        try:
            if reply.status != 206:
                raise self._refusal(reply)
            if first:
                m = CONTENT_RANGE.fullmatch(reply.header("Content-Range") or "")
                if not m or m[3] == "*":
                    raise MckptError("the server's range answer does not say the file's size "
                                     f"(Content-Range {reply.header('Content-Range')!r})", path=self.name)
                self.size = int(m[3])
                self._url, self._etag = reply.url, reply.header("ETag")
                self.linked_etag = reply.hub_headers.get("X-Linked-Etag")
                length = min(length, self.size - start)
            return read_range(reply, start, length, self.name)
        finally:
            self._http.discard(reply)

    def _refusal(self, reply: Reply) -> MckptError:
        if reply.status == 200:
            return MckptError("the server does not support range requests, so it cannot be inspected remotely",
                              path=self.name, hint="`mckpt fetch` it, then inspect the file")
        if reply.status == 412:
            return MckptError("the remote file changed while it was being read", path=self.name,
                              hint="run the command again")
        if reply.status == 416:
            return MckptError("the remote file is empty", path=self.name)
        return status_error(reply, self.name, self._hub)

    def close(self) -> None:
        super().close()
        self._http.close()
