"""What `mckpt save` and `mckpt load` share: the options that find Mammoth, the one JSON document
they print, and running Mammoth with its output streamed.

The library modules behind them are imported inside the functions: every other command (and each
TAB press) builds these options too, and should not pay for subprocess and the planners.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..choices import EVERY
from ..view.output import Output
from .common import choice_option
from .outcome import flag, stream_failed, to_nowhere

if TYPE_CHECKING:
    from ..train.mammoth_env import MammothEnv
    from ..train.trainer import TrainingResult

PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}

MammothOpt = Annotated[
    str | None,
    typer.Option(
        "--mammoth",
        metavar="DIR",
        help="Mammoth checkout (default: $MAMMOTH_ROOT, else this folder or a parent holding main.py).",
    ),
]
PythonOpt = Annotated[
    str | None,
    typer.Option(
        "--python", metavar="PY", help="Interpreter for Mammoth (default: $MAMMOTH_PYTHON, else python)."
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", "-n", help="Print the command (and reasoning); run nothing.")
]
# save/load check --every and --mode in the library (strict=False), so that with --json a bad
# value is refused inside the one document these commands always print.
EveryOpt = Annotated[
    str | None, choice_option("--every", choices=EVERY, strict=False,
                              help="Checkpoint after every task, or once after the last one.")
]


class JsonDocument:
    """`save`/`load --json` print one document whatever happens: `{plan, result, error}`, with
    `plan` null when the command was refused before it had one, `result` only after a run, and
    `error` the refusal (also said on stderr, with the exit code it always had)."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.plan: dict[str, object] | None = None

    def document(self, **parts: object) -> dict[str, object]:
        """The document a run that got this far prints (`parts`: its `result`)."""
        return {"plan": self.plan, **parts, "error": None}

    def __enter__(self) -> JsonDocument:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        from ..errors import MckptError

        if self.out.json and isinstance(error, MckptError):
            self.out.emit_json({"plan": self.plan, "error": error.to_json(flag)})


def run(
    doc: JsonDocument,
    mammoth: MammothEnv,
    command: list[str],
    watch: Path,
    env: dict[str, str],
    check: bool = False,
) -> None:
    """Run Mammoth, report what it wrote, and exit with its exit code.

    With --json, Mammoth's own output goes to stderr so stdout holds one JSON document.
    """
    from ..train.trainer import run_mammoth

    result = run_mammoth(command, mammoth.root, watch, env, notify=doc.out.notice,
                         stdout=sys.stderr if doc.out.json else sys.stdout)
    _report(doc, result, mammoth, check)
    raise typer.Exit(result.exit_code)


def _report(doc: JsonDocument, result: TrainingResult, mammoth: MammothEnv, check: bool) -> None:
    """The outcome, where someone can still read it.

    The Ctrl-C that ended the run may have killed stdout's reader too (`| tee`): the outcome then
    goes to stderr, in words (the paused file, how to resume it), and when both are gone it is said
    nowhere; the exit code is Mammoth's either way. Whatever a dead stream still buffers (a notice
    its reader never took) goes to /dev/null, so exiting never fails on it.
    """
    fallback = Output(quiet=doc.out.quiet, stream=sys.stderr)
    for out in (doc.out, fallback):
        if _written(out, lambda out=out: _show(doc, out, result, mammoth, check)):
            break
    _written(fallback, lambda: None)


def _written(out: Output, write: Callable[[], None]) -> bool:
    """`write()` and flush `out`'s stream; False, with the stream sent to /dev/null, when it is
    unusable (its reader left)."""
    try:
        write()
        out.stream.flush()
        return True
    except OSError as e:
        if not stream_failed(e):
            raise
        to_nowhere(out.stream)
        return False


def _show(doc: JsonDocument, out: Output, result: TrainingResult, mammoth: MammothEnv, check: bool) -> None:
    """The run's outcome on `out`: the one JSON document with --json, else words and a table."""
    from ..view.render_run import render_result

    def words() -> None:
        if check:
            verdict = "accepted" if result.exit_code == 0 else f"did not accept (exit code {result.exit_code})"
            out.line(f"\nMammoth {verdict} the checkpoint.")
        else:
            render_result(out, result, mammoth)

    out.show(lambda: doc.document(result=result.to_json()), words)
