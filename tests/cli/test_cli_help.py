"""Every command's --help: nothing swallowed by Rich markup, value placeholders that say what goes there."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from mckpt.cli.app import app
from tests.conftest import run_cli

runner = CliRunner()
# The app's own command list: a new command is covered here without editing this file.
COMMANDS = tuple(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


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


@pytest.mark.parametrize("command", [c for c in COMMANDS if c not in ("save", "cache", "env")])  # none by design
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
    assert examples and all(line.startswith("$ ") and f"mckpt {command}" in line for line in examples), examples


@pytest.mark.parametrize("typo, meant", [("lst", "list"), ("inspct", "inspect"), ("conver", "convert"),
                                         ("fech", "fetch"), ("dif", "diff")])
def test_a_mistyped_command_gets_one_suggestion(typo: str, meant: str) -> None:
    # typer 0.25 with click 8.5 printed "Did you mean 'list'? Did you mean 'list'?"
    r = run_cli(typo, "x")
    assert r.returncode == 2
    assert r.stderr.count("Did you mean") == 1, r.stderr
    assert f"'{meant}'" in r.stderr


def _params(command: str) -> list:
    group = typer.main.get_command(app)
    return list(group.commands[command].params)  # type: ignore[attr-defined]


def test_dash_n_means_dry_run_in_every_command() -> None:
    owners = {c: [p.opts for p in _params(c) if "-n" in getattr(p, "opts", ())] for c in COMMANDS}
    assert all(opts in ([], [["--dry-run", "-n"]]) for opts in owners.values()), owners
    assert {c for c, opts in owners.items() if opts} == {"convert", "save", "load", "prune", "push"}


@pytest.mark.parametrize("command", COMMANDS)
def test_arguments_show_what_they_take_not_a_python_type(command: str) -> None:
    rows = [line for line in _help(command).splitlines()
            if re.match(r"^│\s+\*?\s+[A-Z\[]", line) and "Usage" not in line]
    generic = [r.strip() for r in rows if re.search(r"<str>|\bTEXT\b|<text>", r)]
    assert generic == []


def test_fetch_calls_its_argument_source_in_help_and_readme() -> None:
    text = _help("fetch")
    assert "Usage: mckpt fetch [OPTIONS] {SOURCE}" in text or "SOURCE" in text.splitlines()[1]
    assert "URL" not in re.findall(r"Usage: [^\n]*", text)[0]
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    assert "mckpt fetch SOURCE" in readme and "mckpt fetch URL" not in readme


@pytest.mark.parametrize("command", COMMANDS)
def test_help_paragraphs_have_no_hard_line_breaks(command: str) -> None:
    # The docstrings are wrapped at 100 columns in the source; on a 200-column terminal a
    # paragraph must come out as one line, not broken where the source was.
    group = typer.main.get_command(app)
    help_text = group.commands[command].help  # type: ignore[attr-defined]
    assert all("\n" not in p for p in help_text.split("\n\n")), help_text
    flat = _flat(_help(command))
    assert all(" ".join(p.split()) in flat for p in help_text.split("\n\n"))  # every paragraph shown


USAGE_ERRORS = [
    (["list", "--sort", "bogus"], "error: Invalid value for '--sort' / '-s': the value must be one of: started, model,"
                                  " dataset, size, name, acc (got 'bogus')", "mckpt list"),
    (["list", "--bogus"], "error: No such option: --bogus", "mckpt list"),
    (["inspect"], "error: Missing argument 'CHECKPOINT'.", "mckpt inspect"),
    (["nosuch"], "error: No such command 'nosuch'.", "mckpt"),
]


@pytest.mark.parametrize(("argv", "line", "path"), USAGE_ERRORS, ids=lambda v: " ".join(v) if isinstance(v, list)
                         else None)
def test_usage_errors_are_error_and_hint_lines_in_a_pipe(argv: list[str], line: str, path: str) -> None:
    """Typer's usage errors look like every other error (`list --json --format csv`), not a boxed panel."""
    r = run_cli(*argv)
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == f"{line}\nhint: see `{path} --help`\n"


def test_usage_errors_are_lines_on_a_terminal_too() -> None:
    import os
    import subprocess
    import sys

    from tests.conftest import REPO, read_terminal

    master, slave = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "mckpt", "list", "--sort", "bogus"], stdout=slave, stderr=slave,
                            env=env)
    os.close(slave)
    seen = read_terminal(master)
    proc.wait(timeout=60)
    os.close(master)
    text = re.sub(r"\x1b\[[0-9;]*m", "", seen.decode())
    assert proc.returncode == 2
    assert "╭" not in text and "Usage:" not in text
    assert text.replace("\r\n", "\n").startswith("error: Invalid value for '--sort' / '-s': the value must be one")
    assert "hint: see `mckpt list --help`" in text


# The sub-commands of a command group (`cache ls`, …), from the app's own tree like COMMANDS.
SUBCOMMANDS = tuple((name, sub) for name, cmd in typer.main.get_command(app).commands.items()  # type: ignore[attr-defined]
                    for sub in getattr(cmd, "commands", {}))


def test_there_are_subcommands_to_check() -> None:
    assert ("cache", "rm") in SUBCOMMANDS


@pytest.mark.parametrize(("group", "sub"), SUBCOMMANDS, ids=[f"{g} {s}" for g, s in SUBCOMMANDS])
def test_subcommands_are_registered_as_commands_are(group: str, sub: str) -> None:
    """Flowed help, two examples of the sub-command itself, arguments shown as what they take."""
    r = runner.invoke(app, [group, sub, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1"}, terminal_width=200)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "Examples:")
    examples = [line.strip() for line in lines[start + 1:] if line.strip()]
    assert len(examples) >= 2 and all(e.startswith(f"$ mckpt {group} {sub}") for e in examples), examples
    command = typer.main.get_command(app).commands[group].commands[sub]  # type: ignore[attr-defined]
    assert all("\n" not in p for p in (command.help or "").split("\n\n")), command.help
    for p in command.params:
        if p.param_type_name == "argument":
            assert p.help and _flat(p.help) in _flat(r.stdout), p.help  # nothing eaten as Rich markup
    rows = [line for line in lines if re.match(r"^│\s+\*?\s+[A-Z\[]", line)]
    assert not [row for row in rows if re.search(r"<str>|\bTEXT\b|<text>", row)]
