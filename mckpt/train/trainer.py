"""Running Mammoth as a child process: live output, signals passed on, and what it wrote.

Training runs for hours, so the wrapper must not get in the way: a stream that is a terminal is
inherited as is (colours, progress bars), a stream that is a pipe or a file is relayed byte for byte
as it arrives and scanned for Mammoth's log lines. Mammoth runs in its own process group, so what the
terminal sends reaches mckpt only, and mckpt passes it on to Mammoth's group before anything else:
the first SIGINT/SIGTERM/SIGHUP is forwarded (on SIGINT/SIGTERM Mammoth writes
`checkpoints/paused/<uuid>.pt` and exits), a second kills the group; SIGTSTP (Ctrl-Z) stops the
group and then mckpt, and SIGCONT (`fg`) continues it. A stream whose reader went away (`| tee`
killed by the same Ctrl-C) is no longer written to, but Mammoth's pipe is still drained, so neither
mckpt nor Mammoth dies of it. The checkpoints the run wrote are found by comparing folders before
and after (the checkpoint folder, and `checkpoints/paused/` under the working folder, where Mammoth
writes paused files whatever `--checkpoint_path` says), plus the paths Mammoth logs (`Checkpoint for
task N saved at <path>`) when its output is relayed. The run's name comes from `Saving checkpoint
into:`, or, when the output went straight to a terminal, from what the run wrote.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from ..domain.checkpoint import read_checkpoint
from ..domain.names import Task, parse_name
from ..domain.runs import iter_checkpoint_files
from ..errors import MckptError

_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
_RUN_NAME = re.compile(r"Saving checkpoint into:\s*(\S+)")
_SAVED_AT = re.compile(r"saved at (\S+)")
_MARKER = re.compile(rb"Saving checkpoint into|saved at")
_CHUNK = 1 << 16


@dataclass(frozen=True)
class WrittenCheckpoint:
    path: str
    task: Task | None
    bytes: int

    @property
    def paused(self) -> bool:
        return self.task == "paused"

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "task": self.task, "bytes": self.bytes, "paused": self.paused}


@dataclass
class TrainingResult:
    """How the child ended and what it left in the checkpoint folder."""

    exit_code: int
    interrupted: bool = False  # mckpt forwarded a SIGINT, SIGTERM or SIGHUP
    killed: bool = False  # a second Ctrl-C killed it
    run_name: str | None = None  # from Mammoth's `Saving checkpoint into:` line
    written: list[WrittenCheckpoint] = field(default_factory=list)

    @property
    def paused(self) -> list[WrittenCheckpoint]:
        return [w for w in self.written if w.paused]

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "interrupted": self.interrupted,
            "killed": self.killed,
            "run": self.run_name,
            "written": [w.to_json() for w in self.written],
        }


Snapshot = dict[str, tuple[int, int]]


def snapshot(*folders: Path) -> Snapshot:
    """Each `.pt` file in `folders` (and their `paused/`) with its mtime and size."""
    out: Snapshot = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in iter_checkpoint_files(str(folder)):
            st = entry.stat()
            out[os.path.abspath(entry.path)] = (st.st_mtime_ns, st.st_size)
    return out


def watched_folders(watch: Path, cwd: Path) -> tuple[Path, ...]:
    """The checkpoint folder, and the one Mammoth's paused files go to: `./checkpoints/paused/`
    under its working folder, fixed before `--checkpoint_path` is even parsed."""
    paused_home = cwd / "checkpoints"
    return (watch,) if os.path.abspath(watch) == os.path.abspath(paused_home) else (watch, paused_home)


def _run_name_from(written: list[WrittenCheckpoint]) -> str | None:
    """The run's name from its files, when no log line said it: a task file's stem, else the
    ckpt_name a paused file saved (read with the safe reader)."""
    for w in written:
        if not w.paused and (name := parse_name(w.path)) is not None:
            return name.stem
    for w in written:
        try:
            stem = read_checkpoint(w.path).args.get("ckpt_name")
        except MckptError:
            continue
        if isinstance(stem, str) and stem:
            return stem
    return None


def written_files(before: Snapshot, after: Snapshot, logged: list[str]) -> list[WrittenCheckpoint]:
    """Files new or changed since `before`, plus existing files Mammoth said it saved."""
    paths = [p for p, stamp in after.items() if before.get(p) != stamp]
    for p in logged:
        full = os.path.abspath(p if p.endswith(".pt") else p + ".pt")
        if os.path.isfile(full) and full not in paths:
            paths.append(full)
    out = []
    for p in sorted(paths, key=lambda p: (os.path.getmtime(p) if os.path.exists(p) else 0, p)):
        name = parse_name(p)
        size = os.path.getsize(p) if os.path.exists(p) else 0
        out.append(WrittenCheckpoint(p, name.task if name else None, size))
    return out


class _LogScanner:
    """Collects the run name and saved paths from Mammoth's output lines (any stream)."""

    def __init__(self) -> None:
        self.run_name: str | None = None
        self.saved: list[str] = []

    def feed_line(self, raw: bytes) -> None:
        line = _ANSI.sub(b"", raw).decode("utf-8", "replace")
        if m := _RUN_NAME.search(line):
            self.run_name = m[1]
        if m := _SAVED_AT.search(line):
            self.saved.append(m[1])


