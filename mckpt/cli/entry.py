"""The `mckpt` executable: shell completion answers first, then the everyday commands, then the Typer app.

Importing the Typer app (Typer, Click, Rich and every command module) costs more than a TAB press
may take, so `mckpt __complete KIND PREFIX` (what the scripts in `completions/` call) is answered
here from light modules only; `inspect`, `list` and `fetch` are answered by `cli.direct` when their
command line is a plain one; everything else goes to `mckpt.cli.app`.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["__complete"]:
        from .completers import answer

        sys.exit(answer(sys.argv[2:]))
    from .direct import run

    code = run(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from .app import main as app_main

    app_main()
