"""Where mckpt's commands meet each other and Mammoth (issue 11): convert → load, save modes,
paused files wherever Mammoth writes them, bare backbones, lineage, task counts, JSON refusals.

Each test runs the stand-in Mammoth through the real CLI and checks what the stand-in actually
received and wrote, not only mckpt's plan.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_cli, sigint_default
from save_load_support import env_for, make_checkout, read_calls, run_args, write_checkpoint

import mckpt

STEM = "sgd_seq-mnist_None_0_1_20260101-101010_1a2b3c4d"
D2 = "sgd_seq-mnist_0_1_20240701-080910_1a2b3c4d"
MODEL = ["--model", "sgd", "--dataset", "seq-mnist", "--lr", "0.1"]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return make_checkout(tmp_path / "checkout")


def _load_json(*args: str, cwd: Path) -> tuple[int, dict]:
    r = run_cli("load", *args, "--json", cwd=cwd, env=env_for())
    return r.returncode, json.loads(r.stdout)


# --- 11.1: a file with no task done is not finished, whatever its name ---------------------------


@pytest.mark.parametrize("layout", ["current", "old"])
def test_a_last_file_with_no_task_done_resumes_from_zero(tmp_path: Path, layout: str) -> None:
    root = make_checkout(tmp_path / layout, layout=layout)
    name = f"{STEM}_last.pt" if layout == "current" else f"{D2}_last.pt"
    args = run_args(savecheck="last")
    if layout == "old":  # older Mammoth has neither
        del args["dataset_config"], args["save_checkpoint_mode"]
    f = write_checkpoint(root / "checkpoints" / name, args, 0, old_pickle=layout == "old")
    r = run_cli("load", str(f), cwd=root, env=env_for())
    assert r.returncode == 0, r.stderr
    call = read_calls(root)[-1]
    assert "--start_from=0" in call["argv"] and (call["start"], call["end"]) == (0, 5)  # what it parsed
    # a `last` file with tasks done, of a task count mckpt does not know: the name does not make it
    # finished (contents decide); mckpt resumes from its results and says it cannot tell
    done = write_checkpoint(root / "done" / name, {**args, "dataset": "seq-cifar10", "dataset_config": "x"}, 3,
                            old_pickle=layout == "old")
    code, doc = _load_json(str(done), "--mammoth", str(root), "--dry-run", cwd=tmp_path)
    assert code == 0 and doc["plan"]["start_from"] == 3, doc
    assert any("does not know the task count" in w for w in doc["plan"]["warnings"])


def test_convert_then_load_plans_start_from_zero(mammoth_fixtures: Path, checkout: Path) -> None:
    bare = mammoth_fixtures / "bare" / "sgd_seq-mnist_backbone_net_prefix.pt"
    like = mammoth_fixtures / "checkpoints" / "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744_4.pt"
    conv = run_cli("convert", str(bare), "--like", str(like), "--json", cwd=checkout)
    assert conv.returncode == 0, conv.stderr
    out = json.loads(conv.stdout)["written"]["path"]
    code, doc = _load_json(out, "--dry-run", cwd=checkout)
    assert code == 0 and doc["plan"]["start_from"] == 0 and doc["plan"]["tasks_done"] == 0
    assert "--start_from=0" in doc["plan"]["command"]
    r = run_cli("load", out, "--check", cwd=checkout, env=env_for())
    assert r.returncode == 0 and "Mammoth accepted the checkpoint." in r.stdout, r.stderr
    assert (read_calls(checkout)[-1]["start"], read_calls(checkout)[-1]["end"]) == (0, 0)


# --- 11.2: a plan that would write old pickles on current Mammoth says so -------------------------


def test_a_saved_old_pickle_mode_is_warned_about(checkout: Path) -> None:
    f = write_checkpoint(checkout / "checkpoints" / f"{STEM}_1.pt", run_args(save_checkpoint_mode="old_pickle"), 2)
    r = run_cli("load", str(f), "--", "--stop_after", "3", cwd=checkout, env=env_for())
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stderr and "save_checkpoint_mode='old_pickle'" in r.stderr
    assert "--save_checkpoint_mode safe" in r.stderr
    (new,) = (checkout / "checkpoints").glob(f"{STEM}_sgd_*_2.pt")
    assert mckpt.read_checkpoint(new).format == "old_pickle"  # what the warning foretold
    r = run_cli("load", str(f), "--", "--stop_after", "3", "--save_checkpoint_mode", "safe", cwd=checkout,
                env=env_for())
    assert r.returncode == 0 and "old_pickle" not in r.stderr
    newest = max((checkout / "checkpoints").glob(f"{STEM}_sgd_*_2.pt"), key=os.path.getmtime)
    assert mckpt.read_checkpoint(newest).format == "safe"
    # nothing to warn about when the file says safe
    safe = write_checkpoint(checkout / "other" / f"{STEM}_1.pt", run_args(), 2)
    assert "old_pickle" not in run_cli("load", str(safe), "--dry-run", cwd=checkout, env=env_for()).stderr


# --- 11.3: paused files are found where Mammoth writes them, on a terminal or piped ---------------


def _save_interrupted(checkout: Path, tty: bool, wait_in: int) -> str:
    """`mckpt save` with --checkpoint_path elsewhere, Ctrl-C while Mammoth is in task `wait_in`."""
    argv = [sys.executable, "-m", "mckpt", "save", "--", *MODEL, "--checkpoint_path", "elsewhere",
            "--wait_in_task", str(wait_in)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "COLUMNS": "400", **env_for()}
    marker = f"Task {wait_in + 1} - training"
    if not tty:
        proc = subprocess.Popen(argv, cwd=checkout, env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, preexec_fn=sigint_default)
        seen = []
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, "".join(seen) + rest
        return "".join(seen) + rest
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=checkout, env=env, stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=sigint_default)
    os.close(slave)
    chunks: list[bytes] = []
    sent = False
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not data:
            break
        chunks.append(data)
        if not sent and marker.encode() in b"".join(chunks):
            proc.send_signal(signal.SIGINT)
            sent = True
    os.close(master)
    assert proc.wait(timeout=120) == 0 and sent
    return b"".join(chunks).decode()


@pytest.mark.parametrize("tty", [False, True], ids=["piped", "terminal"])
def test_a_paused_file_is_found_whatever_checkpoint_path_says(checkout: Path, tty: bool) -> None:
    out = _save_interrupted(checkout, tty, wait_in=1)
    (paused,) = (checkout / "checkpoints" / "paused").glob("*.pt")  # under the cwd, as Mammoth writes it
    (task0,) = (checkout / "elsewhere").glob("*_0.pt")
    squeezed = "".join(out.split())
    assert "".join(f"Paused checkpoint: checkpoints/paused/{paused.name}".split()) in squeezed, out
    assert f"mckptloadcheckpoints/paused/{paused.name}" in squeezed  # how to resume it
    assert task0.name in squeezed
    assert f"run:{task0.name[:-5]}" in squeezed  # on a terminal: from the files, no log line to read


def test_on_a_terminal_the_run_is_named_from_the_paused_file(checkout: Path) -> None:
    out = _save_interrupted(checkout, True, wait_in=0)
    (paused,) = (checkout / "checkpoints" / "paused").glob("*.pt")
    stem = mckpt.read_checkpoint(paused).args["ckpt_name"]
    assert f"run:{stem}" in "".join(out.split()) and not list((checkout / "elsewhere").glob("*.pt"))


# --- 11.4: --check asks whether Mammoth takes the file, bare backbones included --------------------


def test_check_of_a_bare_backbone_asks_mammoth(mammoth_fixtures: Path, checkout: Path) -> None:
    good = mammoth_fixtures / "bare" / "sgd_seq-mnist_backbone_net_prefix.pt"
    plain = mammoth_fixtures / "bare" / "sgd_seq-mnist_backbone_plain.pt"
    r = run_cli("load", str(good), "--check", "--", "--model", "sgd", "--dataset", "seq-mnist",
                cwd=checkout, env=env_for())
    assert r.returncode == 0 and "Mammoth accepted the checkpoint." in r.stdout, r.stderr
    call = read_calls(checkout)[-1]
    assert call["argv"][:3] == [f"--loadcheck={good}", "--start_from=0", "--stop_after=0"]
    assert (call["start"], call["end"], call["loaded"]) == (0, 0, str(good))
    r = run_cli("load", str(plain), "--check", "--", "--model", "sgd", "--dataset", "seq-mnist",
                cwd=checkout, env=env_for())
    assert r.returncode == 1 and "did not accept (exit code 1)" in r.stdout
    assert "keys are not all under `net.`" in r.stderr and "--to backbone" in r.stderr
    r = run_cli("load", str(good), "--check", cwd=checkout, env=env_for())
    assert r.returncode == 2 and "needs --model, --dataset" in r.stderr
    assert len(read_calls(checkout)) == 1  # the stand-in refused the plain file before recording
    r = run_cli("load", str(good), cwd=checkout, env=env_for())
    assert r.returncode == 1 and "a bare backbone, with no run to continue" in r.stderr
    assert "--check" in r.stderr


# --- 11.5: lineage that names cannot carry --------------------------------------------------------


def test_resume_of_an_unnamed_runs_paused_file_shows_its_parent(checkout: Path) -> None:
    paused = write_checkpoint(checkout / "checkpoints" / "paused" / "0b7e6a0e-5c1d-4c52-9f5e-2f1f3c6d9a10.pt",
                              run_args(savecheck=None, ckpt_name=None), 1)
    r = run_cli("load", str(paused), "--every", "task", cwd=checkout, env=env_for())
    assert r.returncode == 0, r.stderr
    new = sorted((checkout / "checkpoints").glob("sgd_seq-mnist_None_*.pt"))
    assert [p.name.rsplit("_", 1)[1] for p in new] == ["1.pt", "2.pt", "3.pt", "4.pt"]  # no prefix to carry
    assert mckpt.read_checkpoint(new[-1]).args["loadcheck"] == f"checkpoints/paused/{paused.name}"
    listed = run_cli("list", "checkpoints", "--acc", cwd=checkout)
    assert "resumed from" in listed.stdout and paused.name in listed.stdout, listed.stdout
    doc = json.loads(run_cli("list", "checkpoints", "--acc", "--json", cwd=checkout).stdout)
    (run,) = [x for x in doc["runs"] if x["tasks"] == [1, 2, 3, 4]]
    assert run["loaded_from"] == f"checkpoints/paused/{paused.name}"
    code, plan = _load_json(str(new[0]), "--dry-run", cwd=checkout)
    assert code == 0 and plan["plan"]["lineage"] == [f"checkpoints/paused/{paused.name}"]


def test_dry_run_lists_the_parent_once(checkout: Path) -> None:
    f = write_checkpoint(checkout / "checkpoints" / f"{STEM}_1.pt", run_args(), 2)
    assert run_cli("load", str(f), "--", "--stop_after", "3", cwd=checkout, env=env_for()).returncode == 0
    (child,) = (checkout / "checkpoints").glob(f"{STEM}_sgd_*_2.pt")
    code, doc = _load_json(str(child), "--dry-run", cwd=checkout)
    assert code == 0 and doc["plan"]["lineage"] == [STEM]
    shown = run_cli("load", str(child), "--dry-run", cwd=checkout, env=env_for()).stdout
    (line,) = [x for x in shown.splitlines() if x.strip().startswith("lineage")]
    assert line.count(STEM) == 2 and "→" in line  # the parent, then this run (whose name holds it)


# --- 11.6: task counts: known, appended rows, and unknown ----------------------------------------


def test_unknown_task_count_is_said_not_guessed(checkout: Path) -> None:
    f = write_checkpoint(checkout / "checkpoints" / f"{STEM}_4.pt", run_args(dataset_config="er_ace"), 5)
    r = run_cli("load", str(f), "--dry-run", "--json", cwd=checkout, env=env_for())
    plan = json.loads(r.stdout)["plan"]
    assert plan["total_tasks"] is None and plan["start_from"] == 5
    assert "does not know the task count of 'seq-mnist' with dataset_config 'er_ace'" in " ".join(plan["warnings"])
    assert "warning:" in r.stderr
    shown = run_cli("load", str(f), "--dry-run", cwd=checkout, env=env_for()).stdout
    assert "tasks done  5 (task count not known)" in shown
    known = write_checkpoint(checkout / "other" / f"{STEM}_4.pt", run_args(dataset_config="default"), 5)
    code, doc = _load_json(str(known), "--dry-run", cwd=checkout)
    assert code == 1 and "all 5 tasks of 'seq-mnist' are done" in doc["error"]["message"]


def test_a_last_file_resumed_below_its_count_is_read_by_its_last_row(checkout: Path) -> None:
    f = write_checkpoint(checkout / "checkpoints" / f"{STEM}_last.pt", run_args(savecheck="last"), 5)
    r = run_cli("load", str(f), "--", "--start_from", "4", cwd=checkout, env=env_for())
    assert r.returncode == 0, r.stderr
    call = read_calls(checkout)[-1]
    assert (call["start"], call["end"]) == (4, 5) and call["argv"][-2:] == ["--start_from", "4"]
    (new,) = (checkout / "checkpoints").glob(f"{STEM}_sgd_*_last.pt")
    assert mckpt.read_checkpoint(new).tasks_done == 6  # six rows: task 4 twice
    code, doc = _load_json(str(new), "--dry-run", cwd=checkout)
    assert code == 1 and "all 5 tasks" in doc["error"]["message"]
    code, doc = _load_json(str(new), "--check", "--dry-run", cwd=checkout)
    plan = doc["plan"]
    assert plan["tasks_done"] == plan["start_from"] == 5 and "--stop_after=5" in plan["command"]
    assert any("6 rows but the last covers 5 tasks" in x for x in plan["reasons"])


# --- 11.7: one JSON document, refusals included ----------------------------------------------------


def test_json_refusals_are_documents(checkout: Path, tmp_path: Path) -> None:
    joint = write_checkpoint(checkout / "checkpoints" / f"{STEM}_joint.pt", run_args(joint=1), 1)
    code, doc = _load_json(str(joint), cwd=checkout)
    assert code == 1 and set(doc) == {"plan", "error"} and doc["plan"] is None
    assert doc["error"]["message"].startswith("cannot resume a joint checkpoint") and doc["error"]["hint"]
    code, doc = _load_json("deadbeef", cwd=checkout)
    assert code == 1 and "no such file, folder or run uid" in doc["error"]["message"]
    for args, expected in ((["--every", "epoch"], 2), ([], 1)):
        r = run_cli("save", *args, "--json", "--", *MODEL, cwd=checkout if args else tmp_path, env=env_for())
        doc = json.loads(r.stdout)
        assert r.returncode == expected == doc["error"]["exit_code"] and doc["plan"] is None
        assert "error:" in r.stderr and "Traceback" not in r.stderr
    ok = run_cli("save", "--json", "--", *MODEL, "--stop_after", "1", cwd=checkout, env=env_for())
    doc = json.loads(ok.stdout)
    assert ok.returncode == 0 and doc["error"] is None and doc["result"]["exit_code"] == 0
    assert doc["plan"]["command"][2:] == read_calls(checkout)[-1]["argv"]
