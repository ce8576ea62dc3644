"""`list -r` over a run's file, its `safe/` conversion, a copy and a hard link: one run, counted once."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from conftest import run_cli

from mckpt.domain.runs import scan

ER_OLD = "checkpoints/er_seq-mnist_None_50_1_20261128-170019_40ccd05b_last.pt"


def _folder(mammoth_fixtures: Path, tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "runs"
    root.mkdir()
    original = root / Path(ER_OLD).name
    shutil.copy2(mammoth_fixtures / ER_OLD, original)
    old = time.time() - 3600
    os.utime(original, (old, old))  # written an hour before its copies, as on a real disk
    r = run_cli("convert", str(original))  # old pickle -> <dir>/safe/<same name>
    assert r.returncode == 0, r.stderr
    (root / "backup").mkdir()
    shutil.copy(original, root / "backup" / original.name)
    (root / "linked").mkdir()
    os.link(original, root / "linked" / original.name)
    return root, original


def test_copies_and_conversions_are_told_apart(mammoth_fixtures: Path, tmp_path: Path) -> None:
    root, original = _folder(mammoth_fixtures, tmp_path)
    listing = scan([str(root)], recursive=True)
    (run,) = listing.runs
    assert [c.path for c in run.checkpoints] == [str(original)]
    assert run.bytes == original.stat().st_size  # not four times it
    relations = {Path(c.path).parent.name: (c.relation, c.of) for c in run.copies}
    assert relations == {"safe": ("conversion", str(original)), "backup": ("copy", str(original)),
                         "linked": ("hard link", str(original))}
    data = json.loads(run_cli("list", "-r", str(root), "--json", "--acc").stdout)
    (listed,) = data["runs"]
    assert listed["bytes"] == original.stat().st_size and listed["tasks"] == ["last"]
    assert sorted(c["relation"] for c in listed["copies"]) == ["conversion", "copy", "hard link"]
    assert listed["metrics"]["class_il"]["final_avg"] is not None and data["other"] == []
    text = run_cli("list", "-r", str(root)).stdout
    assert "1 run(s)" in text and "3 copies of runs' checkpoints (not counted in the runs' size)" in text
    assert f"{root / 'safe' / original.name} (" in text and f"): conversion of {original}" in text


def test_distinct_checkpoints_of_a_run_are_not_copies(mammoth_fixtures: Path, tmp_path: Path) -> None:
    run1 = sorted((mammoth_fixtures / "checkpoints").glob("sgd_seq-mnist_None_0_1_20261128-165846_*.pt"))
    listing = scan([str(mammoth_fixtures / "checkpoints")])
    (run,) = [r for r in listing.runs if r.name.uid == "9acd4744"]
    assert len(run.checkpoints) == len(run1) == 5 and run.copies == []
    same_twice = scan([str(run1[0]), str(run1[0])])  # one file named twice is one file
    assert len(same_twice.runs[0].checkpoints) == 1 and same_twice.runs[0].copies == []
