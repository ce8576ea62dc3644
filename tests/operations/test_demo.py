"""`mckpt demo`: the README's first command must write real checkpoints and show them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
from conftest import REPO, run_cli

from mckpt import read_checkpoint, scan


def test_demo_writes_real_checkpoints(tmp_path: Path) -> None:
    r = run_cli("demo", str(tmp_path / "demo"))
    assert r.returncode == 0, r.stderr
    assert "wrote 13 example checkpoints" in r.stdout and "Class-IL accuracy" in r.stdout
    ck = tmp_path / "demo" / "checkpoints"
    listing = scan([str(ck)], acc=True)
    assert [r.tasks_label for r in listing.runs] == ["0–2", "3–4", "last", "paused"] + ["last"] * 6
    # three seeds of each setting, for `mckpt results`
    assert sorted((r.name.model, read_checkpoint(r.newest.path).args["seed"]) for r in listing.runs[2:]) == sorted(
        [(m, s) for m in ("sgd", "er", "derpp") for s in (0, 1, 2) if (m, s) != ("sgd", 0)])
    assert listing.other == []
    resumed = listing.runs[1]
    assert resumed.name.parent.uid == listing.runs[0].name.uid
    for f in ck.rglob("*.pt"):
        meta = read_checkpoint(f)
        assert meta.format == "safe"
        loaded = torch.load(f, weights_only=True)  # Mammoth's own loader would accept it
        assert loaded["results"][0] == meta.class_il
        assert loaded["model"]["net.fc1.weight"].data_ptr() == loaded["model"]["net.net.0.0.weight"].data_ptr()
    # the resumed run carries its parent's results for the tasks done before the resume
    parent_last = read_checkpoint(listing.runs[0].newest.path)
    child_last = read_checkpoint(resumed.newest.path)
    assert child_last.class_il[:3] == parent_last.class_il
    # The README's first command, run a second time: it shows what is there and fails nothing.
    before = {f: f.stat().st_mtime_ns for f in ck.rglob("*.pt")}
    again = run_cli("demo", str(tmp_path / "demo"))
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"{ck} already holds {len(before)} checkpoint(s), left as they are")
    assert "Class-IL accuracy" in again.stdout and "wrote" not in again.stdout
    assert {f: f.stat().st_mtime_ns for f in ck.rglob("*.pt")} == before
    forced = run_cli("demo", str(tmp_path / "demo"), "--force")
    assert forced.returncode == 0 and "wrote 13 example checkpoints" in forced.stdout


def test_demo_shows_no_numpy_warning_from_torch(tmp_path: Path) -> None:
    # torch's CPU wheel has no numpy; without it `import torch` warned "Failed to initialize NumPy"
    # at the top of `mckpt demo`. numpy is hidden from the child (it is installed for the tests).
    code = ("import sys; sys.modules['numpy'] = None; sys.argv = ['mckpt', 'demo', sys.argv[1]]\n"
            "from mckpt.cli.entry import main; main()")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "PYTHONWARNINGS": "default"}
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "demo")], env=env, text=True,
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "wrote 13 example checkpoints" in r.stdout
    assert "NumPy" not in r.stderr and "Warning" not in r.stderr, r.stderr


def test_demo_refuses_a_file_and_quotes_paths_it_prints(tmp_path: Path) -> None:
    afile = tmp_path / "notes.pt"
    afile.write_text("x")
    r = run_cli("demo", str(afile))
    # It was an internal error (NotADirectoryError) with a "this is a bug" hint.
    assert r.returncode == 1 and r.stderr.startswith(f"error: {afile}: is a file, not a folder")
    spaced = tmp_path / "my demo"
    r = run_cli("demo", str(spaced))
    assert r.returncode == 0, r.stderr
    assert f"$ mckpt list '{spaced / 'checkpoints'}' --acc" in r.stdout.splitlines()


def test_demo_keeps_a_file_that_appears_while_it_writes(tmp_path: Path) -> None:
    """No check-then-write race: a file under an example's name is replaced only with force."""
    from mckpt.demo import write_demo

    first = write_demo(tmp_path / "a")
    taken = tmp_path / "b" / "checkpoints" / first[0].name
    taken.parent.mkdir(parents=True)
    taken.write_bytes(b"someone else's")
    try:
        write_demo(tmp_path / "b")
    except FileExistsError as e:
        assert e.filename == str(taken)
    else:
        raise AssertionError("a file under an example's name was replaced without force")
    assert taken.read_bytes() == b"someone else's"
    write_demo(tmp_path / "b", force=True)
    assert taken.read_bytes() != b"someone else's"
    assert not [p for p in taken.parent.rglob(".*")]  # no partial file left behind
