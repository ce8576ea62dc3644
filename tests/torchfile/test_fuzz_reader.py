"""Malformed input of every kind becomes a MckptError: regressions found by fuzzing, and the fuzzer.

The promise: `read_checkpoint` (and what `inspect`, `diff` and `convert` build on it) either
succeeds or raises MckptError; any other exception would reach the user as an internal error.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import re
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
    z64 = d.rfind(b"PK\x06\x06")  # torch.save writes a zip64 end record too; torch reads that one
    cd_end = z64 if z64 > 0 else eocd
    struct.pack_into("<I", d, eocd + 12, cd_end - cd_offset)
    if z64 > 0:
        struct.pack_into("<Q", d, z64 + 40, cd_end - cd_offset)
        struct.pack_into("<Q", d, d.rfind(b"PK\x06\x07") + 8, z64)
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
    import mckpt.torchfile.archive as archive

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


def emit_strict_json(doc: object) -> None:
    """What `--json` prints for `doc`, parsed back as strict JSON (a file may hold NaN or inf)."""
    from mckpt.view.output import Output

    text = io.StringIO()
    Output(json=True, stream=text).emit_json(doc)
    json.loads(text.getvalue(), parse_constant=lambda c: pytest.fail(f"{c} in --json output"))


def render_everything(ck: object) -> str:
    from mckpt.view.output import Output
    from mckpt.view.render_inspect import render_args, render_checkpoint, render_tensor_list

    text = io.StringIO()
    emit_strict_json(ck.to_json(full_tensors=True))
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


# -- the fuzzer -------------------------------------------------------------------------------------
# Fixed seeds, a few hundred cases per family, a few seconds in all. Seed files are made
# deterministic first (torch writes a random serialization id, and legacy files name storages by
# memory address), so every run mutates the same bytes.


class Buffer:  # pickled under Mammoth's module name: an unknown class for the reader
    def __init__(self) -> None:
        self.buffer_size, self.examples, self.num_seen_examples = 4, torch.zeros(4, 2), 9


def _fixed(data: bytes) -> bytes:
    """A zip checkpoint with fixed timestamps and serialization id; legacy keys renamed."""
    if data.startswith(b"PK"):
        src = zipfile.ZipFile(io.BytesIO(data))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            for info in src.infolist():
                body = b"0" * 20 if info.filename.endswith("serialization_id") else src.read(info)
                z.writestr(zipfile.ZipInfo(info.filename), body)
        return out.getvalue()
    for i, key in enumerate(sorted(set(re.findall(rb"\d{10,}", data)))):
        data = data.replace(key, str(i).rjust(len(key), "7").encode())
    return data


@pytest.fixture(scope="module")
def seed_files() -> dict[str, bytes]:
    np = pytest.importorskip("numpy")
    import argparse
    import sys
    import types

    mod = types.ModuleType("utils.buffer")
    mod.Buffer = Buffer
    Buffer.__module__ = "utils.buffer"
    saved_modules = {name: sys.modules.get(name) for name in ("utils", "utils.buffer")}
    sys.modules.update({"utils": types.ModuleType("utils"), "utils.buffer": mod})
    try:
        sd = {"net.fc.weight": torch.arange(12.0).reshape(3, 4), "net.fc.bias": torch.zeros(3)}
        sd["net.alias.weight"] = sd["net.fc.weight"]
        args = argparse.Namespace(model="er", dataset="seq-mnist", lr=np.float64(0.1), buffer_size=4,
                                  class_order=np.arange(4), device=torch.device("cpu"))
        old = {"model": sd, "args": args, "results": [[[90.0], [80.0, 70.0]], [[95.0], [90.0, 85.0]], {"accs": [1]}],
               "optimizer": {"state": {0: {"momentum_buffer": torch.ones(3)}},
                             "param_groups": [{"lr": 0.1, "momentum": 0.9, "dampening": 0, "params": [0, 1]}]},
               "scheduler": {"milestones": [1, 2], "_last_lr": [0.1]}, "buffer": Buffer()}
        safe = {**old, "args": vars(args) | {"lr": 0.1, "class_order": [0, 1, 2, 3], "device": "cpu"},
                "buffer": {"examples": torch.zeros(4, 2)}}
        return {name: _fixed(saved(obj, **kw)) for name, obj, kw in [
            ("safe", safe, {}), ("old_pickle", old, {}), ("backbone", sd, {}),
            ("legacy", old, {"_use_new_zipfile_serialization": False})]}
    finally:
        for name, module in saved_modules.items():
            if module is None:
                del sys.modules[name]
            else:
                sys.modules[name] = module


def flip(rng: random.Random, d: bytearray) -> bytearray:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(d))
        d[i] ^= 1 << rng.randrange(8)
    return d


def byte_mutation(rng: random.Random, data: bytes) -> bytes:
    d = bytearray(data)
    i, j = sorted(rng.randrange(len(d) + 1) for _ in range(2))
    kind = rng.randrange(5)
    if kind == 0:
        return bytes(flip(rng, d))
    if kind == 1:
        return bytes(d[:i])  # truncated
    if kind == 2:
        d[rng.randrange(len(d) + 1):0] = d[i:j]  # a spliced copy of another part
    elif kind == 3:
        del d[i:j]
    else:
        d[i : i + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\xff\xff\xff\x7f", b"\x10\x00\x00\x00"])
    return bytes(d)


_FIELDS = {  # signature → (offset, struct format) of its size, offset, count and CRC fields
    b"PK\x01\x02": [(10, "<H"), (16, "<I"), (20, "<I"), (24, "<I"), (28, "<H"), (30, "<H"), (32, "<H"), (42, "<I")],
    b"PK\x03\x04": [(8, "<H"), (14, "<I"), (18, "<I"), (22, "<I"), (26, "<H"), (28, "<H")],
    b"PK\x05\x06": [(8, "<H"), (10, "<H"), (12, "<I"), (16, "<I"), (20, "<H")],
}


def zip_mutation(rng: random.Random, data: bytes) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:  # a field of the central directory, a local header or the end record
        sig = rng.choice(list(_FIELDS))
        spots = [m.start() for m in re.finditer(re.escape(sig), data)]
        off, fmt = rng.choice(_FIELDS[sig])
        d = bytearray(data)
        value = rng.choice([0, 1, 9, 99, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF]) & (0xFFFF if fmt == "<H" else 0xFFFFFFFF)
        struct.pack_into(fmt, d, rng.choice(spots) + off, value)
        return bytes(d)
    if kind == 1:  # a zip64 extra field, well-formed or not
        extra = struct.pack("<HH", 1, rng.choice([0, 8, 16, 24, 200])) + bytes(rng.randrange(25))
        return with_zip64_extra(data, rng.randrange(len(central_records(data))), extra)
    if kind == 2:  # members deflated, the stream possibly damaged
        d = bytearray(repacked(data, deflate=("data.pkl", "byteorder", "version")))
        if rng.random() < 0.5:
            start = 30 + struct.unpack_from("<H", d, 26)[0] + struct.unpack_from("<H", d, 28)[0]
            d[start + rng.randrange(8)] ^= 0xFF
        return bytes(d)
    # a member replaced by another one's bytes
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    donor = zipfile.ZipFile(io.BytesIO(data)).read(rng.choice(names))
    return repacked(data, {rng.choice(names).split("/", 1)[1]: donor})


def pickle_of(data: bytes) -> bytes:
    z = zipfile.ZipFile(io.BytesIO(data))
    return z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))


_OPS = list(b"(.0125FGIJKLMNPQRSTUVXabcdeghijlmnopqrstu}])\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c"
            b"\x8d\x8e\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98")
_ARGS = [b"", b"\x00", b"\x01", b"\x05\x00\x00\x00", b"\xff\xff\xff\xff", b"abc\n", b"1\n", b"builtins\nset\n",
         b"collections\nOrderedDict\n", b"argparse\nNamespace\n", b"utils.buffer\nBuffer\n",
         b"torch._utils\n_rebuild_tensor_v2\n", b"torch\nFloatStorage\n", b"numpy\ndtype\n",
         b"X\x07\x00\x00\x00storage"]


def opcode_stream(rng: random.Random) -> bytes:
    body = b"".join(bytes([rng.choice(_OPS)]) + rng.choice(_ARGS) for _ in range(rng.randint(1, 60)))
    return b"\x80" + bytes([rng.choice([2, 4, 5])]) + body + b"."


def reads_or_refuses(data: bytes) -> str:
    """'ok' or the MckptError's message; any other exception fails the test with the input."""
    try:
        ck = read_checkpoint(MemorySource(data))
    except MckptError as e:
        return e.message
    render_everything(ck)
    return "ok"


