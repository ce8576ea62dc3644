"""A small forward proxy on 127.0.0.1, as a cluster's Squid: Basic auth required, requests counted.

Plain-http targets arrive in absolute form (`GET http://host/path`) and are forwarded; https
targets arrive as `CONNECT host:port` and get a byte tunnel. Without the right
`Proxy-Authorization` every request gets 407.
"""

from __future__ import annotations

import base64
import http.client
import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Proxy:
    user: str = "alice"
    password: str = "p@ss word"
    url: str = ""  # http://user:password@127.0.0.1:port (percent-encoded)
    address: str = ""  # 127.0.0.1:port
    requests: list[tuple[str, str, bool]] = field(default_factory=list)  # (method, target, authorised)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def methods(self) -> list[str]:
        return [m for m, _, _ in self.requests]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    proxy: Proxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _authorised(self) -> bool:
        want = base64.b64encode(f"{self.proxy.user}:{self.proxy.password}".encode()).decode()
        ok = self.headers.get("Proxy-Authorization") == f"Basic {want}"
        with self.proxy.lock:
            self.proxy.requests.append((self.command, self.path, ok))
        if not ok:
            self.send_response(407)
            self.send_header("Proxy-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        return ok

    def do_CONNECT(self) -> None:
        if not self._authorised():
            return
        host, _, port = self.path.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=30)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        socks = [self.connection, upstream]
        try:
            while True:
                ready, _, _ = select.select(socks, [], [], 30)
                if not ready:
                    return
                for s in ready:
                    data = s.recv(1 << 16)
                    if not data:
                        return
                    (upstream if s is self.connection else self.connection).sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()

    def do_GET(self) -> None:
        if not self._authorised():
            return
        target = urlsplit(self.path)
        if not target.scheme:
            self.send_error(400, "a proxy wants absolute-form requests")
            return
        conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        headers = {k: v for k, v in self.headers.items() if not k.lower().startswith("proxy-")}
        conn.request("GET", (target.path or "/") + (f"?{target.query}" if target.query else ""), headers=headers)
        resp = conn.getresponse()
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding"):
                self.send_header(k, v)
        if resp.getheader("Content-Length") is None:
            self.close_connection = True
        self.end_headers()
        try:
            while chunk := resp.read(1 << 16):
                self.wfile.write(chunk)
        except OSError:
            self.close_connection = True
        finally:
            conn.close()


def serve() -> Iterator[Proxy]:
    """Generator for a pytest fixture: a running proxy, shut down afterwards."""
    from urllib.parse import quote

    proxy = Proxy()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"proxy": proxy}))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    proxy.address = f"127.0.0.1:{server.server_address[1]}"
    proxy.url = f"http://{quote(proxy.user, safe='')}:{quote(proxy.password, safe='')}@{proxy.address}"
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
