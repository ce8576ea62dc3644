"""The one way a destructive command asks before acting: plan shown, then `-y`, or a question on a
terminal, or nothing done (`prune`, `cache rm`, `cache prune`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from ..errors import MckptError, UsageError
from ..view.output import Output, human_bytes

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking (the plan is still shown).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", "-n", help="Show the plan only; delete nothing.")]


def check_json(json: bool, yes: bool, dry_run: bool) -> None:
    """`--json` owns stdout, so there is nobody to ask: it needs `-y` or `--dry-run`."""
    if json and not (yes or dry_run):
        raise UsageError("--json cannot ask for confirmation: add -y/--yes to delete, or --dry-run for the plan")


def go_ahead(out: Output, *, yes: bool, dry_run: bool, count: int, frees: str, verb: str = "delete") -> bool:
    """After the plan was shown: True to carry it out; False when there is nothing to do or it was
    a dry run; an error when nobody confirmed."""
    if count == 0:
        out.line(f"nothing to {verb}")
        return False
    if dry_run:
        out.line(f"dry run: nothing was {verb}d")
        return False
    if yes:
        return True
    if out.can_ask:
        if out.confirm(f"{verb.capitalize()} {count} file(s), freeing {frees}?"):
            return True
        raise MckptError(f"nothing was {verb}d (not confirmed)")
    raise MckptError(f"nothing was {verb}d: not a terminal, so nobody was asked",
                     hint="add -y/--yes to go ahead, or --dry-run to only see the plan")


def carry_out(out: Output, *, yes: bool, dry_run: bool, count: int, frees: int, verb: str,
              document: Callable[[], Any], show_plan: Callable[[], None],
              execute: Callable[[Callable[[Any], None] | None], object], show_result: Callable[[Any], None],
              summary: Callable[[], str], failures: Callable[[], list[tuple[str, str]]]) -> None:
    """A destructive plan shown and carried out, the same way for `prune` and `cache rm/prune`.

    With --json (only with -y or --dry-run, see `check_json`) it is carried out unless a dry run,
    then `document()` is printed; else the plan is shown, `go_ahead` asks, and `execute` reports
    each file to `show_result` as it goes, then `summary()`. Each failure (path, why) is an error
    line after, and exit code 1.
    """

    def executed() -> Any:
        if not dry_run:
            execute(None)
        return document()

    def aloud() -> None:
        show_plan()
        if go_ahead(out, yes=yes, dry_run=dry_run, count=count, frees=human_bytes(frees), verb=verb):
            execute(show_result)
            out.line(summary())

    out.show(executed, aloud)
    failed = failures()
    for path, why in failed:
        out.error(f"{path}: {why}")
    if failed:
        raise typer.Exit(1)
