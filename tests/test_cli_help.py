"""Every command's --help: nothing swallowed by Rich markup, value placeholders that say what goes there."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from mckpt.cli.app import app

runner = CliRunner()
COMMANDS = ("list", "inspect", "diff", "convert", "fetch", "save", "load", "demo", "results", "plot")


def _help(command: str) -> str:
    r = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}, terminal_width=200)
    assert r.exit_code == 0, r.output
    return r.stdout


def test_list_help_says_where_it_looks_by_default() -> None:
    # "[default: ./checkpoints]" in the help was eaten as a Rich markup tag, leaving "to list ."
    text = _help("list")
    assert "(default: ./checkpoints)" in text
    assert "list ." not in text


@pytest.mark.parametrize("command", COMMANDS)
def test_options_name_their_values(command: str) -> None:
    # Option rows look like "│ --top  -n  N  Show …": the placeholder is a word for the value, not a type.
    generic = [line.strip() for line in _help(command).splitlines()
               if re.search(r"--[\w-]+.*\s(TEXT|INTEGER)\s", line)]
    assert generic == []
