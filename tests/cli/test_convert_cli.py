"""`mckpt convert` through the real CLI in subprocesses: exit codes, messages, atomic writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO, run_cli
from convert_helpers import load, make_backbone, make_template


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    template = tmp_path / "derpp_seq-mnist_default_20_2_20240101-000000_abcdef12_4.pt"
    make_template(template)
    bare = tmp_path / "bb.pt"
    make_backbone(bare, "module.")
    return bare, template


def test_dry_run_json_is_the_plan_and_writes_nothing(files: tuple[Path, Path], tmp_path: Path) -> None:
    bare, template = files
    r = run_cli("convert", str(bare), "--like", str(template), "--dry-run", "--json", "--set", "lr=0.5",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["conversion"] == "backbone->full" and plan["writable"] is True
    assert {"key": "net.fc1.weight", "source": "module.fc1.weight"} in plan["keys"]["mapped"]
    assert {"key": "net._features.0.weight", "shares_with": "net.fc1.weight"} in plan["keys"]["aliased"]
    assert plan["keys"]["copied"] == ["class_means"] and plan["keys"]["unmatched"] == []
    assert plan["args"]["lr"] == 0.5 and plan["output"].startswith("checkpoints/")
    assert not (tmp_path / "checkpoints").exists()


def test_default_output_is_a_mammoth_name_in_checkpoints(files: tuple[Path, Path], tmp_path: Path) -> None:
    bare, template = files
    r = run_cli("convert", str(bare), "--like", str(template), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    written = json.loads(r.stdout)["written"]
    out = tmp_path / written["path"]
    assert out.parent == tmp_path / "checkpoints" / "paused" and len(out.stem) == 36  # paused/<uuid4>.pt
    listed = json.loads(run_cli("list", "checkpoints", "--json", cwd=tmp_path).stdout)["runs"]
    assert [(r["run"], r["tasks"]) for r in listed] == [(load(out)["args"]["ckpt_name"], ["paused"])]
    assert written["bytes"] == out.stat().st_size
    info = json.loads(run_cli("inspect", str(out), "--json").stdout)
    assert info["kind"] == "mammoth" and info["format"] == "safe" and info["run"]["model"] == "derpp"
    assert load(out)["model"]


def test_without_like_says_what_is_guessed(files: tuple[Path, Path], tmp_path: Path) -> None:
    bare, _ = files
    r = run_cli("convert", str(bare), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stdout == ""  # what is needed comes first, not after a plan that cannot be written
    assert "--like" in r.stderr and "--to backbone" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "checkpoints").exists()
    r = run_cli("convert", str(bare), "--dry-run", cwd=tmp_path)  # the guess, when asked for a plan
    assert "guessed: every key becomes `net.<key>`" in r.stdout
    r = run_cli("convert", str(bare), "--to", "backbone", "-o", str(tmp_path / "net.pt"))
    assert r.returncode == 0 and all(k.startswith("net.") for k in load(tmp_path / "net.pt"))


def test_shape_mismatch_is_one_clear_line(files: tuple[Path, Path], tmp_path: Path) -> None:
    _, template = files
    bad = tmp_path / "bad.pt"
    make_backbone(bad, hidden=7)
    r = run_cli("convert", str(bad), "--like", str(template), "-o", str(tmp_path / "o.pt"))
    assert r.returncode == 1
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"error: {bad}: shape mismatch: net.fc1.weight")
    assert "Traceback" not in r.stderr and not (tmp_path / "o.pt").exists()


def test_missing_key_fails_and_lists_it(files: tuple[Path, Path], tmp_path: Path) -> None:
    _, template = files
    part = tmp_path / "part.pt"
    make_backbone(part, drop="bn.")
    r = run_cli("convert", str(part), "--like", str(template), "-o", str(tmp_path / "o.pt"))
    assert r.returncode == 1 and "net.bn.running_mean" in r.stdout and "--allow-partial" in r.stderr
    assert not (tmp_path / "o.pt").exists()


def test_existing_output_needs_force(files: tuple[Path, Path], tmp_path: Path) -> None:
    bare, template = files
    out = tmp_path / "o.pt"
    out.write_text("keep me")
    r = run_cli("convert", str(bare), "--like", str(template), "-o", str(out))
    assert r.returncode == 1 and "--force" in r.stderr and out.read_text() == "keep me"
    r = run_cli("convert", str(bare), "--like", str(template), "-o", str(out), "--force", "-q")
    assert r.returncode == 0 and r.stdout == "" and load(out)["model"]


def test_bad_options(files: tuple[Path, Path], tmp_path: Path) -> None:
    bare, template = files
    assert run_cli("convert", str(bare), "--to", "onnx").returncode == 2
    r = run_cli("convert", str(template), "--to", "backbone", "--like", str(template))
    assert r.returncode == 2 and "--like (a template) only goes with --to full" in r.stderr
    r = run_cli("convert", str(bare), "--like", str(template), "-o", str(tmp_path / "x.bin"))
    assert r.returncode == 2 and "x.bin': expected a file path ending in .pt, or a folder" in r.stderr
    r = run_cli("convert", str(tmp_path / "nope.pt"))
    assert r.returncode == 1 and "no such file" in r.stderr
    r = run_cli("convert", str(bare), "--to", "safe")
    # The error names the file it is about, like every other one.
    assert r.returncode == 2 and r.stderr.startswith(f"error: {bare}: --to safe converts old-pickle")
    assert "this file is a bare backbone" in r.stderr


def test_convert_never_imports_torch(files: tuple[Path, Path], tmp_path: Path) -> None:
    bare, template = files
    argv = ["convert", str(bare), "--like", str(template), "-o", str(tmp_path / "o.pt")]
    code = ("import sys\nfrom mckpt.cli.app import app\n"
            f"try:\n    app({argv!r})\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('torch' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "False"
    assert (tmp_path / "o.pt").exists()


class PausedWriter:
    """A real `mckpt convert` subprocess that stops after copying its first storage record until
    told to go on (only the timing is arranged: every byte is written by the real code)."""

    def __init__(self, tmp_path: Path, tag: str, argv: list[str]) -> None:
        self.copying, self.go = tmp_path / f"{tag}.copying", tmp_path / f"{tag}.go"
        code = (
            "import time\nfrom pathlib import Path\nfrom mckpt.torchfile import archive_writer\n"
            "orig = archive_writer.ArchiveWriter.add_ranges\n"
            "def slow(self, *a, **k):\n"
            "    orig(self, *a, **k)\n"
            f"    Path({str(self.copying)!r}).touch()\n"
            f"    while not Path({str(self.go)!r}).exists():\n"
            "        time.sleep(0.02)\n"
            "archive_writer.ArchiveWriter.add_ranges = slow\n"
            "from mckpt.cli.app import app\n"
            f"app({['convert', *argv]!r})\n"
        )
        self.proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(1200):
            if self.copying.exists() or self.proc.poll() is not None:
                break
            time.sleep(0.05)
        assert self.copying.exists(), "the writer never started copying"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL

    def finish(self) -> tuple[int, str, str]:
        self.go.touch()
        out, err = self.proc.communicate(timeout=120)
        return self.proc.returncode, out, err

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def _partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


def test_kill_mid_write_leaves_no_output_and_the_next_run_removes_the_partial(
        files: tuple[Path, Path], tmp_path: Path) -> None:
    """SIGKILL while the storages are being copied: nothing under the final name, and the partial
    file the dead writer left is removed (and reported) by the next conversion into that folder."""
    bare, template = files
    out = tmp_path / "out" / "o.pt"
    argv = [str(bare), "--like", str(template)]
    writers: list[PausedWriter] = []
    try:  # three writers at once, each sparing the others' partials (they are live), then all killed
        for i in range(3):
            writers.append(PausedWriter(tmp_path, f"w{i}", [*argv, "-o", str(out)]))
        for writer in writers:
            writer.kill()
    finally:
        for writer in writers:
            writer.stop()
    assert not out.exists()
    stale = _partials(out.parent)
    assert len(stale) == 3 and all(n.startswith(".o.pt.") for n in stale)
    assert sorted(p.name for p in out.parent.iterdir()) == stale  # the partials, never the final name
    sizes = sum((out.parent / n).stat().st_size for n in stale)
    r = run_cli("convert", *argv, "-o", str(out.parent / "other.pt"), "--json")  # another output, same folder
    assert r.returncode == 0, r.stderr
    removed = json.loads(r.stdout)["written"]["removed_partials"]
    assert sorted(Path(p["path"]).name for p in removed) == stale and sum(p["bytes"] for p in removed) == sizes
    assert _partials(out.parent) == []
    r = run_cli("convert", *argv, "-o", str(out))  # a rerun is unaffected
    assert r.returncode == 0 and load(out)["model"]
    assert "partial" not in r.stdout  # nothing left to remove, nothing said


def test_a_live_writers_partial_is_never_removed(files: tuple[Path, Path], tmp_path: Path) -> None:
    bare, template = files
    folder = tmp_path / "out"
    argv = [str(bare), "--like", str(template)]
    live = PausedWriter(tmp_path, "live", [*argv, "-o", str(folder / "live.pt")])
    try:
        dead = PausedWriter(tmp_path, "dead", [*argv, "-o", str(folder / "dead.pt")])
        try:
            dead.kill()
        finally:
            dead.stop()
        assert len(_partials(folder)) == 2
        r = run_cli("convert", *argv, "-o", str(folder / "third.pt"))
        assert r.returncode == 0, r.stderr
        assert "removed 1 partial file(s)" in r.stdout
        (kept,) = _partials(folder)
        assert kept.startswith(".live.pt.")  # its writer holds the lock: it is at work
        code, _, err = live.finish()
        assert code == 0, err
    finally:
        live.stop()
    assert load(folder / "live.pt")["model"] and _partials(folder) == []


def test_publish_never_replaces_a_file_that_appeared_meanwhile(files: tuple[Path, Path], tmp_path: Path) -> None:
    bare, template = files
    out = tmp_path / "out" / "o.pt"
    writer = PausedWriter(tmp_path, "w", [str(bare), "--like", str(template), "-o", str(out)])
    try:
        out.write_bytes(b"theirs")  # another program takes the name while the copy runs
        code, _, err = writer.finish()
    finally:
        writer.stop()
    assert code == 1 and err.splitlines()[0] == f"error: {out}: appeared while converting; not overwritten"
    assert out.read_bytes() == b"theirs" and _partials(out.parent) == []
    forced = PausedWriter(tmp_path, "f", [str(bare), "--like", str(template), "-o", str(out), "--force"])
    try:
        code, _, err = forced.finish()
    finally:
        forced.stop()
    assert code == 0, err
    assert load(out)["model"]  # --force replaces it


def test_unwritable_place_is_one_line(files: tuple[Path, Path], tmp_path: Path) -> None:
    bare, template = files
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    r = run_cli("convert", str(bare), "--like", str(template), "-o", str(blocker / "o.pt"))
    # It said "a_file: cannot write here: File exists", true but no help.
    assert r.returncode == 1 and r.stderr.startswith(f"error: {blocker}: is a file, not a folder\n")
    assert "Traceback" not in r.stderr
    r = run_cli("convert", str(bare), "--like", str(template), "-o", str(blocker / "sub" / "o.pt"))
    assert r.returncode == 1 and r.stderr.startswith(f"error: {blocker}: is a file, not a folder\n")


def test_dry_run_reports_an_existing_output(files: tuple[Path, Path], tmp_path: Path) -> None:
    """The dry run says what the real run will do: an existing -o is a collision unless --force."""
    bare, template = files
    out = tmp_path / "taken.pt"
    out.write_bytes(b"precious")
    r = run_cli("convert", str(bare), "--like", str(template), "-o", str(out), "--dry-run", "--json")
    plan = json.loads(r.stdout)
    assert r.returncode == 0 and plan["writable"] is False
    assert plan["problems"] == [f"{out}: already exists; not overwritten without --force"]
    human = run_cli("convert", str(bare), "--like", str(template), "-o", str(out), "--dry-run")
    assert "cannot write" in human.stdout and "already exists" in human.stdout
    forced = json.loads(run_cli("convert", str(bare), "--like", str(template), "-o", str(out), "--dry-run",
                                "--json", "--force").stdout)
    assert forced["writable"] is True and forced["problems"] == []
    real = run_cli("convert", str(bare), "--like", str(template), "-o", str(out))
    assert real.returncode == 1 and real.stdout == "" and "already exists" in real.stderr and "--force" in real.stderr
    assert out.read_bytes() == b"precious"
    same = json.loads(run_cli("convert", str(template), "--to", "backbone", "-o", str(template), "--dry-run", "--json",
                              "--force").stdout)
    assert same["writable"] is False and "overwrite an input" in same["problems"][0]
    # The paused/<uuid>.pt note is about a name mckpt chose: not said when -o named the file.
    assert not any("paused/<uuid>" in n for n in forced["notes"])
    default = json.loads(run_cli("convert", str(bare), "--like", str(template), "--dry-run", "--json",
                                 cwd=tmp_path).stdout)
    assert any("paused/<uuid>" in n for n in default["notes"])
