"""`list hf://…` and `inspect hf://…/<uid>`: hub repo folders through the tree API of the local hub imitation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import hub_server
import pytest
from conftest import FIXTURES, fixtures_missing, run_cli
from hub_server import Hub

from mckpt.errors import MckptError
from mckpt.fetch.options import FetchOptions
from mckpt.remote.hub_tree import HubFolder, HubFolderUrl, parse_hub_folder


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    if not FIXTURES.is_dir():
        fixtures_missing("the hub test repo holds them")
    out: dict[str, bytes] = {}
    for p in [*FIXTURES.rglob("*.pt"), *FIXTURES.rglob("logs.pyd")]:  # list reads a repo's results logs too
        rel = str(p.relative_to(FIXTURES))
        out[f"lab/mammoth/{rel}"] = p.read_bytes()
        out[f"datasets/lab/runs/{rel}"] = p.read_bytes()
    return out


@pytest.fixture
def hub(files: dict[str, bytes]) -> Iterator[Hub]:
    yield from hub_server.serve(files)


@pytest.fixture
def env(hub: Hub, tmp_path: Path) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.hub_url, "MCKPT_CACHE": str(tmp_path / "cache"), "MCKPT_RETRY_BACKOFF": "0.001",
            "HF_TOKEN": "", "HF_HUB_OFFLINE": ""}


def _json(*args: str, env: dict[str, str], strip: str) -> object:
    r = run_cli(*args, "--json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.replace(strip, "").replace(str(FIXTURES) + "/", ""))


@pytest.mark.parametrize(("url", "sub", "opts"), [
    ("hf://lab/mammoth/checkpoints", "checkpoints", ("--acc",)),
    ("hf://lab/mammoth@main/checkpoints", "checkpoints", ()),
    ("hf://lab/mammoth", "", ("-r", "--acc")),
    ("hf://lab/mammoth", "", ()),  # a data folder's layout: its results/ logs, in one recursive tree listing
    ("hf://datasets/lab/runs/older", "older", ("--acc",)),
])
def test_list_of_a_repo_folder_equals_list_of_the_same_files_on_disk(
        hub: Hub, env: dict[str, str], url: str, sub: str, opts: tuple[str, ...]) -> None:
    local = _json("list", str(FIXTURES / sub), *opts, env=env, strip="")
    head = "hf://datasets/lab/runs/" if "datasets" in url else "hf://lab/mammoth/"
    remote = _json("list", url, *opts, env=env, strip=head)
    assert remote == local and local["runs"]  # type: ignore[index]
    trees = [p for s, p, _h in hub.requests if s == "hub" and "/tree/" in p]
    assert any("cursor=" in p for p in trees), "the listing followed the Link header to further pages"


def test_inspect_and_diff_take_a_run_uid_in_a_repo_folder(hub: Hub, env: dict[str, str]) -> None:
    doc = _json("inspect", "hf://lab/mammoth/checkpoints/9acd4744", env=env, strip="")
    assert doc["path"].endswith("9acd4744_4.pt") and doc["tasks_done"] == 5  # type: ignore[index]
    local = FIXTURES / "checkpoints" / "er_seq-mnist_None_50_1_20261128-165918_95ed7ced_last.pt"
    d = _json("diff", str(local), "hf://datasets/lab/runs/checkpoints/40ccd05b", env=env, strip="")
    assert d["b"]["path"].startswith("hf://datasets/lab/runs/checkpoints/")  # type: ignore[index]
    assert d["b"]["tasks_done"] == 5  # type: ignore[index]


def test_hub_errors_are_one_line(hub: Hub, env: dict[str, str]) -> None:
    for url, expected in (("hf://lab/nope", "not found (HTTP 404): the repo does not exist"),
                          ("hf://lab/mammoth@v9/checkpoints", "the revision does not exist"),
                          ("hf://lab", "not a hub folder")):
        r = run_cli("list", url, env=env)
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert r.returncode == 1 and len(errors) == 1 and expected in errors[0], r.stderr
        assert "/api/" not in errors[0], "the error names the folder given, not the API URL"
    hub.faults.require_token = "secret"
    r = run_cli("list", "hf://lab/mammoth/checkpoints", env=env)
    assert r.returncode == 1 and "access denied" in r.stderr and "HF_TOKEN" in r.stderr
    r = run_cli("list", "hf://lab/mammoth/checkpoints", env={**env, "HF_TOKEN": "secret"})
    assert r.returncode == 0 and "5 run(s)" in r.stdout, r.stderr


def test_folder_urls_parse_both_revision_spellings() -> None:
    assert parse_hub_folder("hf://a/b") == HubFolderUrl("model", "a/b", "main", "")
    assert parse_hub_folder("hf://a/b@dev/x/y") == HubFolderUrl("model", "a/b", "dev", "x/y")
    assert parse_hub_folder("hf://a/b/x/y@dev") == HubFolderUrl("model", "a/b", "dev", "x/y")
    assert parse_hub_folder("hf://datasets/a/b@refs%2Fpr%2F1") == HubFolderUrl("dataset", "a/b", "refs/pr/1", "")
    assert parse_hub_folder("hf://spaces/a/b/ck") == HubFolderUrl("space", "a/b", "main", "ck")
    assert parse_hub_folder("hf://a/b/ck", revision="dev") == HubFolderUrl("model", "a/b", "dev", "ck")
    assert parse_hub_folder("hf://a/b@dev/ck", revision="dev").revision == "dev"
    with pytest.raises(MckptError, match="revision says"):
        parse_hub_folder("hf://a/b@dev/ck", revision="main")
    assert parse_hub_folder("hf://datasets/a/b@refs%2Fpr%2F1").url == "hf://datasets/a/b@refs%2Fpr%2F1"
    with pytest.raises(MckptError, match=r"\.\."):
        parse_hub_folder("hf://a/b/../../etc")


@pytest.mark.parametrize("item", [
    {"type": "file", "path": "../evil.pt", "size": 1},
    {"type": "file", "path": "other/evil.pt", "size": 1},
    {"type": "file", "path": "ck/x.pt"},
    {"type": "file", "path": "ck/x.pt", "size": -5},
    {"type": "file", "path": "ck/x.pt", "size": True},
])
def test_a_hostile_tree_answer_is_refused(item: dict[str, object]) -> None:
    folder = HubFolder(parse_hub_folder("hf://a/b/ck"), FetchOptions(endpoint="http://127.0.0.1:1"))
    with pytest.raises(MckptError):
        folder.entry(item, "ck/")


def test_a_repo_lists_copies_and_conversions_apart_as_a_folder_does(tmp_path: Path, env: dict[str, str]) -> None:
    """Copies are told apart by name within a run (a store has no inodes): a file of the same name in
    another folder is a copy when its size matches, else a conversion; the listing equals the disk's."""
    src = FIXTURES / "checkpoints" / "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744_4.pt"
    data = src.read_bytes()
    layout = {f"ck/{src.name}": data, f"ck/backup/{src.name}": data, f"ck/safe/{src.name}": data + b"converted"}
    disk = tmp_path / "disk"
    for rel, body in layout.items():  # written in this order: the original is the oldest
        (disk / rel).parent.mkdir(parents=True, exist_ok=True)
        (disk / rel).write_bytes(body)
    gen = hub_server.serve({f"lab/copies/{rel}": body for rel, body in layout.items()})
    hub = next(gen)
    try:
        here = {**env, "HF_ENDPOINT": hub.hub_url}
        local = _json("list", str(disk / "ck"), "-r", env=here, strip=str(disk) + "/")
        remote = _json("list", "hf://lab/copies/ck", "-r", env=here, strip="hf://lab/copies/")
    finally:
        gen.close()
    assert remote == local
    copies = local["runs"][0]["copies"]  # type: ignore[index]
    assert sorted((c["path"], c["relation"]) for c in copies) == [
        (f"ck/backup/{src.name}", "copy"), (f"ck/safe/{src.name}", "conversion")]
    assert local["runs"][0]["bytes"] == len(data)  # type: ignore[index]


