"""The README's examples marked as demo output are what `mckpt demo`'s files really give.

Each code block after a `<!-- demo output -->` comment holds one or more `$ mckpt …` commands,
each followed by its output. The test writes the demo in a temporary folder, runs each command
there (a pipe: plain text, no colour) and checks the output line for line. The one normalisation:
trailing spaces are ignored. A line that is only `…` stands for lines left out: the lines between
two `…` must appear together, in order, in the real output; a block without a leading or trailing
`…` must start or end where the real output does.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import REPO, run_cli

MARK = "<!-- demo output"
GAP = "…"


def demo_examples() -> list[tuple[str, list[str]]]:
    """(command line, expected output lines) of every marked block, in README order."""
    text = (REPO / "README.md").read_text()
    examples: list[tuple[str, list[str]]] = []
    for found in re.finditer(re.escape(MARK) + r".*?-->\n```\n(.*?)```", text, re.S):
        for part in re.split(r"^(?=\$ mckpt )", found.group(1), flags=re.M):
            if part.strip():
                command, *lines = part.rstrip("\n").split("\n")
                examples.append((command[2:], [line.rstrip() for line in lines]))
    return examples


EXAMPLES = demo_examples()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("readme-demo")
    r = run_cli("demo", "-q", cwd=root)
    assert r.returncode == 0, r.stderr
    return root


def matches(expected: list[str], real: list[str]) -> str | None:
    """None when `expected` (with `…` gaps) is `real`; else the first expected line not found."""
    segments: list[list[str]] = [[]]
    for line in expected:
        if line == GAP:
            segments.append([])
        else:
            segments[-1].append(line)
    at = 0
    for i, segment in enumerate(segments):
        if not segment:
            continue
        starts = [at] if i == 0 else range(at, len(real) - len(segment) + 1)  # no `…` first: line 1
        hit = next((s for s in starts if real[s:s + len(segment)] == segment), None)
        if hit is None:
            return f"the lines from {segment[0]!r} on"
        at = hit + len(segment)
    if segments[-1] and at != len(real):
        return f"(the real output goes on after {segments[-1][-1]!r})"
    return None


def test_the_readme_marks_the_demo_examples() -> None:
    commands = [command.split()[:2] for command, _ in EXAMPLES]
    assert ["mckpt", "list"] in commands and ["mckpt", "inspect"] in commands


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_a_readme_example_is_the_demo_output(demo: Path, command: str, expected: list[str]) -> None:
    r = run_cli(*shlex.split(command)[1:], cwd=demo, env={"COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    real = [line.rstrip() for line in r.stdout.rstrip("\n").split("\n")]
    wrong = matches(expected, real)
    assert wrong is None, f"README line not in the output of `{command}`: {wrong}\n--- real output:\n{r.stdout}"


def test_the_matcher_catches_a_changed_number() -> None:
    real = ["10 run(s), 13 file(s), 10.1 MiB", "a", "b", "c"]
    assert matches(["10 run(s), 13 file(s), 10.1 MiB", "a", GAP], real) is None
    assert matches([GAP, "b", "c"], real) is None
    assert matches(["10 run(s), 13 file(s), 10.2 MiB", GAP], real) is not None
    assert matches([GAP, "a", "c"], real) is not None
    assert matches(["10 run(s), 13 file(s), 10.1 MiB", "a"], real) is not None  # no `…`: must end there


def test_the_readme_names_every_dependency_for_no_deps() -> None:
    # The `--no-deps` install lists the dependencies by hand: the same as pyproject's, torch aside.
    project = (REPO / "pyproject.toml").read_text()
    block = project[project.index("dependencies = ["):]
    deps = re.findall(r'^\s*"([^"]+)",', block[:block.index("\n]")], re.M)
    text = (REPO / "README.md").read_text()
    line = text[text.index("pip install --no-deps . && pip install"):]
    named = re.findall(r'"([^"]+)"', line[:line.index("`")])
    assert len(deps) > 3 and sorted(named) == sorted(d for d in deps if not d.startswith("torch"))


def test_inspect_csv_has_empty_cells_where_the_readme_promises_them(demo: Path) -> None:
    # README, Output modes: csv/tsv carry "empty cells for none (never `-`)"; the demo has no config.
    import csv
    import io

    r = run_cli("inspect", "mckpt-demo/checkpoints/sgd_seq-mnist_None_0_1_20261128-093000_e3e70682_2.pt",
                "-f", "csv", cwd=demo)
    assert r.returncode == 0, r.stderr
    rows = [row for row in csv.reader(io.StringIO(r.stdout)) if row]
    assert ["config", ""] in rows
    assert not [row for row in rows if any(cell in ("-", "'-") for cell in row)]
