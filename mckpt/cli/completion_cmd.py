"""`mckpt completion bash|zsh|fish`: print the shell's completion script, shipped in the package.

The scripts are package data (`mckpt/completions/`, written by `tools/generate.py` from the CLI),
so a `pip install mckpt` can install completion without the source tree, as `gh completion -s bash`
and `uv generate-shell-completion bash` do. They are the fast scripts: a TAB press runs no Python
except for run uids and model/dataset names (see `mckpt.cli.completers`).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated

import typer

from ..choices import SHELLS
from .common import Choices, add_command, examples, handle_errors
from .outcome import make_output

SCRIPTS = {"bash": "mckpt.bash", "zsh": "_mckpt", "fish": "mckpt.fish"}  # shell → file in mckpt/completions


def script(shell: str) -> str:
    """The completion script for `shell` (one of `choices.SHELLS`), as shipped with this mckpt."""
    return (files("mckpt") / "completions" / SCRIPTS[shell]).read_text(encoding="utf-8")


@handle_errors
def completion_command(
    shell: Annotated[str, typer.Argument(metavar="bash|zsh|fish", callback=Choices(SHELLS).check,
                                         help="The shell to print the script for.")],
) -> None:
    """Print the shell completion script for bash, zsh or fish.

    bash: add `eval "$(mckpt completion bash)"` to ~/.bashrc, or save it once with `mckpt completion bash >
    ~/.local/share/bash-completion/completions/mckpt`. zsh: `mckpt completion zsh > ~/.zfunc/_mckpt` with
    `fpath=(~/.zfunc $fpath)` before compinit in ~/.zshrc. fish: `mckpt completion fish >
    ~/.config/fish/completions/mckpt.fish`. Start a new shell afterwards.
    """
    make_output().verbatim(script(shell))


def register(app: typer.Typer) -> None:
    add_command(app, "completion", completion_command, epilog=examples(
        'eval "$(mckpt completion bash)"',
        "mckpt completion fish > ~/.config/fish/completions/mckpt.fish",
    ))
