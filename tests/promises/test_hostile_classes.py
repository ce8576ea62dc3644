"""Every class of hostile checkpoint (tests/hostile_files.py builds them, several variants each):
nothing runs, mckpt reads exactly what torch.load reads or refuses, small files cost little, and
nothing a file holds can forge the output. Each class is checked through the library (every
variant) and through the CLI (`inspect`, `list`, `diff`), which must answer in one line."""

from __future__ import annotations

import argparse
import io
import json
import pickle
import shutil
import uuid
import warnings
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from hostile_files import FORBIDDEN, FORGERIES, Hostile, build_all, code_payloads

from mckpt import read_checkpoint
from mckpt.errors import MckptError, UnsafePickle
from mckpt.view.output import Output

GOOD_RUNS = ("aaaaaaa1", "bbbbbbb2")


def _good_run(folder: Path, uid: str) -> Path:
    path = folder / f"sgd_seq-mnist_None_0_1_20250101-000000_{uid}_0.pt"
    args = {"model": "sgd", "dataset": "seq-mnist", "lr": 0.1, "ckpt_name": path.stem.rsplit("_", 1)[0]}
    torch.save({"model": {"net.w": torch.ones(2)}, "args": args, "results": [[[90.0]], [[95.0]], {}]}, path)
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Hostile], Path]:
    root = tmp_path_factory.mktemp("hostile")
    marker = root / "pwned"
    return build_all(root / "files", marker), marker


def _of(files: list[Hostile], prefix: str) -> list[Hostile]:
    return [f for f in files if f.name.startswith(prefix)]


def _read(path: Path) -> object:
    """What mckpt reads: the checkpoint, or the error it refuses the file with."""
    try:
        return read_checkpoint(path)
    except MckptError as e:
        return e


# -- code execution ---------------------------------------------------------------------------------


def test_no_payload_ever_runs(hostile: tuple[list[Hostile], Path], tmp_path: Path) -> None:
    files, marker = hostile
    code = _of(files, "code/")
    assert len(code) == 6 * len(code_payloads(marker)) > 200
    dangerous = ("os.", "posix.", "nt.", "subprocess.", "builtins.", "__builtin__", "copyreg", "copy_reg",
                 "functools.", "operator.", "pickle.", "_pickle.", "marshal.", "types.", "runpy.",
                 "importlib.", "pty.", "torch.serialization", "numpy.load", "argparse.__")
    for f in code:
        got = _read(f.path)
        if isinstance(got, MckptError):
            continue
        # Read, not refused: only when every call it names became an inert placeholder, and the
        # file is flagged as an old pickle (so `load` will not hand it to Mammoth quietly).
        assert not any(g.startswith(dangerous) for g in got.globals_seen), (f.name, got.globals_seen)
        assert got.format in ("old_pickle", None), f.name
    assert not marker.exists()
    # the CLI answers every position of one payload in one line, and still nothing ran
    for f in _of(code, "code/getattr chain/"):
        r = run_cli("inspect", str(f.path))
        assert r.returncode == 1 and "Traceback" not in r.stderr, (f.name, r.stderr)
        assert r.stderr.startswith(f"error: {f.path}: refused to load: the pickle calls builtins."), r.stderr
    assert not marker.exists()


# -- the pickle read is the one torch reads ---------------------------------------------------------