def _writer(stream: TextIO) -> Callable[[bytes], None]:
    """Write raw bytes to a stream: straight to its fd when it has one, so nothing is re-encoded."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):

        def write_text(data: bytes) -> None:
            stream.write(data.decode("utf-8", "replace"))
            stream.flush()

        return write_text
    stream.flush()

    def write_fd(data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]

    return write_fd


class _Relay:
    """One pipe copied to one stream as bytes arrive, its lines looked at only near a marker.

    Progress bars print millions of lines: splitting each one in Python would slow training's
    output down, while one C-level search per read block costs next to nothing.
    """

    def __init__(self, fd: int, write: Callable[[bytes], None], scanner: _LogScanner) -> None:
        self.fd, self.write, self.scanner = fd, write, scanner
        self.tail = b""  # the unfinished last line

    def pump(self) -> bool:
        """Move one block; False at the end of the stream."""
        chunk = os.read(self.fd, _CHUNK)
        if not chunk:
            if self.tail:
                self.scanner.feed_line(self.tail)
            os.close(self.fd)
            return False
        try:
            self.write(chunk)
        except OSError:
            self.write = _discard  # the reader went away; keep draining so Mammoth is never blocked
        block = self.tail + chunk if self.tail else chunk
        cut = max(block.rfind(b"\n"), block.rfind(b"\r")) + 1
        complete, self.tail = block[:cut], block[cut:][-_CHUNK:]
        if _MARKER.search(complete):
            for line in re.split(rb"[\r\n]", complete):
                self.scanner.feed_line(line)
        return True


def _pump(relays: list[_Relay]) -> None:
    """Relay every pipe until all are closed, in this (the main) thread, so signals still land."""
    with selectors.DefaultSelector() as sel:
        for relay in relays:
            sel.register(relay.fd, selectors.EVENT_READ, relay)
        while sel.get_map():
            for key, _ in sel.select():
                if not key.data.pump():
                    sel.unregister(key.fileobj)


def _discard(data: object) -> None:
    """Where output goes once its reader has gone: relayed bytes, mckpt's notices."""
    return None


def _is_terminal(stream: TextIO) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False


# Signals that end a run: the first is passed on (Mammoth saves a paused file on SIGINT/SIGTERM),
# a second kills Mammoth's process group.
STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_ASK_TO_SAVE = (
    "asking Mammoth to save a paused checkpoint and stop "
    "(Ctrl-C again to stop it at once, without saving)"
)
_HUNG_UP = "the terminal hung up (SIGHUP): passed on to Mammoth"


