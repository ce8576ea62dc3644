"""A real HTTP imitation of the Hugging Face hub and its CDN, on 127.0.0.1, with fault injection.

`/<owner>/<repo>/resolve/<rev>/<path>` on the hub answers like huggingface.co for an LFS file: a
302 to the CDN with X-Linked-Etag (the sha256), X-Linked-Size and X-Repo-Commit. The CDN serves
`/blob/<sha256>` with Range, If-Range, If-Match, If-None-Match and an ETag, and counts every body
byte it sends, so tests can say how much a fetch transferred. `/plain/<name>` on the CDN is an
ordinary web file. Faults are set on `Hub.faults` between or before requests.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Faults:
    drop_after: int | None = None  # close the connection after sending this many body bytes…
    drops: int = 0  # …this many times
    errors_500: int = 0  # answer 500 to this many CDN requests
    ignore_range: bool = False
    require_token: str | None = None
    lfs_pointer: bool = False  # the hub serves the pointer text itself (like a raw/ URL)
    wrong_sha: bool = False  # X-Linked-Etag names other bytes
    hold: threading.Event | None = None  # after `drop_after` bytes, wait for this instead of dropping


@dataclass
class Hub:
    files: dict[str, bytes] = field(default_factory=dict)  # "owner/repo/path" -> bytes
    plain: dict[str, bytes] = field(default_factory=dict)  # name -> bytes (served at /plain/<name>)
    faults: Faults = field(default_factory=Faults)
    cdn_bytes: int = 0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    hub_url: str = ""
    cdn_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def blobs(self) -> dict[str, bytes]:
        return {hashlib.sha256(b).hexdigest(): b for b in self.files.values()}

    def log(self, server: str, path: str, headers: dict[str, str]) -> None:
        with self.lock:
            self.requests.append((server, path, headers))

    def cdn_requests(self) -> list[tuple[str, str, dict[str, str]]]:
        return [r for r in self.requests if r[0] == "cdn"]


class _Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: Hub
    server_name_: str

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _reply(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class HubHandler(_Base):
    def do_GET(self) -> None:
        hub = self.hub
        hub.log("hub", self.path, self._headers())
        if self.path.startswith("/api/"):
            tree_api(self)
            return
        m = re.fullmatch(r"/((?:datasets/)?[^/]+/[^/]+)/resolve/([^/]+)/(.+)", unquote(self.path))
        f = hub.faults
        if f.require_token and self.headers.get("Authorization") != f"Bearer {f.require_token}":
            self._reply(401, {"X-Error-Code": "GatedRepo"}, b"gated")
            return
        if not m:
            self._reply(404, {"X-Error-Code": "RepoNotFound"})
            return
        repo, rev, path = m.groups()
        if rev not in ("main", COMMIT):
            self._reply(404, {"X-Error-Code": "RevisionNotFound"})
            return
        data = hub.files.get(f"{repo}/{path}")
        if data is None:
            self._reply(404, {"X-Error-Code": "EntryNotFound" if any(
                k.startswith(repo + "/") for k in hub.files) else "RepoNotFound"})
            return
        sha = hashlib.sha256(data).hexdigest()
        if f.lfs_pointer:
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n"
            self._reply(200, {"ETag": '"abc"'}, pointer.encode())
            return
        linked = hashlib.sha256(b"other").hexdigest() if f.wrong_sha else sha
        self._reply(302, {"Location": f"{hub.cdn_url}/blob/{sha}", "X-Linked-Etag": f'"{linked}"',
                          "X-Linked-Size": str(len(data)), "X-Repo-Commit": COMMIT, "ETag": f'"{linked}"'})

    do_HEAD = do_GET


class CdnHandler(_Base):
    def do_GET(self) -> None:
        hub = self.hub
        hub.log("cdn", self.path, self._headers())
        f = hub.faults
        if f.errors_500 > 0:
            f.errors_500 -= 1
            self._reply(500, body=b"boom")
            return
        name = unquote(self.path)
        if name.startswith("/blob/"):
            data = hub.blobs().get(name[6:])
        elif name.startswith("/plain/"):
            data = hub.plain.get(name[7:])
        else:
            data = None
        if data is None:
            self._reply(404)
            return
        etag = f'"{hashlib.sha256(data).hexdigest()[:20]}"'
        if self.headers.get("If-None-Match") == etag:
            self._reply(304, {"ETag": etag})
            return
        if (im := self.headers.get("If-Match")) and im != etag:
            self._reply(412, {"ETag": etag})
            return
        start, end, status = 0, len(data) - 1, 200
        rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if_range = self.headers.get("If-Range")
        if rng and not f.ignore_range and (if_range is None or if_range == etag):
            start = int(rng[1])
            end = min(int(rng[2]), len(data) - 1) if rng[2] else len(data) - 1
            if start >= len(data):
                self._reply(416, {"Content-Range": f"bytes */{len(data)}"})
                return
            status = 206
        body = data[start : end + 1]
        self.send_response(status)
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if f.drop_after is not None and f.drops > 0 and len(body) > f.drop_after:
            f.drops -= 1
            self._send(body[: f.drop_after])
            if f.hold is not None:
                f.hold.wait(30)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self._send(body)

    def _send(self, body: bytes) -> None:
        view = memoryview(body)
        step = 1 << 16
        for i in range(0, len(view), step):
            piece = view[i : i + step]
            self.wfile.write(piece)
            with self.hub.lock:
                self.hub.cdn_bytes += len(piece)


# --- the tree API (`list hf://…`): its own block --------------------------------------------------

TREE_PAGE = 3  # entries per page, small so that every listing in the tests is paginated


def tree_api(handler: HubHandler) -> None:
    """`/api/{models|datasets}/<owner>/<repo>/tree/<rev>[/<path>][?recursive=true][&cursor=N]`, as the
    hub answers it: files (with `lfs.oid`/`lfs.size`) and directories, TREE_PAGE per page, the next
    page named by `Link: <…>; rel="next"`. Dataset files are keyed `datasets/<owner>/<repo>/<path>`."""
    hub = handler.hub
    url = urlsplit(handler.path)
    query = parse_qs(url.query)
    m = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", unquote(url.path))
    f = hub.faults
    if f.require_token and handler.headers.get("Authorization") != f"Bearer {f.require_token}":
        handler._reply(401, {"X-Error-Code": "GatedRepo"}, b"gated")
        return
    if not m:
        handler._reply(404, {"X-Error-Code": "RepoNotFound"})
        return
    kind, repo, rev, folder = m[1], m[2], m[3], (m[4] or "").strip("/")
    key = f"datasets/{repo}" if kind == "datasets" else repo
    files = {k[len(key) + 1:]: v for k, v in hub.files.items() if k.startswith(key + "/")}
    if not files:
        handler._reply(404, {"X-Error-Code": "RepoNotFound"})
        return
    if rev not in ("main", COMMIT):
        handler._reply(404, {"X-Error-Code": "RevisionNotFound"})
        return
    prefix = f"{folder}/" if folder else ""
    under = sorted(p for p in files if p.startswith(prefix))
    if folder and not under:
        handler._reply(404, {"X-Error-Code": "EntryNotFound"})
        return
    entries: list[dict[str, object]] = []
    dirs: set[str] = set()
    for path in under:
        rest = path[len(prefix):]
        if "/" in rest and query.get("recursive") != ["true"]:
            dirs.add(prefix + rest.split("/", 1)[0])
            continue
        data = files[path]
        sha = hashlib.sha256(data).hexdigest()
        entries.append({"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": path,
                        "lfs": {"oid": sha, "size": len(data), "pointerSize": 134}})
    entries += [{"type": "directory", "oid": "0" * 40, "size": 0, "path": d} for d in sorted(dirs)]
    cursor = int(query.get("cursor", ["0"])[0])
    page = entries[cursor : cursor + TREE_PAGE]
    headers = {"Content-Type": "application/json"}
    if cursor + TREE_PAGE < len(entries):
        rec = "&recursive=true" if query.get("recursive") == ["true"] else ""
        headers["Link"] = f'<{hub.hub_url}{url.path}?cursor={cursor + TREE_PAGE}{rec}>; rel="next"'
    handler._reply(200, headers, json.dumps(page).encode())


def _serve(handler: type[_Base], hub: Hub) -> ThreadingHTTPServer:
    cls = type(handler.__name__, (handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), cls)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
    return server


def start(hub: Hub) -> tuple[ThreadingHTTPServer, ThreadingHTTPServer]:
    """Start the hub and the CDN on free ports of 127.0.0.1; returns both servers."""
    hub_srv, cdn_srv = _serve(HubHandler, hub), _serve(CdnHandler, hub)
    hub.hub_url = f"http://127.0.0.1:{hub_srv.server_address[1]}"
    hub.cdn_url = f"http://127.0.0.1:{cdn_srv.server_address[1]}"
    return hub_srv, cdn_srv


def serve(files: dict[str, bytes] | None = None) -> Iterator[Hub]:
    """Generator for a pytest fixture: a running hub + CDN, shut down afterwards."""
    hub = Hub(files=dict(files or {}))
    servers = start(hub)
    try:
        yield hub
    finally:
        if hub.faults.hold is not None:
            hub.faults.hold.set()
        for s in servers:
            s.shutdown()
            s.server_close()


def mammoth_checkpoint(path: Path, tensor_mb: int = 4) -> bytes:
    """A real torch.save of a Mammoth-shaped checkpoint (args, results, model); returns its bytes."""
    import argparse

    import torch

    n = tensor_mb * (1 << 20) // 4
    ckpt = {
        "model": {"net.fc.weight": torch.arange(n, dtype=torch.float32), "net.fc.bias": torch.zeros(10)},
        "args": argparse.Namespace(model="er", dataset="seq-cifar10", buffer_size=500, n_epochs=1, lr=0.1),
        "results": [[[91.5], [80.0, 88.0]], [[95.0], [90.0, 93.0]], {}],
    }
    torch.save(ckpt, path)
    return path.read_bytes()
