"""Write the files generated from the mckpt CLI's declarations; `--check` only compares.

Run `python tools/generate.py` from anywhere after changing any command or option, and commit
what it rewrites (a test fails when they drift from the CLI):

- `mckpt/completions/` — the bash, zsh and fish scripts (`tools/completion_scripts.py`), package
  data that `mckpt completion SHELL` prints;
- `mckpt/cli/direct_table.py` — how `inspect` and `list` are parsed before Typer is imported
  (`tools/direct_table.py`).

`python tools/generate.py [ROOT] [--check]`: ROOT (default: this checkout) is where the files are
written or compared, by the same relative paths.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere: the mckpt of this checkout
    sys.path.insert(0, str(REPO))

from mckpt.cli.completion_spec import describe  # noqa: E402
from mckpt.io.atomic import write_atomic  # noqa: E402
from tools.completion_scripts import render_all  # noqa: E402
from tools.direct_table import render_direct_table  # noqa: E402

DIRECT_TABLE = "mckpt/cli/direct_table.py"
COMPLETIONS = "mckpt/completions"


def generated() -> dict[str, str]:
    """Every generated file's text, by its path relative to the checkout."""
    from mckpt.cli.app import app
    from mckpt.cli.direct import BODIES

    root = describe(app)
    files = {f"{COMPLETIONS}/{name}": text for name, text in render_all(root).items()}
    files[DIRECT_TABLE] = render_direct_table(root, BODIES)
    return files


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    if len(args) > 1 or any(a.startswith("-") for a in args):
        print(f"usage: python tools/generate.py [ROOT] [--check] (not {' '.join(args)})", file=sys.stderr)
        return 2
    root = Path(args[0]) if args else REPO
    stale = []
    for rel, text in generated().items():
        target = root / rel
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(str(target))
        if not check:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, text.encode("utf-8"))
    verb = "out of date" if check else "rewrote"
    for path in stale:
        print(f"{verb}: {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
