"""Remote metadata is bounded (issue 21, item 4): hub tree pages within a memory budget and an
entry cap, and every metadata or ranged read of inspect / list / verify within a total deadline
(`--timeout`) that a server trickling one byte a second cannot stretch.

The servers are real sockets on 127.0.0.1. No assertion is about time: a trickling server that
mckpt waited on would keep the command running past the subprocess guard, and the test fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import REPO

from mckpt.io.transport import json_values

GUARD = 90  # seconds: a read that the deadline did not stop runs into this, and the test fails


class _Server:
    """Answers every GET with what `answer(handler)` writes; stopped with the test."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler, threading.Event], None],
                 tls: ssl.SSLContext | None = None) -> None:
        self.stop = threading.Event()
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                server.requests += 1
                with suppress(OSError):  # the client hung up: what the deadline is for
                    answer(self, server.stop)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., _Server]]:
    servers: list[_Server] = []

    def start(answer: Callable[[BaseHTTPRequestHandler, threading.Event], None],
              tls: ssl.SSLContext | None = None) -> _Server:
        servers.append(_Server(answer, tls))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def _trickle(raw: bytes, every: float = 1.0) -> Callable[[BaseHTTPRequestHandler, threading.Event], None]:
    """Write `raw` (status line, headers and body as given) one byte every `every` seconds."""
    def answer(h: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        h.close_connection = True
        for i in range(len(raw)):
            if stop.wait(every if i else 0):
                return
            h.wfile.write(raw[i:i + 1])
            h.wfile.flush()
    return answer


def _mckpt(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "MCKPT_RETRY_BACKOFF": "0.05", **(env or {})}
    return subprocess.run([sys.executable, "-m", "mckpt", *args], env=full, text=True, capture_output=True,
                          timeout=GUARD)


def _one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    return line


# --- the deadline ----------------------------------------------------------------------------------

BODY = b"PK" + b"\0" * 98
HEADERS_206 = (b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-99/100\r\nContent-Length: 100\r\n"
               b"ETag: \"x\"\r\n\r\n")
TRICKLES = {
    "status line": HEADERS_206 + BODY,  # the very first bytes come one a second
    "headers": HEADERS_206[:40],  # then nothing more: every byte was slow, none complete
    "body": HEADERS_206 + BODY,
}


@pytest.mark.parametrize("where", list(TRICKLES))
def test_inspect_of_a_trickling_server_stops_at_the_timeout(serve: Callable[..., _Server], where: str) -> None:
    raw = TRICKLES[where]
    if where == "body":  # headers at once, then the body one byte a second
        def answer(h: BaseHTTPRequestHandler, stop: threading.Event) -> None:
            h.close_connection = True
            h.wfile.write(HEADERS_206)
            h.wfile.flush()
            _trickle(BODY)(h, stop)
        srv = serve(answer)
    else:
        srv = serve(_trickle(raw))
    r = _mckpt("inspect", f"{srv.url}/run.pt", "--timeout", "3")
    line = _one_error_line(r)
    assert "within 3 s" in line and "127.0.0.1" in line, line
    assert "--timeout" in r.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the test certificate")
def test_a_trickling_tls_server_stops_at_the_timeout(tmp_path: Path, serve: Callable[..., _Server]) -> None:
    """Over TLS the socket being read is the TLS one (the plain socket was detached into it)."""
    import hub_server

    cert, key = hub_server.make_cert(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = serve(_trickle(HEADERS_206 + BODY), ctx)
    r = _mckpt("inspect", f"{srv.url}/run.pt", "--timeout", "3", env={"SSL_CERT_FILE": str(cert)})
    line = _one_error_line(r)
    assert "within 3 s" in line, line


def test_hub_listing_page_that_trickles_stops_at_the_timeout(serve: Callable[..., _Server]) -> None:
    page = json.dumps([{"type": "file", "path": f"er_seq-cifar10_{i}.pt", "size": 1} for i in range(50)]).encode()
    raw = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(page)).encode()
           + b"\r\n\r\n" + page)
    srv = serve(_trickle(raw, 0.5))
    r = _mckpt("list", "hf://o/r", "--timeout", "2", env={"HF_ENDPOINT": srv.url, "HF_TOKEN": ""})
    line = _one_error_line(r)
    assert line.startswith("error: hf://o/r") and "within 2 s" in line, line


