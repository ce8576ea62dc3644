"""An option two commands share is declared once (an `Annotated` alias in `cli/common.py`, or in
the module of the two commands that share it): its flags, help and metavar cannot drift apart
between commands, and a help fix reaches every command at once."""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

CLI = Path(__file__).resolve().parents[2] / "mckpt" / "cli"
DECLARATIONS = {"typer.Option", "typer.Argument", "choice_option"}


def _declared_helps() -> dict[str, list[str]]:
    """Each literal help text of an option or argument → where it is written."""
    found: dict[str, list[str]] = {}
    for path in sorted(CLI.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in DECLARATIONS:
                for kw in node.keywords:
                    if kw.arg == "help" and not isinstance(kw.value, ast.Name):
                        found.setdefault(ast.unparse(kw.value), []).append(f"{path.name}:{node.lineno}")
    return found


def test_each_help_text_is_declared_once() -> None:
    twice = {help: where for help, where in _declared_helps().items() if len(where) > 1}
    assert not twice, f"declare these once, as an Annotated alias in cli/common.py: {twice}"


def _options(func: typing.Callable[..., object]) -> dict[str, object]:
    """A command's parameters → the typer declaration object in their `Annotated` type."""
    hints = typing.get_type_hints(func, include_extras=True)
    return {name: hint.__metadata__[0] for name, hint in hints.items() if hasattr(hint, "__metadata__")}


@pytest.mark.parametrize(("module", "first", "second", "shared"), [
    ("results_cmd", "results_command", "plot_command",
     {"paths", "recursive", "by", "where", "model", "dataset", "tasks", "sort", "top", "no_cache", "quiet"}),
    ("list_cmd", "list_command", None, {"recursive", "model", "dataset", "where", "json", "quiet"}),
])
def test_commands_that_share_options_share_one_declaration(module: str, first: str, second: str | None,
                                                            shared: set[str]) -> None:
    import importlib

    from mckpt.cli import results_cmd

    mod = importlib.import_module(f"mckpt.cli.{module}")
    a = _options(getattr(mod, first))
    b = _options(getattr(mod, second)) if second else _options(results_cmd.results_command)
    for name in shared:
        assert a[name] is b[name], name  # the very same object: one declaration


def test_save_and_load_share_the_mammoth_options() -> None:
    from mckpt.cli.load_cmd import load_command
    from mckpt.cli.save_cmd import save_command

    save, load = _options(save_command), _options(load_command)
    for name in ("every", "mammoth", "python", "dry_run", "json", "quiet"):
        assert save[name] is load[name], name
