"""Every command's --help: nothing swallowed by Rich markup, value placeholders that say what goes there."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from mckpt.cli.app import app
from tests.conftest import run_cli

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


def _flat(text: str) -> str:
    """Help text with Rich's box lines and wrapping undone, so a sentence reads as one line."""
    return " ".join(text.replace("│", " ").split())


def _arguments(command: str) -> list[tuple[str, str]]:
    """(name, help) of each positional argument, read from the command tree Typer builds."""
    group = typer.main.get_command(app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    return [(p.name, p.help) for p in params if p.param_type_name == "argument"]


@pytest.mark.parametrize("command", [c for c in COMMANDS if c != "save"])
def test_every_argument_shows_its_help(command: str) -> None:
    # With typer 0.25 and click 8.5 every positional argument lost its help ("file TEXT [required]").
    args = _arguments(command)
    assert args, f"{command} has positional arguments"
    text = _flat(_help(command))
    for name, help_text in args:
        assert help_text, f"{command} {name} has no help text"
        assert _flat(help_text) in text, f"{command} --help lacks the help of {name}: {help_text!r}"


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_shows_examples(command: str) -> None:
    lines = _help(command).splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    examples = [line.strip() for line in lines[start + 1:] if line.strip()]
    assert examples and all(line.startswith(f"$ mckpt {command}") for line in examples), examples


@pytest.mark.parametrize("typo, meant", [("lst", "list"), ("inspct", "inspect"), ("conver", "convert"),
                                         ("fech", "fetch"), ("dif", "diff")])
def test_a_mistyped_command_gets_one_suggestion(typo: str, meant: str) -> None:
    # typer 0.25 with click 8.5 printed "Did you mean 'list'? Did you mean 'list'?"
    r = run_cli(typo, "x")
    assert r.returncode == 2
    assert r.stderr.count("Did you mean") == 1, r.stderr
    assert f"'{meant}'" in r.stderr
