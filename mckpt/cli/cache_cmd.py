"""`mckpt cache ls|rm|prune|verify`: what `fetch` keeps, and removing or checking it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import JsonOpt, PathsOpt, QuietOpt, examples, handle_errors, ids_option
from .confirm import DryRunOpt, YesOpt, check_json, go_ahead
from .outcome import make_output

if TYPE_CHECKING:
    from ..hygiene.cache_admin import CachePlan
    from ..view.output import Output

CacheDirOpt = Annotated[str | None, typer.Option(
    "--cache-dir", metavar="DIR", help="Cache folder (default: $MCKPT_CACHE or ~/.cache/mckpt).")]

cache_app = typer.Typer(name="cache", help="What `fetch` keeps: list, remove, prune, verify.",
                        epilog=examples("mckpt cache ls", "mckpt cache prune -n"), no_args_is_help=True,
                        context_settings={"help_option_names": ["-h", "--help"]})


@cache_app.command("ls")
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


def _carry_out(out: Output, plan: CachePlan, *, json: bool, yes: bool, dry_run: bool) -> None:
    from ..hygiene.cache_admin import execute
    from ..view.output import human_bytes
    from ..view.render_hygiene import render_cache_plan, render_cache_result

    if json:  # -y or --dry-run, checked before planning
        if not dry_run:
            execute(plan)
        out.emit_json(plan.to_json())
    else:
        render_cache_plan(out, plan)
        if not go_ahead(out, yes=yes, dry_run=dry_run, count=len(plan.removals), frees=human_bytes(plan.frees),
                        verb="remove"):
            return
        execute(plan, on_result=lambda r: render_cache_result(out, r))
        out.line(f"removed {sum(1 for r in plan.removals if r.result == 'removed')} file(s), freed "
                 f"{human_bytes(sum(r.frees for r in plan.removals if r.result == 'removed'))}")
    for r in plan.failed:
        out.error(f"{r.path}: {r.result}")
    if plan.failed:
        raise typer.Exit(1)


@cache_app.command("rm")
@handle_errors
def rm_command(
    urls: Annotated[list[str], typer.Argument(
        metavar="SOURCE|SHA...", help="A source as `fetch` takes it (hf://…[@rev] or a URL), or 8+ hex of a sha256.")],
    cache_dir: CacheDirOpt = None, yes: YesOpt = False, dry_run: DryRunOpt = False,
    json: JsonOpt = False, quiet: QuietOpt = False,
) -> None:
    """Remove cached files by source (every revision, or one with @rev) or by sha256."""
    from ..fetch.cache import cache_root
    from ..hygiene.cache_admin import plan_rm

    check_json(json, yes, dry_run)
    plan = plan_rm(cache_root(cache_dir), urls)  # `urls`: the name completion knows takes no file names
    _carry_out(make_output(json, None, quiet), plan, json=json, yes=yes, dry_run=dry_run)


@cache_app.command("prune")
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
    _carry_out(make_output(json, None, quiet), plan, json=json, yes=yes, dry_run=dry_run)


@cache_app.command("verify")
@handle_errors
def verify_command(cache_dir: CacheDirOpt = None, json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Hash every cached file and compare it with the sha256 recorded when it was fetched."""
    from ..fetch.cache import cache_root
    from ..hygiene.cache_admin import verify_cache
    from ..view.render_hygiene import render_cache_check

    root = cache_root(cache_dir)
    out = make_output(json, None, quiet)
    checks = verify_cache(Path(root))
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
    app.add_typer(cache_app)
