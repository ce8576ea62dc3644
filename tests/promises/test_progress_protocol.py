"""One progress protocol (`mckpt.io.progress.Progress`): every library function that reports
progress takes it, the CLI's bar satisfies it as it is, and no second shape creeps back in (a
`Callable[[int], None]`, a `(done, total)` callback, a fetch-only reporter)."""

from __future__ import annotations

import ast
import inspect
import io
import threading
from pathlib import Path

import pytest

from mckpt.io.progress import Locked, NoProgress, Progress
from mckpt.view.output import Output

PACKAGE = Path(__file__).resolve().parents[2] / "mckpt"
# Byte sinks of a download's own streams (they count bytes transferred, then report to the
# download's Progress): plumbing inside fetch, not a progress parameter a caller passes.
BYTE_SINKS = {"on_bytes"}
INT_CALLBACKS = ("Callable[[int], None]", "Callable[[int, int], None]")


def _sources() -> list[tuple[Path, ast.Module]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(PACKAGE.rglob("*.py"))]


def _arguments(tree: ast.Module) -> list[ast.arg]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            found += [*a.posonlyargs, *a.args, *a.kwonlyargs]
    return found


def test_no_integer_callback_stands_in_for_progress() -> None:
    bad = []
    for path, tree in _sources():
        for arg in _arguments(tree):
            text = ast.unparse(arg.annotation) if arg.annotation is not None else ""
            if any(c in text for c in INT_CALLBACKS) and arg.arg not in BYTE_SINKS:
                bad.append(f"{path.relative_to(PACKAGE)}:{arg.lineno} {arg.arg}: {text}")
        for node in ast.walk(tree):  # an alias (`Progress = Callable[[int], None]`) is a second type too
            if isinstance(node, ast.Assign) and any(c in ast.unparse(node.value) for c in INT_CALLBACKS):
                bad.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node)}")
    assert not bad, "take mckpt.io.progress.Progress instead:\n" + "\n".join(bad)


def test_every_progress_parameter_is_the_one_protocol() -> None:
    bad = []
    for path, tree in _sources():
        for arg in _arguments(tree):
            if "progress" in arg.arg or "reporter" in arg.arg:
                text = ast.unparse(arg.annotation) if arg.annotation is not None else ""
                if text not in ("Progress", "Progress | None"):
                    bad.append(f"{path.relative_to(PACKAGE)}:{arg.lineno} {arg.arg}: {text or 'untyped'}")
    assert not bad, "\n".join(bad)


def test_only_two_progress_classes_exist() -> None:
    """The protocol with its no-op default and thread-safe wrapper, and the CLI's bar: nothing else."""
    classes = {(str(p.relative_to(PACKAGE)), node.name) for p, tree in _sources() for node in ast.walk(tree)
               if isinstance(node, ast.ClassDef) and ("Progress" in node.name or "Reporter" in node.name)}
    assert classes == {("io/progress.py", "Progress"), ("io/progress.py", "NoProgress"),
                       ("view/output.py", "Progress")}


MEMBERS = ("total", "done", "advance", "reset", "note")


@pytest.mark.parametrize("make", [NoProgress, lambda: Locked(NoProgress(), threading.Lock())],
                         ids=["NoProgress", "Locked"])
def test_library_implementations_count_what_they_are_told(make) -> None:
    p = make()
    p.reset(10, 2, "a.pt")
    p.advance(3)
    p.advance()
    p.note("resuming")
    assert (p.total, p.done) == (10, 6)


def test_the_cli_bar_satisfies_the_protocol_as_it_is() -> None:
    assert all(name in Progress.__annotations__ or hasattr(Progress, name) for name in MEMBERS)
    with Output(err=io.StringIO()).progress("fetching") as bar:
        for name in MEMBERS:
            assert hasattr(bar, name), name
        for name in ("advance", "reset"):
            assert (list(inspect.signature(getattr(bar, name)).parameters)
                    == list(inspect.signature(getattr(Progress, name)).parameters)[1:]), name


def test_the_bar_off_a_terminal_says_a_line_per_transfer_and_its_notes() -> None:
    err = io.StringIO()
    o = Output(err=err)
    with o.progress("fetching") as bar:
        bar.reset(3 << 20, 0, "a.pt")
        bar.advance(1 << 20)
        bar.note("resuming at byte 1048576")
        bar.reset(None, 0, "b.pt")
    assert err.getvalue() == ("mckpt: fetching a.pt (3.0 MiB)\nmckpt: resuming at byte 1048576\n"
                              "mckpt: fetching b.pt (unknown size)\n")
    quiet = Output(err=io.StringIO(), quiet=True)
    with quiet.progress("fetching") as bar:
        bar.reset(10, 0, "a.pt")
        bar.note("resuming")
    assert quiet.err.getvalue() == ""
