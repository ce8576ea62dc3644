"""How a command's end reaches the user: its exit code, and any error as one line on stderr.

Typer-free on purpose: the read commands answered before Typer is imported (`cli.direct`) end
the same way as every Typer command (`common.handle_errors` wraps this), so an error looks and
exits alike whichever path ran.
"""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from ..errors import MckptError, UsageError
from ..view.output import Output

state = {"debug": os.environ.get("MCKPT_DEBUG", "").lower() not in ("", "0", "false", "no", "off")}
SIGPIPE_EXIT = 141  # 128 + SIGPIPE: how a shell sees a Unix tool whose reader left

BUG_HINT = ("this is a bug in mckpt; rerun as `mckpt --debug <command> …` (or with MCKPT_DEBUG=1) "
            "and report the traceback")


# Library parameters whose flag is not `--` + their name (`convert(overrides=…)` is `--set`).
FLAGS = {"overrides": "--set"}


def flag(param: str, value: str | None = None) -> str:
    """A library parameter as the CLI writes it (`--where`, `--to full`): how errors name it here."""
    name = FLAGS.get(param, "--" + param.replace("_", "-"))
    return name if value in (None, "True") else f"{name} {value}"


# A raw OSError reaching the guard with one of these is about the command's output (the library
# reports every file it reads or writes as MckptError): a full disk or pipe buffer, a bad fd.
_STDOUT_ERRNOS = (errno.ENOSPC, errno.EBADF, errno.EIO, errno.EDQUOT)


def stream_failed(e: OSError) -> bool:
    """True when `e`, met writing one of mckpt's own streams, says the stream is unusable: its
    reader left (EPIPE), a terminal hung up, a full disk, a bad fd."""
    return isinstance(e, BrokenPipeError) or e.errno in _STDOUT_ERRNOS


def error_line(e: MckptError) -> str:
    """An error and its hint on one line, in the CLI's terms: an item of a plan's `missing` list."""
    hint = e.spelled_hint(flag)
    return f"{e.describe(flag)}; {hint}" if hint else e.describe(flag)


def make_output(json: bool = False, fmt: str | None = None, quiet: bool = False, *, ids: bool = False,
                paths: bool = False) -> Output:
    """The command's Output; two flags that choose the output (`--json`, `--format`, `--ids`,
    `--paths`) are refused together: two answers to one question."""
    chosen = [f for f, on in (("--json", json), (f"--format {fmt}", fmt is not None), ("--ids", ids),
                              ("--paths", paths)) if on]
    if len(chosen) > 1:
        raise UsageError(f"{', '.join(chosen[:-1])} and {chosen[-1]} {'both' if len(chosen) == 2 else 'all'} "
                         "choose the output: pass one of them")
    return Output(json=json, fmt=fmt, quiet=quiet, bare="ids" if ids else "paths" if paths else None)


def run_command(func: Callable[..., int | None], *args: Any,
                passthrough: tuple[type[BaseException], ...] = (), **kwargs: Any) -> int:
    """Run a command body and return its exit code (None counts as 0).

    MckptError becomes `error: …` (and its hint) and the error's exit code; Ctrl-C exits 130; a
    reader that left the pipe (`mckpt list | head`) ends it quietly with 141, the status of a
    Unix tool killed by SIGPIPE (0 would tell `set -o pipefail` that a failing command worked);
    stdout that cannot be written (closed, a full disk) is an error about stdout, not a bug;
    anything else is a bug, told in one line. `--debug` (or MCKPT_DEBUG=1) shows the traceback
    instead. Exceptions in `passthrough` (Typer's own exits and aborts) go through untouched.
    stdout is flushed here so that a closed pipe is met inside this guard, not at exit.
    """
    if sys.stdout is None:  # started with stdout closed (`mckpt list >&-`)
        Output(stream=io.StringIO()).error("stdout is closed: nowhere to print the result")
        return 1
    try:
        code = func(*args, **kwargs) or 0
        sys.stdout.flush()
        return code
    except passthrough:
        raise
    except MckptError as e:
        if state["debug"]:
            import traceback

            traceback.print_exc()
        Output().error(e.describe(flag), e.spelled_hint(flag))
        return e.exit_code
    except KeyboardInterrupt:
        Output().error("interrupted")
        return 130
    except BrokenPipeError:
        to_nowhere(sys.stdout)
        return SIGPIPE_EXIT
    except OSError as e:
        if e.errno not in _STDOUT_ERRNOS or state["debug"]:
            return _bug(e)
        to_nowhere(sys.stdout)
        Output().error(f"cannot write to stdout: {e.strerror or e}")
        return 1
    except Exception as e:
        return _bug(e)


def to_nowhere(stream: TextIO) -> None:
    """What is left in a dead stream's buffer goes to /dev/null at exit, not into a second error
    (nor into exit status 120, which Python gives when flushing stdout fails at exit)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())


def _bug(e: Exception) -> int:
    """An exception nothing expected: one line saying so, or its traceback with --debug."""
    if state["debug"]:
        raise e
    Output().error(f"internal error: {type(e).__name__}: {e}", BUG_HINT)
    return 1