FAMILIES = {
    "bytes": lambda rng, seeds: byte_mutation(rng, seeds[rng.choice(sorted(seeds))]),
    "zip": lambda rng, seeds: zip_mutation(rng, seeds[rng.choice(["safe", "old_pickle", "backbone"])]),
    "pickle": lambda rng, seeds: repacked(seeds["safe"], {"data.pkl": byte_mutation(
        rng, pickle_of(seeds[rng.choice(["safe", "old_pickle", "backbone"])]))}),
    "opcodes": lambda rng, seeds: repacked(seeds["safe"], {"data.pkl": opcode_stream(rng)}),
    "legacy": lambda rng, seeds: byte_mutation(rng, byte_mutation(rng, seeds["legacy"])),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_fuzz_read_checkpoint(family: str, seed_files: dict[str, bytes]) -> None:
    for name, data in seed_files.items():
        assert reads_or_refuses(data) == "ok", name
    rng = random.Random(f"mckpt-{family}")
    outcomes: dict[str, int] = {}
    for case in range(300):
        data = FAMILIES[family](rng, seed_files)
        try:
            outcome = reads_or_refuses(data)
        except Exception as e:  # the bug this test is for: keep the input to reproduce it
            raise AssertionError(f"{family} case {case}: {type(e).__name__}: {e}; input {data[:4000]!r}") from e
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert len(outcomes) > 3, outcomes  # the mutations reach more than one check


def test_fuzzed_files_through_the_cli(seed_files: dict[str, bytes], tmp_path: Path) -> None:
    from conftest import run_cli

    rng = random.Random("mckpt-cli")
    paths = []
    for i, family in enumerate(["bytes", "zip", "pickle", "legacy"]):
        path = tmp_path / f"fuzz{i}.pt"
        path.write_bytes(FAMILIES[family](rng, seed_files))
        paths.append(path)
    for path in paths:
        for args in (["inspect", str(path)], ["inspect", "--json", "--tensors", str(path)]):
            r = run_cli(*args)
            assert r.returncode in (0, 1) and "Traceback" not in r.stderr + r.stdout, (args, r.stderr)
            assert r.returncode == 0 or r.stderr.startswith(f"error: {path}: "), r.stderr
            assert "internal error" not in r.stderr


def test_object_state_that_is_not_a_dict(tmp_path: Path) -> None:
    # BUILD gave a pickled object the state (1, 2): its attributes used to be dict(1) → TypeError
    pkl = (b"\x80\x02}(X\x05\x00\x00\x00model}X\x04\x00\x00\x00args}X\x06\x00\x00\x00buffer"
           b"cutils.buffer\nBuffer\n)\x81K\x01K\x02\x86bu.")
    ck = read_checkpoint(MemorySource(repacked(saved({}), {"data.pkl": pkl})))  # no storage left unnamed
    assert ck.buffer.cls == "utils.buffer.Buffer" and ck.buffer.tensors == {}
    assert render_everything(ck)


def test_convert_buffer_with_odd_attribute_names(tmp_path: Path) -> None:
    from mckpt.convert import plan_conversion

    # attributes [[5], (1,), 'examples'], and an attribute named 7
    buffer = (b"cutils.buffer\nBuffer\n)\x81}(X\x0a\x00\x00\x00attributes](]K\x05aK\x01\x85"
              b"X\x08\x00\x00\x00examplese" + b"K\x07X\x01\x00\x00\x00xub")
    pkl = b"\x80\x02}(X\x05\x00\x00\x00model}X\x04\x00\x00\x00args}X\x06\x00\x00\x00buffer" + buffer + b"u."
    path = tmp_path / "old.pt"
    path.write_bytes(repacked(saved({}), {"data.pkl": pkl}))
    plan = plan_conversion(str(path), "safe")
    assert plan.obj["buffer"] == {} and any("7" in n for n in plan.notes)


@pytest.mark.parametrize("storage", ["QInt8Storage", "QUInt4x2Storage", "Bits8Storage", "ComplexFloatStorage"])
def test_diff_weights_skips_dtypes_torch_cannot_convert(storage: str, tmp_path: Path) -> None:
    from mckpt.diff import diff_checkpoints

    data = mammoth_file()
    path = tmp_path / "q.pt"
    path.write_bytes(repacked(data, {"data.pkl": pickle_of(data).replace(b"FloatStorage", storage.encode())}))
    copy = tmp_path / "copy.pt"  # another file: one file diffed with itself has its weights unread
    copy.write_bytes(path.read_bytes())
    if storage == "ComplexFloatStorage":  # 8-byte values: the float32 records now hold half their bytes
        with pytest.raises(CorruptCheckpoint, match="holds 48 bytes, fewer than its 96; torch cannot load it"):
            diff_checkpoints(str(path), str(copy), weights=True)
        return
    d = diff_checkpoints(str(path), str(copy), weights=True)
    assert [c.rel_l2 for c in d.weights.changes] == [None, None]


def test_diff_weights_does_not_expand_repeated_views(tmp_path: Path) -> None:
    # 4 bytes viewed with stride 0 as 8192 x 8192 used to become a 512 MiB float64 copy per side
    from mckpt.diff import diff_checkpoints

    path = tmp_path / "broadcast.pt"
    torch.save({"model": {"net.w": torch.zeros(1).expand(1 << 13, 1 << 13), "net.b": torch.ones(2)},
                "args": {}, "results": [[], [], {}]}, path)
    assert path.stat().st_size < 4096
    copy = tmp_path / "copy.pt"  # another file: one file diffed with itself has its weights unread
    copy.write_bytes(path.read_bytes())
    d = diff_checkpoints(str(path), str(copy), weights=True)
    assert {c.key: c.rel_l2 for c in d.weights.changes} == {"net.b": 0.0, "net.w": None}


def test_stored_record_with_two_sizes(tmp_path: Path) -> None:
    # A stored storage record whose index says 1 GiB but whose data is 48 bytes: convert would have
    # planned (and started) copying 1 GiB from the file.
    from mckpt.convert import plan_conversion

    data = bytearray(mammoth_file())
    def name(i: int) -> bytes:
        return bytes(data[i + 46 : i + 46 + struct.unpack_from("<H", data, i + 28)[0]])

    p = next(i for i in central_records(bytes(data)) if name(i).endswith(b"data/0"))
    struct.pack_into("<I", data, p + 24, 1 << 30)
    path = tmp_path / "sizes.pt"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpoint, match="two different sizes"):
        plan_conversion(str(path), "backbone")


