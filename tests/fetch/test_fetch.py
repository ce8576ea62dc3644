"""mckpt.fetch.download.fetch against a real hub + CDN on 127.0.0.1, one injected fault at a time.

For every fault the invariant is the same: the cached file is byte-identical to the source, or
there is none, and never a partial file under the final name.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import hub_server
import pytest
from hub_server import COMMIT, Hub

from mckpt.errors import MckptError
from mckpt.fetch.cache import CacheEntry, PartInfo
from mckpt.fetch.download import fetch
from mckpt.fetch.options import FetchOptions
from mckpt.io.urls import parse_source

# Seeded, so a failure replays with the same bytes.
DATA = random.Random("mckpt-fetch-data").randbytes(3_000_000)
OTHER = random.Random("mckpt-fetch-other").randbytes(2_500_000)
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def hub() -> Iterator[Hub]:
    yield from hub_server.serve({"owner/repo/ckpt/model.pt": DATA})


@pytest.fixture
def opts(hub: Hub, tmp_path: Path) -> FetchOptions:
    return FetchOptions(endpoint=hub.hub_url, cache_dir=str(tmp_path / "cache"), backoff=0.001, retries=3)


def finals(cache: str) -> list[Path]:
    """Every completed file in the cache (the .part, records, locks and the cache's mark excluded)."""
    return [p for p in Path(cache).rglob("*") if p.is_file() and p.suffix not in (".part", ".json", ".lock")
            and p.name != "CACHEDIR.TAG"]


def test_plain_download_verifies_and_records_hub_metadata(hub: Hub, opts: FetchOptions) -> None:
    r = fetch("hf://owner/repo/ckpt/model.pt", opts)
    assert Path(r.path).read_bytes() == DATA
    assert (r.sha256, r.size, r.commit, r.from_cache) == (SHA, len(DATA), COMMIT, False)
    assert hub.cdn_bytes == len(DATA) and r.transferred == len(DATA)
    assert not list(Path(opts.cache_dir).rglob("*.part"))


def test_every_spelling_of_a_hub_file_shares_the_cache(hub: Hub, opts: FetchOptions) -> None:
    fetch("hf://owner/repo/ckpt/model.pt@main", opts)
    sent = hub.cdn_bytes
    for url in (f"{hub.hub_url}/owner/repo/resolve/main/ckpt/model.pt",
                f"{hub.hub_url}/owner/repo/blob/main/ckpt/model.pt"):
        r = fetch(url, opts)
        assert r.from_cache and r.transferred == 0
    assert hub.cdn_bytes == sent
    assert len(hub.cdn_requests()) == 1  # the hub's X-Linked-Etag settled it; the CDN was not asked


def test_pinned_revision_is_served_from_cache_without_any_request(hub: Hub, opts: FetchOptions) -> None:
    fetch(f"hf://owner/repo/ckpt/model.pt@{COMMIT}", opts)
    before = len(hub.requests)
    r = fetch(f"hf://owner/repo/ckpt/model.pt@{COMMIT}", opts)
    assert r.from_cache and len(hub.requests) == before


def test_dropped_connections_resume_transferring_only_missing_bytes(hub: Hub, opts: FetchOptions) -> None:
    hub.faults.drop_after, hub.faults.drops = 700_000, 3
    r = fetch("hf://owner/repo/ckpt/model.pt", opts)
    assert Path(r.path).read_bytes() == DATA
    assert hub.cdn_bytes == len(DATA)  # every byte crossed the wire exactly once
    ranges = [h.get("range") for _, _, h in hub.cdn_requests()]
    # the first request asks for the first 8 MiB (the probe: the whole of a small file)
    assert ranges == ["bytes=0-8388607", "bytes=700000-", "bytes=1400000-", "bytes=2100000-"]


def test_a_failed_run_keeps_the_part_and_the_next_run_resumes(hub: Hub, opts: FetchOptions) -> None:
    hub.faults.drop_after, hub.faults.drops = 1_000_000, 1
    opts.retries = 0
    with pytest.raises(MckptError, match="gave up"):
        fetch("hf://owner/repo/ckpt/model.pt", opts)
    parts = list(Path(opts.cache_dir).rglob("*.part"))
    assert [p.stat().st_size for p in parts] == [1_000_000] and not finals(opts.cache_dir)
    r = fetch("hf://owner/repo/ckpt/model.pt", opts)
    assert Path(r.path).read_bytes() == DATA and r.resumed_from == 1_000_000
    assert hub.cdn_bytes == len(DATA)


def test_server_errors_are_retried(hub: Hub, opts: FetchOptions) -> None:
    hub.faults.errors_500 = 2
    r = fetch("hf://owner/repo/ckpt/model.pt", opts)
    assert Path(r.path).read_bytes() == DATA and len(hub.cdn_requests()) == 3


def test_persistent_server_errors_give_up_with_one_line(hub: Hub, opts: FetchOptions) -> None:
    hub.faults.errors_500 = 100
    with pytest.raises(MckptError, match=r"HTTP 500.*gave up after 3 retries"):
        fetch("hf://owner/repo/ckpt/model.pt", opts)
    assert not finals(opts.cache_dir)


def test_a_server_ignoring_range_means_a_clean_restart(hub: Hub, opts: FetchOptions) -> None:
    hub.faults.drop_after, hub.faults.drops = 1_000_000, 1
    hub.faults.ignore_range = True
    r = fetch("hf://owner/repo/ckpt/model.pt", opts)
    assert Path(r.path).read_bytes() == DATA and r.resumed_from == 0
    assert hub.cdn_bytes == 1_000_000 + len(DATA)


def test_a_file_changed_on_the_hub_between_runs_is_not_spliced(hub: Hub, opts: FetchOptions) -> None:
    hub.faults.drop_after, hub.faults.drops = 1_000_000, 1
    opts.retries = 0
    with pytest.raises(MckptError):
        fetch("hf://owner/repo/ckpt/model.pt", opts)
    hub.files["owner/repo/ckpt/model.pt"] = OTHER
    r = fetch("hf://owner/repo/ckpt/model.pt", opts)
    assert Path(r.path).read_bytes() == OTHER and r.resumed_from == 0


def test_a_plain_url_changed_between_runs_restarts_through_if_range(hub: Hub, opts: FetchOptions) -> None:
    hub.plain["model.pt"] = DATA
    hub.faults.drop_after, hub.faults.drops = 1_000_000, 1
    opts.retries = 0
    with pytest.raises(MckptError):
        fetch(f"{hub.cdn_url}/plain/model.pt", opts)
    hub.plain["model.pt"] = OTHER
    r = fetch(f"{hub.cdn_url}/plain/model.pt", opts)
    assert Path(r.path).read_bytes() == OTHER
    last = hub.cdn_requests()[-1][2]
    assert last["range"] == "bytes=1000000-" and "if-range" in last  # asked to resume, got the new file


def test_plain_url_second_fetch_is_a_304(hub: Hub, opts: FetchOptions) -> None:
    hub.plain["model.pt"] = DATA
    fetch(f"{hub.cdn_url}/plain/model.pt", opts)
    r = fetch(f"{hub.cdn_url}/plain/model.pt", opts)
    assert r.from_cache and hub.cdn_bytes == len(DATA)


def test_wrong_sha_removes_the_download_and_says_which_check(hub: Hub, opts: FetchOptions) -> None:
    hub.faults.wrong_sha = True
    with pytest.raises(MckptError, match=r"sha256 check failed.*X-Linked-Etag"):
        fetch("hf://owner/repo/ckpt/model.pt", opts)
    assert not finals(opts.cache_dir) and not list(Path(opts.cache_dir).rglob("*.part"))


def test_user_sha256_is_checked(hub: Hub, opts: FetchOptions) -> None:
    hub.plain["model.pt"] = DATA
    opts.sha256 = "0" * 64
    with pytest.raises(MckptError, match=r"sha256 check failed.*--sha256"):
        fetch(f"{hub.cdn_url}/plain/model.pt", opts)
    opts.sha256 = SHA
    assert fetch(f"{hub.cdn_url}/plain/model.pt", opts).sha256 == SHA


@pytest.mark.parametrize("how", ["revalidated", "pinned", "offline"])
def test_user_sha256_is_checked_against_a_cached_copy(hub: Hub, opts: FetchOptions, how: str) -> None:
    source = {"revalidated": "hf://owner/repo/ckpt/model.pt",
              "pinned": f"hf://owner/repo/ckpt/model.pt@{COMMIT}",
              "offline": "hf://owner/repo/ckpt/model.pt"}[how]
    first = fetch(source, opts)
    opts.sha256, opts.offline = "0" * 64, how == "offline"
    with pytest.raises(MckptError, match=r"sha256 check failed: the cached copy"):
        fetch(source, opts)
    assert Path(first.cache_path).exists()  # the good copy stays


def test_lfs_pointer_is_detected(hub: Hub, opts: FetchOptions) -> None:
    hub.faults.lfs_pointer = True
    with pytest.raises(MckptError, match="Git LFS pointer") as e:
        fetch("hf://owner/repo/ckpt/model.pt", opts)
    assert "git lfs pull" in (e.value.hint or "")
    assert not finals(opts.cache_dir)


def test_token_goes_to_the_hub_only_never_to_the_cdn(hub: Hub, opts: FetchOptions) -> None:
    hub.faults.require_token = "s3cret"
    with pytest.raises(MckptError, match=r"HTTP 401.*gated or private") as e:
        fetch("hf://owner/repo/ckpt/model.pt", opts)
    assert "HF_TOKEN" in (e.value.hint or "")
    opts.token = "s3cret"
    assert Path(fetch("hf://owner/repo/ckpt/model.pt", opts).path).read_bytes() == DATA
    assert any("authorization" in h for s, _, h in hub.requests if s == "hub")
    assert all("authorization" not in h for _, _, h in hub.cdn_requests())


def test_token_is_not_sent_to_a_plain_url(hub: Hub, opts: FetchOptions) -> None:
    hub.plain["model.pt"] = DATA
    opts.token = "s3cret"
    fetch(f"{hub.cdn_url}/plain/model.pt", opts)
    assert all("authorization" not in h for _, _, h in hub.requests)


@pytest.mark.parametrize(("url", "message"), [
    ("hf://owner/repo/ckpt/missing.pt", "the file is not in this revision"),
    ("hf://owner/nope/model.pt", "the repo does not exist"),
    ("hf://owner/repo/ckpt/model.pt@v9", "the revision does not exist"),
])
def test_404_says_what_is_missing(hub: Hub, opts: FetchOptions, url: str, message: str) -> None:
    with pytest.raises(MckptError, match=message):
        fetch(url, opts)


def test_offline_serves_the_cache_or_fails_clearly(hub: Hub, opts: FetchOptions) -> None:
    opts.offline = True
    with pytest.raises(MckptError, match="not in the cache, and offline"):
        fetch("hf://owner/repo/ckpt/model.pt", opts)
    opts.offline = False
    fetch("hf://owner/repo/ckpt/model.pt", opts)
    before = len(hub.requests)
    opts.offline = True
    assert fetch("hf://owner/repo/ckpt/model.pt", opts).from_cache and len(hub.requests) == before


def test_path_traversal_names_stay_inside_the_cache_and_the_output(hub: Hub, opts: FetchOptions,
                                                                   tmp_path: Path) -> None:
    hub.plain["../../evil.pt"] = DATA
    out = tmp_path / "out"
    out.mkdir()
    r = fetch(f"{hub.cdn_url}/plain/..%2F..%2Fevil.pt", opts, output=out)
    assert Path(r.path) == out / "evil.pt" and Path(r.path).read_bytes() == DATA
    assert Path(r.cache_path).resolve().is_relative_to(Path(opts.cache_dir).resolve())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out"]


def test_output_is_never_overwritten_without_force(hub: Hub, opts: FetchOptions, tmp_path: Path) -> None:
    dest = tmp_path / "mine.pt"
    dest.write_bytes(b"precious")
    with pytest.raises(MckptError, match="exists and differs"):
        fetch("hf://owner/repo/ckpt/model.pt", opts, output=dest)
    assert dest.read_bytes() == b"precious"
    r = fetch("hf://owner/repo/ckpt/model.pt", opts, output=dest, force=True)
    assert dest.read_bytes() == DATA and r.from_cache


def test_a_cached_file_edited_through_its_hard_link_is_fetched_again(hub: Hub, opts: FetchOptions,
                                                                     tmp_path: Path) -> None:
    r = fetch(f"hf://owner/repo/ckpt/model.pt@{COMMIT}", opts, output=tmp_path / "m.pt")
    with open(tmp_path / "m.pt", "r+b") as f:  # what torch.save over the same path does
        f.write(b"changed")
    r2 = fetch(f"hf://owner/repo/ckpt/model.pt@{COMMIT}", opts)
    assert not r2.from_cache and Path(r2.path).read_bytes() == DATA and r.sha256 == r2.sha256


def test_concurrent_fetches_of_one_file_download_it_once(hub: Hub, opts: FetchOptions) -> None:
    results: list[object] = []

    def run() -> None:
        try:
            results.append(fetch("hf://owner/repo/ckpt/model.pt", opts))
        except Exception as e:  # reported by the assertion below
            results.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    paths = {r.path for r in results}  # type: ignore[union-attr]
    assert len(paths) == 1 and Path(paths.pop()).read_bytes() == DATA
    assert hub.cdn_bytes == len(DATA)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full to simulate a full disk")
def test_a_full_disk_is_one_clear_error(hub: Hub, opts: FetchOptions) -> None:
    entry = CacheEntry(Path(opts.cache_dir), parse_source("hf://owner/repo/ckpt/model.pt", opts.endpoint))
    entry.dir.mkdir(parents=True)
    entry.part.symlink_to("/dev/full")  # every write to the .part fails with ENOSPC
    entry.start_part(PartInfo(url="", validator=None, linked_etag=SHA, total=None))
    with pytest.raises(MckptError, match="disk full while downloading") as e:
        fetch("hf://owner/repo/ckpt/model.pt", opts)
    assert "MCKPT_CACHE" in (e.value.hint or "") and not finals(opts.cache_dir)
