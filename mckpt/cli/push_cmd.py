"""`mckpt push`: share a run on the Hugging Face hub or an object store, with a card."""

from __future__ import annotations

from typing import Annotated

import typer

from .common import JsonOpt, QuietOpt, add_command, examples, handle_errors, shown_as
from .outcome import make_output


@handle_errors
def push_command(
    sources: Annotated[list[str], typer.Argument(
        metavar="SOURCE...", parser=shown_as("file|run|url"),
        help="What to share: checkpoint files, run folders or run uids (each its newest file; several runs, "
             "such as seeds, share one card).")],
    dest: Annotated[str, typer.Argument(
        metavar="DEST", parser=shown_as("url"),
        help="hf://owner/repo, hf://owner/repo/folder@revision (hf://datasets/… too), or s3://, gs://, az://bucket/prefix.")],
    all_tasks: Annotated[bool, typer.Option("--all-tasks", help="Every checkpoint of each run, not only the newest.")
                         ] = False,
    backbone: Annotated[bool, typer.Option(
        "--backbone", help="Send the `net.` backbone (as convert --to backbone writes it) instead of the whole file.")
    ] = False,
    safetensors: Annotated[bool, typer.Option(
        "--safetensors", help="Also send the backbone as .safetensors (args and metrics in its metadata).")] = False,
    license: Annotated[str | None, typer.Option(
        "--license", metavar="ID", help="The card's license (a hub license id: mit, apache-2.0, cc-by-4.0, …).")
    ] = None,
    card_only: Annotated[bool, typer.Option("--card-only", help="Write only the card (README.md, manifest.json).")
                         ] = False,
    no_card: Annotated[bool, typer.Option("--no-card", help="Send the files without a card.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace remote files that are already there.")] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", "-n", help="Print the plan and the card; write nothing anywhere.")] = False,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Share runs: old pickles go out in the safe layout, every file is checked and hashed in the read
    that sends it, and a card says what the run is and how to load it.

    The hub needs huggingface_hub (the `hub` extra of mckpt) and a token (HF_TOKEN or hf auth login);
    stores use the settings `mckpt list s3://…` uses.
    """
    from ..share.push import PushOptions, plan_push, preview_card, run_push
    from ..view.render_push import render_plan, render_result

    out = make_output(json, None, quiet)
    options = PushOptions(all_tasks=all_tasks, backbone=backbone, safetensors=safetensors, card=not no_card,
                          card_only=card_only, force=force, license=license)
    plan = plan_push(sources, dest, options)
    if dry_run:
        card = preview_card(plan) if plan.card_files else None
        out.show(lambda: {"plan": plan.to_json(), "card": card}, lambda: render_plan(out, plan, card))
        return
    with out.progress("push", None) as bar:
        result = run_push(plan, bar)
    out.show(lambda: {"plan": plan.to_json(), "result": result.to_json()}, lambda: render_result(out, plan, result))


def register(app: typer.Typer) -> None:
    add_command(app, "push", push_command, epilog=examples(
        "mckpt push checkpoints/er_seq-cifar10_..._last.pt hf://me/er-cifar10 --license mit",
        "mckpt push 17e0aa3c s3://bucket/runs/er --all-tasks --dry-run",
        "mckpt push run_seed0.pt run_seed1.pt run_seed2.pt hf://me/er-seeds --backbone --safetensors",
    ))
