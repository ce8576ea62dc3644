"""How a command ends when its output cannot go anywhere: a reader that left the pipe, a full
disk, stdout closed. Real subprocesses, on both ways a command starts (before Typer and through it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from mckpt.demo import write_demo


def child_env() -> dict[str, str]:
    """The test's own environment at the moment it runs (the autouse fixture's private HOME and
    caches), never one taken when this module was imported."""
    return {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exits") / "demo"
    write_demo(folder)
    return folder


# `list` and `inspect` start before Typer; `results` and `diff` go through it.
COMMANDS = [["list"], ["inspect", "17e0aa3c"], ["results"], ["diff", "17e0aa3c", "5f3f5638"]]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: a[0])
def test_a_reader_that_left_gets_sigpipe_status(argv: list[str], demo: Path) -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first byte: every write fails with EPIPE
    try:
        r = subprocess.run([sys.executable, "-m", "mckpt", *argv], cwd=demo, env=child_env(), stdout=write,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert (r.returncode, r.stderr) == (141, "")


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: a[0])
def test_a_full_disk_is_an_error_about_stdout(argv: list[str], demo: Path) -> None:
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "mckpt", *argv], cwd=demo, env=child_env(), stdout=full,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr == "error: cannot write to stdout: No space left on device\n"


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: a[0])
def test_closed_stdout_is_an_error_about_stdout(argv: list[str], demo: Path) -> None:
    r = subprocess.run(["bash", "-c", 'exec "$0" -m mckpt "$@" >&-', sys.executable, *argv], cwd=demo, env=child_env(),
                       stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr == "error: stdout is closed: nowhere to print the result\n"
