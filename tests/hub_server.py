"""A real HTTP imitation of the Hugging Face hub and its CDN, on 127.0.0.1, with fault injection.

`/<owner>/<repo>/resolve/<rev>/<path>` on the hub answers like huggingface.co for an LFS file: a
302 to the CDN with X-Linked-Etag (the sha256), X-Linked-Size and X-Repo-Commit. The CDN serves
`/blob/<sha256>` with Range, If-Range, If-Match, If-None-Match and an ETag, and counts every body
byte it sends, so tests can say how much a fetch transferred. `/plain/<name>` on the CDN is an
ordinary web file. Faults are set on `Hub.faults` between or before requests.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Faults:
    drop_after: int | None = None  # close the connection after sending this many body bytes…
    drops: int = 0  # …this many times
    drop_from: int = 0  # …in answers whose first byte is at least this offset
    errors_500: int = 0  # answer 500 to this many CDN requests
    ignore_range: bool = False
    require_token: str | None = None
    lfs_pointer: bool = False  # the hub serves the pointer text itself (like a raw/ URL)
    wrong_sha: bool = False  # X-Linked-Etag names other bytes
    hold: threading.Event | None = None  # after `drop_after` bytes, wait for this instead of dropping
    short_200: bytes | None = None  # the CDN answers every request with 200 and these bytes
    splice: bytes | None = None  # range requests get 206s of these bytes, with no ETag
    content_range: str | None = None  # 206s carry this Content-Range instead of the true one
    endless_206: bool = False  # 206s have no length and never end
    drip: float | None = None  # send the body one byte every this many seconds
    redirect_to: str | None = None  # the hub's resolve answers 302 to this Location
    html_200: bool = False  # the CDN answers 200 with an HTML error page
    gzip: bool = False  # the CDN gzips the body and says Content-Encoding: gzip
    no_etag: bool = False  # the CDN sends neither ETag nor Last-Modified
    faulty_from: int = 1  # splice, content_range and endless_206 hit ranges starting here or later (resumes)
    hold_uploads: threading.Event | None = None  # an LFS upload (PUT, logged as "lfs") waits for this first


@dataclass
class Hub:
    files: dict[str, bytes] = field(default_factory=dict)  # "owner/repo/path" -> bytes
    repos: set[str] = field(default_factory=set)  # repos that exist without files yet ("owner/repo")
    lfs: dict[str, bytes] = field(default_factory=dict)  # uploaded LFS objects by sha256, not yet committed
    commits: int = 0
    plain: dict[str, bytes] = field(default_factory=dict)  # name -> bytes (served at /plain/<name>)
    faults: Faults = field(default_factory=Faults)
    cdn_bytes: int = 0
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    hub_url: str = ""
    cdn_url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopped: threading.Event = field(default_factory=threading.Event)

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

    def _drip(self, body: bytes, every: float) -> None:
        self.close_connection = True
        try:
            for i in range(len(body)):
                if self.hub.stopped.wait(every):
                    return
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
        except OSError:
            pass


class HubHandler(_Base):
    def do_GET(self) -> None:
        hub = self.hub
        hub.log("hub", self.path, self._headers())
        m = re.fullmatch(r"/((?:datasets/|spaces/)?[^/]+/[^/]+)/resolve/([^/]+)/(.+)", unquote(self.path))
        f = hub.faults
        if f.require_token and self.headers.get("Authorization") != f"Bearer {f.require_token}":
            self._reply(401, {"X-Error-Code": "GatedRepo"}, b"gated")
            return
        if re.match(r"/api/[^/]+/[^/]+/[^/]+/tree/", self.path):
            tree_api(self)
            return
        api = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/?]+)(?:/revision/([^/?]+))?(\?.*)?",
                           unquote(self.path))
        if api:
            self._api(*api.groups()[:3])
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
        self._reply(302, {"Location": f.redirect_to or f"{hub.cdn_url}/blob/{sha}", "X-Linked-Etag": f'"{linked}"',
                          "X-Linked-Size": str(len(data)), "X-Repo-Commit": COMMIT, "ETag": f'"{linked}"'})

    def _api(self, kind: str, repo: str, rev: str | None) -> None:
        """`/api/models/<repo>[/revision/<rev>]`: the repo's commit and files, like huggingface.co."""
        prefix = "" if kind == "models" else f"{kind}/"
        names = [k[len(prefix) + len(repo) + 1:] for k in self.hub.files if k.startswith(f"{prefix}{repo}/")]
        if not names and f"{prefix}{repo}" not in self.hub.repos:
            self._reply(404, {"X-Error-Code": "RepoNotFound"})
            return
        if self.hub.faults.drip is not None:
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self._drip(b" " * 1000, self.hub.faults.drip)
            return
        doc = {"id": repo, "sha": COMMIT, "siblings": [{"rfilename": n} for n in sorted(names)]}
        self._reply(200, {"Content-Type": "application/json"}, json.dumps(doc).encode())

    do_HEAD = do_GET

    # --- the upload API huggingface_hub's create_commit speaks (basic LFS transfer, no Xet) ---------

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _authorized(self) -> bool:
        f = self.hub.faults
        if f.require_token and self.headers.get("Authorization") != f"Bearer {f.require_token}":
            self._body()
            self._reply(401, {"X-Error-Code": "Unauthorized", "Content-Type": "application/json"},
                        b'{"error": "Invalid credentials in Authorization header"}')
            return False
        return True

    def _known(self, repo: str) -> bool:
        return repo in self.hub.repos or any(k.startswith(repo + "/") for k in self.hub.files)

    def do_POST(self) -> None:
        hub = self.hub
        path = unquote(urlsplit(self.path).path)
        hub.log("hub", self.path, self._headers())
        if not self._authorized():
            return
        if path == "/api/validate-yaml":
            self._body()
            self._reply(200, {"Content-Type": "application/json"}, b'{"errors": [], "warnings": []}')
            return
        m = re.fullmatch(r"/api/(models|datasets)/([^/]+/[^/]+)/(preupload|commit)/([^/]+)", path)
        lfs = re.fullmatch(r"/((?:datasets/)?[^/]+/[^/]+)\.git/info/lfs/objects/batch", path)
        repo = (("" if m[1] == "models" else "datasets/") + m[2]) if m else lfs[1] if lfs else None
        if repo is None or not self._known(repo):
            self._body()
            self._reply(404, {"X-Error-Code": "RepoNotFound"}, b'{"error": "Repository not found"}')
            return
        body = self._body()
        if lfs:
            objects = [{"oid": o["oid"], "size": o["size"], "authenticated": True,
                        "actions": {"upload": {"href": f"{hub.hub_url}/lfs-upload/{o['oid']}"}}}
                       for o in json.loads(body)["objects"]]
            self._reply(200, {"Content-Type": "application/vnd.git-lfs+json"},
                        json.dumps({"transfer": "basic", "objects": objects}).encode())
        elif m[3] == "preupload":
            files = [{"path": f["path"], "uploadMode": "regular" if f["path"].endswith((".md", ".json")) else "lfs",
                      "shouldIgnore": False, "oid": None} for f in json.loads(body)["files"]]
            self._reply(200, {"Content-Type": "application/json"}, json.dumps({"files": files}).encode())
        else:
            self._commit(repo, [json.loads(line) for line in body.splitlines() if line.strip()])

    def _commit(self, repo: str, items: list[dict[str, Any]]) -> None:
        """Apply an ndjson commit at once (all files or none), refusing a stale parentCommit."""
        hub = self.hub
        header = items[0]["value"]
        if header.get("parentCommit") not in (None, COMMIT):
            self._reply(412, {"Content-Type": "application/json"}, b'{"error": "parent commit is not the head"}')
            return
        new: dict[str, bytes] = {}
        for item in items[1:]:
            value = item["value"]
            if item["key"] == "file":
                new[f"{repo}/{value['path']}"] = base64.b64decode(value["content"])
            elif item["key"] == "lfsFile":
                if value["oid"] not in hub.lfs:
                    self._reply(422, {"Content-Type": "application/json"}, b'{"error": "LFS object not uploaded"}')
                    return
                new[f"{repo}/{value['path']}"] = hub.lfs[value["oid"]]
        with hub.lock:
            hub.files.update(new)
            hub.commits += 1
        self._reply(200, {"Content-Type": "application/json"}, json.dumps(
            {"commitUrl": f"{hub.hub_url}/{repo}/commit/{COMMIT}", "commitOid": COMMIT}).encode())

    def do_PUT(self) -> None:
        self.hub.log("lfs", self.path, self._headers())
        if self.hub.faults.hold_uploads is not None:
            self.hub.faults.hold_uploads.wait(30)
        m = re.fullmatch(r"/lfs-upload/([0-9a-f]{64})", self.path)
        body = self._body()
        if not m or hashlib.sha256(body).hexdigest() != m[1]:
            self._reply(400, body=b"bad upload")
            return
        with self.hub.lock:
            self.hub.lfs[m[1]] = body
        self._reply(200)


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
        if f.short_200 is not None:
            self._reply(200, {"ETag": '"short"'}, f.short_200)
            return
        if f.html_200:
            self._reply(200, {"Content-Type": "text/html; charset=utf-8"},
                        b"<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>")
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
        resume = bool(rng) and int(rng[1]) >= f.faulty_from
        if resume and f.splice is not None:
            data, etag, if_range = f.splice, "", None
        if rng and not f.ignore_range and (if_range is None or if_range == etag):
            start = int(rng[1])
            end = min(int(rng[2]), len(data) - 1) if rng[2] else len(data) - 1
            if start >= len(data):
                self._reply(416, {"Content-Range": f"bytes */{len(data)}"})
                return
            status = 206
        body = data[start : end + 1]
        if f.gzip:
            body = gzip.compress(body)
        self.send_response(status)
        if etag and not f.no_etag:
            self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        if f.gzip:
            self.send_header("Content-Encoding", "gzip")
        if status == 206:
            self.send_header("Content-Range", (resume and f.content_range) or f"bytes {start}-{end}/{len(data)}")
        if status == 206 and resume and f.endless_206:
            self.send_header("Connection", "close")
            self.end_headers()
            self._endless()
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if f.drip is not None:
            self._drip(body, f.drip)
            return
        if f.drop_after is not None and f.drops > 0 and len(body) > f.drop_after and start >= f.drop_from:
            f.drops -= 1
            self._send(body[: f.drop_after])
            if f.hold is not None:
                f.hold.wait(30)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self._send(body)

    def _endless(self) -> None:
        self.close_connection = True
        piece = b"\0" * (1 << 16)
        try:
            while not self.hub.stopped.is_set():
                self.wfile.write(piece)
                with self.hub.lock:
                    self.hub.cdn_bytes += len(piece)
        except OSError:
            pass  # the client hung up, as it should


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
    """`/api/{models|datasets|spaces}/<owner>/<repo>/tree/<rev>[/<path>][?recursive=true][&cursor=N]`, as the
    hub answers it: files (with `lfs.oid`/`lfs.size`) and directories, TREE_PAGE per page, the next
    page named by `Link: <…>; rel="next"`. Dataset and space files are keyed `datasets/<owner>/<repo>/<path>`
    (`spaces/…`). The token check is the caller's (do_GET)."""
    hub = handler.hub
    url = urlsplit(handler.path)
    query = parse_qs(url.query)
    m = re.fullmatch(r"/api/(models|datasets|spaces)/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", unquote(url.path))
    if not m:
        handler._reply(404, {"X-Error-Code": "RepoNotFound"})
        return
    kind, repo, rev, folder = m[1], m[2], m[3], (m[4] or "").strip("/")
    key = repo if kind == "models" else f"{kind}/{repo}"
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


def _serve(handler: type[_Base], hub: Hub, tls: Any = None) -> ThreadingHTTPServer:
    cls = type(handler.__name__, (handler,), {"hub": hub})
    server = ThreadingHTTPServer(("127.0.0.1", 0), cls)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
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
        hub.stopped.set()
        for event in (hub.faults.hold, hub.faults.hold_uploads):
            if event is not None:
                event.set()
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


def make_cert(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl CLI); returns (cert, key)."""
    import subprocess

    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    return cert, key


def serve_tls_cdn(hub: Hub, cert: Path, key: Path) -> tuple[ThreadingHTTPServer, str]:
    """The same CDN over https (for proxies' CONNECT and SSL_CERT_FILE); returns (server, base URL)."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = _serve(CdnHandler, hub, ctx)
    return server, f"https://127.0.0.1:{server.server_address[1]}"
