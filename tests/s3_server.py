"""A real S3-compatible server for tests: `moto_server` on 127.0.0.1, behind a byte-counting proxy.

moto implements S3's Range (and suffix ranges), If-Match, prefix/delimiter listing and pagination.
The proxy relays every connection to moto and counts the bytes moto sends back, so a test can say
how much an `inspect` of a large object really transferred, and the requests clients send (`list`'s
cost in round trips).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_REQUEST_LINE = re.compile(rb"(?:GET|HEAD|PUT|POST|DELETE) /[^ \r\n]* HTTP/1\.[01]\r\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class CountingProxy:
    """TCP relay 127.0.0.1:port -> upstream; `sent` counts bytes from upstream to clients,
    `requests` the HTTP request lines clients sent, and `rate` (bytes/s, 0: none) paces each
    connection's replies as a network link would."""

    upstream: tuple[str, int]
    rate: float = 0.0
    sent: int = 0
    requests: int = 0
    port: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sock: socket.socket | None = None

    def start(self) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self._sock is not None
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        # A reset or closed peer ends the relay of this connection; that is how connections end.
        due = 0.0  # when the link is free again: idle time earns no burst
        with contextlib.suppress(OSError):
            while data := src.recv(1 << 16):
                dst.sendall(data)
                if not count:
                    with self._lock:
                        self.requests += len(_REQUEST_LINE.findall(data))
                if count:
                    with self._lock:
                        self.sent += len(data)
                    if self.rate:
                        due = max(due, time.monotonic()) + len(data) / self.rate
                        if (ahead := due - time.monotonic()) > 0.005:  # short sleeps overshoot: batch them
                            time.sleep(ahead)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def stop(self) -> None:
        if self._sock is not None:
            self._sock.close()


@dataclass
class S3Server:
    endpoint: str  # through the counting proxy
    proxy: CountingProxy
    process: subprocess.Popen[bytes] | None  # None: moto's ThreadedMotoServer in this process
    direct: str = ""  # moto itself, for uploads that should not count
    threaded: Any = None

    def env(self) -> dict[str, str]:
        """What a user of an S3-compatible server sets (an http:// endpoint, static keys)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


def start_moto(extra_env: dict[str, str] | None = None) -> S3Server:
    port = free_port()
    env = {**os.environ, **(extra_env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)
    proxy = CountingProxy(("127.0.0.1", port))
    proxy.start()
    return S3Server(f"http://127.0.0.1:{proxy.port}", proxy, proc, f"http://127.0.0.1:{port}")


def start_threaded() -> S3Server:
    """moto's own server on a thread of this process, so `put_large` can hand it an object without
    pushing 1 GB through its HTTP body parser (which takes about a minute for 1 GB)."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    port = free_port()
    threaded = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    threaded.start()
    proxy = CountingProxy(("127.0.0.1", port))
    proxy.start()
    return S3Server(f"http://127.0.0.1:{proxy.port}", proxy, None, f"http://127.0.0.1:{port}", threaded)


def serve(extra_env: dict[str, str] | None = None) -> Iterator[S3Server]:
    """Generator for a pytest fixture: a running moto behind the proxy, stopped afterwards. With
    `extra_env` (moto settings) it runs as its own `moto_server` process."""
    server = start_moto(extra_env) if extra_env else start_threaded()
    try:
        yield server
    finally:
        server.proxy.stop()
        if server.process is not None:
            server.process.terminate()
            server.process.wait(10)
        else:
            server.threaded.stop()


def put_large(server: S3Server, bucket: str, key: str, path: Path) -> None:
    """Store a large file as an object of a threaded server's bucket, through moto's backend."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    assert server.threaded is not None, "put_large needs the threaded server"
    s3_backends[DEFAULT_ACCOUNT_ID]["aws"].put_object(bucket, key, path.read_bytes())


def make_bucket(server: S3Server, bucket: str, files: dict[str, bytes | str]) -> None:
    """Create `bucket` and put `files` (key -> bytes, or a local path to upload) with obstore."""
    import urllib.request

    import obstore
    from obstore.store import S3Store

    req = urllib.request.Request(f"{server.direct}/{bucket}", method="PUT")
    urllib.request.urlopen(req).close()
    store = S3Store(bucket, endpoint=server.direct, access_key_id="testing", secret_access_key="testing",
                    region="us-east-1", client_options={"allow_http": True})
    for key, body in files.items():
        # One PUT, not a multipart upload: moto joins 200 parts of a 1 GB object slowly.
        obstore.put(store, key, Path(body).read_bytes() if isinstance(body, str) else body, use_multipart=False)
