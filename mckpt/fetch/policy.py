"""How many connections a download uses: one stream, joined by ranged connections only when slow.

Several ranged connections beat one stream when each connection is capped (a far CDN pacing
each connection, a long round trip, a per-flow shaper); on a fast link they only cost CPU (a
request per piece, a thread per connection, a hash that follows the done prefix through the page
cache instead of the stream). Measured with bench/bench_fetch.py (1 GiB, loopback, 2 cores),
8 connections from the start took 5.1x curl's wall time where one stream takes 1.4-1.8x; from a
server pacing each connection at 40 MB/s one stream is as slow as curl, and switching to 8
connections after the first window made the whole 3.9-4.8x faster. So a download that may go
parallel starts as one stream and measures it, window by window: when a window came in below
`min_rate`, the reader waited for the network, and enough is left for more connections to pay
off, the stream is ended and the rest comes over ranged connections (`parallel.py`), the bytes
already received kept as the first done range.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

AUTO_CONNECTIONS = 8  # ranged connections a slow stream gets (hf_transfer's default is 8 too)
MIN_RATE = 200e6  # bytes/s: a stream below this on a file worth splitting gets company
WINDOW = 1.0  # seconds per measurement (the first one includes TCP's slow start)


@dataclass
class SlowStream:
    """`enough(pos)` for `stream.receive`, called once per block read: True once a window of the
    stream (begun at byte `mark`) came in slower than `min_rate`, with at least `worth` bytes of
    `total` still to come, while the network was what it waited for.

    That last condition tells a capped link from a busy machine: when mckpt itself (or a machine
    loaded by other work) is the bottleneck, the bytes queue up in the socket and most reads
    come back full (`block` bytes); more connections would only add CPU work there. A far or
    paced server leaves the reader waiting for each piece, and most reads come back short.
    """

    total: int
    worth: int
    mark: int
    block: int
    min_rate: float = MIN_RATE
    window: float = WINDOW
    fired: bool = False
    rate: float = 0.0  # bytes/s over the last window
    _since: float = field(default_factory=time.monotonic)
    _last: int | None = None
    _reads: int = 0
    _full: int = 0

    def __call__(self, pos: int) -> bool:
        self._reads += 1
        self._full += pos - (self.mark if self._last is None else self._last) >= self.block
        self._last = pos
        now = time.monotonic()
        elapsed = now - self._since
        if elapsed <= 0 or elapsed < self.window:
            return False
        waited = self._full * 2 < self._reads
        self.rate = (pos - self.mark) / elapsed
        self.fired = self.rate < self.min_rate and waited and self.total - pos >= self.worth
        self._since, self.mark, self._reads, self._full = now, pos, 0, 0
        return self.fired
