"""A file server for the fetch benchmark: Range requests, ETag, sendfile, optional per-connection cap.

    python bench/range_server.py DIR PORT [--rate-mb 40]

`--rate-mb` paces each connection to that many MB/s (as a far CDN does), so several ranged
connections can beat one stream; without it the server sends as fast as sendfile can.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    root: Path
    rate: float | None  # bytes per second per connection

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.root / self.path.lstrip("/").split("?")[0]
        if not path.is_file():
            self.send_error(404)
            return
        size = path.stat().st_size
        etag = f'"{path.stat().st_mtime_ns:x}-{size:x}"'
        start, end, status = 0, size - 1, 200
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if m and self.headers.get("If-Range", etag) == etag:
            start, end, status = int(m[1]), min(int(m[2] or size - 1), size - 1), 206
        self.send_response(status)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Content-Type", "application/octet-stream")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        self.wfile.flush()
        with open(path, "rb") as f:
            try:
                self._send(f.fileno(), start, end + 1)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client hung up (a probe it no longer needs)

    def _send(self, fd: int, pos: int, end: int) -> None:
        sock = self.connection.fileno()
        slice_ = 256 << 10
        t0, sent = time.monotonic(), 0
        while pos < end:
            n = os.sendfile(sock, fd, pos, min(slice_ if self.rate else 8 << 20, end - pos))
            if n <= 0:
                return
            pos += n
            sent += n
            if self.rate and (ahead := sent / self.rate - (time.monotonic() - t0)) > 0:
                time.sleep(ahead)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("port", type=int)
    ap.add_argument("--rate-mb", type=float, default=None)
    a = ap.parse_args()
    handler = type("H", (Handler,), {"root": Path(a.dir), "rate": a.rate_mb * 1e6 if a.rate_mb else None})
    server = ThreadingHTTPServer(("127.0.0.1", a.port), handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
