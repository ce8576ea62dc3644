"""Finding the user's Mammoth checkout and the Python that runs it.

`mckpt save` and `mckpt load` launch the user's own Mammoth, so they must know where it is and
which layout it has: the current one (`main.py` beside `utils/checkpoints.py`) or the older one of
the D1/D2 era, whose entrypoint is `utils/main.py` and which never restores saved args. The search
order is explicit option, environment variable, then the current folder and its parents, so a
user standing inside a checkout needs no flag at all.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import MckptError

CURRENT = "current"
OLD = "old"

_SAVECHECK_FLAG = re.compile(r"""['"]--savecheck['"][^)]*store_true""")


@dataclass(frozen=True)
class MammothEnv:
    """A Mammoth checkout ready to run: where it is, how it was found, and its interpreter."""

    root: Path
    layout: str  # CURRENT or OLD
    found_by: str  # "--mammoth", "MAMMOTH_ROOT", "current folder" or "parent folder"
    python: str
    python_found_by: str  # "--python", "MAMMOTH_PYTHON" or "PATH"

    @property
    def entrypoint(self) -> str:
        """Relative to the root: Mammoth's main.py decides where it lives from how it was named."""
        return "main.py" if self.layout == CURRENT else "utils/main.py"

    @property
    def checkpoint_dir(self) -> Path:
        return self.root / "checkpoints"

    @property
    def savecheck_is_flag(self) -> bool:
        """Most D1-era checkouts declare `--savecheck` as a bare flag instead of `task|last`."""
        if self.layout == CURRENT:
            return False
        try:
            text = (self.root / "utils" / "args.py").read_text(errors="replace")
        except OSError:
            return False
        return bool(_SAVECHECK_FLAG.search(text))

    def command(self, args: list[str]) -> list[str]:
        return [self.python, self.entrypoint, *args]

    def describe(self) -> list[tuple[str, str]]:
        return [
            ("mammoth", f"{self.root} ({self.layout} layout, found by {self.found_by})"),
            ("python", f"{self.python} (from {self.python_found_by})"),
        ]


def detect_layout(folder: Path) -> str | None:
    """CURRENT, OLD, or None when `folder` is not a Mammoth checkout."""
    if (folder / "main.py").is_file() and (folder / "utils" / "checkpoints.py").is_file():
        return CURRENT
    if (folder / "utils" / "main.py").is_file():
        return OLD
    return None


def _not_a_checkout(folder: Path, source: str) -> MckptError:
    return MckptError(
        f"not a Mammoth checkout (given by {source}): no main.py with utils/checkpoints.py, "
        "and no utils/main.py",
        path=str(folder),
        hint="point it at the folder you run Mammoth's main.py from",
    )


def find_root(
    explicit: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> tuple[Path, str, str]:
    """(root, layout, how it was found), or a MckptError that says what to do."""
    environ = os.environ if environ is None else environ
    for value, source in ((explicit, "--mammoth"), (environ.get("MAMMOTH_ROOT"), "MAMMOTH_ROOT")):
        if value:
            folder = Path(value).expanduser().resolve()
            layout = detect_layout(folder)
            if layout is None:
                raise _not_a_checkout(folder, source)
            return folder, layout, source
    here = Path(cwd or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        layout = detect_layout(folder)
        if layout is not None:
            return folder, layout, "current folder" if folder == here else "parent folder"
    raise MckptError(
        "no Mammoth checkout found in this folder or its parents",
        path=str(here),
        hint="name your Mammoth checkout (the folder with main.py) with {mammoth} or MAMMOTH_ROOT", spelled=True,
    )


def find_python(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(interpreter, where it came from); the user's training Python may differ from mckpt's."""
    environ = os.environ if environ is None else environ
    for value, source in ((explicit, "--python"), (environ.get("MAMMOTH_PYTHON"), "MAMMOTH_PYTHON")):
        if value:
            found = shutil.which(os.path.expanduser(value), path=environ.get("PATH"))
            if found is None:
                raise MckptError(
                    f"no such Python interpreter (given by {source})",
                    path=value,
                    hint="give the path of the python that has Mammoth's requirements installed",
                )
            return found, source
    found = shutil.which("python", path=environ.get("PATH"))
    if found is None:
        raise MckptError(
            "no `python` on PATH to run Mammoth with", hint="name one with {python} or MAMMOTH_PYTHON", spelled=True
        )
    return found, "PATH"


def find_mammoth(
    mammoth: str | None = None,
    python: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> MammothEnv:
    """The checkout and interpreter `save`/`load` will use (see the module docstring for the order)."""
    root, layout, found_by = find_root(mammoth, environ, cwd)
    interpreter, python_found_by = find_python(python, environ)
    return MammothEnv(root, layout, found_by, interpreter, python_found_by)


@dataclass(frozen=True)
class Assumed:
    """A checkout to plan against when the real one is not found (`load --dry-run`): the stand-in,
    and the error each missing thing would have raised, with what to do about it (kept as errors,
    so the caller words them in its own terms: see `MckptError.describe`)."""

    env: MammothEnv
    missing: list[MckptError]


def find_or_assume_mammoth(
    mammoth: str | None = None,
    python: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Assumed:
    """:func:`find_mammoth`, or for a plan only, a stand-in for what is missing: a current-layout
    checkout in the current folder, and `python`. A plan shows the command that would run; it does
    not need the checkout to exist, and refusing it would hide everything else the plan says."""
    missing: list[MckptError] = []
    try:
        root, layout, found_by = find_root(mammoth, environ, cwd)
    except MckptError as e:
        missing.append(e)
        root, layout, found_by = Path(cwd or os.getcwd()).resolve(), CURRENT, "assumption: none found"
    try:
        interpreter, python_found_by = find_python(python, environ)
    except MckptError as e:
        missing.append(e)
        interpreter, python_found_by = python or "python", "assumption: none found"
    return Assumed(MammothEnv(root, layout, found_by, interpreter, python_found_by), missing)
