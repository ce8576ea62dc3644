"""Listings past one page, against the real test servers: an S3 prefix of more than 1,000 objects
(S3's page) on moto_server, and a hub folder of hundreds of tree pages (Link headers)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import hub_server
import pytest
import s3_server
from hub_server import Hub

from mckpt.fetch.options import FetchOptions
from mckpt.remote.hub_tree import HubFolder, parse_hub_folder
from mckpt.remote.objstore import ObjectFolder, parse_object_url

N = 1_003  # past S3's page of 1,000 keys
PAUSED = 4
NAMES = [f"sgd_seq-mnist_0_1_20250101-000000_{i:08x}_{i % 5}.pt" for i in range(N)]
PAUSED_NAMES = [f"0b7e6a0e-5c1d-4c52-9f5e-{i:012x}.pt" for i in range(PAUSED)]


@pytest.fixture(scope="module")
def bucket() -> Iterator[tuple[s3_server.S3Server, str]]:
    """A bucket with N runs' files under `runs/`, a few paused ones under `runs/paused/`, and one
    file outside the prefix; put through moto's backend (a thousand PUTs over HTTP are slow)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    for server in s3_server.serve():
        urllib.request.urlopen(urllib.request.Request(f"{server.direct}/big", method="PUT")).close()
        backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
        for key in [*(f"runs/{n}" for n in NAMES), *(f"runs/paused/{n}" for n in PAUSED_NAMES), "other/x_0.pt"]:
            backend.put_object("big", key, b"x")
        yield server, "big"


@pytest.mark.parametrize("recursive", [False, True])
def test_an_s3_prefix_past_one_page_lists_every_object(bucket: tuple[s3_server.S3Server, str], recursive: bool,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server, name = bucket
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    entries = ObjectFolder(parse_object_url(f"s3://{name}/runs")).entries(recursive)
    names = [e.name for e in entries]
    assert len(names) == N + PAUSED
    assert sorted(names) == sorted([*NAMES, *(f"paused/{n}" for n in PAUSED_NAMES)])


@pytest.fixture(scope="module")
def hub() -> Iterator[Hub]:
    files = {f"lab/many/ck/{n}": b"x" for n in NAMES} | {f"lab/many/ck/paused/{n}": b"x" for n in PAUSED_NAMES}
    yield from hub_server.serve(files | {"lab/many/README.md": b"x"})


@pytest.mark.parametrize("recursive", [False, True])
def test_a_hub_folder_of_many_tree_pages_lists_every_file(hub: Hub, recursive: bool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_server, "TREE_PAGE", 100)  # eleven pages; 3 a page (the default) is slow here
    hub.requests.clear()
    folder = HubFolder(parse_hub_folder("hf://lab/many/ck"), FetchOptions(endpoint=hub.hub_url, retries=0))
    names = [e.name for e in folder.entries(recursive)]
    assert sorted(names) == sorted([*NAMES, *(f"paused/{n}" for n in PAUSED_NAMES)])
    pages = [p for s, p, _ in hub.requests if s == "hub" and "/tree/" in p]
    assert len(pages) > N // hub_server.TREE_PAGE  # every page was asked for, by its Link header