class _Forwarder:
    """Signal handler: every signal reaches Mammoth's process group first, then mckpt acts on it.

    Forwarding comes before any word of mckpt's own: the notice goes to a stream whose reader may
    have died of the same Ctrl-C (`2>&1 | tee`), and a failed write must not stand between the
    signal and Mammoth. A notice that cannot be written ends the notices, never the handler.
    Installed before Mammoth starts, so a signal in between is not lost: it is sent on start.
    """

    def __init__(self, result: TrainingResult, notify: Callable[[str], None]) -> None:
        self.result, self.notify = result, notify
        self.proc: subprocess.Popen[bytes] | None = None
        self.pending: int | None = None

    def __call__(self, signum: int, frame: object) -> None:
        if signum == signal.SIGTSTP:
            self._stop()
        elif signum == signal.SIGCONT:
            self._send(signal.SIGCONT)
        elif not self.result.interrupted:
            self.result.interrupted = True
            if not self._send(signum) and self.proc is None:
                self.pending = signum
            self._tell(_HUNG_UP if signum == signal.SIGHUP else _ASK_TO_SAVE)
        elif not self.result.killed and self._send(signal.SIGKILL):
            self.result.killed = True
            self._tell("stopping Mammoth now")

    def _send(self, signum: int) -> bool:
        """`signum` to Mammoth's process group (its DataLoader workers too), while it runs."""
        if self.proc is None or self.proc.returncode is not None:
            return False
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:  # the group has ended: nothing left to tell
            return False
        return True

    def _stop(self) -> None:
        """Ctrl-Z: Mammoth's group stops, then mckpt, as the shell expects; `fg` sends SIGCONT to
        mckpt, which passes it on."""
        self._send(signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        try:
            os.kill(os.getpid(), signal.SIGTSTP)  # returns once continued
        finally:
            signal.signal(signal.SIGTSTP, self)

    def _tell(self, message: str) -> None:
        try:
            self.notify(message)
        except OSError:  # its stream lost its reader: no more notices, the run goes on
            self.notify = _discard

    def attach(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        if self.pending is not None:
            self._send(self.pending)


def _target(stream: TextIO) -> int:
    """A terminal is handed to Mammoth as is (colours, progress bars); anything else is relayed."""
    return stream.fileno() if _is_terminal(stream) else subprocess.PIPE


def _start(
    command: list[str], cwd: Path, env: Mapping[str, str] | None, stdout: TextIO, stderr: TextIO
) -> subprocess.Popen[bytes]:
    """Mammoth in its own process group (a terminal's Ctrl-C reaches only mckpt), unbuffered."""
    group: dict[str, Any] = (
        {"process_group": 0} if sys.version_info >= (3, 11) else {"preexec_fn": os.setpgrp}
    )
    try:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=_target(stdout),
            stderr=_target(stderr),
            **group,
        )
    except OSError as e:
        raise MckptError(
            f"cannot start Mammoth: {e.strerror or e}",
            path=command[0],
            hint="check {python} / MAMMOTH_PYTHON", spelled=True,
        ) from None


def run_mammoth(
    command: list[str],
    cwd: Path,
    watch: Path,
    env: Mapping[str, str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    notify: Callable[[str], None] | None = None,
) -> TrainingResult:
    """Run `command` in `cwd` until it ends; `watch` is the checkpoint folder to compare (the
    paused folder under `cwd` is compared too).

    `notify` receives mckpt's own messages (the Ctrl-C notices) so the caller chooses where they go
    (the CLI's `Output.notice`); without it they are not shown. Installs the signal handlers for
    the run, so call it from the main thread.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    folders = watched_folders(watch, cwd)
    before = snapshot(*folders)
    scanner = _LogScanner()
    for stream in (stdout, stderr):
        stream.flush()  # what mckpt printed comes before what Mammoth prints
    result = TrainingResult(exit_code=0)
    forward = _Forwarder(result, notify or _discard)
    previous = {s: signal.signal(s, forward) for s in (*STOPPING, signal.SIGTSTP, signal.SIGCONT)}
    # A reader that left is an EPIPE on write (handled by the relay), never a signal that kills mckpt
    # with Mammoth still running (Python ignores SIGPIPE; a host program may not have).
    previous[signal.SIGPIPE] = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        proc = _start(command, cwd, env, stdout, stderr)
        forward.attach(proc)
        relays = []
        for pipe, stream in ((proc.stdout, stdout), (proc.stderr, stderr)):
            if pipe is not None:
                relays.append(_Relay(os.dup(pipe.fileno()), _writer(stream), scanner))
                pipe.close()
        _pump(relays)
        code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    result.exit_code = code if code >= 0 else 128 - code
    result.written = written_files(before, snapshot(*folders), [os.path.join(cwd, p) for p in scanner.saved])
    result.run_name = scanner.run_name or _run_name_from(result.written)
    return result
