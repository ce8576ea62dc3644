"""The `mckpt` Typer app: global options and the list of command modules.

Each command lives in its own module (`cli/<command>_cmd.py`) and registers itself here with one
line, so adding a command touches nothing else.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..choices import COLORS
from ..errors import UsageError
from ..version import __version__
from ..view.output import set_colour_mode
from . import (
    cache_cmd,
    completion_cmd,
    convert_cmd,
    demo_cmd,
    diff_cmd,
    env_cmd,
    fetch_cmd,
    inspect_cmd,
    list_cmd,
    load_cmd,
    prune_cmd,
    push_cmd,
    results_cmd,
    save_cmd,
    verify_cmd,
)
from .common import choice_option
from .outcome import run_command, state

app = typer.Typer(
    name="mckpt",
    help="Manage Mammoth checkpoints: list runs, inspect files safely, convert, fetch, resume.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


COLOR_HELP = ("Colour: auto (on a terminal), always, never. Beats FORCE_COLOR / CLICOLOR_FORCE (colour even in a "
              "pipe), which beat NO_COLOR.")


def _version(value: bool) -> None:
    if value:
        print(f"mckpt {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    color: Annotated[str | None, choice_option("--color", choices=COLORS, help=COLOR_HELP)] = None,
) -> None:
    """Manage Mammoth checkpoints: list runs, inspect files safely, convert, fetch, resume."""
    state["debug"] = state["debug"] or debug
    set_colour_mode(color or "auto")


list_cmd.register(app)
inspect_cmd.register(app)
diff_cmd.register(app)
results_cmd.register(app)
convert_cmd.register(app)
fetch_cmd.register(app)
push_cmd.register(app)
save_cmd.register(app)
load_cmd.register(app)
prune_cmd.register(app)
cache_cmd.register(app)
verify_cmd.register(app)
demo_cmd.register(app)
completion_cmd.register(app)
env_cmd.register(app)


def main() -> None:
    """Run the app; its usage errors (a bad value, an unknown option, a missing argument) end as
    `error:`/`hint:` lines and exit 2 like every other error, in a pipe or a terminal, not in
    Typer's boxed panel."""
    sys.exit(run_command(_invoke))


# Typer's usage errors: `typer.TyperException` from Typer 0.28; Typer 0.26-0.27 export no base class,
# only `typer.BadParameter`, whose ancestry holds it (the lowest version pyproject allows is tested).
USAGE_ERRORS: type[Exception] = getattr(typer, "TyperException", None) or next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _invoke() -> int:
    try:
        result = app(prog_name="mckpt", standalone_mode=False)
    except USAGE_ERRORS as e:  # a bad value, an unknown option or command, a missing argument
        message = e.format_message()
        if not message:  # `mckpt` alone: Typer showed the help, and exits 2 as for any usage error
            return e.exit_code
        ctx = getattr(e, "ctx", None)
        raise UsageError(message, hint=f"see `{ctx.command_path if ctx else 'mckpt'} --help`") from None
    except typer.Abort:
        raise UsageError("aborted") from None
    return result if isinstance(result, int) else 0  # an Exit's code; a command's own end is raised as Exit
