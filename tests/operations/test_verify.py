"""`verify` passes every real Mammoth file and catches what damage does to one: a flipped byte in
any record, a cut, a central directory that lies, a storage shorter than its tensors."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path

import hub_server
import pytest
from conftest import FIXTURES, fixtures_missing, run_cli

from mckpt.io.sources import FileSource
from mckpt.torchfile.archive import _read_central_directory, data_offset
from mckpt.verify import Target, verify_source, verify_target

REAL = sorted(FIXTURES.rglob("*.pt")) if FIXTURES.is_dir() else []
ER = "checkpoints/er_seq-mnist_None_50_1_20261128-165918_95ed7ced_last.pt"


@pytest.fixture
def er(mammoth_fixtures: Path) -> Path:
    return mammoth_fixtures / ER


def problems(path: Path, **kw: object) -> list[str]:
    with FileSource(path) as src:
        return verify_source(src, **kw).problems  # type: ignore[arg-type]


def members(path: Path):  # type: ignore[no-untyped-def]
    with FileSource(path) as src:
        return [(m, data_offset(src, m)) for m in _read_central_directory(src)]


def patched(src: Path, dest: Path, offset: int, new: bytes) -> Path:
    data = bytearray(src.read_bytes())
    data[offset : offset + len(new)] = new
    dest.write_bytes(bytes(data))
    return dest


@pytest.mark.parametrize("path", REAL or [None], ids=lambda p: p.name if p else "fixtures")
def test_every_real_fixture_passes(path: Path | None) -> None:
    if path is None:
        fixtures_missing("every real file must verify")
    v = verify_target(Target(str(path)))
    assert v.ok, v.problems
    assert v.records >= 12 and v.tensors >= 16 and v.layout == "zip"


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_records_straddling_buffers_are_walked_alike(er: Path, chunk: int) -> None:
    assert problems(er, chunk=chunk, depth=2) == []
    (m, start), *_ = [x for x in members(er) if "/data/" in x[0].name]
    bad = patched(er, er.with_name("bad.pt"), start + m.size // 2, bytes([er.read_bytes()[start + m.size // 2] ^ 1]))
    assert "fails its CRC-32 check" in problems(bad, chunk=chunk, depth=2)[0]


def test_a_flipped_byte_in_any_record_is_caught(er: Path, tmp_path: Path) -> None:
    original = er.read_bytes()
    checked = 0
    for m, start in members(er):
        if m.size == 0:
            continue
        at = start + m.size // 2
        bad = patched(er, tmp_path / "bad.pt", at, bytes([original[at] ^ 0x10]))
        found = problems(bad)
        assert found, m.name
        assert m.name in found[0] or "data.pkl" in found[0] or "pickle" in found[0], found
        checked += 1
    assert checked == len(members(er))


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, -22, -1])
def test_a_truncated_file_fails(er: Path, tmp_path: Path, keep: float) -> None:
    data = er.read_bytes()
    n = int(len(data) * keep) if keep > 0 else len(data) + int(keep)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[:n])
    found = problems(cut)
    assert found and ("truncated" in found[0] or "damaged" in found[0]), found


def _central(path: Path) -> int:
    """Where the index entry of the first tensor record starts (data.pkl's is the reader's to check)."""
    data = path.read_bytes()
    at = data.index(b"PK\x01\x02")
    while b"/data/" not in data[at + 46 : at + 46 + struct.unpack_from("<H", data, at + 28)[0]]:
        at = data.index(b"PK\x01\x02", at + 4)
    return at


@pytest.mark.parametrize(("field", "value", "expect"), [
    (16, b"\x00\x00\x00\x00", "fails its CRC-32 check (the index says 00000000"),  # a tensor record's CRC
    (20, struct.pack("<I", 1), "two different sizes"),  # its compressed size
    (42, 40, "where no record starts"),  # its local header offset, moved 40 bytes into the record
    (42, -100, "overlaps the one before it"),  # … moved back into the record before
    (46, b"X", "outside its folder"),  # the first letter of its name: the reader refuses it first
])
def test_a_central_directory_that_lies_is_caught(er: Path, tmp_path: Path, field: int, value: bytes | int,
                                                 expect: str) -> None:
    at = _central(er) + field
    if isinstance(value, int):
        value = struct.pack("<I", struct.unpack_from("<I", er.read_bytes(), at)[0] + value)
    bad = patched(er, tmp_path / "bad.pt", at, value)
    found = problems(bad)
    assert found and any(expect in p for p in found), found


def test_a_central_directory_name_unlike_its_local_header_is_caught(er: Path, tmp_path: Path) -> None:
    """The last letter of a tensor record's name in its local header differs from the index (the
    index's name, which the reader checks against the records torch.save writes, is left as it is)."""
    data = er.read_bytes()
    at = _central(er)
    name_len, local = struct.unpack_from("<H", data, at + 28)[0], struct.unpack_from("<I", data, at + 42)[0]
    bad = patched(er, tmp_path / "bad.pt", local + 30 + name_len - 1, b"X")
    found = problems(bad)
    assert found and any("its local header" in p for p in found), found


