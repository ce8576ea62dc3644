"""One meaning per short flag across every command: `-w` is `--where` wherever it is accepted."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import typer

from mckpt.cli.app import app


def _commands(command: Any, path: str = "mckpt") -> list[tuple[str, Any]]:
    """Every command of the tree Typer builds, sub-commands (`cache ls`) included, with its path."""
    found = [(path, command)]
    for name, sub in getattr(command, "commands", {}).items():
        found += _commands(sub, f"{path} {name}")
    return found


def short_flag_meanings() -> dict[str, dict[str, list[str]]]:
    """short flag -> its long flag (or its own name when it has none) -> the commands that use it."""
    meanings: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path, command in _commands(typer.main.get_command(app)):
        for param in command.params:
            if param.param_type_name != "option":
                continue
            names = [*param.opts, *param.secondary_opts]
            longs = sorted(n for n in names if n.startswith("--"))
            for short in (n for n in names if not n.startswith("--")):
                meanings[short][longs[0] if longs else short].append(path)
    return meanings


def test_each_short_flag_has_one_long_meaning_across_commands() -> None:
    meanings = short_flag_meanings()
    clashes = {short: dict(longs) for short, longs in meanings.items() if len(longs) > 1}
    assert clashes == {}


def test_the_walk_sees_the_flags_it_checks() -> None:
    # The walk must reach sub-commands and read real options, or the test above passes vacuously.
    meanings = short_flag_meanings()
    assert set(meanings["-w"]) == {"--where"}
    assert {"mckpt list", "mckpt results", "mckpt plot", "mckpt prune"} <= set(meanings["-w"]["--where"])
    assert any(path.startswith("mckpt cache ") for longs in meanings.values() for paths in longs.values()
               for path in paths)
