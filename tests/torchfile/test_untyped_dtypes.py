"""Dtypes torch saves through untyped storages (float8, uint16…: `_rebuild_tensor_v3`).

mckpt refused these files as "crafted" although `torch.load(weights_only=True)` reads them.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mckpt.convert import plan_conversion, write_plan
from mckpt.diff import diff_checkpoints
from mckpt.domain.checkpoint import read_checkpoint


def _full(path: Path) -> dict[str, torch.Tensor]:
    q = torch.tensor([0.5, 1.0, 2.0, -1.0]).to(torch.float8_e4m3fn)
    model = {"net.w": torch.arange(6, dtype=torch.int32).to(torch.uint16).reshape(2, 3),
             "net.q": q, "net.q_view": q[1:3], "net.f": torch.randn(3)}
    torch.save({"model": model, "optimizer": None, "scheduler": None,
                "args": {"model": "sgd", "dataset": "seq-mnist"}, "results": [[[90.0]], [[95.0]], {}]}, path)
    return model


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.uint8)


def test_read_describes_untyped_storage_tensors(tmp_path: Path) -> None:
    path = tmp_path / "ck.pt"
    _full(path)
    ck = read_checkpoint(path)
    assert ck.kind == "mammoth" and ck.format == "safe"  # torch.load(weights_only=True) reads it
    refs = ck.model_state
    assert (refs["net.w"].dtype, refs["net.w"].shape) == ("uint16", (2, 3))
    assert (refs["net.q"].dtype, refs["net.q_view"].offset) == ("float8_e4m3fn", 1)
    assert ck.tensors.bytes == 12 + 4 + 12  # uint16 2×3, the float8 storage once, float32 ×3


def test_convert_and_diff_keep_their_dtype_and_bytes(tmp_path: Path) -> None:
    src = tmp_path / "ck.pt"
    model = _full(src)
    out = tmp_path / "bb.pt"
    write_plan(plan_conversion(str(src), "backbone", output=str(out)))
    back = torch.load(out, weights_only=True)
    for key, t in model.items():
        assert back[key].dtype == t.dtype and back[key].shape == t.shape, key
        assert torch.equal(_bits(back[key]), _bits(t)), key
    d = diff_checkpoints(str(src), str(out), weights=True)
    assert d.weights is not None and d.weights.identical == d.weights.compared == 4
