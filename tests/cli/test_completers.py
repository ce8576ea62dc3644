"""The values `mckpt __complete` offers: read from file names in ./checkpoints, nothing loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mckpt.cli import completers
from mckpt.domain.vocabulary import DATASETS, MODELS
from tests.conftest import REPO, run_cli

NAMES = [
    "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744_0.pt",
    "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744_1.pt",
    "er_ace_seq-cifar100_default_2000_50_20250115-235959_deadbeef_9.pt",
    "derpp_seq-cifar10_500_50_20231226-153012_0.pt",  # D1: no uid, the run's name stands for it
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    ck = tmp_path / "checkpoints"
    (ck / "paused").mkdir(parents=True)
    for name in NAMES:
        (ck / name).write_bytes(b"")  # completion never opens a file: empty ones prove it
    (ck / "paused" / "0b7e6a0e-5c1d-4c52-9f5e-2f1f3c6d9a10.pt").write_bytes(b"")
    (ck / "notes.txt").write_text("not a checkpoint")
    (ck / "random.pt").write_bytes(b"")
    return ck


def test_runs_are_uids_and_d1_run_names(folder: Path) -> None:
    assert completers.complete_runs("", str(folder)) == [
        "9acd4744", "deadbeef", "derpp_seq-cifar10_500_50_20231226-153012"]
    d1_run = "derpp_seq-cifar10_500_50_20231226-153012"
    assert completers.complete_runs("de", str(folder)) == ["deadbeef", d1_run]
    assert completers.complete_runs("zz", str(folder)) == []


def test_models_and_datasets_come_from_the_folder(folder: Path) -> None:
    assert completers.complete_models("", str(folder)) == ["derpp", "er_ace", "sgd"]
    assert completers.complete_models("er", str(folder)) == ["er_ace"]
    assert completers.complete_datasets("seq-c", str(folder)) == ["seq-cifar10", "seq-cifar100"]


def test_known_names_when_the_folder_has_no_runs(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    assert completers.complete_models("", missing) == sorted(MODELS)
    assert completers.complete_datasets("seq-cifar100", missing) == sorted(
        d for d in DATASETS if d.startswith("seq-cifar100"))
    assert completers.complete_runs("", missing) == []


def test_answer_prints_one_value_per_line_and_never_fails(folder: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(folder.parent)
    assert completers.answer(["model", "s"]) == 0
    assert capsys.readouterr().out == "sgd\n"
    assert completers.answer(["no-such-kind", "x"]) == 0
    assert completers.answer([]) == 0
    assert capsys.readouterr().out == ""


def test_cli_route_answers_before_typer(folder: Path) -> None:
    proc = run_cli("__complete", "run", "9a", cwd=folder.parent)
    assert proc.returncode == 0 and proc.stdout == "9acd4744\n" and proc.stderr == ""


def test_completion_path_imports_nothing_heavy(folder: Path) -> None:
    """torch, httpx, typer, click and rich stay out of a TAB press."""
    code = (
        "import sys, json\n"
        "sys.argv = ['mckpt', '__complete', 'dataset', '']\n"
        "from mckpt.cli.entry import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'httpx', 'typer', 'click', 'rich', 'numpy', 'tabulate'))\n"
        "print(json.dumps(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=folder.parent, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["seq-cifar10", "seq-cifar100"]
    assert json.loads(lines[-1]) == []


def test_a_paused_runs_uid_is_offered(tmp_path: Path) -> None:
    """A paused file is named by a fresh uuid; its run's uid is in its args, and `load` takes it."""
    from save_load_support import run_args, write_checkpoint

    ck = tmp_path / "checkpoints"
    args = run_args(conf_jobnum="c0ffee42-0000-4000-8000-000000000000")
    write_checkpoint(ck / "paused" / "0b7e6a0e-5c1d-4c52-9f5e-2f1f3c6d9a10.pt", args, 2)
    (ck / "paused" / "1c8f7b1f-6d2e-4d63-8a60-3a2a4d7e0b21.pt").write_bytes(b"not a checkpoint")
    assert completers.complete_runs("", str(ck)) == ["c0ffee42"]
    assert completers.complete_runs("c0f", str(ck)) == ["c0ffee42"]
    assert completers.complete_runs("zz", str(ck)) == []


def test_folder_options_complete_folders_only() -> None:
    from mckpt.cli.app import app
    from mckpt.cli.completion_spec import describe

    kinds = {(c.name, n): o.values.kind for c in describe(app).walk() for o in c.options if o.values
             for n in o.long}
    assert kinds[("fetch", "--cache-dir")] == "dir"
    assert kinds[("load", "--mammoth")] == kinds[("save", "--mammoth")] == "dir"
    assert kinds[("convert", "--like")] == kinds[("plot", "--matrix")] == "run"  # runs as well as files
    assert kinds[("plot", "--size")] == kinds[("inspect", "--revision")] == "none"  # not file names
    args = {(c.name, a.name): a.values.kind for c in describe(app).walk() for a in c.arguments}
    assert args[("inspect", "checkpoint")] == args[("convert", "checkpoint")] == args[("load", "checkpoint")] == "run"
    assert args[("fetch", "source")] == "none"
