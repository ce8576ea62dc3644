"""`.safetensors` files: `inspect` reads the header (never the data) as the safetensors library
reads it, refuses hostile headers in one line, and `list` names such a file for what it is."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from conftest import run_cli

from mckpt.errors import CorruptCheckpoint
from mckpt.io.sources import FileSource
from mckpt.torchfile.safetensors import read_safetensors

st_torch = pytest.importorskip("safetensors.torch", reason="the safetensors package writes the real files")
from safetensors import safe_open  # noqa: E402

DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.uint8, torch.bool, torch.float64, torch.int8)


def _real(path: Path, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for i in range(1 + seed % 7):
        shape = tuple(int(x) for x in torch.randint(0, 5, (int(torch.randint(0, 4, (1,), generator=g)),),
                                                      generator=g))
        dtype = DTYPES[(seed + i) % len(DTYPES)]
        tensors[f"layer{i}.weight"] = torch.zeros(shape, dtype=dtype)
    st_torch.save_file(tensors, str(path), metadata={"format": "pt", "seed": str(seed)} if seed % 2 else None)
    return tensors


@pytest.mark.parametrize("seed", range(12))
def test_header_reads_as_the_safetensors_library_reads_it(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "model.safetensors"
    _real(path, seed)
    with FileSource(path) as src:
        st = read_safetensors(src)
    with safe_open(str(path), "pt") as f:
        expected = {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}  # noqa: SIM118
        assert st.metadata == (f.metadata() or {})
    assert {t.name: (t.dtype, t.shape) for t in st.tensors} == expected


def test_inspect_and_list_name_it(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    tensors = {f"block.{i}.w": torch.zeros(3, 4) for i in range(25)}
    st_torch.save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    r = run_cli("inspect", str(folder / "model.safetensors"))
    assert r.returncode == 0, r.stderr
    assert "safetensors" in r.stdout and "Tensors (25)" in r.stdout and "… and 5 more" in r.stdout
    doc = json.loads(run_cli("inspect", str(folder / "model.safetensors"), "--json", "-t").stdout)
    assert doc["kind"] == "safetensors" and doc["tensors"]["count"] == 25 and doc["tensors"]["parameters"] == 300
    assert doc["metadata"] == {"format": "pt"} and doc["tensors"]["list"][0]["shape"] == [3, 4]
    # Other commands that need a torch checkpoint say what the file is.
    conv = run_cli("convert", str(folder / "model.safetensors"), "--dry-run")
    assert conv.returncode != 0 and "a safetensors file" in conv.stderr and "Traceback" not in conv.stderr
    listed = json.loads(run_cli("list", str(folder), "--json").stdout)
    assert listed["runs"] == []
    assert listed["other"] == [{"path": str(folder / "model.safetensors"),
                                "reason": "a safetensors file (tensors only), not a torch checkpoint"}]


def _file(path: Path, header: bytes, data: bytes = b"", length: int | None = None) -> Path:
    path.write_bytes(struct.pack("<Q", len(header) if length is None else length) + header + data)
    return path


def _header(**tensors: dict) -> bytes:
    return json.dumps(tensors).encode()


HOSTILE = {
    "huge length": (b'{"a": 1}', b"", 1 << 62, "claims"),
    "length past the end": (b'{"a": 1}', b"", 4096, "past the file's end"),
    "deep JSON": (b'{"__metadata__": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", b"", None, "nests deeper"),
    "offsets past the data": (_header(w={"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}), b"\0" * 4, None,
                              "outside"),
    "offsets that disagree with the shape": (_header(w={"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}),
                                             b"\0" * 8, None, "bytes for a F32"),
    "overlapping tensors": (_header(a={"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                                    b={"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}), b"\0" * 6, None,
                            "overlap"),
    "unknown dtype": (_header(w={"dtype": "EVIL", "shape": [1], "data_offsets": [0, 1]}), b"\0", None, "dtype"),
    "negative shape": (_header(w={"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}), b"", None, "shape"),
    "duplicate key": (b'{"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, '
                      b'"w": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}', b"\0", None, "twice"),
    "huge number": (b'{"w": {"dtype": "U8", "shape": [' + b"9" * 10_000 + b'], "data_offsets": [0, 1]}}', b"\0",
                    None, "JSON"),
}


# The safetensors library reads these (the last of two equal keys wins); mckpt refuses a header whose
# meaning depends on which duplicate a reader keeps.
STRICTER = {"duplicate key"}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_headers_are_refused_in_one_line(tmp_path: Path, case: str) -> None:
    header, data, length, words = HOSTILE[case]
    path = _file(tmp_path / "bad.safetensors", header, data, length)
    with FileSource(path) as src, pytest.raises(CorruptCheckpoint, match=words):
        read_safetensors(src)
    if case not in STRICTER:
        with pytest.raises(Exception), safe_open(str(path), "pt") as f:  # noqa: B017  the library refuses it too
            [f.get_tensor(k) for k in f.keys()]  # noqa: SIM118
    r = run_cli("inspect", str(path))
    assert r.returncode != 0 and r.stderr.count("\n") <= 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"error: {path}: a bad safetensors header"), r.stderr


def test_pth_and_ckpt_files_are_listed_as_other_files(tmp_path: Path) -> None:
    """Files people keep beside Mammoth's: read for what they are, listed under other files, never runs."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save({"fc.weight": torch.zeros(2, 3), "fc.bias": torch.zeros(2)}, folder / "backbone.pth")
    torch.save({"w": torch.zeros(4)}, folder / "old.ckpt", _use_new_zipfile_serialization=False)
    (folder / "notes.ckpt").write_text("not a checkpoint at all")
    (folder / "readme.txt").write_text("ignored, as before")
    listed = json.loads(run_cli("list", str(folder), "--json").stdout)
    assert listed["runs"] == []
    reasons = {Path(o["path"]).name: o["reason"] for o in listed["other"]}
    assert reasons == {"backbone.pth": "a bare backbone (2 tensors)", "old.ckpt": "a bare backbone (1 tensor)",
                       "notes.ckpt": "not a torch checkpoint (neither a zip archive nor a torch pickle)"}
    text = run_cli("list", str(folder)).stdout
    assert "3 other file(s)" in text and "backbone.pth" in text


def test_inspect_a_safetensors_url_reads_the_header_by_ranges(tmp_path: Path) -> None:
    """Over HTTP, from a real server: the header's ranges only, not the tensors' bytes."""
    import hub_server

    path = tmp_path / "big.safetensors"
    st_torch.save_file({"emb": torch.zeros(1 << 20), "head": torch.zeros(4, 4)}, str(path), metadata={"a": "b"})
    for hub in hub_server.serve():
        hub.plain["big.safetensors"] = path.read_bytes()
        r = run_cli("inspect", f"{hub.cdn_url}/plain/big.safetensors", "--json", "-t")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["metadata"] == {"a": "b"} and [t["name"] for t in doc["tensors"]["list"]] == ["emb", "head"]
        assert hub.cdn_bytes < 1 << 20  # 4 MiB of tensors, never fetched
        assert "no args" in run_cli("inspect", str(path), "--args-only").stderr
