"""`mckpt fetch` on a real 80-column terminal: the bar keeps size, speed and time left visible
with a long file name, and Ctrl-C's hint repeats the command with its options."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import hub_server
import pytest
from conftest import REPO, sigint_default
from hub_server import Hub

NAME = "er_ace_seq-cifar100_default_2000_50_20250115-235959_deadbeef_with_a_long_descriptive_suffix_9.pt"
URL = f"hf://loribonna/mammoth/{NAME}"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return hub_server.mammoth_checkpoint(tmp_path_factory.mktemp("ckpt") / "c.pt")


@pytest.fixture
def hub(ckpt: bytes) -> Iterator[Hub]:
    yield from hub_server.serve({f"loribonna/mammoth/{NAME}": ckpt})


def _interrupted_on_a_pty(hub: Hub, tmp_path: Path, *args: str) -> tuple[int, str, Path]:
    """Fetch on an 80-column pty until 1 MB came, let the bar draw, press Ctrl-C; (exit, screen, cache)."""
    cache = tmp_path / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm", "HF_ENDPOINT": hub.hub_url,
           "MCKPT_CACHE": str(cache), "MCKPT_RETRY_BACKOFF": "0.001", "HF_HOME": str(tmp_path / "hf")}
    hub.faults.drop_after, hub.faults.drops, hub.faults.hold = 1_000_000, 1, threading.Event()
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "mckpt", "fetch", URL, *args], stdin=slave, stdout=slave,
                            stderr=slave, env=env, cwd=tmp_path, close_fds=True, preexec_fn=sigint_default)
    os.close(slave)
    screen = b""
    poller = select.poll()
    poller.register(master, select.POLLIN)
    deadline = time.monotonic() + 60
    pressed = None
    while time.monotonic() < deadline:
        if poller.poll(100):
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            screen += data
        if pressed is None and b"MiB" in screen:
            pressed = time.monotonic() + 1.0  # let the bar redraw a few times first
        if pressed is not None and time.monotonic() > pressed and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            pressed = float("inf")
        if proc.poll() is not None and not poller.poll(100):
            break
    os.close(master)
    hub.faults.hold.set()
    return proc.wait(timeout=30), screen.decode(errors="replace"), cache


def test_bar_fits_80_columns_and_ctrl_c_repeats_the_command(hub: Hub, tmp_path: Path) -> None:
    out = tmp_path / "here.pt"
    code, screen, cache = _interrupted_on_a_pty(hub, tmp_path, "-o", str(out), "--retries", "2", "--token",
                                                  "s3cret")
    frames = [ANSI.sub("", f) for f in re.split(r"[\r\n]", screen)]
    bars = [f for f in frames if "/4.0 MiB" in f]
    assert bars, screen
    for bar in bars:
        assert len(bar.rstrip()) <= 80, bar
        assert bar.startswith("er_ace_seq-cif") and "…ve_suffix_9.pt " in bar, bar  # the name, cut in the middle
        assert re.search(r"\d+\.\d/4\.0 MiB", bar) and re.search(r"(-:--:--|\d:\d\d:\d\d)\s*$", bar), bar
    assert any(re.search(r"\d B/s|[KMG]iB/s", b) for b in bars), bars  # the speed, once measured
    (part,) = cache.rglob("*.part")
    assert code == 130
    assert part.stat().st_size == 1_000_000
    assert "interrupted; 976.6 KiB kept in the cache" in screen and "1000000" not in screen
    assert f"resume from there: mckpt fetch {URL} -o {out} --token <your token> --retries 2" in screen
    assert "s3cret" not in screen
