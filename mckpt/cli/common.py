"""Shared option types and error handling for every command (one place, like `hf`'s CLI)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import typer

from ..choices import check_choice
from ..errors import UsageError
from ..locate.resolve import SPEC_HELP
from ..view.output import TABLE_FORMATS
from .outcome import run_command

F = TypeVar("F", bound=Callable[..., Any])


class Choices:
    """An option's fixed values, from the library's own tuple: `check` is the option's callback
    (a usage error, exit 2, naming the flag), and shell completion offers `choices`
    (`completion_spec` reads them off the callback's instance). `strict=False` only completes: the
    library checks the value (results' --sort also takes any grouping arg)."""

    def __init__(self, choices: Sequence[str], strict: bool = True) -> None:
        self.choices = tuple(choices)
        self.strict = strict

    def check(self, value: str | None) -> str | None:
        if self.strict:
            try:
                check_choice("the value", value, self.choices)
            except UsageError as e:
                raise typer.BadParameter(e.describe()) from None
        return value


def choice_option(*names: str, choices: Sequence[str], help: str, metavar: str | None = None,
                  strict: bool = True) -> Any:
    """A `typer.Option` taking one of `choices` (shown as `a|b|c` unless `metavar` says otherwise)."""
    return typer.Option(*names, metavar=metavar or "|".join(choices), callback=Choices(choices, strict).check,
                        help=help)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document (stable schema, see README).")]
FormatOpt = Annotated[
    str | None,
    choice_option("--format", "-f", choices=TABLE_FORMATS, metavar="FMT",
                  help="Print tables in a tabulate format: plain, github, latex, tsv, csv, …"),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")]


def ids_option(names: str = "the run uids") -> Any:
    """`--ids`: only what names each item, one a line, for `xargs` and scripts (as `hf`'s `-q`)."""
    return typer.Option("--ids", help=f"Print only {names}, one a line (for xargs and scripts).")


IdsOpt = Annotated[bool, ids_option()]
PathsOpt = Annotated[bool, typer.Option(
    "--paths", help="Print only the file paths, one a line (mckpt list --paths | xargs mckpt verify).")]
TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", metavar="SECONDS",
    help="For URLs: give up on a read (hub listing page, file index, ranged read) that takes longer in "
         "all, retries included.")]
RecursiveOpt = Annotated[bool, typer.Option("--recursive", "-r", help="Look into sub-folders too.")]
ModelOpt = Annotated[str | None, typer.Option("--model", "-m", metavar="MODEL", help="Only runs of this model.")]
DatasetOpt = Annotated[str | None, typer.Option(
    "--dataset", "-d", metavar="DATASET", help="Only runs on this dataset.")]
CacheDirOpt = Annotated[str | None, typer.Option(
    "--cache-dir", metavar="DIR", help="Cache folder (default: $MCKPT_CACHE or ~/.cache/mckpt).")]
WhereOpt = Annotated[list[str] | None, typer.Option(
    "--where", "-w", metavar="ARG=VALUE", help="Only runs whose saved arg matches: buffer_size=500, "
                                               "model=derpp,er, lr<0.1, n_epochs>=5, model!=sgd (repeatable).")]


def shown_as(kind: str) -> Callable[[str], str]:
    """A pass-through parser for an argument, named for the values it takes: `--help` shows an
    argument's type by its parser's name (`<file|run|url>`, `<path>`), where a plain `str` would
    show as `<str>` or TEXT, which tells the user nothing."""

    def parse(value: str) -> str:
        return value

    parse.__name__ = kind
    parse.passes_through = True  # type: ignore[attr-defined]  # `completion_spec`: the word as typed
    return parse


def checkpoint_argument(help: str, metavar: str = "CHECKPOINT") -> Any:
    """The argument of every command that reads one checkpoint: what `mckpt.locate.resolve` takes
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


def handle_errors(func: F) -> F:
    """The Typer side of `outcome.run_command`: a command's exit code, or its error as one line,
    becomes Typer's exit; Typer's own exits and aborts pass through."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        code = run_command(func, *args, passthrough=(typer.Exit, typer.Abort), **kwargs)
        if code:
            raise typer.Exit(code)

    return wrapper  # type: ignore[return-value]


PROGRESS_MIN_BYTES = 32 << 20  # less work than this is done before a progress bar could show anything

