"""Shared test fixtures: the real Mammoth files (when present) and small hand-made checkpoints."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("MCKPT_FIXTURES", REPO.parent / "shared" / "fixtures" / "mammoth"))


# What the developer's shell may hold that changes what mckpt does: proxies (the "local only" fetch
# tests would send 127.0.0.1 traffic to a proxy), hub settings and tokens, debug and colour
# switches, caches, the Mammoth to run. Tests start without any of them, in this process and in
# every child (they copy os.environ); a test that wants one sets it itself.
HERMETIC = (
    "http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "REQUEST_METHOD", "MCKPT_DEBUG", "MCKPT_CACHE", "MAMMOTH_ROOT", "MAMMOTH_PYTHON",
    "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "COLUMNS", "LINES", "TERM", "PYTHONWARNINGS",
)
# Whole families: cloud credentials, endpoints, profiles and their files (AWS_ENDPOINT_URL_S3,
# AWS_SHARED_CREDENTIALS_FILE, AWS_WEB_IDENTITY_TOKEN_FILE, GOOGLE_APPLICATION_CREDENTIALS,
# AZURE_STORAGE_*), the hub's token, token path and cache (HF_*, and huggingface_hub's older
# spellings), and the XDG folders (set again below, to temporary ones).
HERMETIC_PREFIXES = ("AWS_", "GOOGLE_", "AZURE_", "HF_", "HUGGING_FACE_", "HUGGINGFACE_", "XDG_")
XDG_FOLDERS = {"XDG_CACHE_HOME": "xdg-cache", "XDG_CONFIG_HOME": "xdg-config", "XDG_DATA_HOME": "xdg-data",
               "XDG_STATE_HOME": "xdg-state"}


def hermetic_names() -> list[str]:
    """The variables of os.environ that no test may inherit from the developer's shell."""
    return [n for n in os.environ if n in HERMETIC or n.startswith(HERMETIC_PREFIXES)]


def point_home_at(home: Path, setenv: Callable[[str, str], object]) -> None:
    """HOME and every XDG folder inside `home`: nothing a test runs reads or writes the real ones."""
    setenv("HOME", str(home))
    for name, sub in XDG_FOLDERS.items():
        setenv(name, str(home / sub))


def pytest_configure(config: pytest.Config) -> None:
    # Before any test module imports mckpt: some settings are read at import (MCKPT_DEBUG), and a
    # module-level `{**os.environ}` must not carry the real HOME either.
    for name in hermetic_names():
        os.environ.pop(name, None)
    home = Path(tempfile.mkdtemp(prefix="mckpt-tests-home-"))
    config.add_cleanup(lambda: shutil.rmtree(home, ignore_errors=True))
    point_home_at(home, os.environ.__setitem__)


@pytest.fixture(autouse=True)
def hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test: none of the hermetic variables set (again: a test may have set one), a private
    HOME and XDG folders, seeded random generators."""
    for name in hermetic_names():
        monkeypatch.delenv(name, raising=False)
    point_home_at(tmp_path_factory.mktemp("home"), monkeypatch.setenv)
    # Random data is the same at every run, so a failure replays: the global generators get a
    # fixed seed per test (tests that draw many values make their own random.Random(seed)).
    random.seed(0)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(0)
    outcome = sys.modules.get("mckpt.cli.outcome")
    if outcome is not None:  # `--debug` in one in-process CLI test must not stay on for the next
        monkeypatch.setitem(outcome.state, "debug", False)


# Skips CI accepts, by a piece of their reason, each with why it cannot run there. Any other skip
# fails a run under CI (a test CI does not run proves nothing): install what it needs instead.
ALLOWED_SKIPS: dict[str, str] = {}
_skipped: list[tuple[str, str]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        _skipped.append((report.nodeid, reason))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    unexpected = [(n, r) for n, r in _skipped if not any(a in r for a in ALLOWED_SKIPS)]
    if os.environ.get("CI") and unexpected:
        lines = "".join(f"\n  {n}: {r}" for n, r in unexpected)
        session.config.get_terminal_writer().line(
            f"\nerror: CI is set and {len(unexpected)} test(s) skipped outside tests/conftest.py::ALLOWED_SKIPS:"
            f"{lines}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def fixtures_missing(what: str) -> None:
    """Skip a test that needs the real Mammoth files; under CI (where they must be), fail it."""
    message = f"the real Mammoth fixtures are not at {FIXTURES} ({what}); set MCKPT_FIXTURES"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def python_on_path(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment whose PATH finds `python` (this interpreter): many systems have only `python3`."""
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "python"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    shim.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture
def mammoth_fixtures(tmp_path: Path) -> Path:
    """A writable copy of ../shared/fixtures/mammoth (the ground truth written by real Mammoth)."""
    if not FIXTURES.is_dir():
        fixtures_missing("a plain clone does not have them")
    dest = tmp_path / "mammoth"
    shutil.copytree(FIXTURES, dest)
    for p in dest.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dest


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            input: str | None = None, timeout: float = 120,
            module: str | None = "mckpt") -> subprocess.CompletedProcess[str]:
    """Run `python -m mckpt ARGS` in a real subprocess (for exit codes, stderr, imports);
    `module=None` runs `python ARGS` (interpreter options, `-c`)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", **(env or {})}
    command = [sys.executable, *(("-m", module) if module else ()), *args]
    return subprocess.run(command, cwd=cwd, env=full_env, text=True,
                          capture_output=True, input=input, timeout=timeout)


def read_terminal(master: int, timeout: float = 60) -> bytes:
    """Everything a child writes to the terminal whose master end is `master`, until it closes it
    (or nothing comes for `timeout` seconds). poll(), not select(): a long test session has file
    descriptors past 1024."""
    import select

    poller = select.poll()
    poller.register(master, select.POLLIN)
    seen = b""
    while poller.poll(timeout * 1000):
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    return seen


def sigint_default() -> None:
    """Popen preexec_fn: give the child the default Ctrl-C behaviour.

    A test runner started in the background by a non-interactive shell (as CI may be) inherits
    SIGINT ignored, and so would every child: Python then never raises KeyboardInterrupt, and a
    test that presses Ctrl-C would test nothing.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