def _torch_reads(path: Path) -> object:
    """What torch.load reads (weights_only=False only for the legacy layouts, whose test files hold
    plain trees: it is the only way torch reads the tar format a polyglot hides)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        head = path.read_bytes()[:4]
        try:
            return torch.load(path, weights_only=head == b"PK\x03\x04")
        except Exception as e:  # torch's own errors are many types; any of them is a refusal
            return e


def test_mckpt_reads_what_torch_reads_or_refuses(hostile: tuple[list[Hostile], Path]) -> None:
    files, _ = hostile
    layouts = _of(files, "layout/") + _of(files, "legacy/") + _of(files, "deflate/re-zipped")
    assert len(layouts) >= 30
    read = refused = 0
    for f in layouts:
        ours, theirs = _read(f.path), _torch_reads(f.path)
        if isinstance(ours, MckptError):
            refused += 1
            continue
        read += 1
        assert not isinstance(theirs, Exception), (f.name, theirs)
        assert ours.args == theirs["args"], (f.name, ours.args, theirs["args"])
    assert read >= 2 and refused >= 30  # only what torch.save writes is read
    # the polyglot: torch reads its tar members, so mckpt must not read the pickle it shows
    polyglot = next(f for f in layouts if f.name == "legacy/tar polyglot")
    assert _torch_reads(polyglot.path)["args"] == {"which": "tar"}
    assert "tar archive" in str(_read(polyglot.path))
    # the decoy of the original report: torch reads archive/data.pkl; mckpt refuses the member
    # torch.save never writes rather than reason about which one a lookup reaches
    decoy = next(f for f in layouts if f.name == "layout/decoy beside data.pkl")
    assert _torch_reads(decoy.path)["args"] == {"which": "real"}
    assert "'decoydata.pkl' in its folder, not a record torch.save writes" in str(_read(decoy.path))


def test_a_duplicated_pickle_is_refused_in_one_line(hostile: tuple[list[Hostile], Path]) -> None:
    files, _ = hostile
    for f in _of(files, "layout/duplicate"):
        r = run_cli("inspect", str(f.path))
        assert r.returncode == 1 and len(r.stderr.splitlines()) == 1, r.stderr
        assert "twice" in r.stderr and "Traceback" not in r.stderr


def test_legacy_file_written_with_another_pickle_protocol_is_read_as_torch_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "p4.pt"
    ns = argparse.Namespace(model="sgd", dataset="seq-mnist")
    torch.save({"model": {"w": torch.ones(3)}, "args": ns, "results": [[], [], {}]}, path,
               _use_new_zipfile_serialization=False, pickle_protocol=4)
    ck = read_checkpoint(path)
    assert (ck.layout, ck.args) == ("legacy", {"model": "sgd", "dataset": "seq-mnist"})
    assert ck.archive.span(ck.model_state["w"].storage.key).nbytes == 12


# -- small files that cost time or memory -----------------------------------------------------------


def test_amplification_is_refused(hostile: tuple[list[Hostile], Path]) -> None:
    files, _ = hostile
    small = _of(files, "alloc/") + _of(files, "cpu/") + _of(files, "slice/") + _of(files, "deflate/")
    assert len(small) >= 30
    for f in small:
        got = _read(f.path)
        if f.name in ("cpu/many memo puts", "deflate/re-zipped checkpoint (fine)"):
            assert not isinstance(got, MckptError), (f.name, got)  # cheap after all: read
            continue
        assert isinstance(got, MckptError), f.name
    messages = {f.name: str(_read(f.path)) for f in small}
    assert "steps of work" in messages["alloc/list(bytes 1M) x400"]
    assert "steps of work" in messages["cpu/frozenset(list 1M) x200"]
    assert "steps of work" in messages["cpu/colliding int keys"]
    assert "plain numbers" in messages["slice/2^60 tree inside a slice"]
    assert "over the 1048576 byte limit" in messages["deflate/data.pkl bomb 50 MiB"]
    assert "deflate bomb" in messages["deflate/index understates the size"]


def test_slices_of_numbers_are_read_and_shown(tmp_path: Path) -> None:
    path = tmp_path / "s.pt"
    path.write_bytes(pickle.dumps({"model": {}, "args": {"window": slice(1, None, 2)}, "results": [[], [], {}]},
                                  protocol=2))
    r = run_cli("inspect", str(path), "--args-only")
    assert r.returncode == 0 and "slice(1, None, 2)" in r.stdout, r.stderr


# -- `list` whatever the folder holds ---------------------------------------------------------------


def test_list_lists_the_good_runs_beside_every_hostile_file(hostile: tuple[list[Hostile], Path],
                                                             tmp_path: Path) -> None:
    files, marker = hostile
    folder = tmp_path / "checkpoints"
    (folder / "paused").mkdir(parents=True)
    for uid in GOOD_RUNS:
        _good_run(folder, uid)
    chosen = [f for f in files if not f.name.startswith("code/") or f.name.endswith("/zip args")]
    for i, f in enumerate(chosen):
        # half as paused files (read for their args), half under names that say nothing
        target = folder / "paused" / f"{uuid.UUID(int=i)}.pt" if i % 2 else folder / f"x{i}.pt"
        shutil.copy(f.path, target)
    r = run_cli("list", str(folder), "--json", timeout=600)
    assert r.returncode == 0, r.stderr
    listing = json.loads(r.stdout)
    assert [run["uid"] for run in listing["runs"] if run["uid"] in GOOD_RUNS] == list(GOOD_RUNS)
    refused = [o for o in listing["other"] if o["reason"]]
    assert len(refused) >= len(chosen) // 2
    assert not marker.exists()
    human = run_cli("list", str(folder), "--acc", timeout=600)
    assert human.returncode == 0 and all(uid in human.stdout for uid in GOOD_RUNS)
    assert not any(c in human.stdout + human.stderr for c in FORBIDDEN)


def test_diff_with_a_hostile_file_is_one_line(hostile: tuple[list[Hostile], Path], tmp_path: Path) -> None:
    files, marker = hostile
    good = _good_run(tmp_path, GOOD_RUNS[0])
    for name in ("alloc/list(bytes 1M) x400", "layout/duplicate, decoy last", "code/os.system/zip args",
                 "legacy/tar polyglot", "deflate/data.pkl bomb 50 MiB"):
        f = next(f for f in files if f.name == name)
        r = run_cli("diff", str(good), str(f.path))
        assert r.returncode == 1 and "Traceback" not in r.stderr, (name, r.stderr)
        assert r.stderr.startswith(f"error: {f.path}: ") and len(r.stderr.splitlines()) <= 2, r.stderr
    assert not marker.exists()


# -- output a file can forge ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [[], ["--args-only"], ["--args-only", "--format", "github"],
                                  ["--args-only", "--format", "csv"], ["--format", "latex"], ["--json"]])
def test_file_text_cannot_forge_output(hostile: tuple[list[Hostile], Path], mode: list[str]) -> None:
    files, _ = hostile
    (f,) = _of(files, "escape/every forgery")
    r = run_cli("inspect", str(f.path), *mode)
    assert r.returncode == 0, r.stderr
    shown = r.stdout + r.stderr
    assert not any(c in shown for c in FORBIDDEN), (mode, shown)
    if mode == ["--json"]:
        doc = json.loads(r.stdout)
        for forged in FORGERIES.values():
            assert doc["args"][f"name{forged}"] == f"value{forged}"  # JSON keeps the exact text
    else:
        assert "sgd" in shown and "x1b[2J" in shown  # shown as an escape (latex escapes its backslash)
    if "--args-only" in mode:
        assert "name\\u202egpj.exe" in shown and "value\\x9b31m" in shown


def test_errors_quoting_file_text_cannot_forge_output(hostile: tuple[list[Hostile], Path]) -> None:
    files, _ = hostile
    errors = _of(files, "escape/")[1:]
    assert len(errors) == len(FORGERIES)
    for f in errors:
        r = run_cli("inspect", str(f.path))
        assert r.returncode == 1 and len(r.stderr.splitlines()) == 2 and "Traceback" not in r.stderr, r.stderr
        assert not any(c in r.stderr for c in FORBIDDEN), r.stderr


def test_rich_output_and_errors_escape_file_text(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("NO_COLOR", "1")
    for forged in FORGERIES.values():
        stream = Terminal()
        out = Output(stream=stream)
        out.line(f"model {forged}")
        out.heading(f"args {forged}")
        out.table(["name", "value"], [[f"n{forged}", f"v{forged}\\"]], styles=[["bold", None]])
        out.fields([(f"k{forged}", f"v{forged}")])
        err = io.StringIO()
        Output(err=err).error(f"file{forged}: bad", hint=f"try {forged}")
        shown = stream.getvalue() + err.getvalue()
        # Rich styles with its own escapes; none of the file's may pass
        assert not any(c in shown for c in FORBIDDEN if c != "\x1b"), (forged, shown)
        assert "\x1b[2J" not in shown and "\x1b]" not in shown
        assert len(err.getvalue().splitlines()) == 2


# -- old pickles --------------------------------------------------------------------------------------


def test_inspect_of_an_old_pickle_says_how_to_make_it_loadable(tmp_path: Path) -> None:
    path = tmp_path / "sgd_seq-mnist_0_1_20200101-000000_0.pt"
    torch.save({"model": {"net.w": torch.ones(2)}, "args": argparse.Namespace(model="sgd", dataset="seq-mnist"),
                "results": [[[91.5]], [[99.0]], {}], "optimizer": None, "scheduler": None}, path,
               _use_new_zipfile_serialization=False)
    ck = read_checkpoint(path)
    assert ck.format == "old_pickle"
    (warning,) = [w for w in ck.warnings if "old-pickle" in w]
    assert "cannot --loadcheck" in warning and "mckpt convert --to safe" in warning
    r = run_cli("inspect", str(path))
    assert r.returncode == 0 and "cannot --loadcheck" in r.stdout + r.stderr
    doc = json.loads(run_cli("inspect", str(path), "--json").stdout)
    assert warning in doc["warnings"]
    safe = tmp_path / "safe.pt"
    torch.save({"model": {}, "args": {"model": "sgd"}, "results": [[], [], {}]}, safe)
    assert not any("old-pickle" in w for w in read_checkpoint(safe).warnings)


def test_an_unsafe_pickle_names_its_global_not_a_decoy(hostile: tuple[list[Hostile], Path]) -> None:
    files, _ = hostile
    f = next(f for f in files if f.name == "code/subprocess.Popen/legacy keys")
    with pytest.raises(UnsafePickle) as e:
        read_checkpoint(f.path)
    assert e.value.global_name == "subprocess.Popen"
