"""A remote file as a ByteSource: `inspect <URL>` reads the zip index and data.pkl, not the tensors.

Each `read_at` is an HTTP Range request to the URL the hub redirected to (the CDN, without the
token), guarded by `If-Match` on the ETag so a file replaced mid-read is an error, not a mix of two
files. Reads are widened to 64 KiB blocks and kept, because the archive reader asks for a few small
pieces that usually sit side by side (the local header and data.pkl at the start, the index at
the end): three requests typically cover a checkpoint of any size.
"""

from __future__ import annotations

import re

from ..errors import MckptError
from .transport import Http, Reply, status_error, with_retries
from .urls import hub_endpoint, origin, parse_source

BLOCK = 64 << 10
_TOTAL = re.compile(r"bytes \d+-\d+/(\d+)")


class HttpSource:
    """Random access to a remote file through Range requests; counts `bytes_read` off the wire."""

    def __init__(self, url: str, *, token: str | None = None, endpoint: str | None = None,
                 timeout: float = 30.0, retries: int = 3, backoff: float = 0.5) -> None:
        remote = parse_source(url, endpoint)
        self.name = remote.url
        self._hub = origin(remote.url) == origin(hub_endpoint(endpoint))
        self._http = Http(token=token, token_origin=origin(hub_endpoint(endpoint)), timeout=timeout)
        self._retries, self._backoff = retries, backoff
        self._blocks: dict[int, bytes] = {}
        self.bytes_read = 0
        reply = self._get(remote.url, 0, BLOCK, {})
        m = _TOTAL.fullmatch(reply.header("Content-Range") or "")
        self._url = reply.url
        self._etag = reply.header("ETag")
        self.size = int(m[1]) if m else 0
        self._blocks[0] = self._body(reply)

    def _get(self, url: str, start: int, n: int, headers: dict[str, str]) -> Reply:
        hdrs = {**headers, "Range": f"bytes={start}-{start + n - 1}"}

        reply = with_retries(lambda: self._http.open("GET", url, hdrs), self._retries, self._backoff, url=url)
        if reply.status == 206:
            return reply
        self._http.discard(reply, limit=0)
        if reply.status == 200:
            raise MckptError("the server does not support range requests, so it cannot be inspected "
                             "remotely", path=self.name, hint="`mckpt fetch` it, then inspect the file")
        if reply.status == 412:
            raise MckptError("the remote file changed while it was being read", path=self.name,
                             hint="run the command again")
        if reply.status == 416:
            raise MckptError("the remote file is empty", path=self.name)
        raise status_error(reply, self.name, self._hub)

    def _body(self, reply: Reply) -> bytes:
        data = reply.response.read()
        self.bytes_read += len(data)
        return data

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0:
            raise ValueError("negative offset or length")
        n = max(0, min(n, self.size - offset))
        if n == 0:
            return b""
        for start, data in self._blocks.items():
            if start <= offset and offset + n <= start + len(data):
                return data[offset - start : offset - start + n]
        # Widen small reads to a block: forwards, or backwards for a read that ends the file.
        start, length = offset, max(n, BLOCK)
        if offset + n == self.size:
            start = max(0, self.size - length)
        length = min(length, self.size - start)
        reply = self._get(self._url, start, length, {"If-Match": self._etag} if self._etag else {})
        data = self._body(reply)
        if len(data) != length:
            raise MckptError(f"short read: asked for {length} bytes at {start}, got {len(data)}",
                             path=self.name)
        self._blocks[start] = data
        return data[offset - start : offset - start + n]

    def close(self) -> None:
        self._blocks.clear()
        self._http.close()

    def __enter__(self) -> HttpSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

