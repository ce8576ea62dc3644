"""The allow-list unpickler on the values old Mammoth pickles hold."""

from __future__ import annotations

import argparse
import collections
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from mckpt import read_checkpoint
from mckpt.errors import CorruptCheckpoint, UnsafePickle
from mckpt.io.sources import FileSource
from mckpt.torchfile.archive import ZipMember, read_member
from mckpt.torchfile.unpickler import safe_loads
from mckpt.torchfile.values import PickledNamespace, Placeholder, TensorRef


class Buffer:  # stands for utils.buffer.Buffer: a class the reader has never seen
    def __init__(self) -> None:
        self.buffer_size = 10
        self.examples = torch.zeros(10, 3)
        self.num_seen_examples = 42


Buffer.__module__ = "utils.buffer"


def test_numpy_values_become_python(tmp_path: Path) -> None:
    ns = argparse.Namespace(
        lr=np.float64(0.05), n=np.int64(7), flag=np.bool_(True), f32=np.float32(0.5),
        class_order=np.array([[3, 1], [2, 0]], dtype=np.int64), fortran=np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        device=torch.device("cuda", 1),
    )
    path = tmp_path / "x.pt"
    torch.save({"model": {}, "args": ns, "results": [[[np.float64(80.0)]], [[np.float64(90.0)]], {}]}, path)
    ck = read_checkpoint(path)
    a = ck.args
    assert a["lr"] == 0.05 and isinstance(a["lr"], float)
    assert a["n"] == 7 and isinstance(a["n"], int)
    assert a["flag"] is True and a["f32"] == 0.5
    assert a["device"] == "cuda:1"
    assert ck.to_json()["args"]["class_order"] == [[3, 1], [2, 0]]
    assert ck.to_json()["args"]["fortran"] == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert ck.class_il == [[80.0]] and ck.format == "old_pickle"


def test_unknown_class_is_an_inert_placeholder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    # let torch.save pickle the class under Mammoth's module name
    monkeypatch.setitem(sys.modules, "utils", types.ModuleType("utils"))
    monkeypatch.setitem(sys.modules, "utils.buffer", sys.modules[__name__])
    path = tmp_path / "b.pt"
    torch.save({"model": {}, "args": {}, "buffer": Buffer()}, path)
    monkeypatch.undo()
    ck = read_checkpoint(path)
    buf = ck.archive.obj["buffer"]
    assert isinstance(buf, Placeholder) and buf.qualname == "utils.buffer.Buffer"
    assert buf.attrs["num_seen_examples"] == 42 and isinstance(buf.attrs["examples"], TensorRef)
    assert ck.buffer.to_json() == {"class": "utils.buffer.Buffer", "size": 10, "seen": 42,
                                   "tensors": {"examples": {"dtype": "float32", "shape": [10, 3]}}, "bytes": 120}


def test_namespace_and_ordered_dict() -> None:
    data = pickle.dumps({"a": argparse.Namespace(x=1), "b": collections.OrderedDict(k=2),
                         "d": collections.defaultdict(list, {"z": [1]})}, protocol=2)
    obj = safe_loads(data).obj
    assert isinstance(obj["a"], PickledNamespace) and obj["a"] == {"x": 1}
    assert obj["b"] == {"k": 2} and obj["d"] == {"z": [1]}


@pytest.mark.parametrize("payload", [
    b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x09\x00\x00\x00rot13_xyzq\x00\x86R.",
    b"\x80\x02cbuiltins\n__import__\nX\x02\x00\x00\x00os\x85R.",
    b"\x80\x02ctorch.hub\nload\nX\x01\x00\x00\x00x\x85R.",
    b"\x80\x02cnumpy\nload\nX\x01\x00\x00\x00x\x85R.",
    b"\x80\x02cmymod\nfoo.__globals__\n.",
])
def test_dangerous_globals_refused(payload: bytes) -> None:
    with pytest.raises(UnsafePickle):
        safe_loads(payload)


def test_member_over_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    torch.save({"w": torch.zeros(4)}, path)
    src = FileSource(path)
    fake = ZipMember("x/data.pkl", 0, 10, 10_000_000_000, 0, 0)
    with pytest.raises(CorruptCheckpoint, match="over the"):
        read_member(src, fake, limit=1 << 20)


def test_reads_only_the_index_and_pickle(tmp_path: Path) -> None:
    path = tmp_path / "big.pt"
    torch.save({"model": {"w": torch.zeros(4_000_000)}, "args": {"model": "sgd"}, "results": [[], [], {}]}, path)
    src = FileSource(path)
    ck = read_checkpoint(src)
    assert ck.tensors.bytes == 16_000_000
    assert src.bytes_read < 80_000 < path.stat().st_size


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_every_protocol_reads_framed_or_not(protocol: int) -> None:
    obj = {"a": [1, 2, 3] * 20000, "b": "x" * 100_000, "c": (1.5, None, True)}
    assert safe_loads(pickle.dumps(obj, protocol=protocol)).obj == obj


def test_frames_in_a_pickle_that_declares_protocol_2_are_refused() -> None:
    framed = pickle.dumps({"a": "x" * 70_000}, protocol=4)
    assert pickle.loads(b"\x80\x02" + framed[2:]) == {"a": "x" * 70_000}  # pickle itself does not mind
    with pytest.raises(CorruptCheckpoint, match="frames its data"):
        safe_loads(b"\x80\x02" + framed[2:])
