"""A ByteSource over any "give me bytes start..start+n" call, with small reads widened to blocks.

The archive reader asks for a few small pieces (the first 512 bytes, the zip index at the end, the
local header and `data.pkl`), which usually sit side by side. Widening each small read to a 64 KiB
block, and keeping the blocks, means two or three requests cover a checkpoint of any size; a small
object is fetched whole in one (up to `WHOLE`: a request's wait costs more than its bytes there,
on a store that serves a hundred requests a second as on a link with a 20 ms round trip). Large
reads (tensor bytes for `diff --weights`) go through exactly as asked and are not kept, so memory
stays near the largest tensor.
"""

from __future__ import annotations

from ..errors import MckptError

BLOCK = 64 << 10
WHOLE = 4 * BLOCK  # an object this small is read whole on the first request (else: 2-3 blocks)


class RangedSource:
    """Subclasses set `name` and `size` and implement `_fetch(start, length)`; `bytes_read` counts
    what came off the wire, for tests and benchmarks."""

    name: str
    size: int

    def __init__(self) -> None:
        self._blocks: dict[int, bytes] = {}
        self.bytes_read = 0
        self.requests = 0

    def _fetch(self, start: int, length: int) -> bytes:
        raise NotImplementedError

    def _get(self, start: int, length: int) -> bytes:
        data = self._fetch(start, length)
        self._count(data)
        if len(data) != length:
            raise MckptError(f"short read: asked for {length} bytes at {start}, got {len(data)}",
                             path=self.name)
        return data

    def _count(self, data: bytes) -> None:
        self.requests += 1
        self.bytes_read += len(data)

    def _keep(self, start: int, data: bytes) -> None:
        """A block read by the subclass's own first request (which also told it the size)."""
        self._count(data)
        self._blocks[start] = data

    def read_at(self, offset: int, n: int) -> bytes:
        if offset < 0 or n < 0:
            raise ValueError("negative offset or length")
        n = max(0, min(n, self.size - offset))
        if n == 0:
            return b""
        for start, data in self._blocks.items():
            if start <= offset and offset + n <= start + len(data):
                return data[offset - start : offset - start + n]
        if n > BLOCK:
            return self._get(offset, n)
        if self.size <= WHOLE:
            start, length = 0, self.size
        elif offset + n > self.size - BLOCK:  # near the end: read on to the end of the file
            start = min(offset, self.size - BLOCK)
            length = self.size - start
        else:
            start, length = offset, BLOCK
        data = self._get(start, length)
        self._blocks[start] = data
        return data[offset - start : offset - start + n]

    def close(self) -> None:
        self._blocks.clear()

    def __enter__(self) -> RangedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
