"""An opened checkpoint has a lifetime: reading leaves no descriptor behind, streaming closes its own.

Every read here goes through a real `torch.save` file; the open descriptors are counted from the
kernel's own table (/proc/self/fd), and the `list --acc` case runs the CLI under a real
`ulimit -n` in a subprocess.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO

from mckpt import diff_checkpoints, plan_conversion, read_checkpoint
from mckpt.domain.checkpoint import read_run_record
from mckpt.domain.runs import scan
from mckpt.errors import CorruptCheckpoint

FD_TABLE = Path("/proc/self/fd")
pytestmark = pytest.mark.skipif(not FD_TABLE.is_dir(), reason="needs /proc/self/fd to count descriptors")


def open_fds() -> int:
    return len(os.listdir(FD_TABLE))


def write_run(folder: Path, i: int) -> Path:
    """One Mammoth-shaped final checkpoint of run number `i` (its own uid and timestamp)."""
    uid = f"{0x1a2b0000 + i:08x}"
    stem = f"er_seq-cifar10_None_200_5_20250101-{i // 60 % 24:02d}{i % 60:02d}10_{uid}"
    args = {"model": "er", "dataset": "seq-cifar10", "buffer_size": 200, "n_epochs": 5, "seed": i,
            "ckpt_name": stem, "conf_jobnum": f"{uid}-0000-4000-8000-000000000000"}
    results = [[[90.0 - i % 7], [80.0, 70.0 + i % 5]], [[95.0], [90.0, 85.0]], {}]
    path = folder / f"{stem}_last.pt"
    torch.save({"model": {"net.fc.weight": torch.full((3, 2), float(i)), "net.fc.bias": torch.zeros(3)},
                "optimizer": None, "scheduler": None, "args": args, "results": results}, path)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("runs")
    return [write_run(folder, i) for i in range(200)]


def test_reading_500_times_leaves_the_descriptor_count_flat(runs: list[Path]) -> None:
    before = open_fds()
    for i in range(500):
        ck = read_checkpoint(runs[i % len(runs)])
        assert ck.kind == "mammoth" and ck.model_state  # the tree stays usable after the close
        assert read_run_record(runs[i % len(runs)]) is not None
    assert open_fds() == before


def test_scans_diffs_and_plans_close_what_they_open(runs: list[Path], tmp_path: Path) -> None:
    before = open_fds()
    listing = scan([str(runs[0].parent)], acc=True)
    assert len(listing.runs) == len(runs) and all(r.metrics for r in listing.runs)
    for _ in range(20):
        d = diff_checkpoints(str(runs[0]), str(runs[1]), weights=True)
        assert d.weights is not None and d.weights.compared == 2
        plan = plan_conversion(str(runs[0]), "backbone", output=str(tmp_path / "bb.pt"))
        assert plan.writable
    assert open_fds() == before


def test_a_checkpoint_kept_open_holds_one_descriptor_until_closed(runs: list[Path]) -> None:
    before = open_fds()
    with read_checkpoint(runs[0], keep_open=True) as ck:
        assert open_fds() == before + 1
        key = next(iter(ck.model_state))
        offset, nbytes = ck.archive.tensor_range(ck.tensor_path(key), ck.model_state[key])
        assert len(ck.archive.source.read_at(offset, nbytes)) == nbytes
    assert open_fds() == before
    ck.close()  # twice is harmless
    with pytest.raises(ValueError, match="read after close"):
        ck.archive.source.read_at(0, 1)


def test_a_file_that_fails_to_read_is_closed_too(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04" + b"\0" * 200)
    before = open_fds()
    for _ in range(50):
        with pytest.raises(CorruptCheckpoint, match="end-of-archive record is missing"):
            read_checkpoint(bad)
    assert open_fds() == before


def _limit_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def test_list_acc_under_ulimit_64_reads_all_200_runs(runs: list[Path]) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    r = subprocess.run([sys.executable, "-m", "mckpt", "list", "--acc", "--json", str(runs[0].parent)],
                       env=env, text=True, capture_output=True, timeout=300, preexec_fn=_limit_fds)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert "Too many open files" not in r.stdout + r.stderr
    listed = doc["runs"] if isinstance(doc, dict) else doc
    assert len(listed) == 200
    assert not (doc.get("other") if isinstance(doc, dict) else None)

