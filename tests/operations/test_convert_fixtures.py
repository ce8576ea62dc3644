"""`mckpt convert` on files the real Mammoth wrote (../shared/fixtures/mammoth, via `mammoth_fixtures`)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from conftest import run_cli
from convert_helpers import load, raw_storages, shares
from save_load_support import env_for, make_checkout

from mckpt.convert import plan_conversion, write_plan
from mckpt.domain.checkpoint import read_checkpoint, to_plain

SGD_4 = "checkpoints/sgd_seq-mnist_None_0_1_20261128-165846_9acd4744_4.pt"
ER_OLD = "checkpoints/er_seq-mnist_None_50_1_20261128-170019_40ccd05b_last.pt"
BARE_PLAIN = "bare/sgd_seq-mnist_backbone_plain.pt"
BARE_NET = "bare/sgd_seq-mnist_backbone_net_prefix.pt"


def _storage_groups(sd: dict[str, torch.Tensor]) -> list[list[str]]:
    groups: dict[int, list[str]] = {}
    for k, v in sd.items():
        groups.setdefault(v.untyped_storage().data_ptr(), []).append(k)
    return sorted(groups.values())


def _same_model(new: dict[str, torch.Tensor], ref: dict[str, torch.Tensor]) -> None:
    assert list(new) == list(ref)
    for k, v in ref.items():
        assert new[k].shape == v.shape and torch.equal(new[k], v), k
    assert _storage_groups(new) == _storage_groups(ref)


def test_bare_plain_backbone_becomes_the_full_checkpoint(mammoth_fixtures: Path, tmp_path: Path) -> None:
    template = mammoth_fixtures / SGD_4
    for bare in (BARE_PLAIN, BARE_NET):  # the MLP has its own `net` module: both readings must work
        plan = plan_conversion(mammoth_fixtures / bare, like=str(template), output=str(tmp_path / bare))
        assert not plan.unmatched and not plan.unused
        out = Path(write_plan(plan).path)
        new, ref = load(out), load(template)
        _same_model(new["model"], ref["model"])
        assert len(_storage_groups(new["model"])) == 6  # 16 keys, 10 of them aliases
        assert new["optimizer"] is None and new["scheduler"] is None and "buffer" not in new
        assert new["results"] == [[], [], {k: [] for k in new["results"][2]}] and len(new["results"][2]) == 10
        assert new["args"]["model"] == "sgd" and new["args"]["ckpt_name"] != ref["args"]["ckpt_name"]
        assert run_cli("inspect", str(out)).returncode == 0


def test_old_pickle_becomes_safe(mammoth_fixtures: Path, tmp_path: Path) -> None:
    src = mammoth_fixtures / ER_OLD
    before = src.read_bytes()
    old = read_checkpoint(src)
    result = run_cli("convert", str(src), "-o", str(tmp_path) + "/")
    assert result.returncode == 0, result.stderr
    out = tmp_path / src.name
    new = load(out)  # weights_only=True: no argparse.Namespace, no Buffer, no numpy left
    assert old.args["save_checkpoint_mode"] == "old_pickle"  # Mammoth restores it on resume: it must change
    assert isinstance(new["args"], dict) and new["args"] == {**to_plain(old.args), "save_checkpoint_mode": "safe"}
    assert new["args"]["device"] == "cpu"
    assert new["results"][:2] == [old.class_il, old.task_il]
    assert new["results"][2]["accs"] == [100.0, 100.0, 100.0, 100.0, 88.0]
    assert set(new["buffer"]) == {"examples", "labels"}
    buf_attrs = old.archive.obj["buffer"].attrs
    raw = raw_storages(src)
    for name, tensor in new["buffer"].items():
        assert tensor.device.type == "cpu"
        assert tensor.contiguous().numpy().tobytes() == raw[buf_attrs[name].storage.key], name
        assert list(tensor.shape) == list(buf_attrs[name].shape)
    model_raw = {k: raw[v.storage.key] for k, v in old.model_state.items()}
    for k, t in new["model"].items():
        assert t.numpy().tobytes() == model_raw[k][: t.numel() * t.element_size()], k
    assert shares(new["model"]["net.fc1.weight"], new["model"]["net._features.0.weight"])
    assert read_checkpoint(out).format == "safe"
    assert src.read_bytes() == before
    assert run_cli("inspect", str(out)).returncode == 0


def test_full_to_backbone_to_full_round_trip(mammoth_fixtures: Path, tmp_path: Path) -> None:
    template = mammoth_fixtures / SGD_4
    bb = tmp_path / "bb.pt"
    assert run_cli("convert", str(template), "--to", "backbone", "-o", str(bb)).returncode == 0
    bare, net_prefixed = load(bb), load(mammoth_fixtures / BARE_NET)
    _same_model(bare, net_prefixed)  # exactly the form Mammoth's --loadcheck accepted
    full = tmp_path / "full.pt"
    result = run_cli("convert", str(bb), "--like", str(template), "-o", str(full))
    assert result.returncode == 0, result.stderr
    _same_model(load(full)["model"], load(template)["model"])
    for path in (bb, full):
        assert run_cli("inspect", str(path), "--json").returncode == 0


def test_every_real_checkpoint_converts(mammoth_fixtures: Path, tmp_path: Path) -> None:
    """Each safe file to a backbone, each old pickle (older Mammoth versions too) to safe."""
    count = 0
    for src in sorted(mammoth_fixtures.rglob("*.pt")):
        ck = read_checkpoint(src)
        if ck.kind != "mammoth":
            continue
        out = tmp_path / f"{count}.pt"
        write_plan(plan_conversion(src, output=str(out)))
        new = load(out)
        count += 1
        if ck.format == "old_pickle":
            assert list(new) == list(ck.archive.obj) and isinstance(new["args"], dict)
        else:
            assert all(k.startswith("net.") for k in new)
    assert count >= 10


def test_backbone_to_full_then_load_plans_start_from_0(mammoth_fixtures: Path, tmp_path: Path) -> None:
    """The round trip of issue 11: the converted file is named as a run with no task done, and
    `load --dry-run` resumes it from the first task."""
    checkout = make_checkout(tmp_path / "checkout")
    bare = mammoth_fixtures / BARE_NET
    r = run_cli("convert", str(bare), "--like", str(mammoth_fixtures / SGD_4), "--json", cwd=checkout)
    assert r.returncode == 0, r.stderr
    out = checkout / json.loads(r.stdout)["written"]["path"]
    assert out.parent == checkout / "checkpoints" / "paused"  # no `_last`: it has finished no task
    ck = read_checkpoint(out)
    assert ck.tasks_done == 0 and ck.name is not None and ck.name.task == "paused"
    assert load(out)["args"]["save_checkpoint_mode"] == "safe"
    plan = run_cli("load", str(out), "--dry-run", "--json", cwd=checkout, env=env_for())
    assert plan.returncode == 0, plan.stderr
    planned = json.loads(plan.stdout)["plan"]
    assert planned["tasks_done"] == 0 and planned["start_from"] == 0
    assert planned["run"] == load(out)["args"]["ckpt_name"]  # the paused file's run, from its args
    argv = planned["command"]
    assert "--start_from=0" in argv  # load passes its own flags as one --name=value token each


def test_safe_conversion_writes_safe_mode_and_takes_set(mammoth_fixtures: Path, tmp_path: Path) -> None:
    """`--to safe` sets save_checkpoint_mode and takes --set (clearing savecheck for --inference_only)."""
    src = mammoth_fixtures / ER_OLD
    r = run_cli("convert", str(src), "--to", "safe", "--set", "savecheck=null", "--json", "-o", str(tmp_path) + "/")
    assert r.returncode == 0, r.stderr
    notes = json.loads(r.stdout)["notes"]
    assert any("save_checkpoint_mode='safe' (was 'old_pickle'" in n and "savecheck=None (was 'last')" in n
               for n in notes), notes
    new = torch.load(tmp_path / src.name, weights_only=True)
    assert new["args"]["save_checkpoint_mode"] == "safe" and new["args"]["savecheck"] is None
    # the converted file takes --set again (safe to safe), and says nothing is to be done without it
    again = run_cli("convert", str(tmp_path / src.name), "--to", "safe", "--set", "lr=0.5",
                    "-o", str(tmp_path / "b.pt"))
    assert again.returncode == 0, again.stderr
    assert torch.load(tmp_path / "b.pt", weights_only=True)["args"]["lr"] == 0.5
    same = run_cli("convert", str(tmp_path / src.name), "--to", "safe", "-o", str(tmp_path / "c.pt"))
    assert same.returncode == 1 and "already in the safe layout" in same.stderr and "--set" in same.stderr
    backbone = run_cli("convert", str(src), "--to", "backbone", "--set", "lr=1", "-o", str(tmp_path / "d.pt"))
    assert backbone.returncode == 2 and "nothing for --set to set: --to backbone writes" in backbone.stderr
    assert not (tmp_path / "c.pt").exists() and not (tmp_path / "d.pt").exists()


def test_older_files_without_a_save_mode_keep_none(mammoth_fixtures: Path, tmp_path: Path) -> None:
    for src in sorted((mammoth_fixtures / "older").glob("*.pt")):
        plan = plan_conversion(src, to="safe", output=str(tmp_path / src.name))
        assert "save_checkpoint_mode" not in plan.args
        assert any("no save_checkpoint_mode" in n for n in plan.notes)


def test_an_old_pickle_template_gives_a_full_file_in_safe_mode(mammoth_fixtures: Path, tmp_path: Path) -> None:
    template = mammoth_fixtures / ER_OLD
    bb, full = tmp_path / "bb.pt", tmp_path / "full.pt"
    write_plan(plan_conversion(template, to="backbone", output=str(bb)))
    plan = plan_conversion(bb, like=str(template), output=str(full))
    assert any("save_checkpoint_mode='safe' (was 'old_pickle'" in n for n in plan.notes)
    write_plan(plan)
    assert torch.load(full, weights_only=True)["args"]["save_checkpoint_mode"] == "safe"
