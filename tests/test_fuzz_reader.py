"""Malformed input of every kind becomes a MckptError: regressions found by fuzzing, and the fuzzer.

The promise: `read_checkpoint` (and what `inspect`, `diff` and `convert` build on it) either
succeeds or raises MckptError; any other exception would reach the user as an internal error.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
import torch

from mckpt import read_checkpoint
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
