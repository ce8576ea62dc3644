"""`mckpt cache ls|rm|prune|verify`: what `fetch` keeps, and removing or checking it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import CacheDirOpt, JsonOpt, PathsOpt, QuietOpt, add_command, examples, handle_errors, ids_option, shown_as
from .confirm import DryRunOpt, YesOpt, carry_out, check_json
from .outcome import make_output

if TYPE_CHECKING:
    from ..hygiene.cache_admin import CachePlan
    from ..view.output import Output

cache_app = typer.Typer(name="cache", help="What `fetch` keeps: list, remove, prune, verify.",
                        epilog=examples("mckpt cache ls", "mckpt cache prune -n"), no_args_is_help=True,
                        context_settings={"help_option_names": ["-h", "--help"]})


@handle_errors
def ls_command(cache_dir: CacheDirOpt = None, json: JsonOpt = False,
               ids: Annotated[bool, ids_option("the sha256 of each file (what cache rm takes)")] = False,
               paths_only: PathsOpt = False, quiet: QuietOpt = False) -> int:
    """List the cached files, biggest first: source, revision, size, sha256, last used.

    With -q it prints nothing and exits 1 when the cache holds no file (like grep -q).
    """
    from ..fetch.cache import cache_root
    from ..hygiene.cache_admin import list_cache
    from ..view.render_hygiene import render_cache_listing

    listing = list_cache(cache_root(cache_dir))
    out = make_output(json, None, quiet, ids=ids, paths=paths_only)
    out.show(listing.to_json, lambda: render_cache_listing(out, listing), listing.names)
    return 1 if quiet and not listing.items else 0


def _carry_out(out: Output, plan: CachePlan, *, yes: bool, dry_run: bool) -> None:
    from ..hygiene.cache_admin import execute
    from ..view.output import human_bytes
    from ..view.render_hygiene import render_cache_plan, render_cache_result

    def summary() -> str:
        removed = [r for r in plan.removals if r.result == "removed"]
        return f"removed {len(removed)} file(s), freed {human_bytes(sum(r.frees for r in removed))}"

    carry_out(out, yes=yes, dry_run=dry_run, count=len(plan.removals), frees=plan.frees, verb="remove",
              document=plan.to_json, show_plan=lambda: render_cache_plan(out, plan),
              execute=lambda on_result: execute(plan, on_result=on_result),
              show_result=lambda r: render_cache_result(out, r), summary=summary,
              failures=lambda: [(str(r.path), str(r.result)) for r in plan.failed])


@handle_errors
def rm_command(
    urls: Annotated[list[str], typer.Argument(
        metavar="SOURCE|SHA...", parser=shown_as("source|sha256"),
        help="A source as `fetch` takes it (hf://…, @rev last for one revision, or a URL), or 8+ hex of a sha256.")],
    cache_dir: CacheDirOpt = None, yes: YesOpt = False, dry_run: DryRunOpt = False,
    json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Remove cached files by source (every revision, or one with @rev) or by sha256."""
    from ..fetch.cache import cache_root
    from ..hygiene.cache_admin import plan_rm

    check_json(json, yes, dry_run)
    plan = plan_rm(cache_root(cache_dir), urls)  # `urls`: the name completion knows takes no file names
    _carry_out(make_output(json, None, quiet), plan, yes=yes, dry_run=dry_run)


@handle_errors
def prune_command(
    cache_dir: CacheDirOpt = None, yes: YesOpt = False, dry_run: DryRunOpt = False,
    json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Remove incomplete downloads, stale locks and records, and files no record names."""
    from ..fetch.cache import cache_root
    from ..hygiene.cache_admin import plan_prune

    check_json(json, yes, dry_run)
    plan = plan_prune(cache_root(cache_dir))
    _carry_out(make_output(json, None, quiet), plan, yes=yes, dry_run=dry_run)


@handle_errors
def verify_command(cache_dir: CacheDirOpt = None, json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Hash every cached file and compare it with the sha256 recorded when it was fetched."""
    from ..fetch.cache import cache_root
    from ..hygiene.cache_admin import verify_cache
    from ..view.render_hygiene import render_cache_check

    root = cache_root(cache_dir)
    out = make_output(json, None, quiet)
    with out.progress("verifying the cache") as bar:
        checks = verify_cache(Path(root), progress=bar)
    bad = [c for c in checks if c.problem]

    def render() -> None:
        for c in checks:
            render_cache_check(out, c)
        out.line(f"{len(checks)} cached file(s) verified: {len(checks) - len(bad)} ok, {len(bad)} failed")

    out.show(lambda: {"root": str(root), "files": [c.to_json() for c in checks],
                      "total": {"files": len(checks), "ok": len(checks) - len(bad), "failed": len(bad)}}, render)
    for c in bad:
        out.error(f"{c.item.stored.path}: {c.problem}")
    if bad:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    add_command(cache_app, "ls", ls_command, epilog=examples("mckpt cache ls", "mckpt cache ls --json"))
    add_command(cache_app, "rm", rm_command, epilog=examples(
        "mckpt cache rm hf://loribonna/mammoth/er_seq-cifar10.pt -n",
        "mckpt cache rm 1a2b3c4d -y",
    ))
    add_command(cache_app, "prune", prune_command, epilog=examples("mckpt cache prune -n", "mckpt cache prune -y"))
    add_command(cache_app, "verify", verify_command, epilog=examples(
        "mckpt cache verify", "mckpt cache verify --cache-dir /scratch/mckpt-cache --json"))
    app.add_typer(cache_app)
