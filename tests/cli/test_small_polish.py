"""Small everyday things: counted nouns, verify's stable order, `diff A A --weights` without a second read,
demo's spinner on a terminal, a folder of many runs named with "… and N more", csv sections."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from pty_run import run_on_pty

from mckpt.diff import diff_checkpoints
from mckpt.domain.checkpoint import read_checkpoint
from mckpt.words import counted

SGD = "sgd_seq-mnist_None_0_1_20261128-165846_{uid}_1.pt"


def test_counted_nouns(tmp_path: Path) -> None:
    assert [counted(n, "tensor") for n in (0, 1, 2)] == ["0 tensors", "1 tensor", "2 tensors"]
    assert counted(1, "alias", "aliases") == "1 alias" and counted(3, "alias", "aliases") == "3 aliases"
    torch.save({"w": torch.zeros(3)}, tmp_path / "one.pt")
    r = run_cli("convert", str(tmp_path / "one.pt"), "--to", "backbone", "-o", str(tmp_path / "out.pt"))
    assert r.returncode == 0, r.stderr
    assert "(1 key in the new file)" in r.stdout and ", 1 storage) in" in r.stdout
    v = run_cli("verify", str(tmp_path / "out.pt"))
    assert "1 tensor," in v.stdout and "1 tensors" not in v.stdout


def test_verify_reports_in_the_same_order_every_run(tmp_path: Path) -> None:
    """A big file first and small ones after, four at a time: the small ones finish first, and
    used to be printed first."""
    folder = tmp_path / "ck"
    folder.mkdir()
    torch.save({"w": torch.zeros(6 << 20)}, folder / "a_big.pt")
    for i in range(6):
        torch.save({"w": torch.zeros(4)}, folder / f"small_{i}.pt")
    expected = sorted(p.name for p in folder.iterdir())
    for _ in range(2):
        r = run_cli("verify", str(folder), "-j", "4")
        assert r.returncode == 0, r.stderr
        shown = [Path(m).name for m in re.findall(r"^ok\s+(\S+)", r.stdout, re.M)]
        assert shown == expected, r.stdout


def test_diff_of_one_file_reads_its_weights_once(tmp_path: Path) -> None:
    path = tmp_path / "a.pt"
    torch.save({"fc.weight": torch.randn(256, 256), "fc.bias": torch.randn(256)}, path)
    os.link(path, tmp_path / "hardlink.pt")
    (tmp_path / "copy.pt").write_bytes(path.read_bytes())
    for other, same in (("a.pt", True), ("hardlink.pt", True), ("copy.pt", False)):
        with read_checkpoint(path, keep_open=True) as ca, read_checkpoint(tmp_path / other, keep_open=True) as cb:
            before = ca.archive.source.bytes_read + cb.archive.source.bytes_read
            d = diff_checkpoints(ca, cb, weights=True)
            read = ca.archive.source.bytes_read + cb.archive.source.bytes_read - before
        assert d.weights is not None and d.weights.equal and d.weights.compared == 2
        assert (read == 0) is same, (other, read)
        assert any("one file" in n for n in d.notes) is same
        if not same:
            assert read >= 2 * (256 * 256 + 256) * 4  # both files' tensor bytes
    r = run_cli("diff", str(path), str(path), "--weights", "--exit-code")
    assert r.returncode == 0 and "one file (same device and inode)" in r.stdout


def test_demo_spins_while_torch_loads_on_a_terminal_only(tmp_path: Path) -> None:
    code, screen = run_on_pty(["demo", str(tmp_path / "d1")], env={"NO_COLOR": "1"}, columns=120)
    assert code == 0, screen
    assert "loading torch" in screen and re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]", screen), screen[:2000]
    r = run_cli("demo", str(tmp_path / "d2"))
    assert r.returncode == 0 and "loading torch" not in r.stderr + r.stdout


def test_a_folder_of_many_runs_says_how_many_it_does_not_name(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for i in range(10):
        (folder / SGD.format(uid=f"{i:08x}")).write_bytes(b"")
    r = run_cli("inspect", str(folder))
    assert r.returncode != 0
    assert f"holds 10 runs ({', '.join(f'{i:08x}' for i in range(8))}, … and 2 more); which one?" in r.stderr
    three = tmp_path / "three"
    three.mkdir()
    for i in range(3):
        (three / SGD.format(uid=f"{i:08x}")).write_bytes(b"")
    assert "(00000000, 00000001, 00000002); which one?" in run_cli("inspect", str(three)).stderr


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_inspect_csv_is_one_table_per_section(tmp_path: Path, fmt: str) -> None:
    from mckpt.demo import write_demo

    files = write_demo(tmp_path / "demo")
    last = max((f for f in files if f.name.endswith("_last.pt")), key=lambda f: f.name)
    r = run_cli("inspect", str(last), "-f", fmt)
    assert r.returncode == 0, r.stderr
    blocks = r.stdout.split("\n\n")
    assert len(blocks) >= 4
    for n, block in enumerate(blocks):
        lines = block.strip("\n").splitlines()
        if n and lines[0].startswith("# "):
            lines = lines[1:]  # the section's title
        rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter="," if fmt == "csv" else "\t"))
        assert rows and all(len(row) == len(rows[0]) for row in rows), block  # one header per table
    assert "# Class-IL accuracy (%)" in r.stdout
    assert "more (run bookkeeping" in r.stderr  # prose goes to stderr, not into the tables
