"""Hostile or broken servers against fetch and remote inspect: every fault ends byte-exact or absent.

Each case builds the fault on the hub imitation (tests/hub_server.py), runs the fetch in a thread
that must finish within a generous bound (a hang fails the test instead of hanging the suite),
and checks that the cache holds the source's exact bytes, or nothing under a final name.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import hub_server
import pytest
from hub_server import Hub

from mckpt.errors import MckptError
from mckpt.fetch.download import fetch
from mckpt.fetch.options import FetchOptions
from mckpt.io.http_source import HttpSource

T = TypeVar("T")
DATA = os.urandom(3_000_000)
OTHER = os.urandom(3_000_000)
URL = "hf://owner/repo/ckpt/model.pt"
POINTER = (f"version https://git-lfs.github.com/spec/v1\noid sha256:{hashlib.sha256(DATA).hexdigest()}\n"
           f"size {len(DATA)}\n").encode()


def bounded(call: Callable[[], T], seconds: float = 90) -> T:
    """Run `call` in a thread; fail if it is still running after `seconds` (a hang, not a slow run)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as e:  # re-raised below in the test's thread
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still running after {seconds} s"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


@pytest.fixture
def hub() -> Iterator[Hub]:
    yield from hub_server.serve({"owner/repo/ckpt/model.pt": DATA})


@pytest.fixture
def opts(hub: Hub, tmp_path: Path) -> FetchOptions:
    return FetchOptions(endpoint=hub.hub_url, cache_dir=str(tmp_path / "cache"), backoff=0.001, retries=3,
                        timeout=10)


def cache_files(cache: str) -> list[Path]:
    """Completed files under a final name (no .part, records or locks)."""
    return [p for p in Path(cache).rglob("*") if p.is_file() and p.suffix not in (".part", ".json", ".lock")
            and p.name != "CACHEDIR.TAG"]  # the cache's mark is not a cached file


def exact_or_absent(cache: str) -> None:
    for p in cache_files(cache):
        assert p.read_bytes() == DATA, f"{p} is not the source's bytes"


@pytest.mark.parametrize("body", [POINTER, b"x" * 131], ids=["lfs-pointer", "short-body"])
def test_a_short_200_after_x_linked_size_ends_instead_of_looping(hub: Hub, opts: FetchOptions, body: bytes) -> None:
    hub.faults.short_200 = body
    with pytest.raises(MckptError, match=r"Git LFS pointer|size check failed") as e:
        bounded(lambda: fetch(URL, opts))
    assert "\n" not in str(e.value)
    assert len(hub.cdn_requests()) <= opts.retries + 1
    assert not cache_files(opts.cache_dir) and not list(Path(opts.cache_dir).rglob("*.part"))


def test_retries_are_bounded_across_restarts(hub: Hub, opts: FetchOptions) -> None:
    """Every attempt drops at the same byte and the server ignores ranges: no attempt gets further."""
    hub.faults.drop_after, hub.faults.drops, hub.faults.ignore_range = 1_000_000, 10_000, True
    with pytest.raises(MckptError, match="gave up after 3 retries"):
        bounded(lambda: fetch(URL, opts))
    assert len(hub.cdn_requests()) == 1 + opts.retries
    exact_or_absent(opts.cache_dir)


@pytest.mark.parametrize("fault", ["splice-no-etag", "wrong-content-range", "range-of-other-total"])
@pytest.mark.parametrize("where", ["hub", "plain"])
def test_a_resume_with_other_bytes_is_a_restart_never_a_splice(hub: Hub, opts: FetchOptions, fault: str,
                                                              where: str) -> None:
    hub.plain["model.pt"] = DATA
    url = URL if where == "hub" else f"{hub.cdn_url}/plain/model.pt"
    hub.faults.drop_after, hub.faults.drops = 1_000_000, 1
    if fault == "splice-no-etag":
        hub.faults.splice = OTHER  # a 206 with no ETag, of a changed file
    elif fault == "wrong-content-range":
        hub.faults.content_range = f"bytes 0-1999999/{len(DATA)}"
    else:
        hub.faults.content_range = f"bytes 1000000-{len(DATA) + 9}/{len(DATA) + 10}"
    r = bounded(lambda: fetch(url, opts))
    assert Path(r.path).read_bytes() == DATA and r.resumed_from == 0
    exact_or_absent(opts.cache_dir)


def test_an_endless_206_on_resume_is_cut_at_the_announced_size(hub: Hub, opts: FetchOptions) -> None:
    hub.faults.drop_after, hub.faults.drops = 1_000_000, 1
    hub.faults.endless_206 = True
    with pytest.raises(MckptError, match="size check failed"):
        bounded(lambda: fetch(URL, opts))
    assert not cache_files(opts.cache_dir) and not list(Path(opts.cache_dir).rglob("*.part"))


@pytest.mark.parametrize(("fault", "message"), [("html_200", "web page"), ("gzip", "gzip-encoded")])
def test_an_html_page_or_an_encoded_body_is_never_stored(hub: Hub, opts: FetchOptions, fault: str,
                                                         message: str) -> None:
    setattr(hub.faults, fault, True)
    with pytest.raises(MckptError, match=message):
        bounded(lambda: fetch(URL, opts))
    assert not cache_files(opts.cache_dir) and not list(Path(opts.cache_dir).rglob("*.part"))
    assert all(h.get("accept-encoding") == "identity" for _, _, h in hub.requests)


@pytest.mark.parametrize("location", ["http://127.0.0.1:99999/x.pt", "http://[::1", "http://127.0.0.1:1/a b.pt",
                                      "ftp://127.0.0.1/x.pt"])
@pytest.mark.parametrize("command", ["fetch", "inspect"])
def test_a_redirect_to_a_bad_url_is_one_line_about_the_server(hub: Hub, opts: FetchOptions, location: str,
                                                             command: str) -> None:
    hub.faults.redirect_to = location
    call = (lambda: fetch(URL, opts)) if command == "fetch" else (
        lambda: HttpSource(URL, endpoint=hub.hub_url, timeout=10, retries=3, backoff=0.001))
    with pytest.raises(MckptError, match=r"redirected to a(n unsupported| malformed) URL") as e:
        bounded(call)
    assert "\n" not in str(e.value) and len(hub.requests) == 1  # not retried as a network failure


def test_remote_inspect_reads_at_most_what_it_asked_of_an_endless_206(hub: Hub) -> None:
    hub.faults.endless_206, hub.faults.faulty_from = True, 0
    hub.faults.content_range = f"bytes 0-65535/{len(DATA)}"
    src = bounded(lambda: HttpSource(URL, endpoint=hub.hub_url, timeout=10, retries=0))
    try:
        assert src.size == len(DATA) and src.bytes_read == 65536
    finally:
        src.close()


def test_remote_inspect_gives_up_on_a_dripping_server(hub: Hub) -> None:
    hub.faults.drip = 0.2  # one byte every 0.2 s: never a read timeout, never an answer
    with pytest.raises(MckptError, match="sent too slowly") as e:
        bounded(lambda: HttpSource(URL, endpoint=hub.hub_url, timeout=10, deadline=1.0, retries=1,
                                   backoff=0.001))
    assert "rerunning" not in (e.value.hint or "")


def test_remote_inspect_checks_the_content_range(hub: Hub) -> None:
    hub.faults.content_range, hub.faults.faulty_from = f"bytes 100-65635/{len(DATA)}", 0
    with pytest.raises(MckptError, match="Content-Range"):
        bounded(lambda: HttpSource(URL, endpoint=hub.hub_url, timeout=10, retries=0))
