"""`mckpt prune`: delete checkpoints a policy no longer needs; newest files, parents and foreign
files are never touched."""

from __future__ import annotations

from typing import Annotated

import typer

from ..domain.where import parse_where
from ..locate.targets import expand
from .common import JsonOpt, QuietOpt, RecursiveOpt, WhereOpt, add_command, examples, handle_errors, shown_as
from .confirm import DryRunOpt, YesOpt, carry_out, check_json
from .outcome import make_output


@handle_errors
def prune_command(
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="[PATH|UID]...", parser=shown_as("path|run"),
        help="Folders to prune by the policy, files to delete as named, or run uids (default: ./checkpoints).")] = None,
    keep_last: Annotated[int | None, typer.Option(
        "--keep-last", metavar="N", min=1, help="Keep each run's N newest files (default 1: the newest).")] = None,
    keep_tasks: Annotated[str | None, typer.Option(
        "--keep-tasks", metavar="LIST", help="Keep these tasks, e.g. 0,4 (indices as in the names) or last.")] = None,
    keep: Annotated[str | None, typer.Option(
        "--keep", metavar="every:K", help="Keep tasks 0, K, 2K, …")] = None,
    paused: Annotated[bool, typer.Option(
        "--paused", help="Delete paused files once their run saved again or was resumed from them.")] = False,
    older_than: Annotated[str | None, typer.Option(
        "--older-than", metavar="AGE", help="Only delete files last written longer ago: 12h, 30d, 2w.")] = None,
    where: WhereOpt = None,
    run: Annotated[list[str] | None, typer.Option(
        "--run", metavar="UID", help="Only this run (uid, a unique uid prefix, or name; repeatable).")] = None,
    include_parents: Annotated[bool, typer.Option(
        "--include-parents", help="Also delete files other runs were resumed from.")] = False,
    broken: Annotated[bool, typer.Option(
        "--broken", help="Also delete files that do not read (truncated, empty, bad index, refused pickle).")] = False,
    recursive: RecursiveOpt = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Also show the files kept (-n does).")] = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Delete checkpoints a policy no longer needs, after showing the plan.

    By default each run keeps its newest file; --keep-tasks, --keep-last and --keep add files to
    keep, --paused drops paused files that were resumed.
    """
    from ..domain.record_cache import RecordCache
    from ..fetch.cache import cache_root
    from ..hygiene.prune import Policy, execute_prune, parse_age, parse_keep, parse_tasks, plan_prune
    from ..view.output import human_bytes
    from ..view.render_hygiene import render_prune_plan, render_prune_result

    check_json(json, yes, dry_run)
    named = expand(targets, "prune", recursive=recursive)
    paths, uids = named.scope(), named.uids + list(run or [])
    policy = Policy(keep_last=keep_last, keep_tasks=parse_tasks(keep_tasks) if keep_tasks else frozenset(),
                    keep_every=parse_keep(keep) if keep else None, paused=paused,
                    older_than=parse_age(older_than) if older_than else None, where=parse_where(where),
                    runs=tuple(uids), include_parents=include_parents, broken=broken)
    plan = plan_prune(paths, policy, recursive=recursive, cache=RecordCache(cache_root()))
    out = make_output(json, None, quiet)
    for line in plan.skipped:
        out.warning(line)

    def summary() -> str:
        done = [d for d in plan.deletions if d.result == "deleted"]
        return (f"deleted {len(done)} file(s), freed {human_bytes(sum(d.file.bytes for d in done))}"
                + (f"; {len(plan.failed)} not deleted" if plan.failed else ""))

    carry_out(out, yes=yes, dry_run=dry_run, count=len(plan.deletions), frees=plan.bytes_freed, verb="delete",
              document=plan.to_json,
              show_plan=lambda: render_prune_plan(out, plan, verbose=verbose or dry_run),  # a dry run says why
              execute=lambda on_result: execute_prune(plan, on_result=on_result),
              show_result=lambda d: render_prune_result(out, d), summary=summary,
              failures=lambda: [(d.file.path, str(d.result)) for d in plan.failed])


def register(app: typer.Typer) -> None:
    add_command(app, "prune", prune_command, epilog=examples(
        "mckpt prune --keep-tasks 0,4 -n",
        "mckpt prune --paused -y",
    ))