def test_paused_file_with_a_huge_ckpt_name(tmp_path: Path) -> None:
    # A paused file takes its identity from args['ckpt_name']; the name parser is quadratic in the
    # name's parts, and a crafted 1 MB name took minutes. Names longer than any real one are not parsed.
    from mckpt.domain.names import MAX_NAME, parse_stem

    long_name = "sgd_seq-mnist_None_0_1_" * 50_000 + "20250101-000000_abcdef01"
    real = "sgd_seq-mnist_None_0_1_20250101-000000_abcdef01"
    assert parse_stem(long_name) is None and parse_stem(real).uid == "abcdef01" and len(real) < MAX_NAME
    paused = tmp_path / "paused" / "0b5d9a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b.pt"
    paused.parent.mkdir()
    torch.save({"model": {}, "args": {"model": "sgd", "dataset": "seq-mnist", "ckpt_name": long_name},
                "results": [[[1.0]], [[1.0]], {}]}, paused)
    ck = read_checkpoint(paused)
    assert (ck.name.dialect, ck.name.model, ck.name.parent) == ("paused", "sgd", None)


@pytest.mark.parametrize("model", ["plain dict", "list"])
def test_convert_full_with_an_odd_template(model: str, tmp_path: Path) -> None:
    # vars() of a plain-dict model, .items() of a list: both used to crash `convert --to full`
    from mckpt.convert import plan_conversion

    torch.save({"net.w": torch.ones(2)}, tmp_path / "bb.pt")
    args = {"model": "sgd", "dataset": "seq-mnist", "buffer_size": 0, "n_epochs": 1, "ckpt_name": "x"}
    torch.save({"model": {"net.w": torch.zeros(2)} if model == "plain dict" else [1], "args": args},
               tmp_path / "tmpl.pt")
    if model == "list":
        with pytest.raises(MckptError, match=r"no `net\.`"):
            plan_conversion(str(tmp_path / "bb.pt"), "full", like=str(tmp_path / "tmpl.pt"))
        return
    plan = plan_conversion(str(tmp_path / "bb.pt"), "full", like=str(tmp_path / "tmpl.pt"))
    assert plan.writable and plan.mapped == [("net.w", "net.w")]


