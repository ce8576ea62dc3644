"""Shared test fixtures: the real Mammoth files (when present) and small hand-made checkpoints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("MCKPT_FIXTURES", REPO.parent / "shared" / "fixtures" / "mammoth"))


@pytest.fixture
def mammoth_fixtures(tmp_path: Path) -> Path:
    """A writable copy of ../shared/fixtures/mammoth (the ground truth written by real Mammoth)."""
    if not FIXTURES.is_dir():
        pytest.skip(f"the real Mammoth fixtures are not at {FIXTURES} (CI has them; a plain clone does not)")
    dest = tmp_path / "mammoth"
    shutil.copytree(FIXTURES, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m mckpt ARGS` in a real subprocess (for exit codes, stderr, imports)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "mckpt", *args], cwd=cwd, env=full_env, text=True,
                          capture_output=True, input=input, timeout=timeout)


def sigint_default() -> None:
    """Popen preexec_fn: give the child the default Ctrl-C behaviour.

    A test runner started in the background by a non-interactive shell (as CI may be) inherits
    SIGINT ignored, and so would every child: Python then never raises KeyboardInterrupt, and a
    test that presses Ctrl-C would test nothing.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
