"""Colour: `--color auto|always|never`, FORCE_COLOR / CLICOLOR_FORCE in a pipe, NO_COLOR, and a
colour-blind-safe scale for accuracies, on a real terminal (a pty) and in a real pipe, through both
start paths (the direct one for list/inspect, Typer for the rest)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run_cli
from pty_run import run_on_pty

from mckpt.demo import write_demo
from mckpt.view.cells import ACC_HIGH, ACC_LOW, ACC_MID, acc_style

COLOUR = re.compile(r"\x1b\[[0-9;]*(3[0-7]|38;[0-9;]+)m")  # a foreground colour, not bold or dim
TRUECOLOR = {"COLORTERM": "truecolor"}


def sgr(hex_colour: str) -> str:
    """The escape a truecolor terminal gets for `hex_colour`."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"38;2;{r};{g};{b}m"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("colour") / "demo"
    write_demo(folder)
    return folder / "checkpoints"


def test_accuracy_scale_is_okabe_ito() -> None:
    assert [acc_style(x) for x in (None, 95, 80, 79.99, 50, 49.9, 3)] == [
        None, ACC_HIGH, ACC_HIGH, ACC_MID, ACC_MID, ACC_LOW, ACC_LOW]
    assert {ACC_HIGH, ACC_MID, ACC_LOW} <= {"#56B4E9", "#E69F00", "#D55E00", "#0072B2", "#009E73", "#CC79A7"}


@pytest.mark.parametrize("how", [
    {"env": {"FORCE_COLOR": "1"}, "args": []},
    {"env": {"CLICOLOR_FORCE": "1"}, "args": []},
    {"env": {}, "args": ["--color", "always"]},
    {"env": {}, "args": ["--color=always"]},
])
def test_forced_colour_reaches_a_pipe_over_no_color(demo: Path, how: dict) -> None:
    """run_cli sets NO_COLOR=1: forcing wins over it (uv, gh), and the accuracies carry the scale."""
    r = run_cli("-X", "importtime", "-m", "mckpt", *how["args"], "list", str(demo), "--acc",
                env={**TRUECOLOR, **how["env"]}, module=None)
    assert r.returncode == 0, r.stderr
    for colour in (ACC_HIGH, ACC_MID, ACC_LOW):
        assert sgr(colour) in r.stdout, (colour, r.stdout)
    assert "\x1b[32m" not in r.stdout and "\x1b[31m" not in r.stdout  # no green/red any more
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in r.stderr.splitlines()
                if line.startswith("import time:")}
    assert "typer" not in imported  # answered by the direct path, which honoured the option too


@pytest.mark.parametrize(("args", "env"), [
    ([], {}),
    ([], {"CLICOLOR_FORCE": "0", "NO_COLOR": ""}),
    (["--color", "never"], {"FORCE_COLOR": "1", "NO_COLOR": ""}),
    (["--color", "auto"], {"NO_COLOR": ""}),
])
def test_a_pipe_gets_no_colour_unless_forced(demo: Path, args: list[str], env: dict) -> None:
    r = run_cli(*args, "list", str(demo), "--acc", env=env)
    assert r.returncode == 0, r.stderr
    assert "\x1b[" not in r.stdout
    assert "class-IL" in r.stdout.splitlines()[1]  # the plain table


def test_typer_path_and_stderr_follow_the_option(demo: Path) -> None:
    """A global option before a command Typer answers; an error line on stderr in a pipe."""
    forced = run_cli("--color", "always", "results", str(demo), env=TRUECOLOR)
    assert forced.returncode == 0, forced.stderr
    assert COLOUR.search(forced.stdout), forced.stdout
    err = run_cli("--color", "always", "diff", "nothing.pt", "other.pt")
    assert err.returncode != 0 and err.stderr.startswith("\x1b[31;1merror:\x1b[0m"), err.stderr
    assert run_cli("inspect", "nothing.pt", env={"FORCE_COLOR": "1"}).stderr.startswith("\x1b[31;1merror:")
    assert run_cli("inspect", "nothing.pt").stderr.startswith("error:")
    bad = run_cli("--color", "sometimes", "list", str(demo))
    assert bad.returncode == 2 and "auto, always, never" in bad.stderr


def test_terminal_colours_unless_told_not_to(demo: Path) -> None:
    code, screen = run_on_pty(["list", str(demo), "--acc"], env=TRUECOLOR, columns=200)
    assert code == 0, screen
    assert sgr(ACC_HIGH) in screen and sgr(ACC_LOW) in screen
    plain = ((["--color", "never"], {}), ([], {"NO_COLOR": "1"}), (["--color", "never"], {"FORCE_COLOR": "1"}))
    for args, env in plain:
        code, screen = run_on_pty([*args, "list", str(demo), "--acc"], env={**TRUECOLOR, **env}, columns=200)
        assert code == 0, screen
        assert "class-IL" in screen and not COLOUR.search(screen), (args, env, screen)
    code, screen = run_on_pty(["--color", "never", "inspect", "nothing.pt"], env=TRUECOLOR)
    assert code == 1 and "error: nothing.pt" in screen and "\x1b[31" not in screen
