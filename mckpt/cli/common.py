"""Shared option types and error handling for every command (one place, like `hf`'s CLI)."""

from __future__ import annotations

import functools
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from ..errors import MckptError
from ..model.resolve import SPEC_HELP
from ..view.output import TABLE_FORMATS, Output, print_error

F = TypeVar("F", bound=Callable[..., Any])

state = {"debug": bool(os.environ.get("MCKPT_DEBUG"))}


def _check_format(value: str | None) -> str | None:
    if value is not None and value not in TABLE_FORMATS:
        raise typer.BadParameter(f"unknown format {value!r}; one of: {', '.join(TABLE_FORMATS)}")
    return value


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document (stable schema, see README).")]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "-f", metavar="FMT", callback=_check_format,
                 help="Print tables in a tabulate format: plain, github, latex, tsv, csv, …"),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]


def shown_as(kind: str) -> Callable[[str], str]:
    """A pass-through parser for an argument, named for the values it takes: `--help` shows an
    argument's type by its parser's name (`<file|run|url>`, `<path>`), where a plain `str` would
    show as `<str>` or TEXT, which tells the user nothing."""

    def parse(value: str) -> str:
        return value

    parse.__name__ = kind
    return parse


def checkpoint_argument(help: str, metavar: str = "CHECKPOINT") -> Any:
    """The argument of every command that reads one checkpoint: what `mckpt.model.resolve` takes
    (a file, a run folder, a run uid or a URL), shown as `<file|run|url>`; `help` is completed
    with the list of those."""
    return typer.Argument(metavar=metavar, parser=shown_as("file|run|url"), help=f"{help}: {SPEC_HELP}.")


def flowed(doc: str | None) -> str:
    """A docstring as help text: each paragraph on one line, for Rich to wrap to the terminal.

    Typer keeps a docstring's line breaks, so help wrapped at 100 columns in the source came out
    with hard breaks mid-sentence on a wider or narrower terminal.
    """
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(" ".join(p.split()) for p in paragraphs)


def add_command(app: typer.Typer, name: str, func: Callable[..., Any], **settings: Any) -> None:
    """Register `func` as `mckpt NAME`, its docstring as flowed help (see :func:`flowed`)."""
    app.command(name, help=flowed(func.__doc__), **settings)(func)


def examples(*commands: str) -> str:
    """A command's help epilog: example command lines, as `gh` and `hf` show under their help.

    Typer joins single line breaks into one paragraph, so each example is its own paragraph; no
    square brackets, which Rich would read as markup.
    """
    return "Examples:\n\n" + "\n\n".join(f"$ {c}" for c in commands)


def make_output(json: bool = False, fmt: str | None = None, quiet: bool = False) -> Output:
    return Output(json=json, fmt=fmt, quiet=quiet)


def handle_errors(func: F) -> F:
    """Turn MckptError into `error: …` on stderr and its exit code; bugs into one line too.

    `--debug` (or MCKPT_DEBUG=1) shows the traceback instead.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except MckptError as e:
            if state["debug"]:
                traceback.print_exc()
            print_error(str(e), e.hint)
            raise typer.Exit(e.exit_code) from None
        except KeyboardInterrupt:
            print_error("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # `mckpt list | head`: the reader left; exit quietly like other Unix tools.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as e:
            if state["debug"]:
                raise
            print_error(f"internal error: {type(e).__name__}: {e}",
                        "this is a bug in mckpt; rerun as `mckpt --debug <command> …` (or with MCKPT_DEBUG=1) "
                        "and report the traceback")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]
