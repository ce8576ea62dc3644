"""`mckpt load` as a real subprocess resuming a stand-in Mammoth from task, last, uid and old files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from save_load_support import env_for, make_checkout, read_calls, run_args, write_checkpoint

import mckpt

STEM = "sgd_seq-mnist_None_0_1_20260101-101010_1a2b3c4d"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return make_checkout(tmp_path / "checkout")


def test_resume_task_file_with_overrides_shows_differences(checkout: Path) -> None:
    f = write_checkpoint(checkout / "checkpoints" / f"{STEM}_1.pt", run_args(), 2)
    r = run_cli(
        "load", str(f), "--every", "task", "--", "--lr", "0.05", "--seed", "3", cwd=checkout, env=env_for()
    )
    assert r.returncode == 0, r.stderr
    assert "Arguments that differ from the saved run" in r.stdout
    diff_rows = [line.split() for line in r.stdout.splitlines() if line.startswith(("lr ", "seed "))]
    assert diff_rows == [["lr", "0.1", "0.05"]]  # seed is run bookkeeping: not reported
    call = read_calls(checkout)[-1]
    expected = f"--loadcheck=checkpoints/{STEM}_1.pt --start_from=2 --savecheck=task --lr 0.05 --seed 3"
    assert call["argv"] == expected.split()
    assert (call["start"], call["end"], call["args"]["lr"]) == (2, 5, 0.05)
    grown = sorted(p.name for p in (checkout / "checkpoints").glob(f"{STEM}_sgd_seq-mnist_*.pt"))
    assert [n.rsplit("_", 1)[1] for n in grown] == ["2.pt", "3.pt", "4.pt"]  # the name carries its lineage
    assert all(f"checkpoints/{n}" in r.stdout for n in grown)


def test_resume_last_file_as_json_and_propagate_exit_code(checkout: Path) -> None:
    f = write_checkpoint(
        checkout / "checkpoints" / f"{STEM}_last.pt", run_args(savecheck="last", stop_after=3), 3
    )
    r = run_cli("load", str(f), "--json", "--", "--exit_code", "4", cwd=checkout, env=env_for())
    assert r.returncode == 4, r.stderr
    call = read_calls(checkout)[-1]
    assert call["argv"][1:3] == ["--start_from=3", "--stop_after=5"]
    assert (call["start"], call["end"]) == (3, 5)
    doc = json.loads(r.stdout)  # Mammoth's own output went to stderr
    assert doc["plan"]["start_from"] == 3 and doc["result"]["exit_code"] == 4
    (written,) = doc["result"]["written"]
    assert written["task"] == "last" and written["path"].endswith("_last.pt") and written["path"] != str(f)
    assert "Task 4 - training" in r.stderr


def test_last_file_with_fewer_tasks_than_the_run_resumes_from_its_results(checkout: Path) -> None:
    f = write_checkpoint(checkout / "checkpoints" / f"{STEM}_last.pt", run_args(savecheck="last"), 2)
    r = run_cli("load", str(f), cwd=checkout, env=env_for())
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stderr and "name says `last`" in r.stderr
    call = read_calls(checkout)[-1]
    assert call["argv"][:2] == [f"--loadcheck=checkpoints/{STEM}_last.pt", "--start_from=2"]
    assert (call["start"], call["end"]) == (2, 5)
    (new,) = (p for p in (checkout / "checkpoints").glob("*_last.pt") if p != f)
    assert mckpt.read_checkpoint(new).tasks_done == 5


def test_run_uid_check_loads_and_trains_nothing(checkout: Path) -> None:
    write_checkpoint(checkout / "checkpoints" / f"{STEM}_0.pt", run_args(), 1)
    write_checkpoint(checkout / "checkpoints" / f"{STEM}_1.pt", run_args(), 2)
    dry = run_cli("load", "1a2b3c4d", "--dry-run", "--json", cwd=checkout, env=env_for())
    doc = json.loads(dry.stdout)
    assert list(doc) == ["plan", "error"]  # a real run's document without "result": one schema
    plan = doc["plan"]
    assert plan["file"].endswith(f"{STEM}_1.pt") and plan["start_from"] == 2
    assert plan["chosen_by"] == "newest checkpoint of run 1a2b3c4d" and read_calls(checkout) == []
    r = run_cli("load", "1a2b3c4d", "--check", cwd=checkout, env=env_for())
    assert r.returncode == 0, r.stderr
    call = read_calls(checkout)[-1]
    assert call["argv"] == f"--loadcheck=checkpoints/{STEM}_1.pt --start_from=2 --stop_after=2".split()
    assert call["start"] == call["end"] == 2 and "Checkpoint Loaded!" in r.stdout
    assert "Mammoth accepted the checkpoint." in r.stdout
    assert len(list((checkout / "checkpoints").glob("*.pt"))) == 2


def test_joint_and_old_pickle_files_are_refused_before_running(checkout: Path) -> None:
    joint = write_checkpoint(checkout / "checkpoints" / f"{STEM}_joint.pt", run_args(joint=1), 1)
    r = run_cli("load", str(joint), cwd=checkout, env=env_for())
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert (
        "cannot resume a joint checkpoint" in r.stderr
        and "hint: see its results with: mckpt inspect" in r.stderr
    )
    old = write_checkpoint(checkout / "checkpoints" / f"{STEM}_2.pt", run_args(), 3, old_pickle=True)
    r = run_cli("load", str(old), cwd=checkout, env=env_for())
    assert r.returncode == 1 and "mckpt convert --to safe" in r.stderr
    assert read_calls(checkout) == []


def test_old_layout_repeats_args_and_loads_old_pickle_with_a_warning(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "old", layout="old")
    d2 = "sgd_seq-mnist_0_1_20240701-080910_1a2b3c4d"
    saved = {
        k: v
        for k, v in run_args(ckpt_name=d2, batch_size=16).items()
        if k not in ("dataset_config", "save_checkpoint_mode")
    }
    f = write_checkpoint(root / "checkpoints" / f"{d2}_0.pt", saved, 1, old_pickle=True)
    r = run_cli("load", str(f), cwd=root, env=env_for())
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stderr and "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1" in r.stderr
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 " in r.stdout  # part of the printed command
    call = read_calls(root)[-1]
    assert call["layout"] == "old" and call["force_no_weights_only"] == "1"
    argv = call["argv"]
    assert argv[:3] == ["--model=sgd", "--dataset=seq-mnist", "--lr=0.1"]
    assert argv[-2:] == [f"--loadcheck=checkpoints/{d2}_0.pt", "--start_from=1"]
    assert "--batch_size=16" in argv and "--savecheck=task" in argv
    assert not any(w.startswith(("--ckpt_name", "--conf_jobnum")) for w in argv)
    new = sorted((root / "checkpoints").glob("sgd_seq-mnist_0_1_*.pt"))
    assert [p.name.rsplit("_", 1)[1] for p in new if p != f] == ["1.pt", "2.pt", "3.pt", "4.pt"]
    assert mckpt.read_checkpoint(new[-1]).args["loadcheck"] == f"checkpoints/{d2}_0.pt"
