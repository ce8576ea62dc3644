"""Human view of a push: the plan (what goes where, conversions, sizes, the card) and the result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .output import Output, human_bytes

if TYPE_CHECKING:
    from ..share.push import PushPlan, PushResult


def render_plan(out: Output, plan: PushPlan, card: str | None) -> None:
    """`--dry-run`: every file with its remote URL, size and conversion, what is already there, the card."""
    rows = [[f.name, human_bytes(f.bytes), f.action, f.source] for f in plan.files]
    if not plan.options.card_only:
        out.table(["sends", "size", "how", "from"], rows, title=f"push to {plan.dest.url} (dry run: nothing written)",
                  optional=(3,))
    for name in plan.card_files:
        out.line(f"- card: {plan.dest.fetch_url(name)}"
                 + (" (replaces mckpt's earlier card)" if name in plan.replaceable else ""))
    taken = plan.taken
    if taken:
        verb = "would be replaced (--force)" if plan.options.force else "already there: push refuses without --force"
        out.line(f"! {', '.join(taken)}: {verb}")
    if card is not None:
        out.heading("README.md")
        for line in card.splitlines():
            out.line(line)


def render_result(out: Output, plan: PushPlan, result: PushResult) -> None:
    """What was sent: URL, size and sha256 of each file; the card; the hub commit."""
    rows = [[f["url"], human_bytes(f["bytes"]), f["sha256"]] for f in result.files]
    if rows:
        out.table(["pushed", "size", "sha256"], rows, optional=(2,))
    for url in result.card:
        out.line(f"- card: {url}")
    if result.commit:
        out.line(f"- commit {result.commit}: {result.commit_url}")
