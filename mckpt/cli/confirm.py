"""The one way a destructive command asks before acting: plan shown, then `-y`, or a question on a
terminal, or nothing done (`prune`, `cache rm`, `cache prune`)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import MckptError, UsageError
from ..view.output import Output

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
