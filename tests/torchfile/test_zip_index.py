"""The zip index and records mckpt reads are the ones torch's reader (miniz) reads.

Two ways a file could make them differ, each built here from a real `torch.save` file: a zip64
end-of-archive record naming another index than the 32-bit end record (torch follows the zip64 one
whenever its locator is there), and a record name in another case (torch finds `BYTEORDER` as its
byteorder record; mckpt refuses every name torch.save does not write, see test_record_lookup.py).
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import run_cli

from mckpt.errors import CorruptCheckpoint
from mckpt.io.sources import FileSource
from mckpt.torchfile.archive import open_archive


def _saved(tmp_path: Path) -> bytes:
    path = tmp_path / "src.pt"
    torch.save({"model": {"w": torch.tensor([1.0, 2.0])}, "args": {"model": "sgd"}}, path)
    return path.read_bytes()


def _index(data: bytes) -> tuple[int, int, int]:
    """(entries, size, offset) of the central directory, from the end record torch.save wrote."""
    eocd = data.rindex(b"PK\x05\x06")
    return struct.unpack_from("<H", data, eocd + 10)[0], *struct.unpack_from("<II", data, eocd + 12)


def _with_zip64(data: bytes, *, z64_index: tuple[int, int, int], end_index: tuple[int, int, int],
                extra_cd: bytes = b"") -> bytes:
    """`data`'s records and index (plus `extra_cd` after it), then a zip64 end record naming
    `z64_index`, its locator, and a 32-bit end record naming `end_index`."""
    _, size, offset = _index(data)
    body = data[: offset + size] + extra_cd
    z64_at = len(body)
    z64 = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, z64_index[0], z64_index[0],
                      z64_index[1], z64_index[2])
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, z64_at, 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, end_index[0], end_index[0], end_index[1],
                      end_index[2], 0)
    return body + z64 + locator + end


def _read(path: Path):
    with FileSource(path) as src:
        return open_archive(src)


def test_a_zip64_record_naming_another_index_is_refused(tmp_path: Path) -> None:
    data = _saved(tmp_path)
    n, size, offset = _index(data)
    copy_at = offset + size  # a second copy of the index right after the first: what torch would read
    bad = tmp_path / "two_indexes.pt"
    bad.write_bytes(_with_zip64(data, z64_index=(n, size, copy_at), end_index=(n, size, offset),
                                extra_cd=data[offset : offset + size]))
    with pytest.raises(CorruptCheckpoint, match="two end-of-archive records naming different indexes"):
        _read(bad)
    for cmd in (["inspect", str(bad)], ["verify", str(bad)], ["list", str(tmp_path)]):
        r = run_cli(*cmd)
        assert "two end-of-archive records" in r.stdout + r.stderr and "Traceback" not in r.stderr, cmd
    # the entry count alone differing is enough too
    bad.write_bytes(_with_zip64(data, z64_index=(n - 1, size, offset), end_index=(n, size, offset)))
    with pytest.raises(CorruptCheckpoint, match="different indexes"):
        _read(bad)


@pytest.mark.parametrize("sentinels", [False, True])
def test_a_zip64_record_that_agrees_is_read_as_torch_reads_it(tmp_path: Path, sentinels: bool) -> None:
    data = _saved(tmp_path)
    n, size, offset = _index(data)
    end = (0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF) if sentinels else (n, size, offset)
    good = tmp_path / "zip64.pt"
    good.write_bytes(_with_zip64(data, z64_index=(n, size, offset), end_index=end))
    assert torch.load(good, weights_only=True)["model"]["w"].tolist() == [1.0, 2.0]
    assert "w" in _read(good).obj["model"]


def test_a_record_name_in_another_case_is_refused(tmp_path: Path) -> None:
    """`BYTEORDER` saying big: torch reads the tensors big-endian; mckpt, which reads only the
    names torch.save writes, refuses the file rather than read it another way."""
    data = _saved(tmp_path)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            if info.filename.endswith("/byteorder"):
                zout.writestr(info.filename[: -len("byteorder")] + "BYTEORDER", b"big")
            else:
                zout.writestr(info.filename, zin.read(info))
    path = tmp_path / "case.pt"
    path.write_bytes(out.getvalue())
    assert torch.load(path, weights_only=True)["model"]["w"].tolist() != [1.0, 2.0]  # torch took it
    with pytest.raises(CorruptCheckpoint, match=r"'BYTEORDER' in its folder, not a record torch\.save writes"):
        _read(path)


@pytest.mark.parametrize(("opcode", "text"), [(b"X", "s" * 30_000), (b"C", "b" * 250)])
def test_one_memoized_string_used_thousands_of_times_is_refused(tmp_path: Path, opcode: bytes, text: str) -> None:
    """Two bytes of pickle per use (BINGET), hundreds of megabytes in every view that shows each use:
    the tree check counts text by its length at every use, so `inspect --json` refuses the file."""
    from mckpt.torchfile.unpickler import safe_loads

    raw = text.encode()
    value = (b"X" + struct.pack("<I", len(raw)) if opcode == b"X" else b"C" + bytes([len(raw)])) + raw
    uses = 300_000 if opcode == b"C" else 15_000
    pickle_bytes = b"\x80\x04](" + value + b"\x94" + b"h\x00" * uses + b"e."
    assert len(pickle_bytes) < 640_000
    with pytest.raises(CorruptCheckpoint, match="shared containers or strings"):
        safe_loads(pickle_bytes)
    assert len(safe_loads(b"\x80\x04](" + value + b"\x94" + b"h\x00" * 100 + b"e.").obj) == 101  # a few uses: fine
