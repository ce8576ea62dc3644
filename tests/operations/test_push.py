"""`mckpt push` to a real S3-compatible server (moto) and back: fetch, verify, load --dry-run,
the same tensors (asked of torch), the card's model-index (read by huggingface_hub), no overwrite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli
from hub_server import mammoth_checkpoint
from s3_server import S3Server, make_bucket, serve

NAME = "er_seq-cifar10_buf500_e1_20240101-000000_abcd1234_last.pt"


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    yield from serve()


@pytest.fixture
def run_file(tmp_path: Path) -> Path:
    path = tmp_path / "run" / NAME
    path.parent.mkdir()
    mammoth_checkpoint(path, 12)  # argparse.Namespace args: an old pickle
    return path


def _bucket(s3: S3Server, name: str) -> str:
    make_bucket(s3, name, {})
    return name


def _push(s3: S3Server, *args: str, cwd: Path | None = None):
    return run_cli("push", *args, env=s3.env(), cwd=cwd)


def test_old_pickle_arrives_safe_and_equal(s3: S3Server, run_file: Path, tmp_path: Path) -> None:
    import torch

    bucket = _bucket(s3, "roundtrip")
    before = run_file.read_bytes()
    r = _push(s3, str(run_file), f"s3://{bucket}/runs/er", "--json", "--license", "mit")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert run_file.read_bytes() == before  # the original is untouched
    (pushed,) = doc["result"]["files"]
    assert pushed["action"] == "old_pickle->safe"
    got = tmp_path / "got.pt"
    f = run_cli("fetch", pushed["url"], "-o", str(got), env=s3.env())
    assert f.returncode == 0, f.stderr
    v = run_cli("verify", str(got), "--sha256", pushed["sha256"], "--json")
    assert v.returncode == 0, v.stdout
    ins = json.loads(run_cli("inspect", str(got), "--json").stdout)
    orig = json.loads(run_cli("inspect", str(run_file), "--json").stdout)
    assert ins["format"] == "safe" and orig["format"] == "old_pickle"
    assert ins["args"] == orig["args"] and ins["metrics"] == orig["metrics"]
    new = torch.load(got, weights_only=True)
    old = torch.load(run_file, weights_only=False)
    assert new["model"].keys() == old["model"].keys()
    assert all(torch.equal(new["model"][k], old["model"][k]) for k in old["model"])
    load = run_cli("load", str(got), "--dry-run", "--json")
    assert load.returncode == 0, load.stderr
    # the card and manifest, written last, list the same sha256
    card = tmp_path / "README.md"
    assert run_cli("fetch", f"s3://{bucket}/runs/er/README.md", "-o", str(card), env=s3.env()).returncode == 0
    text = card.read_text()
    assert pushed["sha256"] in text and "license: \"mit\"" in text
    from huggingface_hub import ModelCard

    results = {(e.task_name, e.metric_type): e.metric_value for e in ModelCard.load(card).data.eval_results}
    for setting, label in (("class_il", "Class-IL"), ("task_il", "Task-IL")):
        m = orig["metrics"][setting]
        assert results[(label, "accuracy")] == m["final_avg"]
        assert results[(label, "forgetting")] == m["forgetting"]
        assert results[(label, "bwt")] == m["bwt"]
    man = tmp_path / "manifest.json"
    assert run_cli("fetch", f"s3://{bucket}/runs/er/manifest.json", "-o", str(man), env=s3.env()).returncode == 0
    entry = json.loads(man.read_text())["files"][0]
    assert entry["sha256"] == pushed["sha256"] and entry["bytes"] == got.stat().st_size


def test_existing_object_is_not_overwritten(s3: S3Server, run_file: Path, tmp_path: Path) -> None:
    bucket = _bucket(s3, "taken")
    make_bucket_files = {f"runs/{NAME}": b"someone else's file"}
    from s3_server import make_bucket as put

    put(s3, "taken2", make_bucket_files)
    r = _push(s3, str(run_file), "s3://taken2/runs", "--no-card")
    assert r.returncode != 0 and r.stderr.count("\n") <= 2 and "already there" in r.stderr
    got = tmp_path / "still.bin"
    assert run_cli("fetch", f"s3://taken2/runs/{NAME}", "-o", str(got), env=s3.env()).returncode == 0
    assert got.read_bytes() == b"someone else's file"
    forced = _push(s3, str(run_file), "s3://taken2/runs", "--no-card", "--force")
    assert forced.returncode == 0, forced.stderr
    # a second push of the same run: the files are there, refused; mckpt's own card may be replaced
    assert _push(s3, str(run_file), f"s3://{bucket}/x").returncode == 0
    again = _push(s3, str(run_file), f"s3://{bucket}/x")
    assert again.returncode != 0 and "already there" in again.stderr
    card_only = _push(s3, str(run_file), f"s3://{bucket}/x", "--card-only", "--license", "apache-2.0")
    assert card_only.returncode == 0, card_only.stderr


def test_dry_run_writes_nothing(s3: S3Server, run_file: Path) -> None:
    _bucket(s3, "dry")
    r = _push(s3, str(run_file), "s3://dry/p", "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["plan"]["files"][0]["action"] == "old_pickle->safe" and "model-index:" in doc["card"]
    listing = run_cli("list", "s3://dry/", env=s3.env())
    assert NAME not in listing.stdout


def test_denied_bucket_and_missing_bucket_are_one_line(s3: S3Server, run_file: Path) -> None:
    r = _push(s3, str(run_file), "s3://no-such-bucket-here/p")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) <= 2 and "Traceback" not in r.stderr
    assert "no such bucket" in r.stderr


def test_broken_file_is_not_pushed(s3: S3Server, run_file: Path) -> None:
    _bucket(s3, "broken")
    data = bytearray(run_file.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a flipped bit inside a tensor: its CRC-32 fails
    run_file.write_bytes(bytes(data))
    r = _push(s3, str(run_file), "s3://broken/p")
    assert r.returncode != 0 and "CRC-32" in r.stderr, r.stderr
    assert NAME not in run_cli("list", "s3://broken/", env=s3.env()).stdout


def test_safetensors_holds_the_same_tensors(s3: S3Server, run_file: Path, tmp_path: Path) -> None:
    import torch
    from safetensors import safe_open

    _bucket(s3, "safetensors")
    r = _push(s3, str(run_file), "s3://safetensors/p", "--backbone", "--safetensors", "--json")
    assert r.returncode == 0, r.stderr
    files = {f["action"]: f for f in json.loads(r.stdout)["result"]["files"]}
    st = tmp_path / "b.safetensors"
    assert run_cli("fetch", files["safetensors"]["url"], "-o", str(st), env=s3.env()).returncode == 0
    old = torch.load(run_file, weights_only=False)["model"]
    with safe_open(str(st), "pt") as f:
        assert set(f.keys()) == {k for k in old if k.startswith("net.")}
        for k in f.keys():  # noqa: SIM118  (safe_open has no __iter__)
            assert torch.equal(f.get_tensor(k), old[k])
        meta = f.metadata()
    assert json.loads(meta["mammoth_args"])["model"] == "er"
    bb = tmp_path / "bb.pt"
    assert run_cli("fetch", files["full->backbone"]["url"], "-o", str(bb), env=s3.env()).returncode == 0
    loaded = torch.load(bb, weights_only=True)
    assert all(torch.equal(loaded[k], old[k]) for k in loaded)
