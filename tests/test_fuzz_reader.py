"""Malformed input of every kind becomes a MckptError: regressions found by fuzzing, and the fuzzer.

The promise: `read_checkpoint` (and what `inspect`, `diff` and `convert` build on it) either
succeeds or raises MckptError; any other exception would reach the user as an internal error.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
import torch

from mckpt import MckptError, read_checkpoint
from mckpt.errors import CorruptCheckpoint


class MemorySource:
    """A checkpoint held in memory: the fuzzer writes no files."""

    def __init__(self, data: bytes, name: str = "fuzz.pt") -> None:
        self.data, self.name, self.size = data, name, len(data)

    def read_at(self, offset: int, n: int) -> bytes:
        return self.data[offset : offset + n]

    def close(self) -> None:
        pass


def saved(obj: object, **kw: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


def mammoth_file(**kw: object) -> bytes:
    sd = {"net.fc.weight": torch.randn(3, 4), "net.fc.bias": torch.zeros(3)}
    return saved({"model": sd, "args": {"model": "sgd", "lr": 0.1}, "results": [[[90.0]], [[95.0]], {}],
                  "optimizer": None, "scheduler": None}, **kw)


def central_records(data: bytes) -> list[int]:
    out, i = [], data.find(b"PK\x01\x02")
    while i >= 0:
        out.append(i)
        i = data.find(b"PK\x01\x02", i + 1)
    return out


def with_zip64_extra(data: bytes, record: int, extra: bytes) -> bytes:
    """Give one central directory record `extra` as its extra field and 0xFFFFFFFF sizes."""
    d = bytearray(data)
    p = central_records(data)[record]
    nlen, elen = struct.unpack_from("<HH", d, p + 28)
    d[p + 46 + nlen : p + 46 + nlen + elen] = extra
    struct.pack_into("<H", d, p + 30, len(extra))
    struct.pack_into("<I", d, p + 20, 0xFFFFFFFF)
    eocd = d.rfind(b"PK\x05\x06")
    cd_offset = struct.unpack_from("<I", d, eocd + 16)[0]
    struct.pack_into("<I", d, eocd + 12, eocd - cd_offset)
    return bytes(d)


def repacked(data: bytes, change: dict[str, bytes] | None = None, deflate: tuple[str, ...] = ()) -> bytes:
    """The same archive rewritten by zipfile, members replaced or deflated (valid CRCs)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            body = next((v for k, v in (change or {}).items() if info.filename.endswith(k)), src.read(info))
            method = zipfile.ZIP_DEFLATED if info.filename.endswith(deflate) else zipfile.ZIP_STORED
            z.writestr(info.filename, body, compress_type=method)
    return out.getvalue()


@pytest.mark.parametrize("extra", [
    struct.pack("<HH", 1, 24) + b"\x00" * 8,  # declares 24 bytes, holds 8
    struct.pack("<HH", 1, 200),
    struct.pack("<HH", 7, 4) + b"abcd" + struct.pack("<HH", 1, 16) + b"\x00" * 4,
])
def test_zip64_extra_running_past_its_record(extra: bytes) -> None:
    with pytest.raises(CorruptCheckpoint, match="zip64 field"):
        read_checkpoint(MemorySource(with_zip64_extra(mammoth_file(), 0, extra)))


def test_damaged_deflate_stream() -> None:
    data = bytearray(repacked(mammoth_file(), deflate=("data.pkl",)))
    start = 30 + struct.unpack_from("<H", data, 26)[0] + struct.unpack_from("<H", data, 28)[0]
    data[start] ^= 0xFF  # the first block header
    with pytest.raises(CorruptCheckpoint, match="not valid deflate data"):
        read_checkpoint(MemorySource(bytes(data)))


def test_deflated_pickle_is_still_read() -> None:
    ck = read_checkpoint(MemorySource(repacked(mammoth_file(), deflate=("data.pkl", "byteorder"))))
    assert ck.args == {"model": "sgd", "lr": 0.1} and ck.archive.byteorder == "little"


def test_zip_bomb_stops_at_the_pickle_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import mckpt.archive as archive

    monkeypatch.setattr(archive, "MAX_PICKLE_BYTES", 1 << 20)
    bomb = b"\x80\x02" + b"N0" * (2 << 20) + b"N."
    data = repacked(mammoth_file(), {"data.pkl": bomb}, deflate=("data.pkl",))
    assert len(data) < 20_000
    with pytest.raises(CorruptCheckpoint, match="byte limit"):
        read_checkpoint(MemorySource(data))


def test_unknown_byteorder() -> None:
    with pytest.raises(CorruptCheckpoint, match="not little or big"):
        read_checkpoint(MemorySource(repacked(mammoth_file(), {"byteorder": b"middle"})))


def test_crc_mismatch_is_named() -> None:
    data = bytearray(mammoth_file())
    p = central_records(bytes(data))[0]
    struct.pack_into("<I", data, p + 16, zlib.crc32(b"other"))
    with pytest.raises(CorruptCheckpoint, match="CRC"):
        read_checkpoint(MemorySource(bytes(data)))


# -- odd but well-formed trees: read, shown and compared without a crash --------------------------

ODD_TREES = {
    "optimizer params not a list": {"optimizer": {"param_groups": [{"lr": 0.1, "params": 3.5}], "state": []}},
    "param_groups not a list": {"optimizer": {"param_groups": 7, "state": {0: {1: 2, "a": 3}}}},
    "scheduler keys not text": {"scheduler": {1: 2, ("a", 1): 3, "_step_count": 1, "T_max": 5}},
    "buffer neither dict nor object": {"buffer": [1, 2]},
    "args keys not text": {"args": {1: "x", ("a", 2): 3.0, "lr": 0.1}},
    "model keys not text": {"model": {1: torch.zeros(2), ("net", 2): torch.ones(1), "net.w": torch.ones(3)}},
}


def render_everything(ck: object) -> str:
    from mckpt.output import Output
    from mckpt.render import render_args, render_checkpoint, render_tensor_list

    text = io.StringIO()
    json.dumps(ck.to_json(full_tensors=True))
    for fmt in (None, "github"):
        out = Output(fmt=fmt, stream=text)
        render_checkpoint(out, ck, tensors=True)
        render_args(out, ck.args)
        render_tensor_list(out, ck)
    return text.getvalue()


@pytest.mark.parametrize("case", sorted(ODD_TREES))
def test_odd_trees_are_shown(case: str, tmp_path: Path) -> None:
    from mckpt.convert import plan_conversion
    from mckpt.diff import diff_checkpoints

    tree = {"model": {"net.w": torch.ones(3)}, "args": {"model": "sgd"}, "results": [[[1.0]], [[2.0]], {}],
            **ODD_TREES[case]}
    path = tmp_path / "odd.pt"
    torch.save(tree, path)
    ck = read_checkpoint(path)
    assert ck.kind == "mammoth" and render_everything(ck)
    assert all(isinstance(k, str) for k in ck.args) and all(isinstance(k, str) for k in ck.model_state)
    d = diff_checkpoints(str(path), str(path), weights=True)
    assert d.weights is not None and d.weights.equal
    with contextlib.suppress(MckptError):  # what convert says is its own business; no crash
        plan_conversion(str(path), "backbone")
