"""`mckpt save` under real signals, shells, pipelines and a terminal: nothing a Ctrl-C, a Ctrl-Z or
a dead `tee` does may cost the paused checkpoint Mammoth writes on SIGINT.

Mammoth is the stand-in (tests/fake_mammoth), which, as Mammoth does, says on stderr that it got
SIGINT before it saves: a broken stderr would cost the paused file. Every wait has a generous
timeout; nothing is timed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, run_cli
from save_load_support import env_for, make_checkout, read_calls

import mckpt

MODEL = "--model sgd --dataset seq-mnist --lr 0.1"
MCKPT = f"{shlex.quote(sys.executable)} -m mckpt"
WAIT = 60  # seconds: generous, never a measurement


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return make_checkout(tmp_path / "checkout")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **env_for()}


def _wait_until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT} s for {what}")
        time.sleep(0.05)


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(command name, state letter, parent pid) from /proc, or None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    name = text[text.index("(") + 1 : text.rindex(")")]
    state, ppid = text[text.rindex(")") + 2 :].split()[:2]
    return name, state, int(ppid)


def _state(pid: int) -> str | None:
    st = _stat(pid)
    return st[1] if st else None


def _gone(pid: int) -> bool:
    return _state(pid) in (None, "Z")


def _child_named(parent: int, name: str) -> int:
    """The pid of `parent`'s child (or `parent` itself, if the shell exec'd it) running `name`."""
    for entry in Path("/proc").iterdir():
        st = _stat(int(entry.name)) if entry.name.isdigit() else None
        if st and st[0] == name and parent in (int(entry.name), st[2]):
            return int(entry.name)
    raise AssertionError(f"no {name} under process {parent}")


def _mammoth(checkout: Path) -> tuple[int, int]:
    """(Mammoth's pid, mckpt's pid: Mammoth's parent), once Mammoth has started."""
    _wait_until(lambda: read_calls(checkout), "Mammoth to start")
    call = read_calls(checkout)[-1]
    return call["pid"], call["ppid"]


def _kill_group(pid: int) -> None:
    """Clean up a stand-in the code under test failed to stop (its group: Mammoth and its worker)."""
    with contextlib.suppress(ProcessLookupError):  # it ended, as it should have
        os.killpg(pid, signal.SIGKILL)


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _paused(checkout: Path) -> list[Path]:
    return sorted((checkout / "checkpoints" / "paused").glob("*.pt"))


# --- Ctrl-C on a pipeline: the reader dies with it ------------------------------------------------


def _pipeline(checkout: Path, line: str) -> subprocess.Popen[bytes]:
    """`bash -c LINE` leading its own process group, as a terminal's foreground job is."""
    return subprocess.Popen(["bash", "-c", line], cwd=checkout, env=_env(), process_group=0,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _ctrl_c_on_the_pipeline(bash: subprocess.Popen[bytes], mckpt_pid: int) -> None:
    """SIGINT to the pipeline's process group, as a terminal's Ctrl-C: tee dies of it at once, and
    mckpt meets the signal with its reader already gone. (mckpt is held stopped while the group is
    signalled, so that order, the usual one, is the one tested every time.)"""
    tee = _child_named(bash.pid, "tee")
    os.kill(mckpt_pid, signal.SIGSTOP)
    _wait_until(lambda: _state(mckpt_pid) == "T", "mckpt to stop")
    os.killpg(bash.pid, signal.SIGINT)
    _wait_until(lambda: _gone(tee), "tee to die of the Ctrl-C")
    os.kill(mckpt_pid, signal.SIGCONT)


def _run_pipeline(checkout: Path, line: str, started: Callable[[], bool]) -> str:
    """Run `line` (whose mckpt writes its exit status to `status`), Ctrl-C it once `started()`,
    and return mckpt's exit status."""
    bash = _pipeline(checkout, line)
    mammoth = None
    try:
        _wait_until(started, "Mammoth's second task")
        mammoth, mckpt_pid = _mammoth(checkout)
        _ctrl_c_on_the_pipeline(bash, mckpt_pid)
        bash.wait(timeout=WAIT)
        return _text(checkout / "status").strip()
    finally:
        bash.kill()
        if mammoth is not None:
            _kill_group(mammoth)


def test_ctrl_c_on_save_2_to_1_piped_to_tee_keeps_the_paused_checkpoint(checkout: Path) -> None:
    """`mckpt save … 2>&1 | tee log` and Ctrl-C: tee dies, so both of mckpt's streams are gone.
    mckpt forwards the SIGINT first, keeps draining Mammoth's output so Mammoth never meets a
    broken pipe, and exits with Mammoth's exit code; there is nowhere left to print the report."""
    line = f"{{ {MCKPT} save -- {MODEL} --wait_in_task 1; echo $? > status; }} 2>&1 | tee log"
    status = _run_pipeline(checkout, line, lambda: "Task 2 - training" in _text(checkout / "log"))
    (paused,) = _paused(checkout)
    assert mckpt.read_checkpoint(paused).tasks_done == 1
    assert status == "0"  # Mammoth's own exit code after saving (not 141, a death by SIGPIPE)


@pytest.mark.parametrize("json_flag", ["", "--json"])
def test_ctrl_c_on_save_piped_to_tee_reports_the_paused_file_on_stderr(checkout: Path, json_flag: str) -> None:
    """`mckpt save … | tee log` (stdout only) and Ctrl-C: the report, with the resume hint, goes
    to stderr, which is still read (with --json too: the document's reader is gone, a person is not)."""
    line = f"{{ {MCKPT} save {json_flag} -- {MODEL} --wait_in_task 1; echo $? > status; }} 2>err | tee log"
    live = checkout / ("err" if json_flag else "log")  # --json sends Mammoth's output to stderr
    status = _run_pipeline(checkout, line, lambda: "Task 2 - training" in _text(live))
    (paused,) = _paused(checkout)
    err = _text(checkout / "err")
    assert status == "0", err
    assert "asking Mammoth to save a paused checkpoint" in err
    assert f"Paused checkpoint: checkpoints/paused/{paused.name}" in err
    assert f"mckpt load checkpoints/paused/{paused.name}" in err
    assert "Checkpoints written by this run" in err and "Mammoth exited with code 0." in err
    assert "Task 2 - training" in _text(live)  # relayed while the reader lived


def test_ctrl_c_with_stderr_piped_to_tee_still_writes_the_whole_json(checkout: Path) -> None:
    """`mckpt save --json … 2>&1 >doc.json | tee log`: stderr (Mammoth's output and mckpt's
    notices) dies with the Ctrl-C; stdout is alive and gets the complete document."""
    line = (f"{{ {MCKPT} save --json -- {MODEL} --wait_in_task 1; echo $? > status; }} "
            "2>&1 >doc.json | tee log")
    status = _run_pipeline(checkout, line, lambda: "Task 2 - training" in _text(checkout / "log"))
    (paused,) = _paused(checkout)
    assert status == "0"
    doc = json.loads(_text(checkout / "doc.json"))
    result = doc["result"]
    assert result["interrupted"] and not result["killed"] and result["exit_code"] == 0
    assert [w["path"] for w in result["written"] if w["paused"]] == [str(paused)]
    assert doc["error"] is None and doc["plan"]["command"][-1] == "--savecheck=task"


# --- each signal reaches Mammoth's whole process group --------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_each_stopping_signal_reaches_mammoths_process_group(checkout: Path, signum: signal.Signals) -> None:
    """SIGINT, SIGTERM and SIGHUP sent to mckpt reach Mammoth and its worker (in Mammoth's process
    group, as a DataLoader worker is). On SIGINT/SIGTERM Mammoth saves a paused file; SIGHUP ends it,
    as it would end a Mammoth started from the terminal, and mckpt reports how."""
    out, err = checkout / "out", checkout / "err"
    with out.open("wb") as o, err.open("wb") as e:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mckpt", "save", "--", *MODEL.split(), "--wait_in_task", "0", "--worker", "1"],
            cwd=checkout, env=_env(), stdin=subprocess.DEVNULL, stdout=o, stderr=e, process_group=0,
        )
    mammoth = None
    try:
        _wait_until(lambda: "Task 1 - training" in _text(out), "Mammoth's first task")
        mammoth, _ = _mammoth(checkout)
        proc.send_signal(signum)
        code = proc.wait(timeout=WAIT)
        _wait_until(lambda: (checkout / "worker_signals").exists(), "the worker to get the signal")
    finally:
        proc.kill()
        if mammoth is not None:
            _kill_group(mammoth)
    assert _text(checkout / "worker_signals") == f"{signum.name}\n"
    if signum == signal.SIGHUP:
        assert code == 128 + signal.SIGHUP and not _paused(checkout)  # Mammoth's own end, passed on
        assert "the terminal hung up (SIGHUP): passed on to Mammoth" in _text(err)
        assert "Interrupted, and Mammoth wrote no paused checkpoint." in _text(out)
    else:
        (paused,) = _paused(checkout)
        assert code == 0 and f"Paused checkpoint: checkpoints/paused/{paused.name}" in _text(out)


# --- Ctrl-Z and fg ------------------------------------------------------------------------------------


def test_sigtstp_stops_mammoth_with_mckpt_and_sigcont_resumes_both(checkout: Path) -> None:
    """Ctrl-Z (SIGTSTP to mckpt) stops the training too, not just mckpt; `fg` (SIGCONT) resumes both
    and the run trains to its end."""
    out = checkout / "out"
    with out.open("wb") as o:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mckpt", "save", "--", *MODEL.split(), "--wait_in_task", "1"],
            cwd=checkout, env=_env(), stdin=subprocess.DEVNULL, stdout=o, stderr=subprocess.STDOUT,
            process_group=0,
        )
    mammoth = None
    try:
        _wait_until(lambda: "Task 2 - training" in _text(out), "Mammoth's second task")
        mammoth, _ = _mammoth(checkout)
        proc.send_signal(signal.SIGTSTP)
        _wait_until(lambda: _state(proc.pid) == "T" and _state(mammoth) == "T", "both to stop")
        assert (_state(proc.pid), _state(mammoth)) == ("T", "T")
        proc.send_signal(signal.SIGCONT)
        _wait_until(lambda: "T" not in (_state(proc.pid), _state(mammoth)), "both to continue")
        (checkout / "release").touch()  # let the training go on: it ends only if it was continued
        code = proc.wait(timeout=WAIT)
    finally:
        proc.kill()
        if mammoth is not None:
            _kill_group(mammoth)
    assert code == 0, _text(out)
    assert len(list((checkout / "checkpoints").glob("*.pt"))) == 5 and not _paused(checkout)