def test_verify_of_a_trickling_url_is_a_failed_verdict_at_the_timeout(serve: Callable[..., _Server]) -> None:
    srv = serve(_trickle(HEADERS_206 + BODY))
    r = _mckpt("verify", f"{srv.url}/run.pt", "--timeout", "2", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    (v,) = json.loads(r.stdout)["files"]
    assert not v["ok"] and any("within 2 s" in p for p in v["problems"]), v


def test_diff_with_a_trickling_url_stops_at_the_timeout(tmp_path: Path, serve: Callable[..., _Server]) -> None:
    srv = serve(_trickle(HEADERS_206 + BODY))
    r = _mckpt("diff", f"{srv.url}/a.pt", f"{srv.url}/b.pt", "--timeout", "2")
    line = _one_error_line(r)
    assert "within 2 s" in line, line


def test_a_timeout_that_is_no_time_is_a_usage_error() -> None:
    r = _mckpt("inspect", "http://127.0.0.1:9/x.pt", "--timeout", "0")
    assert r.returncode == 2 and "--timeout" in r.stderr and "Traceback" not in r.stderr


def test_a_server_in_time_is_read_within_a_short_timeout(tmp_path: Path, serve: Callable[..., _Server]) -> None:
    """The deadline ends a slow exchange, not a quick one: the same command against a server that
    answers at once reads the file (several requests, each under its own deadline)."""
    torch = pytest.importorskip("torch")
    f = tmp_path / "er_seq-cifar10_None_200_5_20250101-001010_abcdef12_last.pt"
    torch.save({"args": {"model": "er"}, "results": [[[50.0]], [[60.0]], {}], "model": {"w": torch.zeros(3)}}, f)
    data = f.read_bytes()

    def answer(h: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", h.headers.get("Range", ""))
        assert m
        a, b = int(m[1]), min(int(m[2]), len(data) - 1)
        h.send_response(206)
        h.send_header("Content-Range", f"bytes {a}-{b}/{len(data)}")
        h.send_header("Content-Length", str(b - a + 1))
        h.send_header("ETag", '"e"')
        h.end_headers()
        h.wfile.write(data[a:b + 1])

    srv = serve(answer)
    r = _mckpt("inspect", f"{srv.url}/{f.name}", "--timeout", "5", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"]["class_il"] == [[50.0]]


# --- hub tree pages --------------------------------------------------------------------------------

def _page_server(serve: Callable[..., _Server], body: bytes) -> _Server:
    def answer(h: BaseHTTPRequestHandler, stop: threading.Event) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    return serve(answer)


def _peak_rss_mib(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run mckpt from a small Python parent and read the child's own peak RSS (ru_maxrss)."""
    code = ("import resource, subprocess, sys, json; "
            "r = subprocess.run([sys.executable, '-m', 'mckpt', *sys.argv[1:]], capture_output=True, text=True); "
            "print(json.dumps([r.returncode, r.stdout, r.stderr, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))")
    full = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **env}
    p = subprocess.run([sys.executable, "-c", code, *args], env=full, text=True, capture_output=True, timeout=GUARD)
    rc, out, err, kib = json.loads(p.stdout)
    return subprocess.CompletedProcess(args, rc, out, err), kib / 1024


PAGES = {  # each under 8 MiB of bytes, each millions of Python objects if parsed
    "empty objects": lambda n: b"[" + b"{}," * (n // 3) + b"{}]",
    "empty lists": lambda n: b"[" + b"[]," * (n // 3) + b"[]]",
    "small strings": lambda n: b"[" + b'"a",' * (n // 4) + b'"a"]',
    "numbers": lambda n: b"[" + b"1000," * (n // 5) + b"1]",
    "keys": lambda n: b"{" + b",".join(b'"%d":0' % i for i in range(n // 10)) + b"}",
}


@pytest.mark.parametrize("kind", list(PAGES))
def test_a_hostile_tree_page_is_refused_within_a_small_memory_budget(serve: Callable[..., _Server],
                                                                     kind: str) -> None:
    body = PAGES[kind](7 << 20)
    assert json_values(body) > 1_000_000
    srv = _page_server(serve, body)
    r, peak = _peak_rss_mib(["list", "hf://o/r"], {"HF_ENDPOINT": srv.url, "HF_TOKEN": ""})
    line = _one_error_line(r)
    assert line.startswith("error: hf://o/r") and "JSON values" in line, line
    assert peak < 120, f"{peak:.0f} MiB"  # parsed, the page cost 230+ MiB


def test_a_24_mib_tree_page_is_refused_by_size(serve: Callable[..., _Server]) -> None:
    srv = _page_server(serve, PAGES["empty objects"](24 << 20))
    r, peak = _peak_rss_mib(["list", "hf://o/r"], {"HF_ENDPOINT": srv.url, "HF_TOKEN": ""})
    line = _one_error_line(r)
    assert "larger than" in line, line
    assert peak < 120, f"{peak:.0f} MiB"  # 731 MiB before the budget


def test_json_values_never_undercounts() -> None:
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    leaf = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    tree = st.recursive(leaf, lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=30)

    def count(x: object) -> int:
        if isinstance(x, dict):
            return 1 + sum(1 + count(v) for v in x.values())
        if isinstance(x, list):
            return 1 + sum(count(v) for v in x)
        return 1

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(tree, st.booleans())
    def check(doc: object, ascii_only: bool) -> None:
        assert json_values(json.dumps(doc, ensure_ascii=ascii_only).encode()) >= count(doc)

    check()


def test_a_listing_past_the_entry_cap_stops_as_the_pages_come(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages are consumed one at a time and counted: past MAX_ENTRIES the listing stops with an
    error, and no page after that is requested (the hub test server has 3 entries per page)."""
    import hub_server

    from mckpt.errors import MckptError
    from mckpt.fetch.options import FetchOptions
    from mckpt.remote import hub_tree

    files = {f"o/r/er_seq-cifar10_None_200_5_20250101-00{i:02d}10_{i:08x}_last.pt": b"x" for i in range(30)}
    gen = hub_server.serve(files)
    hub = next(gen)
    try:
        opts = FetchOptions(endpoint=hub.hub_url, token=None)
        assert len(hub_tree.HubFolder(hub_tree.parse_hub_folder("hf://o/r"), opts).entries()) == 30
        before = len(hub.requests)
        monkeypatch.setattr(hub_tree, "MAX_ENTRIES", 10)
        with pytest.raises(MckptError, match="more than 10 entries") as e:
            hub_tree.HubFolder(hub_tree.parse_hub_folder("hf://o/r"), opts).entries()
        assert e.value.path == "hf://o/r"
        assert len(hub.requests) - before == 4  # pages of 3: the 4th passes 10, the 6th+ are never asked for
    finally:
        gen.close()
