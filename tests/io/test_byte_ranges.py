"""One byte-range check (`Archive.tensor_problem`) for the reader's warnings, `diff` and `convert`.

The crafted files are written with mckpt's own archive writer from a real `torch.save` file, with
one tensor's view changed; each bad variant is proved unloadable by torch itself, each good
boundary case loadable, so the check says exactly what torch says.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from convert_helpers import make_backbone, make_template

from mckpt.convert import plan_conversion, write_plan
from mckpt.convert.storage_table import StorageTable, retensor
from mckpt.domain.checkpoint import read_checkpoint
from mckpt.errors import CorruptCheckpoint
from mckpt.torchfile.archive_writer import write_torch_archive
from mckpt.torchfile.torch_pickle import dumps

KEY = "fc1.weight"  # a [4, 8] float32 tensor of the test backbone: 32 values in its storage

# (offset, shape, stride) of the view given to KEY; True when torch loads it
VIEWS = {
    "offset past the end": ((40, (4, 8), (8, 1)), False),
    "offset one element too far": ((1, (4, 8), (8, 1)), False),
    "shape too large": ((0, (5, 8), (8, 1)), False),
    "stride too large": ((0, (4, 8), (9, 1)), False),
    "transposed stride too large": ((0, (8, 4), (1, 9)), False),
    "last element exactly at the end": ((31, (1,), (1,)), True),
    "empty tensor far past the end": ((1000, (0, 8), (8, 1)), True),
    "stride 0 over the whole storage": ((0, (1000, 32), (0, 1)), True),
}


def _rewrite(src: Path, dst: Path, key: str, view: tuple[int, tuple[int, ...], tuple[int, ...]]) -> Path:
    """`src` rewritten with tensor `key` given another view of its storage (bytes copied raw)."""
    ck = read_checkpoint(src, keep_open=True)  # the storages' offsets are read from the zip headers
    arch = ck.archive
    assert arch is not None
    table = StorageTable()
    obj = dict(arch.obj)
    state = obj if ck.kind == "backbone" else dict(obj["model"])
    for k, t in list(state.items()):
        new = retensor(t, table.whole(arch, t.storage))
        if k == key:
            offset, shape, stride = view
            new = replace(new, offset=offset, shape=shape, stride=stride)
        state[k] = new
    if ck.kind != "backbone":
        obj["model"] = state
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_torch_archive(fd, dst.stem, dumps(state if ck.kind == "backbone" else obj), table.records)
    finally:
        os.close(fd)
        ck.close()
    return dst


@pytest.fixture
def backbone(tmp_path: Path) -> Path:
    make_backbone(tmp_path / "bb.pt")
    return tmp_path / "bb.pt"


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_the_check_says_what_torch_says(tmp_path: Path, backbone: Path, name: str) -> None:
    view, loads = VIEWS[name]
    bad = _rewrite(backbone, tmp_path / "crafted.pt", KEY, view)
    problems = [w for w in read_checkpoint(bad).warnings if w.startswith(f"tensor {KEY}:")]
    if loads:
        torch.load(bad, weights_only=True)
        assert problems == []
    else:
        with pytest.raises(RuntimeError):
            torch.load(bad, weights_only=True)
        assert problems == [f"tensor {KEY}: its view (offset {view[0]}, shape {list(view[1])}, stride "
                            f"{list(view[2])}) runs past storage {_storage_key(bad)} (32 float32 values); "
                            "torch cannot load it"]


def _storage_key(path: Path) -> str:
    return read_checkpoint(path).model_state[KEY].storage.key


@pytest.mark.parametrize("name", [n for n, (_, loads) in sorted(VIEWS.items()) if not loads])
def test_inspect_warns_diff_and_convert_refuse_with_the_same_line(tmp_path: Path, backbone: Path,
                                                                   name: str) -> None:
    bad = _rewrite(backbone, tmp_path / "crafted.pt", KEY, VIEWS[name][0])
    (problem,) = [w for w in read_checkpoint(bad).warnings if w.startswith("tensor ")]
    inspect = run_cli("inspect", str(bad))
    assert inspect.returncode == 0 and problem in inspect.stdout
    diff = run_cli("diff", str(backbone), str(bad), "--weights")
    assert diff.returncode == 1 and diff.stderr.splitlines()[0] == f"error: {bad}: {problem}"
    out = tmp_path / "out"
    convert = run_cli("convert", str(bad), "--to", "backbone", "-o", str(out) + "/")
    assert convert.returncode == 1 and convert.stderr.splitlines()[0] == f"error: {bad}: {problem}"
    template = tmp_path / "template.pt"
    make_template(template)
    full = run_cli("convert", str(bad), "--like", str(template), "-o", str(out) + "/")
    assert full.returncode == 1 and full.stderr.splitlines()[0] == f"error: {bad}: {problem}"
    assert not out.exists() and "Traceback" not in convert.stderr + full.stderr + diff.stderr


def test_a_bad_view_in_a_template_or_a_full_checkpoint_is_refused(tmp_path: Path, backbone: Path) -> None:
    template = tmp_path / "template.pt"
    make_template(template)
    bad_template = _rewrite(template, tmp_path / "bad_template.pt", "net.classifier.bias", (2, (3,), (1,)))
    with pytest.raises(RuntimeError):
        torch.load(bad_template, weights_only=True)
    with pytest.raises(CorruptCheckpoint, match=r"bad_template.pt: tensor model\.net\.classifier\.bias: its view"):
        plan_conversion(backbone, like=str(bad_template), output=str(tmp_path / "o.pt"))
    with pytest.raises(CorruptCheckpoint, match=r"bad_template.pt: tensor model\.net\.classifier\.bias: its view"):
        plan_conversion(bad_template, to="backbone", output=str(tmp_path / "o.pt"))
    assert not (tmp_path / "o.pt").exists()


def test_the_write_check_catches_a_view_that_slipped_through(tmp_path: Path, backbone: Path) -> None:
    plan = plan_conversion(backbone, to="backbone", output=str(tmp_path / "o.pt"))
    plan.obj["net." + KEY] = replace(plan.obj["net." + KEY], offset=8)  # past its 32 values
    with pytest.raises(CorruptCheckpoint, match=rf": verification failed: tensor net\.{KEY}: its view"):
        write_plan(plan)
    assert os.listdir(tmp_path) == ["bb.pt"]  # no output, no partial


def test_storage_records_torch_does_not_write_are_flagged(tmp_path: Path, backbone: Path) -> None:
    """A compressed storage record (repacked zip) and one shorter than the pickle says."""
    packed = tmp_path / "packed.pt"
    with zipfile.ZipFile(backbone) as z, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as out:
        for info in z.infolist():
            out.writestr(info.filename, z.read(info))
    ck = read_checkpoint(packed)
    key = ck.model_state[KEY].storage.key
    torch.load(packed, weights_only=True)  # torch inflates it; mckpt's raw reads cannot
    assert f"tensor {KEY}: storage {key} is compressed inside the zip, which torch never writes (the file " \
           "was repacked); its bytes cannot be read raw" in ck.warnings
    storages = len({t.storage.key for t in ck.model_state.values()})  # 9: told once each, five shown
    assert ck.warnings[-1] == f"{storages - 5} more tensor(s) that fail this check"
    r = run_cli("convert", str(packed), "--to", "backbone", "-o", str(tmp_path / "o.pt"))
    assert r.returncode == 1 and "is compressed inside the zip" in r.stderr.splitlines()[0]

    short = tmp_path / "short.pt"
    with zipfile.ZipFile(backbone) as z, zipfile.ZipFile(short, "w") as out:
        for info in z.infolist():
            data = z.read(info)
            out.writestr(info.filename, data[:-4] if info.filename.endswith(f"/data/{key}") else data)
    ck = read_checkpoint(short)
    assert f"tensor {KEY}: storage {key} holds 124 bytes, fewer than its 128; torch cannot load it" in ck.warnings
    r = run_cli("diff", str(backbone), str(short), "--weights")
    assert r.returncode == 1 and "holds 124 bytes, fewer than its 128" in r.stderr.splitlines()[0]


def test_sound_files_have_no_byte_range_warning(tmp_path: Path, backbone: Path) -> None:
    template = tmp_path / "template.pt"
    make_template(template)
    for path in (backbone, template):
        assert not [w for w in read_checkpoint(path).warnings if w.startswith("tensor ")]


def test_the_tensor_walk_enters_each_shared_container_once() -> None:
    """30 levels of `[x, x]` are 2**30 paths as a tree, and 30 containers: the walk sees each once."""
    from mckpt.torchfile.archive import tensor_items
    from mckpt.torchfile.values import StorageRef, TensorRef

    t = TensorRef(StorageRef("0", "float32", 4), 0, (4,), (1,))
    x: object = [t]
    for _ in range(30):
        x = [x, x]
    assert list(tensor_items({"model": x})) == [("model" + ".0" * 31, t)]
    same = TensorRef(StorageRef("1", "float32", 4), 0, (4,), (1,))
    assert [p for p, _ in tensor_items({"a": same, "b": same})] == ["a", "b"]  # aliases are not containers


def test_legacy_storage_views_are_checked_against_their_root(tmp_path: Path) -> None:
    """torch < 1.6 pickled storage views as `(root key, element offset, size)`; the reader names
    them `<root>@<offset>`. Modern torch writes none, so the view is made on a real legacy file."""
    from mckpt.torchfile.values import StorageRef, TensorRef

    path = tmp_path / "legacy.pt"
    torch.save({"w": torch.arange(10.0)}, path, _use_new_zipfile_serialization=False)
    arch = read_checkpoint(path, keep_open=True).archive
    assert arch is not None and arch.layout == "legacy"
    arch.close()  # a legacy file's storage offsets are known from the index: no read needs the file
    root = next(iter(arch.storages))
    view = StorageRef(f"{root}@4", "float32", 6)
    inside = TensorRef(view, 0, (6,), (1,))
    assert arch.tensor_problem("v", inside) is None
    offset, nbytes = arch.tensor_range("v", inside)
    assert nbytes == 24
    with read_checkpoint(path, keep_open=True) as ck:
        assert ck.archive.source.read_at(offset, nbytes) == torch.arange(4.0, 10.0).numpy().tobytes()
    too_long = TensorRef(StorageRef(f"{root}@8", "float32", 6), 0, (6,), (1,))
    assert arch.tensor_problem("v", too_long) == \
        f"tensor v: storage {root}@8 holds 8 bytes, fewer than its 24; torch cannot load it"