class _Terminal:
    """An interactive bash on a pseudo-terminal: a user's shell, with job control, Ctrl-C and Ctrl-Z."""

    def __init__(self, cwd: Path) -> None:
        import fcntl
        import termios

        self.master, slave = os.openpty()

        def controlling_terminal() -> None:  # the new session's terminal, as a login's is
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        env = {**_env(), "PS1": "$ ", "COLUMNS": "400", "TERM": "dumb"}
        self.shell = subprocess.Popen(
            ["bash", "--norc", "--noprofile", "-i"], cwd=cwd, env=env, stdin=slave, stdout=slave,
            stderr=slave, start_new_session=True, preexec_fn=controlling_terminal,
        )
        os.close(slave)
        self.seen = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the shell and everything on the terminal are gone
                return
            if not data:
                return
            self.seen += data

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    @property
    def text(self) -> str:
        return bytes(self.seen).decode("utf-8", "replace")

    def close(self) -> None:
        self.shell.kill()
        self.shell.wait(timeout=WAIT)
        self.reader.join(timeout=WAIT)
        os.close(self.master)


def test_on_a_terminal_ctrl_z_fg_and_ctrl_c(checkout: Path) -> None:
    """In a user's shell on a terminal (Mammoth writing to it directly): Ctrl-Z stops Mammoth and
    mckpt (the shell gets its prompt back, with no training printing over it), `fg` continues both,
    and Ctrl-C then ends in a paused checkpoint, reported on the terminal."""
    term = _Terminal(checkout)
    mammoth = None
    try:
        term.type(f"{MCKPT} save -- {MODEL} --wait_in_task 1\n".encode())
        _wait_until(lambda: "Task 2 - training" in term.text, "Mammoth's second task")
        mammoth, mckpt_pid = _mammoth(checkout)
        term.type(b"\x1a")  # Ctrl-Z
        _wait_until(lambda: _state(mckpt_pid) == "T" and _state(mammoth) == "T", "both to stop")
        assert (_state(mckpt_pid), _state(mammoth)) == ("T", "T")
        term.type(b"fg\n")
        _wait_until(lambda: "T" not in (_state(mckpt_pid), _state(mammoth)), "both to continue")
        term.type(b"\x03")  # Ctrl-C, now that mckpt is the terminal's foreground job again
        _wait_until(lambda: _gone(mckpt_pid), "mckpt to end")
        term.type(b'echo "rc=$?"\n')  # the status of the job `fg` brought back
        _wait_until(lambda: re.search(r"rc=[0-9]", term.text), "the shell to say mckpt's exit status")
    finally:
        term.close()
        if mammoth is not None:
            _kill_group(mammoth)
    assert len(_paused(checkout)) == 1, term.text
    (paused,) = _paused(checkout)
    squeezed = "".join(term.text.split())
    assert "rc=0" in squeezed, term.text
    assert f"Pausedcheckpoint:checkpoints/paused/{paused.name}" in squeezed  # Rich folds to the width
    assert mckpt.read_checkpoint(paused).tasks_done == 1


# --- from Python: the library keeps running when its host kept SIGPIPE's default ---------------------

HOST = """
import json, os, signal, sys
from pathlib import Path
from mckpt.train.trainer import run_mammoth

signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # a host program that kept the default: death by SIGPIPE
r, w = os.pipe()
os.close(r)  # stdout's reader is gone before Mammoth prints a line
result = run_mammoth([sys.executable, "main.py", *sys.argv[1:]], Path.cwd(), Path.cwd() / "checkpoints",
                     stdout=os.fdopen(w, "w"))
Path("result.json").write_text(json.dumps(result.to_json()))
"""


def test_run_mammoth_outlives_a_dead_stdout_in_a_host_that_keeps_sigpipe(checkout: Path) -> None:
    r = run_cli("-c", HOST, *MODEL.split(), "--savecheck", "task", "--stop_after", "2", module=None, cwd=checkout)
    assert r.returncode == 0, r.stderr
    result = json.loads((checkout / "result.json").read_text())
    assert result["exit_code"] == 0 and [w["task"] for w in result["written"]] == [0, 1]
    assert "Checkpoint for task 1 saved at" in r.stderr  # Mammoth's stderr, still relayed