def test_convert_rebuilds_state_dict_metadata(tmp_path: Path) -> None:
    # `_metadata` was copied as read: a tensor in it kept the source's storage key, so the written
    # file named a storage it does not hold.
    import argparse
    from collections import OrderedDict

    from mckpt.convert import plan_conversion, write_plan

    sd = OrderedDict([("net.w", torch.ones(2))])
    sd._metadata = OrderedDict([("", {"version": 1}), ("extra", torch.full((3,), 7.0))])
    src = tmp_path / "old.pt"
    torch.save({"model": sd, "args": argparse.Namespace(model="sgd"), "results": [[], [], {}]}, src)
    written = write_plan(plan_conversion(str(src), "safe", output=str(tmp_path / "safe.pt")))
    back = torch.load(written.path, weights_only=True)
    assert back["model"]._metadata["extra"].tolist() == [7.0, 7.0, 7.0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_named_pipe_is_refused_without_waiting(tmp_path: Path) -> None:
    # open() of a pipe waits for a writer: `mckpt inspect fifo.pt` used to hang forever
    fifo = tmp_path / "sgd_seq-mnist_None_0_1_20250101-000000_abcdef01_0.pt"
    os.mkfifo(fifo)
    with pytest.raises(MckptError, match="not a regular file"):
        read_checkpoint(fifo)


def odd_value(rng: random.Random, depth: int = 0) -> object:
    """Any value a checkpoint field could hold, odd types and special numbers included."""
    np = pytest.importorskip("numpy")
    import argparse
    from collections import OrderedDict

    leaves = [None, True, 0, -1, 2**70, 1.5, math.nan, math.inf, "", "net.x", b"\x00", complex(1, 2),
              np.float64(0.5), np.int64(3), torch.device("cpu"), frozenset({"x"}), {1, 2}]
    kind = rng.randrange(10 if depth < 3 else 3)
    if kind <= 1:
        return rng.choice(leaves)
    if kind == 2:
        dtype = rng.choice([torch.float32, torch.float16, torch.int64, torch.uint8, torch.bool, torch.complex64])
        t = torch.zeros(rng.choice([(), (0,), (3,), (2, 3)])).to(dtype)
        return t.t() if t.dim() == 2 and rng.random() < 0.3 else t
    if kind == 3:
        return np.zeros(rng.choice([(0,), (3,), (2, 2), (0, 5)]), dtype=rng.choice([np.float64, np.int16, object]))
    kids = [odd_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    keys = [rng.choice(["a", "lr", "params", "state", 1, (1, 2), 0.5]) for _ in kids]
    containers = [kids, tuple(kids), dict(zip(keys, kids, strict=True)),
                  OrderedDict(zip(map(str, keys), kids, strict=True)),
                  argparse.Namespace(**{f"a{i}": k for i, k in enumerate(kids)}), {"param_groups": kids, "state": kids}]
    return containers[kind - 4]


def test_fuzz_value_trees(tmp_path: Path) -> None:
    """Mammoth-shaped files whose fields hold anything: read, shown and diffed; planned for
    conversion, or refused with a one-line MckptError."""
    from mckpt.convert import plan_conversion
    from mckpt.diff import diff_checkpoints

    rng = random.Random("mckpt-trees")
    other = tmp_path / "other.pt"
    torch.save({"model": {"net.w": torch.ones(3)}, "args": {"model": "sgd"}, "results": [[[1.0]], [[1.0]], {}]}, other)
    planned = refused = 0
    for case in range(120):
        tree = {k: odd_value(rng) for k in ("model", "args", "results", "optimizer", "scheduler", "buffer")
                if rng.random() < 0.8}
        path = tmp_path / f"tree{case % 3}.pt"
        torch.save(tree, path, _use_new_zipfile_serialization=rng.random() < 0.8)
        # Odd values are not an error: every tree is read, shown and compared.
        assert render_everything(read_checkpoint(path)).strip(), f"case {case}: nothing shown"
        emit_strict_json(diff_checkpoints(str(path), str(other), weights=True).to_json())
        try:  # a conversion may be refused (a set has no safe form), with a one-line reason
            emit_strict_json(plan_conversion(str(path)).to_json())
            planned += 1
        except MckptError as e:
            assert e.message.strip() and "\n" not in e.message, f"case {case}: {e.message!r}"
            refused += 1
    assert planned and refused, (planned, refused)  # both paths were exercised
