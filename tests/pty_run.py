"""Run a command on a real pseudo-terminal of a given size and return what the screen received."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

from conftest import REPO, sigint_default


def run_on_pty(args: list[str], *, env: dict[str, str] | None = None, columns: int = 80, cwd: Path | None = None,
               timeout: float = 120,
               watch: Callable[[bytes, subprocess.Popen[bytes]], None] | None = None,
               reply: Callable[[bytes], bytes | None] | None = None) -> tuple[int, str]:
    """`python -m mckpt ARGS` with stdin/stdout/stderr on one pty of `columns` columns: (exit, screen).

    The environment is the test's (hermetic) one, this checkout first on PYTHONPATH, TERM=xterm,
    plus `env`; no NO_COLOR unless `env` sets it. `watch(screen so far, process)` is called as the
    screen grows and while it waits (to press Ctrl-C at the right moment: the child has Ctrl-C's
    default behaviour); `reply(screen so far)` may return keys to type (an answer at a prompt)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    full = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "mckpt", *args], stdin=slave, stdout=slave, stderr=slave,
                            env=full, cwd=cwd, close_fds=True, preexec_fn=sigint_default)
    os.close(slave)
    screen = b""
    poller = select.poll()  # not select(): a long test session has file descriptors past 1024
    poller.register(master, select.POLLIN)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if watch is not None and proc.poll() is None:
            watch(screen, proc)
        if reply is not None and proc.poll() is None and (keys := reply(screen)):
            os.write(master, keys)
        if not poller.poll(200):
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        screen += data
    os.close(master)
    return proc.wait(timeout=30), screen.decode(errors="replace").replace("\r\n", "\n")
