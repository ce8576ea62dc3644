"""Untrusted input: crafted pickles must never run, broken files get one clear line each."""

from __future__ import annotations

import argparse
import gzip
import io
import os
import pickle
import random
import subprocess
import zipfile
from pathlib import Path

import pytest
import torch
from conftest import run_cli

from mckpt import MckptError, read_checkpoint, scan
from mckpt.errors import CorruptCheckpoint, NotACheckpoint, UnsafePickle


class _Reduce:
    """Pickles as `func(*args)`: what an attacker puts in a checkpoint."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


class _CallResult(_Reduce):
    """Pickles as `func(*args)` used as the callable of an outer `_Reduce` (pickle wants it callable)."""

    def __call__(self, *args):
        raise AssertionError("never called: only pickled")


def _marker_cmd(marker: Path) -> str:
    return f"touch {marker}"


def _script(marker: Path) -> str:
    """A script beside the marker that creates it, for an attack that runs a file."""
    script = marker.with_name("evil.py")
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    return str(script)


# Each payload creates the marker when unpickled by pickle itself (test_attacks_are_real checks it),
# so "no marker" after mckpt read the file means mckpt ran nothing.
ATTACKS = {
    "os.system": lambda m: _Reduce(os.system, _marker_cmd(m)),
    "subprocess.call": lambda m: _Reduce(subprocess.call, ["touch", str(m)]),
    "builtins.eval": lambda m: _Reduce(eval, f"open({str(m)!r}, 'w')"),
    "builtins.exec": lambda m: _Reduce(exec, f"open({str(m)!r}, 'w')"),
    "builtins.getattr": lambda m: _Reduce(_CallResult(getattr, m, "touch")),  # getattr(Path(m), "touch")()
    "runpy": lambda m: _Reduce(__import__("runpy").run_path, _script(m)),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attacks_are_real(tmp_path: Path, attack: str) -> None:
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(ATTACKS[attack](marker)))  # what torch.load(weights_only=False) would do
    assert marker.exists()


def _save(obj, path: Path, **kw) -> Path:
    torch.save(obj, path, **kw)
    return path


def _good(path: Path) -> Path:
    sd = {"net.fc.weight": torch.randn(3, 4), "net.fc.bias": torch.zeros(3)}
    args = {"model": "sgd", "dataset": "seq-mnist", "lr": 0.1, "ckpt_name": path.stem.rsplit("_", 1)[0]}
    return _save({"model": sd, "optimizer": None, "scheduler": None, "args": args,
                  "results": [[[90.0]], [[95.0]], {}]}, path)


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("where", ["top", "args", "results", "legacy"])
def test_code_in_pickle_never_runs(tmp_path: Path, attack: str, where: str) -> None:
    marker = tmp_path / "pwned"
    payload = ATTACKS[attack](marker)
    path = tmp_path / f"sgd_seq-mnist_None_0_1_20250101-000000_abcdef01_{where}.pt"
    obj = {"top": payload,
           "args": {"model": {}, "args": payload, "results": []},
           "results": {"model": {}, "args": {}, "results": [[payload]]},
           "legacy": {"model": {}, "args": payload}}[where]
    _save(obj, path, **({"_use_new_zipfile_serialization": False} if where == "legacy" else {}))
    with pytest.raises(UnsafePickle) as exc:
        read_checkpoint(path)
    assert "could run code" in str(exc.value) and str(path) in str(exc.value)
    assert not marker.exists()
    # and through the CLI: one line, exit 1, no traceback, still nothing ran
    r = run_cli("inspect", str(path))
    assert r.returncode == 1
    assert r.stderr.startswith(f"error: {path}: refused to load: the pickle calls ")
    assert "Traceback" not in r.stderr and not marker.exists()


def test_unsafe_global_is_named(tmp_path: Path) -> None:
    path = _save({"args": _Reduce(os.system, "true")}, tmp_path / "x.pt")
    with pytest.raises(UnsafePickle) as exc:
        read_checkpoint(path)
    assert exc.value.global_name in ("posix.system", "nt.system")


def test_raw_pickle_protocols_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for proto in (2, 4, 5):
        path = tmp_path / f"p{proto}.pt"
        path.write_bytes(pickle.dumps(_Reduce(os.system, _marker_cmd(marker)), protocol=proto))
        with pytest.raises(UnsafePickle):
            read_checkpoint(path)
    assert not marker.exists()


def _truncated(src: Path, dst: Path, keep: float) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def test_broken_files_each_get_one_line(tmp_path: Path) -> None:
    good = _good(tmp_path / "good.pt")
    rng = random.Random(0)
    cases: dict[str, tuple[Path, type[MckptError], str]] = {}

    def add(name: str, data: bytes | None, exc: type[MckptError], text: str, path: Path | None = None) -> None:
        p = path or tmp_path / name
        if data is not None:
            p.write_bytes(data)
        cases[name] = (p, exc, text)

    add("empty.pt", b"", NotACheckpoint, "empty file")
    add("random.pt", bytes(rng.getrandbits(8) for _ in range(4096)), NotACheckpoint, "not a torch checkpoint")
    add("lfs.pt", b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 123\n",
        NotACheckpoint, "Git LFS pointer")
    add("page.pt", b"<!DOCTYPE html><html><body>Hugging Face</body></html>", NotACheckpoint, "HTML page")
    add("half.pt", None, CorruptCheckpoint, "truncated", _truncated(good, tmp_path / "half.pt", 0.5))
    add("head.pt", None, CorruptCheckpoint, "truncated", _truncated(good, tmp_path / "head.pt", 0.02))
    legacy = _save({"model": {"w": torch.ones(10)}}, tmp_path / "legacy_full.pt", _use_new_zipfile_serialization=False)
    add("legacy_cut.pt", None, CorruptCheckpoint, "truncated", _truncated(legacy, tmp_path / "legacy_cut.pt", 0.9))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    add("plain.zip.pt", buf.getvalue(), NotACheckpoint, "no data.pkl")
    add("packed.pt", gzip.compress(good.read_bytes()), NotACheckpoint, "gzip-compressed")  # was "not a torch…"
    for name, (path, exc, text) in cases.items():
        with pytest.raises(exc) as e:
            read_checkpoint(path)
        assert text in str(e.value), name
        r = run_cli("inspect", str(path))
        assert r.returncode == 1, name
        lines = r.stderr.strip().splitlines()
        assert lines[0].startswith(f"error: {path}: ") and text in lines[0], (name, r.stderr)
        assert all(ln.startswith(("error:", "hint:")) for ln in lines), r.stderr
        if text == "truncated":
            assert lines[1].startswith("hint: the file is cut short"), r.stderr  # says what to do
        assert r.stdout == ""


def test_damaged_pickle_inside_zip(tmp_path: Path) -> None:
    good = _good(tmp_path / "good.pt")
    src = zipfile.ZipFile(good)
    out = tmp_path / "damaged.pt"
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data = data[: len(data) // 2]
            z.writestr(info, data)
    with pytest.raises(CorruptCheckpoint) as e:
        read_checkpoint(out)
    assert "malformed or truncated" in str(e.value)


def test_legacy_format_is_read(tmp_path: Path) -> None:
    path = tmp_path / "sgd_seq-mnist_0_1_20200101-000000_0.pt"
    sd = {"net.fc.weight": torch.randn(3, 4), "net.fc.bias": torch.zeros(3)}
    sd["net.alias.weight"] = sd["net.fc.weight"]
    ns = argparse.Namespace(model="sgd", dataset="seq-mnist", lr=0.1, n_epochs=1)
    _save({"model": sd, "args": ns, "results": [[[91.5]], [[99.0]], {}], "optimizer": None, "scheduler": None},
          path, _use_new_zipfile_serialization=False)
    ck = read_checkpoint(path)
    assert (ck.layout, ck.kind, ck.format) == ("legacy", "mammoth", "old_pickle")
    assert ck.args == {"model": "sgd", "dataset": "seq-mnist", "lr": 0.1, "n_epochs": 1}
    assert ck.class_il == [[91.5]]
    assert (ck.tensors.count, ck.tensors.storages, ck.tensors.parameters) == (3, 2, 15)
    assert ck.archive.span(ck.model_state["net.fc.bias"].storage.key).nbytes == 12


def test_listing_survives_bad_files(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    good = _good(folder / "sgd_seq-mnist_None_0_1_20250101-000000_abcdef01_0.pt")
    (folder / "empty.pt").write_bytes(b"")
    (folder / "lfs.pt").write_bytes(b"version https://git-lfs.github.com/spec/v1\n")
    _save({"args": _Reduce(os.system, "true")}, folder / "evil.pt")
    # a file whose name parses but whose content is broken only shows with --acc
    (folder / "sgd_seq-mnist_None_0_1_20250102-000000_bbbbbbbb_0.pt").write_bytes(b"garbage")
    listing = scan([str(folder)], acc=True)
    assert [r.name.uid for r in listing.runs] == ["abcdef01", "bbbbbbbb"]
    assert listing.runs[0].final_acc == {"class_il": 90.0, "task_il": 95.0}
    assert listing.runs[1].error is not None
    reasons = {Path(o["path"]).name: o["reason"] for o in listing.other}
    assert reasons["empty.pt"].startswith("empty file")
    assert "Git LFS pointer" in reasons["lfs.pt"]
    assert "could run code" in reasons["evil.pt"]
    assert "not a torch checkpoint" in reasons["sgd_seq-mnist_None_0_1_20250102-000000_bbbbbbbb_0.pt"]
    r = run_cli("list", str(folder), "--acc")
    assert r.returncode == 0 and "abcdef01" in r.stdout and "evil.pt" in r.stdout
    assert good.exists()


def test_a_whole_pickled_model_is_refused_with_the_usual_advice(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), path)  # torch.save(model), not model.state_dict()
    r = run_cli("inspect", str(path))
    assert r.returncode == 1
    first, hint = r.stderr.splitlines()
    assert first.startswith(f"error: {path}: refused to load") and "torch.nn.modules.linear.Linear" in first
    assert "state_dict()" in hint and "crafted" not in hint  # not called an attack


def test_a_named_pipe_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "ck.pt"
    os.mkfifo(fifo)
    # inspect used to block in open() until someone wrote to the pipe.
    r = run_cli("inspect", str(fifo), timeout=30)
    assert r.returncode == 1 and r.stderr == f"error: {fifo}: not a regular file (a pipe, socket or device)\n"


def test_globals_in_the_legacy_side_pickles_are_refused(tmp_path: Path) -> None:
    """The legacy format's small pickles (magic, protocol, sys_info, keys) are unpickled by torch.load
    too; a callable hidden there must be refused, not left out of what `load` checks."""
    import pydoc

    marker = tmp_path / "pwned"
    parts = [0x1950A86A20F9469CFC6C, 1001, _Reduce(pydoc.pipepager, "x", f"touch {marker}"),
             {"model": {}, "args": argparse.Namespace(model="sgd"), "results": [[], [], {}]}, []]
    path = tmp_path / "sgd_seq-mnist_0_1_20200101-000000_0.pt"
    path.write_bytes(b"".join(pickle.dumps(p, protocol=2) for p in parts))
    with pytest.raises(UnsafePickle) as e:
        read_checkpoint(path)
    assert e.value.global_name == "pydoc.pipepager"
    assert not marker.exists()
