"""`mckpt cache ls|rm|prune|verify` on a cache filled by real fetches from the test hub."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import hub_server
import pytest
from conftest import run_cli
from hub_server import Faults, Hub

from mckpt.errors import MckptError
from mckpt.fetch.cache import CacheEntry, cache_root
from mckpt.fetch.download import fetch
from mckpt.fetch.options import FetchOptions
from mckpt.hygiene.cache_admin import execute, list_cache, plan_prune, plan_rm, verify_cache
from mckpt.io.progress import NoProgress
from mckpt.io.urls import parse_source

BIG = os.urandom(300_000)
SMALL = os.urandom(120_000)
NEW = os.urandom(200_000)


@pytest.fixture
def hub() -> Iterator[Hub]:
    yield from hub_server.serve({"owner/repo/big.pt": BIG, "owner/repo/small.pt": SMALL})


@pytest.fixture
def opts(hub: Hub, tmp_path: Path) -> FetchOptions:
    return FetchOptions(endpoint=hub.hub_url, cache_dir=str(tmp_path / "cache"), backoff=0.001, retries=0)


@pytest.fixture
def filled(hub: Hub, opts: FetchOptions) -> Path:
    """big.pt and small.pt fetched; big.pt then moved upstream and fetched again (its older copy is
    no longer referenced); a third download cut short (a .part left behind)."""
    fetch("hf://owner/repo/big.pt", opts)
    fetch("hf://owner/repo/small.pt", opts)
    hub.files["owner/repo/big.pt"] = NEW
    fetch("hf://owner/repo/big.pt", opts)
    hub.files["owner/repo/cut.pt"] = os.urandom(500_000)
    hub.faults = Faults(drop_after=100_000, drops=1)
    with pytest.raises(MckptError):
        fetch("hf://owner/repo/cut.pt", opts)
    hub.faults = Faults()
    return Path(opts.cache_dir or "")


def cli(hub: Hub, cache: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_cli("cache", *args, "--cache-dir", str(cache), env={"HF_ENDPOINT": hub.hub_url})


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_ls_shows_every_file_biggest_first_with_its_source_and_sha(hub: Hub, filled: Path) -> None:
    r = cli(hub, filled, "ls", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    got = [(f["source"], f["revision"], f["bytes"], f["sha256"], f["referenced"]) for f in doc["files"]]
    assert got == [("hf://owner/repo/big.pt", "main", len(BIG), sha(BIG), False),
                   ("hf://owner/repo/big.pt", "main", len(NEW), sha(NEW), True),
                   ("hf://owner/repo/small.pt", "main", len(SMALL), sha(SMALL), True)]
    assert doc["total"]["bytes"] == len(BIG) + len(NEW) + len(SMALL)
    assert {x["kind"] for x in doc["leftovers"]} == {"part", "part-note", "lock"}
    assert all(f["last_used"] and f["commit"] == hub_server.COMMIT for f in doc["files"] if f["referenced"])
    r = cli(hub, filled, "ls")
    assert "hf://owner/repo/small.pt" in r.stdout and sha(SMALL)[:12] in r.stdout and "unreferenced" in r.stdout
    assert "cache prune" in r.stdout


def test_a_cache_hit_updates_last_used(hub: Hub, filled: Path, opts: FetchOptions) -> None:
    entry = CacheEntry(cache_root(opts.cache_dir), parse_source("hf://owner/repo/small.pt", hub.hub_url))
    record = entry.dir / "small.pt.json"
    os.utime(record, (1_000_000_000, 1_000_000_000))
    assert fetch("hf://owner/repo/small.pt", opts).from_cache
    item = next(i for i in list_cache(filled, hub.hub_url).items if i.source.endswith("small.pt"))
    assert item.stored.last_used > 1_000_000_000 + 1e6


def test_rm_by_sha_or_source_with_the_plan_first(hub: Hub, filled: Path, opts: FetchOptions) -> None:
    r = cli(hub, filled, "rm", sha(SMALL)[:10], "--dry-run")
    assert r.returncode == 0 and "dry run" in r.stdout and "small.pt" in r.stdout
    assert len(list_cache(filled, hub.hub_url).items) == 3
    r = cli(hub, filled, "rm", sha(SMALL)[:10])
    assert r.returncode == 1 and "not a terminal" in r.stderr and len(list_cache(filled, hub.hub_url).items) == 3
    r = cli(hub, filled, "rm", sha(SMALL)[:10], "-y", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert {x["result"] for x in doc["removals"]} == {"removed"} and doc["total"]["frees"] >= len(SMALL)
    assert [i.source for i in list_cache(filled, hub.hub_url).items] == ["hf://owner/repo/big.pt"] * 2
    assert not fetch("hf://owner/repo/small.pt", opts).from_cache  # really gone: fetched again
    # A source without @rev names every revision; the small file stays.
    plan = plan_rm(filled, [f"{hub.hub_url}/owner/repo/blob/main/big.pt"], hub.hub_url)
    assert {p.path.name for p in plan.removals} >= {"big.pt", "big.pt.json"}
    execute(plan)
    assert [i.source for i in list_cache(filled, hub.hub_url).items] == ["hf://owner/repo/small.pt"]
    r = cli(hub, filled, "rm", "hf://owner/repo/nothing.pt", "-y")
    assert r.returncode == 1 and "nothing in the cache matches" in r.stderr


def test_prune_drops_parts_stale_locks_and_unreferenced_copies_only(hub: Hub, filled: Path,
                                                                     opts: FetchOptions) -> None:
    plan = plan_prune(filled, hub.hub_url)
    kinds = sorted(r.reason.split(" (")[0] for r in plan.removals)
    assert "an incomplete download" in kinds and "no record names it" in kinds
    r = cli(hub, filled, "prune", "-y")
    assert r.returncode == 0, r.stderr
    listing = list_cache(filled, hub.hub_url)
    assert [(i.source, i.stored.sha256) for i in listing.items] == [
        ("hf://owner/repo/big.pt", sha(NEW)), ("hf://owner/repo/small.pt", sha(SMALL))]
    assert sorted(x.path.name for x in listing.leftovers) == ["big.pt.lock", "small.pt.lock"]  # kept entries' locks
    cut = CacheEntry(filled, parse_source("hf://owner/repo/cut.pt", hub.hub_url))
    assert not cut.dir.parent.exists()  # the cut download's folder went with its .part, note and lock
    sent = hub.cdn_bytes
    assert fetch("hf://owner/repo/small.pt", opts).from_cache and hub.cdn_bytes == sent
    assert plan_prune(filled, hub.hub_url).removals == []


def test_a_fetch_in_progress_is_left_alone(hub: Hub, filled: Path) -> None:
    plan = plan_prune(filled, hub.hub_url)
    part = next(r for r in plan.removals if r.path.name.endswith(".part"))
    entry = CacheEntry(filled, parse_source("hf://owner/repo/cut.pt", hub.hub_url))
    with entry.lock():  # what a running `mckpt fetch` of that file holds
        execute(plan)
    assert part.result == "in use by a running fetch: left alone" and part.path.exists()
    assert part in plan.failed


def test_verify_hashes_every_file_and_catches_a_changed_byte(hub: Hub, filled: Path) -> None:
    counted = NoProgress()
    checks = verify_cache(filled, hub.hub_url, progress=counted)
    assert len(checks) == 3 and all(c.problem is None for c in checks)
    assert counted.total == counted.done == sum(c.item.stored.size for c in checks)  # every byte hashed
    r = cli(hub, filled, "verify")
    assert r.returncode == 0 and "3 cached file(s) verified: 3 ok, 0 failed" in r.stdout
    victim = next(i.stored.path for i in list_cache(filled, hub.hub_url).items if i.stored.size == len(SMALL))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    r = cli(hub, filled, "verify", "--json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    bad = [f for f in doc["files"] if not f["ok"]]
    assert len(bad) == 1 and bad[0]["source"] == "hf://owner/repo/small.pt" and "differs" in bad[0]["problem"]
