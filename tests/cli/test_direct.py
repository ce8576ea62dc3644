"""`inspect` and `list` answered before Typer (`mckpt.cli.direct`): the same call Typer would make,
or nothing at all, on command lines built here; and, on real runs, the same output."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from typer.testing import CliRunner

from mckpt.cli import direct, fetch_cmd, inspect_cmd, list_cmd
from mckpt.cli.app import app
from mckpt.cli.direct_table import COMMANDS
from mckpt.demo import write_demo

# What each command's Typer declaration calls, by the name `inspect_cmd` / `list_cmd` import it under.
PATCH = {"inspect": (inspect_cmd, "inspect_checkpoint"), "list": (list_cmd, "list_runs"),
         "fetch": (fetch_cmd, "fetch_file")}


def typer_call(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> dict[str, Any] | None:
    """The arguments Typer passes to the command's body for `argv`, or None when Typer refuses
    the command line or prints help (no body called)."""
    seen: list[dict[str, Any]] = []
    module, name = PATCH[argv[0]]

    def record(*args: Any, **kwargs: Any) -> int:
        (first,) = args
        kwargs[COMMANDS[argv[0]]["arguments"][0][0]] = first
        seen.append(kwargs)
        return 0

    monkeypatch.setattr(module, name, record)
    result = CliRunner().invoke(app, argv)
    monkeypatch.undo()
    if not seen:
        assert result.exit_code in (0, 2), result.output  # help, or a usage error
        return None
    assert result.exit_code == 0, result.output
    return {k: list(v) if isinstance(v, tuple) else v for k, v in seen[0].items()}


def random_line(rng: random.Random, command: str) -> list[str]:
    """A command line of `command` from its own option words, values both valid and not, and
    words Typer treats specially (help, clusters, `--`, abbreviations, `=` forms)."""
    options = COMMANDS[command]["options"]
    words: list[str] = [command]
    if rng.random() < 0.8:  # most lines name one file (what `inspect` needs), the rest none or several
        words.append(rng.choice(["a.pt", "runs", "17e0aa3c", "hf://o/r", "x y.pt"]))
    for _ in range(rng.randrange(0, 6)):
        roll = rng.random()
        if roll < 0.55:
            name = rng.choice(sorted(options))
            _, stores, choices = options[name]
            if stores == "str":
                value = rng.choice([*(choices[:3] or ("er", "seq-mnist")), "bogus", "-x", ""])
                if name.startswith("--") and rng.random() < 0.3:
                    words.append(f"{name}={value}")
                else:
                    words += [name, value]
            else:
                words.append(name if rng.random() < 0.9 else f"{name}=1")
        elif roll < 0.62:
            words.append(rng.choice(["a.pt", "runs", "17e0aa3c", "hf://o/r", "x y.pt"]))
        else:
            words.append(rng.choice(["--help", "-h", "--", "-", "-ta", "--tens", "--nope", "-Z", "--json=x"]))
    return words


@pytest.mark.parametrize("command", sorted(direct.BODIES))
def test_direct_parse_is_typers_parse_or_nothing(command: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(f"direct-{command}")
    answered = 0
    for _ in range(250):
        argv = random_line(rng, command)
        mine = direct.parse(argv)
        theirs = typer_call(monkeypatch, argv)
        if mine is None:
            continue
        answered += 1
        assert theirs is not None, f"{argv}: answered directly, but Typer refuses it"
        assert mine == (direct.BODIES[command], theirs), argv
    assert answered >= 40  # plain command lines really are answered directly, not all left to Typer


@pytest.mark.parametrize("argv", [
    ["inspect", "a.pt"], ["inspect", "a.pt", "-t", "--json"], ["inspect", "--format", "csv", "a.pt", "-a"],
    ["inspect", "a.pt", "--revision=main"], ["list"], ["list", "runs", "other", "-r", "--acc"],
    ["list", "--sort", "acc", "--reverse", "-m", "er", "--dataset=seq-mnist", "-q"],
])
def test_everyday_lines_are_answered_as_typer_would(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    mine = direct.parse(argv)
    assert mine is not None
    assert mine == (direct.BODIES[argv[0]], typer_call(monkeypatch, argv))


@pytest.mark.parametrize("argv", [
    ["inspect"], ["inspect", "a.pt", "b.pt"], ["inspect", "a.pt", "--help"], ["inspect", "-ta", "a.pt"],
    ["inspect", "--", "a.pt"], ["inspect", "a.pt", "--revision"], ["inspect", "a.pt", "--tens"],
    ["list", "--sort", "bogus"], ["list", "--json=1"], ["list", "-m", "-r"], ["--debug", "list"], ["diff", "a", "b"],
    [],
])
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert direct.parse(argv) is None


def test_typers_completion_protocol_is_left_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_MCKPT_COMPLETE", "bash_complete")
    assert direct.parse(["list"]) is None


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("direct") / "demo"
    write_demo(folder)
    return folder


TYPER_MAIN = "import sys; from mckpt.cli.app import main; sys.argv[0] = 'mckpt'; main()"


@pytest.mark.parametrize("argv", [
    ["list"], ["list", "--acc", "--sort", "acc"], ["list", "-q", "--model", "nomodel"], ["list", "--json"],
    ["list", "nowhere"], ["inspect", "17e0aa3c"], ["inspect", "17e0aa3c", "-t", "-f", "tsv"],
    ["inspect", "17e0aa3c", "--args-only", "--json"], ["inspect", "nope.pt"], ["inspect", "e3e7"],
])
def test_same_output_either_way(argv: list[str], demo: Path) -> None:
    """A real run through the executable (answered directly) and through the Typer app: the same
    stdout, stderr and exit code, and the direct one imported no Typer."""
    fast = run_cli("-X", "importtime", "-m", "mckpt", *argv, cwd=demo, module=None)
    slow = run_cli("-c", TYPER_MAIN, *argv, cwd=demo, module=None)
    timings = [line for line in fast.stderr.splitlines() if line.startswith("import time:")]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in timings}
    assert "mckpt" in imported and not imported & {"typer", "click", "rich"}
    stderr = "".join(line for line in fast.stderr.splitlines(keepends=True) if not line.startswith("import time:"))
    assert (fast.returncode, fast.stdout, stderr) == (slow.returncode, slow.stdout, slow.stderr)


def word_strategy(command: str) -> Any:
    """A word of a `command` line: an option (long or short) alone, with `=value` glued on, or
    clustered with another short option; a value or path; or a word Typer treats specially."""
    from hypothesis import strategies as st

    options = sorted(COMMANDS[command]["options"])
    shorts = [o for o in options if not o.startswith("--")]
    values = st.sampled_from(["er", "seq-mnist", "csv", "acc", "name", "main", "", "-x", "=er", "a=b", "bogus"])
    return st.one_of(
        st.sampled_from(options),
        st.builds(lambda o, v: f"{o}={v}", st.sampled_from(options), values),  # -m=er, --model=er
        st.builds(lambda a, b: a + b[1:], st.sampled_from(shorts), st.sampled_from(shorts)),  # -qr, -mq
        st.builds(lambda o, v: o + v, st.sampled_from(shorts), values),  # -mer
        values,
        st.sampled_from(["a.pt", "runs", "17e0aa3c", "hf://o/r", "--", "-", "--help", "-h", "--tens", "--no-acc"]),
    )


@pytest.mark.parametrize("command", sorted(direct.BODIES))
def test_direct_parse_with_equals_and_clusters_is_typers_or_nothing(command: str) -> None:
    """Hypothesis draws lines with `=` after short and long options (Click reads `-m=er` as the
    value `=er`), clusters and glued values; the direct parse must be Typer's or none."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=120, derandomize=True, deadline=None)
    @given(st.lists(word_strategy(command), max_size=5), st.booleans())
    def check(words: list[str], with_path: bool) -> None:
        argv = [command, *(["a.pt"] if with_path else []), *words]
        mine = direct.parse(argv)
        if mine is None:
            return
        with pytest.MonkeyPatch.context() as monkeypatch:
            theirs = typer_call(monkeypatch, argv)
        assert mine == (direct.BODIES[command], theirs), argv

    check()


@pytest.mark.parametrize("argv", [["list", "-m=er"], ["list", "-d=seq-mnist", "-q"], ["inspect", "a.pt", "-f=csv"]])
def test_equals_after_a_short_option_is_typers_value(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    theirs = typer_call(monkeypatch, argv)
    assert direct.parse(argv) in (None, (direct.BODIES[argv[0]], theirs))
