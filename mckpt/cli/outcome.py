"""How a command's end reaches the user: its exit code, and any error as one line on stderr.

Typer-free on purpose: the read commands answered before Typer is imported (`cli.direct`) end
the same way as every Typer command (`common.handle_errors` wraps this), so an error looks and
exits alike whichever path ran.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import MckptError, UsageError
from ..view.output import Output

state = {"debug": bool(os.environ.get("MCKPT_DEBUG"))}

BUG_HINT = ("this is a bug in mckpt; rerun as `mckpt --debug <command> …` (or with MCKPT_DEBUG=1) "
            "and report the traceback")


# Library parameters whose flag is not `--` + their name (`convert(overrides=…)` is `--set`).
FLAGS = {"overrides": "--set"}


def flag(param: str) -> str:
    """The flag of a library parameter, as an error names it in the CLI."""
    return FLAGS.get(param, "--" + param.replace("_", "-"))


def make_output(json: bool = False, fmt: str | None = None, quiet: bool = False) -> Output:
    """The command's Output; `--json` with `--format` is refused (two answers to one question)."""
    if json and fmt is not None:
        raise UsageError(f"--json and --format {fmt} both choose the output: pass one of them")
    return Output(json=json, fmt=fmt, quiet=quiet)


def run_command(func: Callable[..., int | None], *args: Any,
                passthrough: tuple[type[BaseException], ...] = (), **kwargs: Any) -> int:
    """Run a command body and return its exit code (None counts as 0).

    MckptError becomes `error: …` (and its hint) and the error's exit code; Ctrl-C exits 130; a
    reader that left the pipe (`mckpt list | head`) ends quietly with 0; anything else is a bug,
    told in one line. `--debug` (or MCKPT_DEBUG=1) shows the traceback instead. Exceptions in
    `passthrough` (Typer's own exits and aborts) go through untouched. stdout is flushed here so
    that a closed pipe is met inside this guard, not at interpreter exit.
    """
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
        Output().error(e.describe(flag), e.hint)
        return e.exit_code
    except KeyboardInterrupt:
        Output().error("interrupted")
        return 130
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as e:
        if state["debug"]:
            raise
        Output().error(f"internal error: {type(e).__name__}: {e}", BUG_HINT)
        return 1
