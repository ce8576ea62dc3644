"""`mckpt inspect`, `mckpt list` and `mckpt fetch`, answered before Typer is imported.

Starting the Typer app (Typer with its copy of Click, Rich for help, and every command module)
costs more than reading a checkpoint's pickle, and these are what a researcher types all day.
So when a command line names one of them and uses only plain flags and string options, this
module parses it with the table that `tools/generate.py` reads off the Typer declarations
(`direct_table.py`: option words, parameters, defaults) and calls the same body the Typer command
calls (`bodies`), which ends the same way (`outcome.run_command`).

The one global option taken here is a leading `--color auto|always|never` (the only one that
changes how these commands print); any other goes to Typer.

Anything else goes to Typer, which then answers in its own words: `--help`, an unknown,
clustered (`-ta`) or abbreviated option, a value that is not one of an option's choices or that
starts with `-`, `--`, a missing or extra argument, `mckpt --debug …`, Typer's completion protocol.
Falling back is always safe; parsing a line to a different call than Typer would is the one
thing this module must never do, and `tests/cli/test_direct.py` compares the two on real runs.
"""

from __future__ import annotations

import os
from typing import Any

# The commands answered here, and their bodies in `bodies` (the generator reads this too).
BODIES = {"inspect": "inspect_checkpoint", "list": "list_runs", "fetch": "fetch_file"}


def parse(argv: list[str]) -> tuple[str, dict[str, Any]] | None:
    """The body's name and every one of its parameters, when `argv` (without the program name)
    is a command line this module parses exactly as Typer would; None to leave it to Typer."""
    if not argv or argv[0] not in BODIES or "_MCKPT_COMPLETE" in os.environ:
        return None
    from .direct_table import COMMANDS

    shape = COMMANDS[argv[0]]
    options = shape["options"]
    values = dict(shape["defaults"])
    positional: list[str] = []
    words = iter(argv[1:])
    for word in words:
        if not word.startswith("-"):
            positional.append(word)
            continue
        name, eq, attached = word.partition("=") if word.startswith("--") else (word, "", "")
        if name not in options:
            return None  # `-`, `--`, `-ta`, `--help`, an unknown or abbreviated option: Typer's words
        param, stores, choices = options[name]
        if stores != "str":  # a flag: True, or False for its --no- names
            if eq:
                return None
            values[param] = stores
            continue
        value = attached if eq else next(words, None)
        if value is None or value.startswith("-") or (choices and value not in choices):
            return None
        values[param] = value
    arguments = shape["arguments"]
    if arguments and arguments[0][1]:  # one variadic argument takes every word (the generator checks)
        if positional:
            values[arguments[0][0]] = positional
    elif len(positional) == len(arguments):
        values.update(zip((param for param, _ in arguments), positional, strict=True))
    else:
        return None
    return BODIES[argv[0]], values


def global_colour(argv: list[str]) -> tuple[str | None, list[str]] | None:
    """A leading `--color WHEN` / `--color=WHEN` taken off `argv`: (WHEN or None, the rest); None
    when the option is there but not one Typer would take as it is (Typer then says why)."""
    from ..choices import COLORS

    head = argv[0] if argv else ""
    if head == "--color":
        value, rest = (argv[1] if len(argv) > 1 else None), argv[2:]
    elif head.startswith("--color="):
        value, rest = head.partition("=")[2], argv[1:]
    else:
        return None, argv
    return (value, rest) if value in COLORS else None


def run(argv: list[str]) -> int | None:
    """The exit code of the command `argv` names, answered here; None when Typer must answer."""
    taken = global_colour(argv)
    call = parse(taken[1]) if taken is not None else None
    if call is None:
        return None
    from ..view.output import set_colour_mode
    from . import bodies
    from .outcome import run_command

    if taken[0] is not None:
        set_colour_mode(taken[0])
    body, values = call
    return run_command(getattr(bodies, body), **values)
