"""`mckpt push hf://…` through huggingface_hub against the hub imitation (tests/hub_server.py):
preupload, basic LFS transfer and one ndjson commit; then `mckpt fetch` brings back the same file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli
from hub_server import Hub, mammoth_checkpoint, serve

NAME = "er_seq-cifar10_buf500_e1_20240101-000000_abcd1234_last.pt"
TOKEN = "hf_test_token"


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    gen = serve()
    h = next(gen)
    h.repos.add("me/er")
    h.faults.require_token = TOKEN
    yield h
    gen.close()


def _env(hub: Hub, tmp_path: Path, token: str = TOKEN) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.hub_url, "HF_TOKEN": token, "HF_HUB_DISABLE_XET": "1",
            "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}


def test_push_commits_once_and_fetches_back(hub: Hub, tmp_path: Path) -> None:
    import torch
    from huggingface_hub import ModelCard

    src = tmp_path / NAME
    mammoth_checkpoint(src, 8)
    env = _env(hub, tmp_path)
    r = run_cli("push", str(src), "hf://me/er", "--json", "--license", "mit", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert hub.commits == 1 and doc["result"]["commit"]
    (pushed,) = doc["result"]["files"]
    assert pushed["url"] == f"hf://me/er/{NAME}"
    got = tmp_path / "got.pt"
    f = run_cli("fetch", pushed["url"], "-o", str(got), env=env)
    assert f.returncode == 0, f.stderr
    assert run_cli("verify", str(got), "--sha256", pushed["sha256"]).returncode == 0
    old = torch.load(src, weights_only=False)["model"]
    new = torch.load(got, weights_only=True)["model"]
    assert all(torch.equal(new[k], old[k]) for k in old)
    card = tmp_path / "README.md"
    card.write_bytes(hub.files["me/er/README.md"])
    orig = json.loads(run_cli("inspect", str(src), "--json").stdout)["metrics"]
    results = {(e.task_name, e.metric_type): e.metric_value for e in ModelCard.load(card).data.eval_results}
    assert results[("Class-IL", "accuracy")] == orig["class_il"]["final_avg"]
    assert results[("Task-IL", "bwt")] == orig["task_il"]["bwt"]
    assert f"{hub.hub_url}/me/er/resolve/main/{NAME}" in card.read_text()  # Mammoth's --loadcheck URL
    again = run_cli("push", str(src), "hf://me/er", env=env)
    assert again.returncode != 0 and "already there" in again.stderr and hub.commits == 1


def test_wrong_token_and_missing_repo_are_one_line(hub: Hub, tmp_path: Path) -> None:
    src = tmp_path / NAME
    mammoth_checkpoint(src, 1)
    wrong = run_cli("push", str(src), "hf://me/er", env=_env(hub, tmp_path, "hf_wrong"))
    assert wrong.returncode != 0 and "401" in wrong.stderr, wrong.stderr
    assert "Traceback" not in wrong.stderr and len(wrong.stderr.strip().splitlines()) <= 2
    missing = run_cli("push", str(src), "hf://me/nope", env=_env(hub, tmp_path))
    assert missing.returncode != 0 and "no such model repo" in missing.stderr, missing.stderr
    assert len(missing.stderr.strip().splitlines()) <= 2 and hub.commits == 0


def test_without_huggingface_hub_one_line_says_what_to_install(tmp_path: Path) -> None:
    src = tmp_path / NAME
    mammoth_checkpoint(src, 1)
    code = ("import sys; sys.modules['huggingface_hub'] = None; sys.argv = ['mckpt', 'push', sys.argv[1], "
            "'hf://me/er']; from mckpt.cli.entry import main; main()")
    r = run_cli("-c", code, str(src), module=None)
    assert r.returncode == 1 and "pip install 'mckpt[hub]'" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 2  # the error and its hint
