"""`mckpt convert` on files the real Mammoth wrote (../shared/fixtures/mammoth, via `mammoth_fixtures`)."""

from __future__ import annotations

from pathlib import Path

import torch
from conftest import run_cli
from convert_helpers import load, raw_storages, shares

from mckpt.convert import plan_conversion, write_plan
from mckpt.model.checkpoint import read_checkpoint, to_plain

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
    assert isinstance(new["args"], dict) and new["args"] == to_plain(old.args)
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
