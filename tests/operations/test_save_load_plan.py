"""save/load planning from Python: finding Mammoth, argument handling, resume plans, mckpt.load."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from save_load_support import make_checkout, run_args, write_checkpoint

import mckpt
from mckpt.cli.outcome import flag
from mckpt.errors import MckptError, UsageError
from mckpt.train.mammoth_args import (
    MISSING,
    build_argv,
    diff_overrides,
    parse_overrides,
    repeat_saved_args,
    same_value,
)
from mckpt.train.mammoth_env import CURRENT, OLD, find_mammoth
from mckpt.train.resume import UNSAFE_ENV, plan_resume
from mckpt.train.save import checkpoint_folder, plan_save
from mckpt.view.output import Output
from mckpt.view.render_run import render_plan

PY_ENV = {"PATH": os.environ["PATH"]}
RUN1 = "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744"
PAUSED = "paused/1fb2c186-8ffa-4ebb-bea9-5c01ef524976.pt"


@pytest.fixture
def current(tmp_path: Path):
    root = make_checkout(tmp_path / "checkout")
    return find_mammoth(str(root), sys.executable, environ=PY_ENV)


@pytest.fixture
def old(tmp_path: Path):
    root = make_checkout(tmp_path / "old-mammoth", layout="old")
    return find_mammoth(str(root), sys.executable, environ=PY_ENV)


# --- finding Mammoth ---------------------------------------------------------------------------


def test_find_mammoth_prefers_option_then_env_then_cwd_and_parents(tmp_path: Path,
                                                                  python_on_path: dict[str, str]) -> None:
    a = make_checkout(tmp_path / "a")
    b = make_checkout(tmp_path / "b", layout="old")
    env = {**python_on_path, "MAMMOTH_ROOT": str(b)}
    assert find_mammoth(str(a), environ=env).root == a.resolve()
    by_env = find_mammoth(environ=env, cwd=a)
    assert (by_env.root, by_env.layout, by_env.found_by) == (b.resolve(), OLD, "MAMMOTH_ROOT")
    (a / "checkpoints" / "paused").mkdir(parents=True)
    by_parent = find_mammoth(environ=python_on_path, cwd=a / "checkpoints" / "paused")
    assert (by_parent.root, by_parent.layout, by_parent.found_by) == (a.resolve(), CURRENT, "parent folder")
    assert find_mammoth(environ=python_on_path, cwd=a).found_by == "current folder"
    assert by_env.command(["--x"])[1:] == ["utils/main.py", "--x"]
    assert by_parent.command([])[1:] == ["main.py"]


def test_nothing_found_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(MckptError) as e:
        find_mammoth(environ=PY_ENV, cwd=tmp_path)
    assert "no Mammoth checkout" in e.value.message
    assert "--mammoth" in e.value.spelled_hint(flag) and "MAMMOTH_ROOT" in e.value.hint
    with pytest.raises(MckptError) as e:
        find_mammoth(str(tmp_path), environ=PY_ENV)
    assert "not a Mammoth checkout" in e.value.message and "--mammoth" in e.value.message


def test_python_from_option_env_or_path(tmp_path: Path, python_on_path: dict[str, str]) -> None:
    root = make_checkout(tmp_path / "m")
    env = find_mammoth(str(root), environ={**python_on_path, "MAMMOTH_PYTHON": sys.executable})
    assert (env.python, env.python_found_by) == (sys.executable, "MAMMOTH_PYTHON")
    assert find_mammoth(str(root), environ=python_on_path).python_found_by == "PATH"
    with pytest.raises(MckptError, match="no such Python"):
        find_mammoth(str(root), str(tmp_path / "nope"), environ=python_on_path)
    with pytest.raises(MckptError, match="no `python` on PATH"):
        find_mammoth(str(root), environ={"PATH": str(tmp_path)})


def test_savecheck_style_is_read_from_the_old_checkout(tmp_path: Path) -> None:
    flag = make_checkout(tmp_path / "d1", layout="old", savecheck_flag=True)
    choice = make_checkout(tmp_path / "d2", layout="old")
    assert find_mammoth(str(flag), sys.executable, environ=PY_ENV).savecheck_is_flag
    assert not find_mammoth(str(choice), sys.executable, environ=PY_ENV).savecheck_is_flag


# --- arguments -----------------------------------------------------------------------------------


def test_parse_overrides_forms() -> None:
    got = parse_overrides(
        ["--lr", "0.05", "--lr_milestones", "10", "20", "--nowand", "--seed=3", "--optim_mom", "-0.5"]
    )
    assert got == {
        "lr": "0.05",
        "lr_milestones": ["10", "20"],
        "nowand": True,
        "seed": "3",
        "optim_mom": "-0.5",
    }


def test_same_value_reads_typed_words_like_mammoth() -> None:
    assert same_value(0.1, "0.10") and not same_value(0.1, "0.05")
    assert same_value(True, "1") and same_value(False, "false") and same_value(1, True)
    assert same_value([10, 20], ["10", "20"]) and not same_value([10], "20")
    assert same_value(None, "None") and not same_value(None, "x")
    assert same_value("er_ace", "er_ace") and not same_value(16, "abc")


def test_diff_ignores_bookkeeping_and_reports_new_args() -> None:
    saved = run_args()
    changes = diff_overrides(
        saved,
        parse_overrides(
            ["--lr", "0.05", "--seed", "7", "--n_epochs", "1", "--buffer_size", "50", "--savecheck", "last"]
        ),
    )
    assert [(c.name, c.saved_text, c.given_text) for c in changes] == [
        ("lr", "0.1", "0.05"),
        ("buffer_size", "(not saved)", "50"),
    ]
    assert changes[1].saved is MISSING and changes[1].to_json()["saved_present"] is False


def test_repeat_saved_args_skips_computed_and_unset_values() -> None:
    saved = {
        "seed": 0,
        "model": "er_ace",
        "dataset": "seq-mnist",
        "lr": 0.1,
        "buffer_size": 50,
        "minibatch_size": 16,
        "notes": None,
        "inference_only": False,
        "lr_milestones": [],
        "savecheck": True,
        "conf_jobnum": "x",
        "ckpt_name_replace": "y",
        "class_order": [1, 0],
        "nowand": 1,
        "permute_classes": True,
    }
    argv = build_argv(repeat_saved_args(saved, savecheck_is_flag=True), [], [])
    assert argv[:4] == ["--model=er_ace", "--dataset=seq-mnist", "--lr=0.1", "--buffer_size=50"]
    assert argv[4:] == ["--seed=0", "--minibatch_size=16", "--savecheck", "--nowand=1", "--permute_classes"]
    no_buffer = dict(saved, savecheck="task", lr_milestones=[10, -20])
    del no_buffer["buffer_size"]
    own = [("start_from", ["--start_from=1"])]
    tokens = build_argv(repeat_saved_args(no_buffer, False, ["seed"]), own, ["--seed", "5"])
    assert "--minibatch_size=16" not in tokens and "--seed=0" not in tokens
    assert tokens[-3:] == ["--start_from=1", "--seed", "5"]  # mckpt's flags, then the user's words
    assert "--savecheck=task" in tokens
    assert tokens[tokens.index("--lr_milestones") :][:3] == ["--lr_milestones", "10", "-20"]


# --- save ----------------------------------------------------------------------------------------


def test_plan_save_adds_only_checkpoint_flags(current, old) -> None:
    extra = ["--model", "sgd", "--dataset", "seq-mnist", "--lr", "0.1"]
    plan = plan_save(current, extra, every="last", name="exp", mode="old_pickle")
    assert plan.argv == [*extra, "--savecheck=last", "--ckpt_name=exp", "--save_checkpoint_mode=old_pickle"]
    assert plan_save(current, extra, name="-x").argv[-1] == "--ckpt_name=-x"  # a value, never an option
    with pytest.raises(UsageError, match="abbreviates --savecheck"):
        plan_save(current, [*extra, "--savech", "last"])
    assert plan.command[:2] == [sys.executable, "main.py"] and plan.watch == current.root / "checkpoints"
    assert plan_save(current, [*extra, "--savecheck", "last"]).argv == [*extra, "--savecheck", "last"]
    with pytest.raises(UsageError, match="--every"):
        plan_save(current, [*extra, "--savecheck", "last"], every="task")
    with pytest.raises(UsageError, match="no --save_checkpoint_mode"):
        plan_save(old, extra, mode="safe")
    with pytest.raises(UsageError, match="one of"):
        plan_save(current, extra, every="epoch")
    assert checkpoint_folder(current, ["--checkpoint_path", "ck"]) == current.root / "ck"


# --- resume plans against the real Mammoth files ---------------------------------------------------


def test_task_file_of_real_run_resumes_at_next_task(mammoth_fixtures: Path, current) -> None:
    f = mammoth_fixtures / "checkpoints" / f"{RUN1}_0.pt"
    plan = plan_resume(str(f), current)
    assert plan.tasks_done == 1 and plan.start_from == 1 and plan.total_tasks == 5
    assert plan.argv == [f"--loadcheck={f}", "--start_from=1"]
    assert plan.run == RUN1 and plan.env == {} and plan.changes == []
    assert any("restores the saved args" in r for r in plan.reasons)


def test_paused_real_file_resumes_at_the_task_it_reached(mammoth_fixtures: Path, current) -> None:
    f = mammoth_fixtures / "checkpoints" / PAUSED
    plan = plan_resume(str(f), current)
    assert plan.start_from == 1 and plan.argv[:2] == [f"--loadcheck={f}", "--start_from=1"]
    assert any("paused file" in r for r in plan.reasons)
    assert any("no --savecheck" in w for w in plan.warnings)  # the run had none: say how to get files
    assert plan_resume(str(f), current, every="task").argv[-1] == "--savecheck=task"
    # Its run had no ckpt_name: no run name, rather than the file's "paused/<uuid>" passed off as one,
    # and the dry run shows the run's uid instead.
    assert plan.run is None and plan.chosen_by == "the file given"
    stream = io.StringIO()
    render_plan(Output(stream=stream), plan)
    assert "run         uid be22a87c" in stream.getvalue()


def test_run_uid_picks_newest_and_a_finished_run_is_refused(mammoth_fixtures: Path, current) -> None:
    with pytest.raises(MckptError) as e:
        plan_resume("9acd4744", current, search=[mammoth_fixtures / "checkpoints"])
    assert "nothing left to train: all 5 tasks" in e.value.message and e.value.path.endswith(f"{RUN1}_4.pt")
    assert "mckpt inspect" in e.value.hint
    checked = plan_resume("9acd4744", current, check=True, search=[mammoth_fixtures / "checkpoints"])
    assert checked.argv[1:] == ["--start_from=5", "--stop_after=5"]
    assert checked.chosen_by == "newest checkpoint of run 9acd4744"
    with pytest.raises(MckptError, match="no such file, folder or run uid"):
        plan_resume("deadbeef", current, search=[mammoth_fixtures / "checkpoints"])


def test_real_joint_old_pickle_and_backbone_files_are_refused(mammoth_fixtures: Path, current) -> None:
    ck = mammoth_fixtures / "checkpoints"
    with pytest.raises(MckptError, match="joint") as e:
        plan_resume(str(ck / "sgd_seq-mnist_None_0_1_20261128-165958_ca535245_joint.pt"), current)
    assert "mckpt inspect" in e.value.hint
    with pytest.raises(MckptError, match="old-pickle") as e:
        plan_resume(str(ck / "er_seq-mnist_None_50_1_20261128-170019_40ccd05b_last.pt"), current)
    assert "mckpt convert --to safe" in e.value.hint
    with pytest.raises(MckptError, match="bare backbone"):
        plan_resume(str(mammoth_fixtures / "bare" / "sgd_seq-mnist_backbone_net_prefix.pt"), current)


def test_real_d1_file_on_old_layout_repeats_args_and_forces_unsafe_load(
    mammoth_fixtures: Path, tmp_path: Path
) -> None:
    f = mammoth_fixtures / "older" / "sgd_seq-mnist_0_1_20261128-174849_0.pt"
    d1 = make_checkout(tmp_path / "d1", layout="old", savecheck_flag=True)
    plan = plan_resume(str(f), find_mammoth(str(d1), sys.executable, environ=PY_ENV))
    assert plan.command[1] == "utils/main.py"
    words = plan.argv
    assert words[:3] == ["--model=sgd", "--dataset=seq-mnist", "--lr=0.1"]
    assert words[-2:] == [f"--loadcheck={f}", "--start_from=1"]  # mckpt's own flags come last
    assert "--batch_size=16" in words and "--savecheck" in words  # a bare flag in this D1 checkout
    for computed in ("conf_jobnum", "ckpt_name", "ckpt_name_replace", "minibatch_size", "notes"):
        assert not any(w.startswith(f"--{computed}") for w in words)
    assert plan.env == UNSAFE_ENV
    assert any("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1" in w and "argparse.Namespace" in w for w in plan.warnings)


# --- resume plans on files made here ---------------------------------------------------------------


def test_overrides_win_and_differences_are_reported(tmp_path: Path, current) -> None:
    f = write_checkpoint(
        tmp_path / "checkpoints" / "sgd_seq-mnist_None_0_1_20260101-101010_1a2b3c4d_1.pt", run_args(), 2
    )
    plan = plan_resume(str(f), current, ["--lr", "0.01", "--seed", "9", "--start_from", "1"])
    assert plan.argv == [f"--loadcheck={f}", "--lr", "0.01", "--seed", "9", "--start_from", "1"]
    assert plan.start_from == 1
    assert [(c.name, c.saved, c.given) for c in plan.changes] == [("lr", 0.1, "0.01")]


def test_last_file_with_stop_after_resumes_to_the_end(tmp_path: Path, current) -> None:
    stem = "sgd_seq-mnist_None_0_1_20260101-101010_1a2b3c4d"
    f = write_checkpoint(tmp_path / f"{stem}_last.pt", run_args(savecheck="last", stop_after=3), 3)
    plan = plan_resume(str(f), current)
    assert plan.argv[1:] == ["--start_from=3", "--stop_after=5"]
    done = write_checkpoint(tmp_path / "other" / f"{stem}_last.pt", run_args(savecheck="last"), 5)
    with pytest.raises(MckptError, match="nothing left to train"):
        plan_resume(str(done), current)


def test_contents_decide_over_a_last_name(tmp_path: Path, current) -> None:
    """A `_last` file holding 2 of 5 tasks resumes at 2, as the real Mammoth does; only the results
    say a run is finished."""
    stem = "sgd_seq-mnist_None_0_1_20260101-101010_1a2b3c4d"
    f = write_checkpoint(tmp_path / f"{stem}_last.pt", run_args(savecheck="last"), 2)
    plan = plan_resume(str(f), current)
    assert plan.start_from == 2 and plan.argv[:2] == [f"--loadcheck={f}", "--start_from=2"]
    assert any("name says `last`" in w and "2 of 5 tasks" in w for w in plan.warnings)
    # a dataset whose task count mckpt does not know: it says so rather than trust the name
    other = write_checkpoint(tmp_path / "o" / f"{stem}_last.pt", run_args(savecheck="last", dataset="mnist-360"), 3)
    plan = plan_resume(str(other), current)
    assert plan.start_from == 3 and any("does not know the task count" in w for w in plan.warnings)
    # and a `_3` file holding all 5 tasks is finished whatever its name says
    done = write_checkpoint(tmp_path / "d" / f"{stem}_3.pt", run_args(), 5)
    with pytest.raises(MckptError, match="nothing left to train: all 5 tasks"):
        plan_resume(str(done), current)


def test_real_files_under_a_last_name(mammoth_fixtures: Path, tmp_path: Path, current) -> None:
    """Mammoth's own files: its task-1 file (2 tasks) renamed `_last` resumes at 2; its real `_last`
    (5 tasks) is finished."""
    import shutil

    renamed = tmp_path / f"{RUN1}_last.pt"
    shutil.copy(mammoth_fixtures / "checkpoints" / f"{RUN1}_1.pt", renamed)
    plan = plan_resume(str(renamed), current)
    assert plan.start_from == plan.tasks_done == 2 and "--start_from=2" in plan.argv
    real_last = tmp_path / "er_seq-mnist_None_50_1_20261128-165918_95ed7ced_last.pt"
    shutil.copy(mammoth_fixtures / "checkpoints" / real_last.name, real_last)
    with pytest.raises(MckptError, match="nothing left to train: all 5 tasks"):
        plan_resume(str(real_last), current)


def test_run_folder_and_lineage_of_a_resumed_run(tmp_path: Path, current) -> None:
    parent = "sgd_seq-mnist_None_0_1_20260101-101010_1a2b3c4d"
    child = f"{parent}_sgd_seq-mnist_None_0_1_20260101-121212_5e6f7a8b"
    folder = tmp_path / "run"
    write_checkpoint(folder / f"{child}_2.pt", run_args(ckpt_name=child), 3)
    newest = write_checkpoint(folder / f"{child}_3.pt", run_args(ckpt_name=child), 4)
    plan = plan_resume(str(folder), current)
    assert plan.file == str(newest) and plan.start_from == 4 and plan.lineage == [parent]
    write_checkpoint(folder / f"{parent}_0.pt", run_args(), 1)
    with pytest.raises(MckptError, match="holds 2 runs"):
        plan_resume(str(folder), current)


def test_mismatch_between_name_and_results_is_reported(tmp_path: Path, current) -> None:
    f = write_checkpoint(tmp_path / "sgd_seq-mnist_None_0_1_20260101-101010_1a2b3c4d_3.pt", run_args(), 2)
    plan = plan_resume(str(f), current)
    assert plan.start_from == 2 and any("name says task 3" in w for w in plan.warnings)


# --- mckpt.load ------------------------------------------------------------------------------------


def test_load_metadata_and_tensors(mammoth_fixtures: Path) -> None:
    f = mammoth_fixtures / "checkpoints" / f"{RUN1}_1.pt"
    meta = mckpt.load(f)
    assert isinstance(meta, mckpt.Checkpoint) and meta.tasks_done == 2
    ckpt, data = mckpt.load(f, tensors=True)
    assert ckpt.tasks_done == 2
    w = data["model"]["net.fc1.weight"]
    assert tuple(w.shape) == (100, 784)
    assert data["model"]["net._features.0.weight"].data_ptr() == w.data_ptr()  # aliases stay shared
    with pytest.raises(MckptError, match="old-pickle") as e:
        mckpt.load(mammoth_fixtures / "older" / "sgd_seq-mnist_0_1_20261128-174849_0.pt", tensors=True)
    assert "mckpt convert --to safe" in e.value.hint
    assert "load" in mckpt.__all__


class _Evil:
    def __reduce__(self):  # what a crafted checkpoint does: call os.system when unpickled
        return (os.system, ("touch pwned",))


def test_a_crafted_file_is_refused_before_anything_runs(tmp_path: Path, old) -> None:
    import pickle

    f = tmp_path / "sgd_seq-mnist_0_1_20240701-080910_1a2b3c4d_0.pt"
    f.write_bytes(pickle.dumps({"model": {}, "args": _Evil(), "results": [[], [], {}]}, protocol=2))
    with pytest.raises(MckptError, match="could run code"):
        plan_resume(str(f), old)
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


class _Reduce:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_unsafe_load_only_for_globals_mammoth_writes(tmp_path: Path, old) -> None:
    # The safe reader reads `pydoc.pipepager` as an inert record; torch.load(weights_only=False),
    # which older Mammoth needs for old pickles, would run its shell command.
    import argparse
    import pydoc

    import torch

    marker = tmp_path / "pwned"
    plain = write_checkpoint(tmp_path / "er_seq-mnist_10_1_20240101-000000_0.pt", run_args(), 1, old_pickle=True)
    plan = plan_resume(str(plain), old)
    assert plan.env == UNSAFE_ENV
    evil = tmp_path / "er_seq-mnist_10_1_20240101-000001_0.pt"
    torch.save({"model": {"net.fc.weight": torch.ones(2, 3)}, "optimizer": None, "scheduler": None,
                "args": argparse.Namespace(**run_args()), "results": [[[90.0]], [[90.0]], {}],
                "notes": _Reduce(pydoc.pipepager, "x", f"touch {marker}")}, evil)
    assert mckpt.read_checkpoint(evil).format == "old_pickle"
    with pytest.raises(MckptError, match=r"pydoc\.pipepager, which Mammoth never writes") as e:
        plan_resume(str(evil), old)
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" in e.value.message and not marker.exists()
