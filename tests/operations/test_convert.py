"""`mckpt.convert` as a library, on real torch.save files made here; torch reads every output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from convert_helpers import ARGS, Backbone, load, make_backbone, make_template, shares

from mckpt.convert import ArgOverrides, parse_set, plan_conversion, write_plan
from mckpt.domain.checkpoint import LOGGER_KEYS, read_checkpoint
from mckpt.errors import MckptError, UsageError
from mckpt.torchfile import archive_writer


@pytest.fixture
def template(tmp_path: Path) -> Path:
    path = tmp_path / "derpp_seq-mnist_default_20_2_20240101-000000_abcdef12_4.pt"
    make_template(path)
    return path


def _check_full(out: Path, template: Path, source: dict[str, torch.Tensor], prefix: str = "") -> dict:
    new, tmpl = load(out), load(template)
    assert list(new["model"]) == list(tmpl["model"])
    for key, t in tmpl["model"].items():
        got = new["model"][key]
        assert got.shape == t.shape and got.dtype == t.dtype
        if key.startswith("net."):
            name = key[len("net."):].replace("_features.0.", "fc1.")
            assert torch.equal(got, source[prefix + name]), key
        else:
            assert torch.equal(got, t), key  # the continual model's own entries come from the template
    m = new["model"]
    assert shares(m["net.fc1.weight"], m["net._features.0.weight"])
    assert shares(m["net.fc1.bias"], m["net._features.0.bias"])
    assert not shares(m["net.fc1.weight"], m["net.classifier.weight"])
    assert new["optimizer"] is None and new["scheduler"] is None
    assert new["results"][:2] == [[], []]
    assert sorted(new["results"][2]) == sorted(LOGGER_KEYS)
    assert all(v == [] for v in new["results"][2].values())
    return new


@pytest.mark.parametrize("prefix", ["", "module.", "net.", "wrappee.", "_orig_mod.", "net.module."])
def test_backbone_to_full_any_prefix(tmp_path: Path, template: Path, prefix: str) -> None:
    src = tmp_path / "bb.pt"
    sd = make_backbone(src, prefix)
    plan = plan_conversion(src, like=str(template), output=str(tmp_path / "out.pt"))
    assert plan.conversion == "backbone->full" and not plan.unmatched and not plan.unused
    assert ("net._features.0.weight", "net.fc1.weight") in plan.aliased
    assert plan.copied == ["class_means"]
    result = write_plan(plan)
    new = _check_full(Path(result.path), template, sd, prefix)
    assert new["args"]["model"] == "derpp" and new["args"]["lr"] == 0.1
    assert new["args"]["conf_jobnum"] != ARGS["conf_jobnum"]


def test_aliases_share_storage_even_when_the_source_has_copies(tmp_path: Path, template: Path) -> None:
    src = tmp_path / "bb.pt"
    sd = make_backbone(src, clone=True)
    loaded = load(src)
    assert not shares(loaded["fc1.weight"], loaded["_features.0.weight"])  # the premise
    result = write_plan(plan_conversion(src, like=str(template), output=str(tmp_path / "o.pt")))
    _check_full(Path(result.path), template, sd)


def test_legacy_source_gets_crcs_computed(tmp_path: Path, template: Path) -> None:
    src = tmp_path / "bb.pt"
    sd = make_backbone(src, legacy=True)
    assert read_checkpoint(src).layout == "legacy"
    result = write_plan(plan_conversion(src, like=str(template), output=str(tmp_path / "o.pt")))
    _check_full(Path(result.path), template, sd)


def test_args_overrides_and_name(tmp_path: Path, template: Path) -> None:
    src = tmp_path / "bb.pt"
    make_backbone(src)
    extra = parse_set(["lr=0.03", "notes=hi there"])
    over = ArgOverrides(model="er", buffer_size=50, n_epochs=7, extra=extra)
    plan = plan_conversion(src, like=str(template), output=str(tmp_path / "ck") + "/", overrides=over)
    out = Path(write_plan(plan).path)
    args = load(out)["args"]
    assert (args["model"], args["buffer_size"], args["n_epochs"], args["lr"], args["notes"]) == \
        ("er", 50, 7, 0.03, "hi there")
    assert out.parent == tmp_path / "ck"
    # a file of a run that has done no task: named as Mammoth names one paused before its first task
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.pt", out.name)
    ck = read_checkpoint(out)
    name = ck.name
    assert name is not None and name.dialect == "paused" and name.task == "paused" and ck.tasks_done == 0
    assert (name.model, name.dataset, name.buffer_size, name.n_epochs) == ("er", "seq-mnist", 50, 7)
    assert name.uid == args["conf_jobnum"].split("-")[0] and out.stem != args["conf_jobnum"]
    assert args["ckpt_name"].startswith("er_seq-mnist_default_50_7_") and args["ckpt_name"].endswith(name.uid)


def test_parse_set_rejects_garbage() -> None:
    with pytest.raises(UsageError):
        parse_set(["novalue"])


def test_shape_mismatch_names_the_key(tmp_path: Path, template: Path) -> None:
    src = tmp_path / "bb.pt"
    make_backbone(src, hidden=5)
    expected = (r"shape mismatch: net\.fc1\.weight is float32\[4, 8\] in the template "
                r"but fc1\.weight is float32\[5, 8\]")
    with pytest.raises(MckptError, match=expected):
        plan_conversion(src, like=str(template))


def test_missing_key_is_reported_not_invented(tmp_path: Path, template: Path) -> None:
    src = tmp_path / "bb.pt"
    make_backbone(src, drop="classifier.")
    out = tmp_path / "o.pt"
    plan = plan_conversion(src, like=str(template), output=str(out))
    assert plan.unmatched == ["net.classifier.weight", "net.classifier.bias"]
    with pytest.raises(MckptError, match="2 key\\(s\\) of the template have no source tensor"):
        write_plan(plan)
    assert not out.exists()
    partial = plan_conversion(src, like=str(template), output=str(out), allow_partial=True)
    assert "net.classifier.weight" in partial.copied
    new, tmpl = load(write_plan(partial).path), load(template)
    assert torch.equal(new["model"]["net.classifier.weight"], tmpl["model"]["net.classifier.weight"])


def test_extra_source_keys_are_not_dropped_silently(tmp_path: Path, template: Path) -> None:
    src = tmp_path / "bb.pt"
    sd = make_backbone(src)
    torch.save({**sd, "head2.weight": torch.ones(2)}, src)
    plan = plan_conversion(src, like=str(template), output=str(tmp_path / "o.pt"))
    assert plan.unused == ["head2.weight"] and not plan.writable
    assert plan.problems == ["1 source key(s) have no place in the template"]
    lenient = plan_conversion(src, like=str(template), output=str(tmp_path / "o.pt"), allow_partial=True)
    assert lenient.writable and any("head2.weight" in n for n in lenient.notes)
    assert "head2.weight" not in load(write_plan(lenient).path)["model"]


def test_without_template_only_a_guess(tmp_path: Path) -> None:
    src = tmp_path / "bb.pt"
    make_backbone(src)
    plan = plan_conversion(src)
    assert not plan.writable and plan.storages == []
    assert ("net.fc1.weight", "fc1.weight") in plan.mapped
    assert any("--to backbone" in n for n in plan.notes)


def test_refuses_to_overwrite_and_never_touches_the_input(tmp_path: Path, template: Path) -> None:
    src = tmp_path / "bb.pt"
    make_backbone(src)
    before = src.read_bytes()
    out = tmp_path / "o.pt"
    out.write_bytes(b"precious")
    plan = plan_conversion(src, like=str(template), output=str(out))
    with pytest.raises(MckptError, match="already exists"):
        write_plan(plan)
    assert out.read_bytes() == b"precious"
    write_plan(plan, force=True)
    assert load(out)["model"]
    with pytest.raises(MckptError, match="overwrite an input"):
        write_plan(plan_conversion(src, to="backbone", output=str(src)), force=True)
    assert src.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_full_to_backbone_and_back(tmp_path: Path, template: Path) -> None:
    bb = tmp_path / "bb.pt"
    plan = plan_conversion(template, output=str(bb))
    assert plan.conversion == "full->backbone" and plan.unused == ["class_means"]
    write_plan(plan)
    bare = load(bb)
    assert all(k.startswith("net.") for k in bare)
    assert shares(bare["net.fc1.weight"], bare["net._features.0.weight"])
    back = write_plan(plan_conversion(bb, like=str(template), output=str(tmp_path / "full.pt")))
    new, tmpl = load(back.path), load(template)
    assert all(torch.equal(new["model"][k], v) for k, v in tmpl["model"].items())


def test_strip_prefix_loads_into_the_bare_backbone(tmp_path: Path, template: Path) -> None:
    out = tmp_path / "plain.pt"
    write_plan(plan_conversion(template, to="backbone", strip_prefix=True, output=str(out)))
    net = Backbone()
    net.load_state_dict(load(out))  # strict: every key of the backbone, nothing else
    assert torch.equal(net.fc1.weight, load(template)["model"]["net.fc1.weight"])


def test_bare_to_net_prefixed_backbone(tmp_path: Path) -> None:
    src = tmp_path / "bb.pt"
    sd = make_backbone(src, "module.")
    out = tmp_path / "net.pt"
    write_plan(plan_conversion(src, to="backbone", output=str(out)))
    assert set(load(out)) == {"net." + k[len("module."):] for k in sd}


def test_option_combinations_are_checked(tmp_path: Path, template: Path) -> None:
    with pytest.raises(UsageError):
        plan_conversion(template, to="backbone", like=str(template))
    with pytest.raises(UsageError):
        plan_conversion(template, to="safe", strip_prefix=True)
    with pytest.raises(MckptError, match="already in the safe layout"):
        plan_conversion(template, to="safe")
    with pytest.raises(MckptError, match="already a full"):
        plan_conversion(template, to="full", like=str(template))


def test_zip64_records_are_read_by_torch(tmp_path: Path, template: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_writer, "ZIP64_LIMIT", 64)  # every record and offset takes the zip64 path
    src = tmp_path / "bb.pt"
    sd = make_backbone(src)
    result = write_plan(plan_conversion(src, like=str(template), output=str(tmp_path / "o.pt")))
    _check_full(Path(result.path), template, sd)
    assert read_checkpoint(result.path).tensors.count == 12


def test_records_are_64_byte_aligned(tmp_path: Path, template: Path) -> None:
    import zipfile

    out = tmp_path / "o.pt"
    write_plan(plan_conversion(template, output=str(out)))
    with zipfile.ZipFile(out) as z:
        for info in z.infolist():
            data = info.header_offset + 30 + len(info.filename.encode()) + \
                int.from_bytes(out.read_bytes()[info.header_offset + 28 : info.header_offset + 30], "little")
            assert data % 64 == 0, info.filename
        assert z.testzip() is None


def test_clashing_names_are_not_merged_silently(tmp_path: Path) -> None:
    src = tmp_path / "bb.pt"
    torch.save({"module.fc.weight": torch.ones(2), "fc.weight": torch.zeros(2)}, src)
    plan = plan_conversion(src, to="backbone", output=str(tmp_path / "o.pt"))
    assert plan.unused == ["fc.weight"] and not plan.writable


def test_verification_catches_a_flipped_byte(tmp_path: Path, template: Path) -> None:
    from mckpt.convert import verify_written

    out = tmp_path / "o.pt"
    plan = plan_conversion(template, output=str(out))
    write_plan(plan)
    assert verify_written(str(out), plan)
    data = bytearray(out.read_bytes())
    at = data.index(load_bytes_of(out, "data/0")[:16])
    data[at] ^= 0xFF
    out.write_bytes(bytes(data))
    with pytest.raises(MckptError, match="fails its CRC"):
        verify_written(str(out), plan)


def load_bytes_of(path: Path, record: str) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return z.read(next(n for n in z.namelist() if n.endswith(record)))
