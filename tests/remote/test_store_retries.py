"""`fetch s3://…`: one retry budget (`--retries`) bounds every object-store request; obstore's own
retries are off there (before, each request was retried by obstore too, outside the budget)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import run_cli


class _Unavailable(BaseHTTPRequestHandler):
    """An S3 endpoint that answers every request 503 Slow Down, counting them."""

    count = 0

    def _answer(self) -> None:
        type(self).count += 1
        body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = _answer

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    _Unavailable.count = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("retries", [0, 2])
def test_retries_bound_every_store_request(endpoint: str, tmp_path: Path, retries: int) -> None:
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_REGION": "us-east-1", "HOME": str(tmp_path)}
    r = run_cli("fetch", "s3://bucket/run/x.pt", "--retries", str(retries), "--cache-dir", str(tmp_path / "cache"),
                env=env)
    assert r.returncode == 1, r.stderr
    error = next(line for line in r.stderr.splitlines() if line.startswith("error: "))
    assert error.startswith("error: s3://bucket/run/x.pt: ") and f"gave up after {retries} retr" in error
    assert _Unavailable.count == retries + 1  # the first try and `--retries` more, nothing behind them
