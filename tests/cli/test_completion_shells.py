"""Real shells (bash, zsh, fish) load the generated scripts and offer the right candidates.

Each test runs the shell in a folder holding a `checkpoints/` of empty, Mammoth-named files and a
`mckpt` on PATH that runs this checkout, then reads what the shell would offer on TAB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from mckpt.cli.app import app
from tests.conftest import REPO

COMPLETIONS = REPO / "mckpt" / "completions"
COMMANDS = sorted(typer.main.get_command(app).commands)  # what `mckpt <TAB>` must offer
ZSH_CAPTURE = Path(__file__).parents[1] / "shells" / "zsh_capture.zsh"
SGD = "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744"
ER = "er_ace_seq-cifar100_default_2000_50_20250115-235959_deadbeef"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shell")
    ck = root / "checkpoints"
    ck.mkdir()
    for name in (f"{SGD}_0.pt", f"{SGD}_1.pt", f"{ER}_9.pt"):
        (ck / name).write_bytes(b"")
    (ck / "notes.txt").write_text("not a checkpoint")
    (ck / "sub").mkdir()
    (root / "chess.txt").write_text("")
    bin_dir = root / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "mckpt"
    shim.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}" exec "{sys.executable}" -m mckpt "$@"\n')
    shim.chmod(0o755)
    return root


def _env(workdir: Path) -> dict[str, str]:
    path = f"{workdir / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    return {"PATH": path, "HOME": str(workdir), "LANG": "C.UTF-8"}


def _need(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        message = f"{shell} is not installed (`.ci/run` installs it: apt-get install -y zsh fish)"
        if os.environ.get("CI"):  # CI must test every shell the README promises
            pytest.fail(f"CI is set and {message}", pytrace=False)
        pytest.skip(message)
    return path


# ---------------------------------------------------------------------------------------------------
# bash: source the script, set COMP_WORDS/COMP_CWORD, call the function, read COMPREPLY


def _candidates(workdir: Path, argv: list[str]) -> list[str]:
    """Run a shell; its output lines (a fish description after a TAB dropped) are the candidates."""
    proc = subprocess.run(argv, cwd=workdir, env=_env(workdir), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return sorted({x.split("\t")[0].strip() for x in proc.stdout.splitlines()} - {""})


def bash_complete(workdir: Path, *words: str) -> list[str]:
    script = (
        f"source {COMPLETIONS / 'mckpt.bash'}\n"
        'COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n'
        "_mckpt\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    return _candidates(workdir, [_need("bash"), "--norc", "-c", script, "bash", *words])


@pytest.mark.parametrize(("words", "expected"), [
    (["mckpt", ""], COMMANDS),
    (["mckpt", "in"], ["inspect"]),
    (["mckpt", "--ver"], ["--version"]),
    (["mckpt", "inspect", "--te"], ["--tensors"]),
    (["mckpt", "inspect", "che"], ["checkpoints"]),
    (["mckpt", "inspect", "checkpoints/"], [f"checkpoints/{ER}_9.pt", f"checkpoints/{SGD}_0.pt",
                                            f"checkpoints/{SGD}_1.pt", "checkpoints/sub"]),
    (["mckpt", "list", "--model", ""], ["er_ace", "sgd"]),
    (["mckpt", "list", "-m", "s"], ["sgd"]),
    (["mckpt", "list", "--dataset", "=", "seq-c"], ["seq-cifar100"]),  # bash splits `--dataset=seq-c`
    (["mckpt", "list", "--sort", "s"], ["size", "started"]),
    (["mckpt", "inspect", "-f", "git"], ["github"]),
    (["mckpt", "diff", "9"], ["9acd4744"]),
    (["mckpt", "diff", "9acd4744", "d"], ["deadbeef"]),
    (["mckpt", "diff", "--top", ""], []),
    (["mckpt", "--debug", "list", "-r", "--model", "er"], ["er_ace"]),
])
def test_bash(workdir: Path, words: list[str], expected: list[str]) -> None:
    assert bash_complete(workdir, *words) == expected


def test_bash_unsplit_equals_form(workdir: Path) -> None:
    """With `=` taken out of COMP_WORDBREAKS the word stays whole and so must the candidate."""
    assert bash_complete(workdir, "mckpt", "list", "--model=er") == ["--model=er_ace"]


# ---------------------------------------------------------------------------------------------------
# zsh and fish


# Both shells get the same command lines; fish marks folders with a trailing slash.
LINES = [
    ("mckpt ", COMMANDS),
    ("mckpt inspect --te", ["--tensors"]),
    ("mckpt inspect che", ["checkpoints/"]),
    ("mckpt inspect checkpoints/", [f"checkpoints/{ER}_9.pt", f"checkpoints/{SGD}_0.pt",
                                    f"checkpoints/{SGD}_1.pt", "checkpoints/sub/"]),
    ("mckpt list --model ", ["er_ace", "sgd"]),
    ("mckpt list -d seq-c", ["seq-cifar100"]),
    ("mckpt list --format gi", ["github"]),
    ("mckpt diff 9", ["9acd4744"]),
]


@pytest.mark.parametrize(("line", "expected"), LINES)
def test_zsh(workdir: Path, line: str, expected: list[str]) -> None:
    """zsh: an interactive zsh in a pseudo-terminal presses TAB (tests/shells/zsh_capture.zsh)."""
    argv = [_need("zsh"), "-f", str(ZSH_CAPTURE), str(COMPLETIONS), line]
    assert _candidates(workdir, argv) == [e.rstrip("/") for e in expected]


@pytest.mark.parametrize(("line", "expected"), LINES)
def test_fish(workdir: Path, line: str, expected: list[str]) -> None:
    """fish: `complete -C LINE` prints what fish would offer."""
    script = f"source {COMPLETIONS / 'mckpt.fish'}; complete -C {line!r}"
    assert _candidates(workdir, [_need("fish"), "--no-config", "-c", script]) == expected


# ---------------------------------------------------------------------------------------------------
# installed the README's way, from `mckpt completion SHELL` (the scripts shipped in the package)


def test_bash_from_mckpt_completion(workdir: Path) -> None:
    """`eval "$(mckpt completion bash)"`, as ~/.bashrc would, then a TAB after `mckpt inspect --te`."""
    script = (
        'eval "$(mckpt completion bash)"\n'
        'COMP_WORDS=(mckpt inspect --te); COMP_CWORD=2; _mckpt\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
        'COMP_WORDS=(mckpt completion ""); COMP_CWORD=2; _mckpt\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    assert _candidates(workdir, [_need("bash"), "--norc", "-c", script]) == ["--tensors", "bash", "fish", "zsh"]


def test_zsh_from_mckpt_completion(workdir: Path, tmp_path: Path) -> None:
    """`mckpt completion zsh > ~/.zfunc/_mckpt`, that folder in $fpath, then a real TAB."""
    zfunc = tmp_path / "zfunc"
    zfunc.mkdir()
    with open(zfunc / "_mckpt", "w") as f:
        subprocess.run(["mckpt", "completion", "zsh"], cwd=workdir, env=_env(workdir), stdout=f, check=True,
                       timeout=60)
    argv = [_need("zsh"), "-f", str(ZSH_CAPTURE), str(zfunc), "mckpt list --model "]
    assert _candidates(workdir, argv) == ["er_ace", "sgd"]


def test_fish_from_mckpt_completion(workdir: Path, tmp_path: Path) -> None:
    """`mckpt completion fish > ~/.config/fish/completions/mckpt.fish`: fish autoloads it from there."""
    home = tmp_path / "home"
    target = home / ".config" / "fish" / "completions"
    target.mkdir(parents=True)
    env = {**_env(workdir), "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")}
    with open(target / "mckpt.fish", "w") as f:
        subprocess.run(["mckpt", "completion", "fish"], cwd=workdir, env=env, stdout=f, check=True, timeout=60)
    proc = subprocess.run([_need("fish"), "-c", "complete -C 'mckpt list -d seq-c'"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert sorted({x.split("\t")[0] for x in proc.stdout.splitlines()}) == ["seq-cifar100"]