def test_a_storage_shorter_than_its_tensors_is_caught(er: Path, tmp_path: Path) -> None:
    bad = tmp_path / "short.pt"
    with zipfile.ZipFile(er) as zin, zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/data/0"):
                data = data[:-4]
            zout.writestr(info.filename, data)
    found = problems(bad)
    assert any("storage 0 holds" in p and "fewer than" in p for p in found), found


def test_deflated_records_are_inflated_and_checked(er: Path, tmp_path: Path) -> None:
    packed = tmp_path / "deflated.pt"
    with zipfile.ZipFile(er) as zin, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    found = problems(packed)
    assert found and all("compressed inside the zip" in p for p in found), found  # a repack torch never writes
    m, start = next(x for x in members(packed) if x[0].name.endswith("/data/0"))
    bad = patched(packed, tmp_path / "bad.pt", start + m.compressed_size // 2, b"\x00\xff\x00")
    found = problems(bad)
    assert "data/0" in found[0] and ("deflate" in found[0] or "CRC-32" in found[0] or "inflates" in found[0]), found


def test_a_legacy_torch_file_passes_and_a_cut_one_fails(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "legacy.pt"
    torch.save({"model": {"w": torch.arange(1000.0)}, "args": {"model": "sgd"}, "results": [[], [], {}]}, path,
               _use_new_zipfile_serialization=False)
    v = verify_target(Target(str(path)))
    assert v.ok and v.layout == "legacy" and v.tensors == 1
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:-100])
    assert not verify_target(Target(str(cut))).ok


def test_cli_lines_summary_exit_code_and_sha256(mammoth_fixtures: Path, tmp_path: Path) -> None:
    folder = mammoth_fixtures / "checkpoints"
    victim = folder / "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744_2.pt"
    _m, start = next(x for x in members(victim) if x[0].name.endswith("/data/1"))
    patched(victim, victim, start + 5, b"\x99")
    r = run_cli("verify", str(folder))
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert sum(line.startswith("ok    ") for line in lines) == 8
    (fail,) = [line for line in lines if line.startswith("FAIL")]
    assert victim.name in fail and "data/1 fails its CRC-32 check" in fail
    assert "9 file(s) verified: 8 ok, 1 failed" in r.stdout and "Traceback" not in r.stderr
    good = mammoth_fixtures / ER
    digest = hashlib.sha256(good.read_bytes()).hexdigest()
    r = run_cli("verify", str(good), "--sha256", digest, "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["files"][0]["sha256"] == digest and doc["total"] == {
        "files": 1, "ok": 1, "failed": 0, "bytes": good.stat().st_size}
    r = run_cli("verify", str(good), "--sha256", "0" * 64)
    assert r.returncode == 1 and "differs from 0000" in r.stdout
    r = run_cli("verify", str(tmp_path / "missing.pt"), str(good))
    assert r.returncode == 1 and "missing.pt: no such file" in r.stdout and "1 ok, 1 failed" in r.stdout


@pytest.fixture
def hub(mammoth_fixtures: Path) -> Iterator[hub_server.Hub]:
    yield from hub_server.serve({"owner/repo/er.pt": (mammoth_fixtures / ER).read_bytes()})


def test_remote_files_are_streamed_and_checked_against_the_hubs_checksum(hub: hub_server.Hub,
                                                                         tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub.hub_url, "MCKPT_CACHE": str(tmp_path / "cache"), "HF_TOKEN": "", "HF_HUB_OFFLINE": ""}
    r = run_cli("verify", "hf://owner/repo/er.pt", "--json", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    (f,) = json.loads(r.stdout)["files"]
    assert f["ok"] and f["sha256_from"].startswith("the hub's checksum") and f["records"] == 14
    assert not (tmp_path / "cache").exists()  # nothing downloaded to disk
    hub.faults.wrong_sha = True
    r = run_cli("verify", "hf://owner/repo/er.pt", env=env)
    assert r.returncode == 1 and "differs from" in r.stdout


def test_a_fetched_file_is_checked_against_what_fetch_recorded(hub: hub_server.Hub, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub.hub_url, "MCKPT_CACHE": str(tmp_path / "cache"), "HF_TOKEN": "", "HF_HUB_OFFLINE": ""}
    out = tmp_path / "out"
    out.mkdir()
    assert run_cli("fetch", "hf://owner/repo/er.pt", "-o", str(out), "-q", env=env).returncode == 0
    r = run_cli("verify", str(out / "er.pt"), "--json", env=env)
    (f,) = json.loads(r.stdout)["files"]
    assert f["ok"] and f["sha256_from"].startswith("the hub's checksum (LFS oid), recorded by fetch")
    shutil.copy(out / "er.pt", tmp_path / "copy.pt")  # a plain copy: no checksum is known for it
    (f,) = json.loads(run_cli("verify", str(tmp_path / "copy.pt"), "--json", env=env).stdout)["files"]
    assert f["ok"] and f["sha256"] is None
    os.unlink(out / "er.pt")
