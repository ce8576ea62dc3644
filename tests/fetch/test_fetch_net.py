"""fetch on a cluster's network and with the hub's conventions, against real servers on 127.0.0.1.

A forward proxy that wants Basic credentials (tests/proxy_server.py), an https CDN with a
self-signed certificate trusted through SSL_CERT_FILE, NO_PROXY with CIDR blocks, the token file
`hf auth login` writes, dataset repos, `--revision`, the huggingface_hub cache, and parallel
ranged downloads with their resume.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import hub_server
import proxy_server
import pytest
from hub_server import COMMIT, Hub
from proxy_server import Proxy

from mckpt.errors import MckptError
from mckpt.fetch.download import fetch
from mckpt.fetch.options import FetchOptions
from mckpt.io.transport import _bypassed, proxy_for
from mckpt.remote.http_file import open_remote

DATA = os.urandom(3_000_000)
OTHER = os.urandom(3_100_000)
SHA = hashlib.sha256(DATA).hexdigest()
URL = "hf://owner/repo/ckpt/model.pt"
_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
               "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HF_TOKEN",
               "HF_TOKEN_PATH", "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in _PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


@pytest.fixture
def hub() -> Iterator[Hub]:
    yield from hub_server.serve({"owner/repo/ckpt/model.pt": DATA, "datasets/owner/data/ckpt.pt": OTHER})


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    yield from proxy_server.serve()


@pytest.fixture
def opts(hub: Hub, tmp_path: Path) -> FetchOptions:
    return FetchOptions(endpoint=hub.hub_url, cache_dir=str(tmp_path / "cache"), backoff=0.001, retries=3,
                        timeout=20)


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl CLI to make a certificate")
    return hub_server.make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_cdn(hub: Hub, cert: tuple[Path, Path]) -> Iterator[str]:
    server, url = hub_server.serve_tls_cdn(hub, *cert)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()


def test_a_proxy_with_credentials_forwards_plain_http_without_connect(
        hub: Hub, proxy: Proxy, opts: FetchOptions, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    opts.token = "s3cret"
    r = fetch(URL, opts)
    assert Path(r.path).read_bytes() == DATA
    assert proxy.requests and all(ok and method == "GET" and target.startswith("http://127.0.0.1:")
                                  for method, target, ok in proxy.requests)  # absolute form, never CONNECT
    assert len(proxy.requests) == len(hub.requests)  # everything went through the proxy
    assert all("authorization" not in h for _, _, h in hub.cdn_requests())


def test_all_proxy_is_honoured(hub: Hub, proxy: Proxy, opts: FetchOptions, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", proxy.url)
    assert Path(fetch(URL, opts).path).read_bytes() == DATA and proxy.requests


def test_a_proxy_asking_for_credentials_is_explained(hub: Hub, proxy: Proxy, opts: FetchOptions,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://{proxy.address}")
    with pytest.raises(MckptError, match=r"wants credentials \(HTTP 407") as e:
        fetch(URL, opts)
    assert "user:password@" in (e.value.hint or "") and len(proxy.requests) == 1  # not retried


def test_an_https_target_goes_through_connect_and_trusts_ssl_cert_file(
        hub: Hub, proxy: Proxy, opts: FetchOptions, tls_cdn: str, cert: tuple[Path, Path],
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub.plain["model.pt"] = DATA
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    r = fetch(f"{tls_cdn}/plain/model.pt", opts)
    assert Path(r.path).read_bytes() == DATA
    assert [m for m, _, ok in proxy.requests if ok] == ["CONNECT"] and proxy.requests[-1][1] == tls_cdn[8:]


def test_an_untrusted_certificate_is_one_line_naming_ssl_cert_file(
        hub: Hub, opts: FetchOptions, tls_cdn: str) -> None:
    hub.plain["model.pt"] = DATA
    with pytest.raises(MckptError, match="TLS certificate check failed") as e:
        fetch(f"{tls_cdn}/plain/model.pt", opts)
    assert "SSL_CERT_FILE" in (e.value.hint or "") and not hub.cdn_requests()


def test_ssl_cert_dir_is_honoured(hub: Hub, opts: FetchOptions, tls_cdn: str, cert: tuple[Path, Path],
                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    hub.plain["model.pt"] = DATA
    certs = tmp_path / "certs"
    certs.mkdir()
    name = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(cert[0])], capture_output=True,
                          text=True, check=True).stdout.strip()
    shutil.copy(cert[0], certs / f"{name}.0")
    monkeypatch.setenv("SSL_CERT_DIR", str(certs))
    assert Path(fetch(f"{tls_cdn}/plain/model.pt", opts).path).read_bytes() == DATA


def test_no_proxy_with_a_cidr_block_goes_direct(hub: Hub, proxy: Proxy, opts: FetchOptions,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "10.0.0.0/8, 127.0.0.0/8")
    assert Path(fetch(URL, opts).path).read_bytes() == DATA
    assert proxy.requests == []


@pytest.mark.parametrize(("host", "port", "no_proxy", "bypass"), [
    ("127.0.0.1", 80, "127.0.0.0/8", True), ("10.1.2.3", 80, "10.0.0.0/8", True),
    ("11.1.2.3", 80, "10.0.0.0/8", False), ("::1", 80, "::1/128", True), ("[::1]", 80, "::1", True),
    ("hub.example.org", 443, ".example.org", True), ("example.org", 443, "example.org", True),
    ("badexample.org", 443, "example.org", False), ("a.b.example.org", 443, "*.example.org", True),
    ("x.org", 443, "*", True), ("x.org", 8080, "x.org:8080", True), ("x.org", 443, "x.org:8080", False),
    ("x.org", 443, "", False),
])
def test_no_proxy_rules(host: str, port: int, no_proxy: str, bypass: bool) -> None:
    assert _bypassed(host, port, no_proxy) is bypass


def test_proxy_for_prefers_the_scheme_then_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "http://all:1")
    monkeypatch.setenv("HTTPS_PROXY", "squid:3128")
    assert proxy_for("https://hub.example/x") == "http://squid:3128"
    assert proxy_for("http://hub.example/x") == "http://all:1"
    monkeypatch.setenv("NO_PROXY", "hub.example")
    assert proxy_for("https://hub.example/x") is None


@pytest.mark.parametrize("where", ["HF_TOKEN_PATH", "HF_HOME"])
def test_the_saved_token_file_is_used_when_hf_token_is_unset(
        hub: Hub, opts: FetchOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    hub.faults.require_token = "from-file"
    token = tmp_path / "tok" if where == "HF_TOKEN_PATH" else tmp_path / "hf-home" / "token"
    token.parent.mkdir(parents=True, exist_ok=True)
    token.write_text("from-file\n")
    if where == "HF_TOKEN_PATH":
        monkeypatch.setenv("HF_TOKEN_PATH", str(token))
    env_opts = FetchOptions.from_env(endpoint=hub.hub_url, cache_dir=opts.cache_dir)
    assert env_opts.token == "from-file"
    assert Path(fetch(URL, env_opts).path).read_bytes() == DATA
    monkeypatch.setenv("HF_TOKEN", "from-env")  # HF_TOKEN wins over the file
    assert FetchOptions.from_env().token == "from-env"


@pytest.mark.parametrize("spelling", ["hf://datasets/owner/data/ckpt.pt",
                                      "{hub}/datasets/owner/data/resolve/main/ckpt.pt",
                                      "{hub}/datasets/owner/data/blob/main/ckpt.pt"])
def test_a_dataset_repo_file(hub: Hub, opts: FetchOptions, spelling: str) -> None:
    r = fetch(spelling.format(hub=hub.hub_url), opts)
    assert Path(r.path).read_bytes() == OTHER and r.url.startswith(f"{hub.hub_url}/datasets/owner/data/resolve/")
    assert fetch("hf://datasets/owner/data/ckpt.pt", opts).from_cache  # one cache entry for every spelling


def test_revision_option_and_its_conflict_with_the_url(hub: Hub, opts: FetchOptions) -> None:
    opts.revision = COMMIT
    r = fetch(URL, opts)
    assert r.revision == COMMIT and f"/resolve/{COMMIT}/" in r.url and Path(r.path).read_bytes() == DATA
    with pytest.raises(MckptError, match="revision says"):
        fetch(f"{URL}@main", opts)
    with pytest.raises(MckptError, match="revision applies to hf:// and hub URLs only"):
        fetch(f"{hub.cdn_url}/plain/x.pt", opts)


def hf_cache_with(root: Path, data: bytes, blob_bytes: bytes | None = None) -> None:
    """A huggingface_hub cache holding ckpt/model.pt of owner/repo at COMMIT, named main."""
    sha = hashlib.sha256(data).hexdigest()
    repo = root / "models--owner--repo"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / sha).write_bytes(data if blob_bytes is None else blob_bytes)
    snap = repo / "snapshots" / COMMIT / "ckpt"
    snap.mkdir(parents=True)
    (snap / "model.pt").symlink_to(f"../../../blobs/{sha}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)


@pytest.mark.parametrize("how", ["online", "pinned", "offline"])
def test_a_file_in_the_huggingface_hub_cache_is_reused(hub: Hub, opts: FetchOptions, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    hf_cache_with(tmp_path / "hf-home" / "hub", DATA)
    opts.offline = how == "offline"
    r = fetch(f"{URL}@{COMMIT}" if how == "pinned" else URL, opts)
    assert Path(r.path).read_bytes() == DATA and r.from_cache and hub.cdn_bytes == 0
    if how != "online":
        assert hub.requests == []
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with open_remote(URL, FetchOptions.from_env(endpoint=hub.hub_url, cache_dir=str(tmp_path / "empty"))) as src:
        assert src.read_at(0, 4) == DATA[:4]


def test_a_damaged_blob_in_the_huggingface_hub_cache_is_not_trusted(
        hub: Hub, opts: FetchOptions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "elsewhere"))
    hf_cache_with(tmp_path / "elsewhere", DATA, blob_bytes=DATA[:-1] + b"!")
    r = fetch(URL, opts)
    assert Path(r.path).read_bytes() == DATA and not r.from_cache and hub.cdn_bytes == len(DATA)


@pytest.fixture
def parallel(opts: FetchOptions) -> FetchOptions:
    opts.parallel_min, opts.connections = 1 << 20, 4
    return opts


def ranged(hub: Hub) -> list[str]:
    return [h.get("range", "") for _, _, h in hub.cdn_requests()]


def test_parallel_ranged_download_is_exact_and_hashed(hub: Hub, parallel: FetchOptions) -> None:
    r = fetch(URL, parallel)
    assert Path(r.path).read_bytes() == DATA and r.sha256 == SHA and r.commit == COMMIT
    pieces = [x for x in ranged(hub) if x]
    assert len(pieces) >= 3 and all("if-range" in h for _, _, h in hub.cdn_requests()[1:])
    # the first GET is closed after its headers: what was in flight (socket buffers) is the only waste
    assert hub.cdn_bytes < len(DATA) + (1 << 20)


def test_parallel_pieces_survive_drops(hub: Hub, parallel: FetchOptions) -> None:
    hub.faults.drop_after, hub.faults.drops = 300_000, 3
    r = fetch(URL, parallel)
    assert Path(r.path).read_bytes() == DATA


def test_a_parallel_download_resumes_only_the_missing_ranges(hub: Hub, parallel: FetchOptions) -> None:
    hub.faults.drop_after, hub.faults.drops = 300_000, 100
    parallel.retries = 0
    with pytest.raises(MckptError, match="gave up"):
        fetch(URL, parallel)
    (info,) = Path(parallel.cache_dir).rglob("*.part.json")
    kept = sum(e - s for s, e in json.loads(info.read_text())["ranges"])
    assert 0 < kept < len(DATA)
    hub.faults.drops = 0
    r = fetch(URL, parallel)
    assert Path(r.path).read_bytes() == DATA and r.resumed_from == kept and r.transferred == len(DATA) - kept


def test_a_parallel_part_of_a_file_that_changed_is_not_spliced(hub: Hub, parallel: FetchOptions) -> None:
    hub.faults.drop_after, hub.faults.drops = 300_000, 100
    parallel.retries = 0
    with pytest.raises(MckptError):
        fetch(URL, parallel)
    hub.files["owner/repo/ckpt/model.pt"] = OTHER
    hub.faults.drops = 0
    r = fetch(URL, parallel)
    assert Path(r.path).read_bytes() == OTHER and r.resumed_from == 0


def test_a_plain_url_that_changes_under_a_parallel_download_restarts(hub: Hub, parallel: FetchOptions) -> None:
    hub.plain["model.pt"] = DATA
    hub.faults.drop_after, hub.faults.drops = 300_000, 100
    parallel.retries = 0
    with pytest.raises(MckptError):
        fetch(f"{hub.cdn_url}/plain/model.pt", parallel)
    hub.plain["model.pt"] = OTHER
    hub.faults.drops = 0
    r = fetch(f"{hub.cdn_url}/plain/model.pt", parallel)
    assert Path(r.path).read_bytes() == OTHER


def test_no_validator_means_one_stream(hub: Hub, parallel: FetchOptions) -> None:
    hub.plain["model.pt"] = DATA
    hub.faults.no_etag = True
    r = fetch(f"{hub.cdn_url}/plain/model.pt", parallel)
    # the probe's first MiB cannot be resumed safely without a validator: the whole file follows
    assert Path(r.path).read_bytes() == DATA and ranged(hub) == ["bytes=0-1048575", ""]


@pytest.fixture
def adaptive(opts: FetchOptions) -> FetchOptions:
    """The default policy (one stream, ranged connections when slow) on a file worth splitting."""
    opts.parallel_min, opts.connections = 1 << 20, None
    return opts


def spans(requests: list[str]) -> list[tuple[int, int | None]]:
    out = []
    for r in requests:
        a, _, b = r.removeprefix("bytes=").partition("-")
        out.append((int(a), int(b) + 1 if b else None))
    return out


def test_a_fast_stream_stays_one_stream(hub: Hub, adaptive: FetchOptions) -> None:
    adaptive.min_rate = 0.0  # every window is fast enough
    r = fetch(URL, adaptive)
    assert Path(r.path).read_bytes() == DATA and r.sha256 == SHA
    # the first MiB tells size and validator, the rest follows on one stream; neither is a resume
    assert ranged(hub) == ["bytes=0-1048575", "bytes=1048576-"] and r.resumed_from == 0
    assert r.transferred == len(DATA) == hub.cdn_bytes


def test_a_slow_stream_is_joined_by_ranged_connections(hub: Hub, adaptive: FetchOptions) -> None:
    adaptive.min_rate, adaptive.rate_window = float("inf"), 0.0  # the first window is already slow
    r = fetch(URL, adaptive)
    assert Path(r.path).read_bytes() == DATA and r.sha256 == SHA and r.resumed_from == 0
    probe, stream, *pieces = spans(ranged(hub))
    assert probe == (0, 1 << 20) and stream == (1 << 20, None) and len(pieces) >= 2
    # the stream's bytes are kept: the pieces cover exactly the rest, each once
    pieces.sort()
    assert pieces[0][0] > 1 << 20 and pieces[-1][1] == len(DATA)
    assert all(b == a2 for (_, b), (a2, _) in itertools.pairwise(pieces))
    assert all("if-range" in h for _, _, h in hub.cdn_requests()[2:])
    assert r.transferred == len(DATA)


def test_a_resumed_stream_that_is_slow_goes_parallel_for_the_rest_only(hub: Hub, adaptive: FetchOptions) -> None:
    hub.faults.drop_after, hub.faults.drops = 500_000, 1
    adaptive.retries = 0
    with pytest.raises(MckptError, match="gave up"):
        fetch(URL, adaptive)  # the first piece dropped after 500,000 bytes: one stream's .part
    kept, before = 500_000, len(hub.cdn_requests())
    assert [p.stat().st_size for p in Path(adaptive.cache_dir).rglob("*.part")] == [kept]
    adaptive.min_rate, adaptive.rate_window = float("inf"), 0.0
    r = fetch(URL, adaptive)
    assert Path(r.path).read_bytes() == DATA and r.resumed_from == kept
    assert r.transferred == len(DATA) - kept
    stream, *pieces = spans([h.get("range", "") for _, _, h in hub.cdn_requests()[before:]])
    assert stream == (kept, None) and pieces and min(a for a, _ in pieces) > kept


def test_hub_json_sends_the_token_to_the_hub_and_explains_errors(hub: Hub, proxy: Proxy,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from mckpt.io.hub_api import hub_json

    hub.faults.require_token = "tok"
    with pytest.raises(MckptError, match="HTTP 401") as e:
        hub_json("api/models/owner/repo", endpoint=hub.hub_url)
    assert "rerunning" not in (e.value.hint or "")
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    doc = hub_json("api/datasets/owner/data/revision/main", endpoint=hub.hub_url, token="tok")
    assert doc["sha"] == COMMIT and doc["siblings"] == [{"rfilename": "ckpt.pt"}] and proxy.requests


def test_hub_json_has_a_total_deadline(hub: Hub) -> None:
    from mckpt.io.hub_api import hub_json

    hub.faults.drip = 0.2
    with pytest.raises(MckptError, match="too slowly"):
        hub_json("api/models/owner/repo", endpoint=hub.hub_url, retries=1, backoff=0.001, deadline=1.0)


def test_a_connect_without_credentials_is_explained(hub: Hub, proxy: Proxy, opts: FetchOptions, tls_cdn: str,
                                                    cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://{proxy.address}")
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    with pytest.raises(MckptError, match=r"wants credentials \(HTTP 407"):
        fetch(f"{tls_cdn}/plain/model.pt", opts)
    assert [m for m, _, _ in proxy.requests] == ["CONNECT"]


def test_ctrl_c_during_a_parallel_download_keeps_the_done_ranges(hub: Hub, opts: FetchOptions) -> None:
    import signal
    import subprocess
    import sys
    import threading
    import time

    from conftest import REPO, sigint_default

    # the last piece (from 2 MiB) stops after 200,000 bytes and hangs; the others complete
    hub.faults.drop_after, hub.faults.drops, hub.faults.hold = 200_000, 1, threading.Event()
    hub.faults.drop_from = 2 << 20
    code = ("import sys; from mckpt.fetch.download import fetch; from mckpt.fetch.options import FetchOptions\n"
            "from mckpt.errors import MckptError\n"
            f"o = FetchOptions(endpoint={hub.hub_url!r}, cache_dir={opts.cache_dir!r}, parallel_min=1 << 20, "
            "connections=4, backoff=0.001)\n"
            "try:\n    fetch(sys.argv[1], o)\n"
            "except MckptError as e:\n    print(e, file=sys.stderr); sys.exit(e.exit_code)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, URL], env={**os.environ, "PYTHONPATH": str(REPO)},
                            stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    deadline = time.monotonic() + 60
    info = None
    while info is None or not json.loads(info.read_text()).get("ranges"):
        assert time.monotonic() < deadline and proc.poll() is None, "no range was ever recorded"
        time.sleep(0.05)
        info = next(Path(opts.cache_dir).rglob("*.part.json"), None)
    while hub.cdn_bytes < len(DATA) - 1_000_000:  # the other pieces land while one is held
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    hub.faults.hold.set()
    kept = sum(e - s for s, e in json.loads(info.read_text())["ranges"])
    assert proc.returncode == 130 and f"interrupted; {kept} bytes kept" in err
    assert 1 << 20 <= kept <= (2 << 20) + 200_000 < len(DATA)  # the probe's piece at least; never the whole
    r = fetch(URL, opts.__class__(**{**opts.__dict__, "parallel_min": 1 << 20, "connections": 4}))
    assert Path(r.path).read_bytes() == DATA and r.resumed_from == kept
