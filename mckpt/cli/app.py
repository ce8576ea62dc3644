"""The `mckpt` Typer app: global options and the list of command modules.

Each command lives in its own module (`cli/<command>_cmd.py`) and registers itself here with one
line, so adding a command touches nothing else.
"""

from __future__ import annotations

from typing import Annotated

import typer

from ..version import __version__
from . import (
    cache_cmd,
    convert_cmd,
    demo_cmd,
    diff_cmd,
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
from .outcome import state

app = typer.Typer(
    name="mckpt",
    help="Manage Mammoth checkpoints: list runs, inspect files safely, convert, fetch, resume.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
) -> None:
    """Manage Mammoth checkpoints: list runs, inspect files safely, convert, fetch, resume."""
    state["debug"] = state["debug"] or debug


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


def main() -> None:
    app(prog_name="mckpt")
