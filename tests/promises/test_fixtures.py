"""The reader against files written by the real Mammoth, checked against their .json notes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES

from mckpt import read_checkpoint, scan
from mckpt.torchfile.values import itemsize

# Without the fixtures, one case remains, which the mammoth_fixtures fixture skips (or, under CI,
# fails): an empty parameter set would skip quietly, whatever CI says.
NOTED = (sorted(p.name[: -len(".json")] for p in FIXTURES.rglob("*.pt.json")) if FIXTURES.is_dir()
         else ["(fixtures missing)"])


def _expected_tensor_counts(model_note: dict) -> tuple[int, int, int, int]:
    """(count, distinct storages, parameters, bytes) from a note's key list and shared groups."""
    keys = model_note["keys"]
    groups = model_note.get("shared_storage_groups", [])
    aliased = {k for g in groups for k in g[1:]}
    numel = {}
    for k, v in keys.items():
        n = 1
        for s in v["shape"]:
            n *= s
        numel[k] = n
    distinct = [k for k in keys if k not in aliased]
    params = sum(numel[k] for k in distinct)
    nbytes = sum(numel[k] * itemsize(keys[k]["dtype"]) for k in distinct)
    return len(keys), len(distinct), params, nbytes


@pytest.mark.parametrize("name", NOTED)
def test_fixture_matches_its_note(mammoth_fixtures: Path, name: str) -> None:
    path = next(mammoth_fixtures.rglob(name))
    note = json.loads(path.with_name(name + ".json").read_text())
    ck = read_checkpoint(path)

    assert ck.size == note["size_bytes"]
    model_note = note.get("model") or note["state_dict"]  # bare files note their state dict
    count, storages, params, nbytes = _expected_tensor_counts(model_note)
    assert (ck.tensors.count, ck.tensors.storages, ck.tensors.parameters, ck.tensors.bytes) == (
        count, storages, params, nbytes)
    assert {t.name: list(t.shape) for t in ck.tensors.tensors} == {
        k: v["shape"] for k, v in model_note["keys"].items()}
    # aliases: every shared group is one storage
    by_name = {t.name: t for t in ck.tensors.tensors}
    for group in model_note.get("shared_storage_groups", []):
        assert len({by_name[k].storage for k in group}) == 1
        assert all(by_name[k].alias_of == group[0] for k in group[1:])

    if note["kind"] != "mammoth_checkpoint":
        assert ck.kind == "backbone" and ck.format == "backbone"
        assert ck.args == {} and ck.tasks_done == 0
        return
    assert ck.kind == "mammoth"
    assert ck.format == note["save_checkpoint_mode"]
    # args: the same keys, and the noted values (an old pickle's torch.device reads as its string)
    assert sorted(ck.args) == sorted(note["args"]["all_keys"])
    for k, v in note["args"]["selected"].items():
        expected = "cpu" if v == "device(type='cpu')" else v
        assert ck.args[k] == expected, k
    res = note["results"]
    assert ck.class_il == res["results"]["value"]
    assert ck.task_il == res["results_mask_classes"]["value"]
    assert ck.tasks_done == res["results"]["len"]
    assert sorted(ck.logger) == sorted(res["logger_dump"]["items"])
    # optimizer: the noted param groups
    groups = note["optimizer"]["items"]["param_groups"]["elements"]
    assert len(ck.optimizer.param_groups) == len(groups)
    assert ck.optimizer.param_groups[0]["lr"] == groups[0]["items"]["lr"]["value"]
    assert ck.scheduler is None and note["scheduler"]["value"] is None
    if "buffer" in note:
        b = note["buffer"]
        tensors = b.get("attributes") or {k: v for k, v in b["attrs"].items() if v.get("type") == "torch.Tensor"}
        assert ck.buffer.to_json()["tensors"] == {k: {"dtype": v["dtype"], "shape": v["shape"]}
                                                  for k, v in tensors.items()}
        assert ck.buffer.size == note["args"]["selected"]["buffer_size"]
    # never read the tensors: the globals named are exactly the noted ones
    assert ck.globals_seen == sorted(note["pickle_globals"])