def test_list_of_a_gated_repo_uses_the_saved_token_file(hub: Hub, env: dict[str, str], tmp_path: Path) -> None:
    hub.faults.require_token = "from-file"
    (tmp_path / "token").write_text("from-file\n")
    r = run_cli("list", "hf://lab/mammoth/checkpoints", env={**env, "HF_TOKEN_PATH": str(tmp_path / "token")})
    assert r.returncode == 0 and "5 run(s)" in r.stdout, r.stderr


def test_a_space_repo_lists_and_inspects_like_a_model_repo(files: dict[str, bytes], env: dict[str, str]) -> None:
    gen = hub_server.serve({k.replace("lab/mammoth/", "spaces/lab/app/", 1): v for k, v in files.items()
                            if k.startswith("lab/mammoth/")})
    hub = next(gen)
    try:
        here = {**env, "HF_ENDPOINT": hub.hub_url}
        local = _json("list", str(FIXTURES / "checkpoints"), "--acc", env=here, strip="")
        remote = _json("list", "hf://spaces/lab/app/checkpoints", "--acc", env=here, strip="hf://spaces/lab/app/")
        doc = _json("inspect", "hf://spaces/lab/app/checkpoints/9acd4744", env=here, strip="")
    finally:
        gen.close()
    assert remote == local and local["runs"]  # type: ignore[index]
    assert doc["tasks_done"] == 5  # type: ignore[index]


def test_inspect_revision_flag_applies_to_repo_folders(hub: Hub, env: dict[str, str]) -> None:
    doc = _json("inspect", "hf://lab/mammoth/checkpoints/9acd4744", "--revision", hub_server.COMMIT, env=env,
                strip="")
    assert doc["path"].startswith(f"hf://lab/mammoth@{hub_server.COMMIT}/checkpoints/")  # type: ignore[index]
    assert doc["path"].endswith("9acd4744_4.pt")  # type: ignore[index]
    listed = _json("list", f"hf://lab/mammoth@{hub_server.COMMIT}/checkpoints", env=env, strip="")
    assert len(listed["runs"]) == 5 and not listed["other"]  # type: ignore[index]
    r = run_cli("inspect", "hf://lab/mammoth/checkpoints/9acd4744", "--revision", "v9", env=env)
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert r.returncode == 1 and len(errors) == 1 and "revision does not exist" in errors[0], r.stderr
