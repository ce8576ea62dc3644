"""`mckpt save` as a real subprocess running a stand-in Mammoth: checkpoints, Ctrl-C, exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_cli, sigint_default
from save_load_support import env_for, make_checkout, read_calls

import mckpt

MODEL = ["--model", "sgd", "--dataset", "seq-mnist", "--lr", "0.1"]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return make_checkout(tmp_path / "checkout")


def test_save_every_task_lists_files_and_returns_mammoth_exit_code(checkout: Path) -> None:
    r = run_cli(
        "save",
        "--every",
        "task",
        "--name",
        "exp",
        "--",
        *MODEL,
        "--stop_after",
        "2",
        "--exit_code",
        "3",
        cwd=checkout,
        env=env_for(),
    )
    assert r.returncode == 3, r.stderr
    files = sorted(p.name for p in (checkout / "checkpoints").glob("*.pt"))
    assert (
        len(files) == 2 and files[0].startswith("exp_sgd_seq-mnist_None_0_1_") and files[1].endswith("_1.pt")
    )
    assert "Checkpoints written by this run" in r.stdout
    for name in files:
        assert f"checkpoints/{name}" in r.stdout
    assert f"run: {files[0][:-5]}" in r.stdout  # from Mammoth's `Saving checkpoint into:` line
    assert "Mammoth exited with code 3." in r.stdout
    assert "Task 1 - training" in r.stdout and "Saving checkpoint into:" in r.stderr  # relayed as they came
    call = read_calls(checkout)[0]
    assert call["argv"][-2:] == ["--savecheck=task", "--ckpt_name=exp"] and call["unbuffered"] == "1"
    for name in files:
        assert mckpt.read_checkpoint(checkout / "checkpoints" / name).format == "safe"


def test_save_every_last_in_old_pickle_mode(checkout: Path) -> None:
    r = run_cli(
        "save",
        "--every",
        "last",
        "--mode",
        "old_pickle",
        "--",
        *MODEL,
        cwd=checkout.parent,
        env=env_for(checkout),
    )
    assert r.returncode == 0, r.stderr
    (last,) = (checkout / "checkpoints").glob("*.pt")
    assert last.name.endswith("_last.pt") and "found by MAMMOTH_ROOT" in r.stdout
    assert f"checkpoints/{last.name}" in r.stdout  # the table of what the run wrote, by its path
    ck = mckpt.read_checkpoint(last)
    assert ck.format == "old_pickle" and ck.tasks_done == 5


def test_dry_run_prints_the_command_and_runs_nothing(checkout: Path) -> None:
    r = run_cli("save", "--dry-run", "--", *MODEL, cwd=checkout, env=env_for())
    assert (
        r.returncode == 0 and "main.py --model sgd --dataset seq-mnist --lr 0.1 --savecheck=task" in r.stdout
    )
    assert read_calls(checkout) == []


def test_no_checkout_is_one_clear_error(tmp_path: Path) -> None:
    r = run_cli("save", "--", *MODEL, cwd=tmp_path, env=env_for())
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "error:" in r.stderr and "no Mammoth checkout found" in r.stderr and "hint:" in r.stderr


def _start(checkout: Path, *mammoth_args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **env_for()}
    return subprocess.Popen(
        [sys.executable, "-m", "mckpt", "save", "--", *MODEL, *mammoth_args],
        cwd=checkout,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=sigint_default,
    )


def _read_until(proc: subprocess.Popen[str], marker: str) -> str:
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"never saw {marker!r}; output:\n{''.join(seen)}")


def test_ctrl_c_writes_a_paused_file_and_says_how_to_resume(checkout: Path) -> None:
    proc = _start(checkout, "--wait_in_task", "1")
    try:
        head = _read_until(proc, "Task 2 - training")  # task index 0 is done and saved
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    out = head + rest
    assert proc.returncode == 0, out  # Mammoth's own exit code after saving
    (paused,) = (checkout / "checkpoints" / "paused").glob("*.pt")
    assert "asking Mammoth to save a paused checkpoint" in out
    assert f"Paused checkpoint: checkpoints/paused/{paused.name}" in out
    assert f"mckpt load checkpoints/paused/{paused.name}" in out
    assert mckpt.read_checkpoint(paused).tasks_done == 1
    # and resuming it starts at the task it had reached
    r = run_cli("load", f"checkpoints/paused/{paused.name}", "--every", "task", cwd=checkout, env=env_for())
    assert r.returncode == 0, r.stderr
    call = read_calls(checkout)[-1]
    assert call["argv"][:2] == [f"--loadcheck=checkpoints/paused/{paused.name}", "--start_from=1"]
    assert (call["start"], call["end"]) == (1, 5)
    assert "Checkpoint Loaded!" in r.stdout and "start from  1" in r.stdout


def test_second_ctrl_c_stops_mammoth_at_once(checkout: Path) -> None:
    proc = _start(checkout, "--wait_in_task", "0", "--slow_save", "1")
    try:
        _read_until(proc, "Task 1 - training")
        proc.send_signal(signal.SIGINT)
        _read_until(proc, "SIGINT received")  # Mammoth is now (slowly) saving
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGKILL
    assert "stopping Mammoth now" in rest and "stopped at once by a second Ctrl-C" in rest
    assert not list((checkout / "checkpoints").rglob("*.pt"))


def test_on_a_terminal_mammoth_keeps_its_colours(checkout: Path) -> None:
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **env_for()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mckpt", "save", "--", *MODEL, "--stop_after", "1"],
        cwd=checkout,
        env=env,
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = b"".join(chunks).decode()
    assert proc.wait(timeout=60) == 0
    assert "\x1b[32mTask 1 - training\x1b[0m" in out  # Mammoth saw a terminal: output inherited as is
    (written,) = (checkout / "checkpoints").glob("*_0.pt")
    squeezed = "".join(out.split())  # Rich folds long cells to the terminal's width
    assert written.name in squeezed  # found by comparing the folder, with no log line to read