def test_fixture_json_schema(mammoth_fixtures: Path) -> None:
    path = mammoth_fixtures / "checkpoints" / "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744_2.pt"
    data = read_checkpoint(path).to_json()
    for key in ("path", "kind", "format", "args", "tasks_done", "results", "metrics", "tensors",
                "optimizer", "scheduler", "buffer", "warnings"):
        assert key in data
    assert set(data["results"]) >= {"class_il", "task_il"}
    assert set(data["tensors"]) >= {"count", "storages", "parameters", "bytes"}
    assert data["tasks_done"] == 3
    assert isinstance(data["args"]["lr"], float) and isinstance(data["args"]["n_epochs"], int)
    json.dumps(data, allow_nan=False)  # JSON-ready: no inf or nan (json would write Infinity)


def test_metrics_match_mammoth_definitions(mammoth_fixtures: Path) -> None:
    ck = read_checkpoint(mammoth_fixtures / "checkpoints" / "er_seq-mnist_None_50_1_20261128-165918_95ed7ced_last.pt")
    m = ck.metrics["class_il"]
    final = ck.class_il[-1]
    assert m.final_avg == pytest.approx(sum(final) / len(final))
    best = [max(row[i] for row in ck.class_il if len(row) > i) for i in range(4)]
    assert m.forgetting == pytest.approx(sum(b - f for b, f in zip(best, final[:4], strict=True)) / 4)
    assert m.bwt == pytest.approx(sum(final[i] - ck.class_il[i][i] for i in range(4)) / 4)
    # the logger's own `accs` (strings in safe mode) agree with the matrix averages
    assert [float(x) for x in ck.logger["accs"]] == pytest.approx(m.avg_after_task)


def test_older_versions(mammoth_fixtures: Path) -> None:
    older = mammoth_fixtures / "older"
    d1 = read_checkpoint(older / "myprefix_er_ace_seq-mnist_50_1_20261128-174912_0.pt")
    assert (d1.format, d1.name.dialect, d1.name.prefix, d1.name.model) == ("old_pickle", "D1", "myprefix", "er_ace")
    assert d1.args["ckpt_name_replace"].startswith("myprefix_er_ace_seq-mnist_")
    assert d1.args["savecheck"] is True
    assert d1.buffer.cls == "utils.buffer.Buffer" and d1.buffer.size == 50
    d2 = read_checkpoint(older / "sgd_seq-mnist_0_1_20261128-174822_39103efa_4.pt")
    assert (d2.format, d2.name.dialect, d2.name.uid, d2.tasks_done) == ("old_pickle", "D2", "39103efa", 5)
    assert d2.args["model"] == "sgd" and d2.args["lr"] == 0.1


def test_list_groups_fixture_runs(mammoth_fixtures: Path) -> None:
    listing = scan([str(mammoth_fixtures / "checkpoints"), str(mammoth_fixtures / "bare")], acc=True)
    by_uid = {r.name.uid: r for r in listing.runs}
    assert set(by_uid) == {"9acd4744", "95ed7ced", "40ccd05b", "ca535245", "be22a87c"}
    assert by_uid["9acd4744"].tasks_label == "0–4"
    assert by_uid["ca535245"].tasks_label == "joint"
    assert by_uid["be22a87c"].tasks_label == "paused"  # the paused file's identity comes from its args
    assert by_uid["be22a87c"].name.model == "sgd" and by_uid["be22a87c"].name.n_epochs == 40
    assert by_uid["9acd4744"].final_acc == {"class_il": 20.0, "task_il": 100.0}
    assert by_uid["9acd4744"].newest.task == 4
    assert sorted(o["reason"] for o in listing.other) == ["a bare backbone (16 tensors)"] * 2


def test_kind_format_and_layout_take_only_their_declared_values(mammoth_fixtures: Path) -> None:
    """The Literal types are the whole vocabulary: every real file reads into one of their values,
    and the summaries are the dataclasses their JSON comes from."""
    from typing import get_args

    from mckpt.domain.checkpoint import Format, Kind, OptimizerSummary
    from mckpt.torchfile.archive import Layout

    seen = set()
    for path in sorted(mammoth_fixtures.rglob("*.pt")):
        ck = read_checkpoint(path)
        assert ck.kind in get_args(Kind) and ck.layout in get_args(Layout)
        assert ck.format is None or ck.format in get_args(Format)
        seen.add((ck.kind, ck.format))
        doc = ck.to_json()
        assert doc["optimizer"] == (ck.optimizer.to_json() if ck.optimizer else None)
        assert all(isinstance(m["parameters"], int) for m in doc["tensors"]["modules"])
        if ck.optimizer is not None:
            assert isinstance(ck.optimizer, OptimizerSummary)
    assert {("mammoth", "safe"), ("mammoth", "old_pickle")} <= seen
