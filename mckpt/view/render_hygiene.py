"""Human views of `prune`, `cache` and `verify`: plans before anything is deleted, results after."""

from __future__ import annotations

import os
from datetime import datetime

from ..hygiene.cache_admin import CacheCheck, CacheListing, CachePlan, Removal
from ..hygiene.prune import Decision, PrunePlan
from ..verify import Verdict
from ..words import counted
from .output import Output, human_bytes


def _task(d: Decision) -> str:
    return str(d.file.task)


def render_prune_plan(out: Output, plan: PrunePlan, *, verbose: bool = False) -> None:
    """Files to delete (and, with `verbose`, the ones kept) with the reason, then bytes freed per run."""
    rows, styles = [], []
    for rp in plan.runs:
        uid = rp.run.name.uid or rp.run.key
        for d in rp.decisions:
            if (d.delete or verbose) and d.unreadable is None:
                rows.append([uid, _task(d), human_bytes(d.file.bytes), "delete" if d.delete else "keep", d.reason,
                             os.path.basename(d.file.path)])
                styles.append(["cyan", None, None, "red" if d.delete else "green", "dim", None])
    if rows:
        out.table(["run", "task", "size", "action", "why", "file"], rows, styles=styles,
                  justify=["left", "left", "right", "left", "left", "left"], title="Plan")
    per_run = [[rp.run.name.uid or rp.run.key, rp.run.name.model or "?", rp.run.tasks_label, len(rp.deletions),
                human_bytes(rp.bytes_freed), len(rp.decisions) - len(rp.deletions)] for rp in plan.runs
               if rp.deletions or verbose]
    if per_run:
        out.table(["run", "model", "tasks", "delete", "frees", "keeps"], per_run,
                  justify=["left", "left", "left", "right", "right", "right"], title="Per run")
    if plan.broken:
        out.heading(f"{len(plan.broken)} file(s) that do not read: never a run's newest, deleted only with --broken")
        for d in plan.broken:
            out.line(f"  {'delete' if d.delete else 'keep'}  {d.file.path}: {d.reason}",
                     style="red" if d.delete else "yellow")
    if plan.links:
        out.heading(f"{len(plan.links)} symbolic link(s) named")
        for d in plan.links:
            out.line(f"  {'delete' if d.delete else 'keep'}  {d.file.path}: {d.reason}", style="yellow")
    if plan.other:
        out.heading(f"{len(plan.other)} other file(s), never deleted")
        for o in plan.other:
            out.line(f"  {o['path']}: {o['reason']}", style="yellow")
    out.line()
    out.line(f"total: {len(plan.deletions)} file(s) to delete in {sum(1 for r in plan.runs if r.deletions)} run(s), "
             f"{human_bytes(plan.bytes_freed)} freed", style="bold")


def render_prune_result(out: Output, d: Decision) -> None:
    if d.result == "deleted":
        out.line(f"deleted {d.file.path}")
    elif d.result == "already gone":
        out.line(f"already gone: {d.file.path}", style="yellow")


def render_cache_listing(out: Output, listing: CacheListing) -> None:
    if not listing.items and not listing.leftovers:
        out.note(f"the cache is empty ({listing.root})")
        return
    rows = []
    for i in listing.items:
        s = i.stored
        flags = ", ".join(f for f in ("unreferenced" if not s.referenced else "",
                                     "changed" if s.referenced and not s.intact else "",
                                     f"{s.links} links" if s.links > 1 else "") if f)
        rows.append([i.source, i.revision or "-", human_bytes(s.size), s.sha256[:12],
                     datetime.fromtimestamp(s.last_used).strftime("%Y-%m-%d %H:%M"), flags])
    if rows:
        out.table(["source", "revision", "size", "sha256", "last used", "notes"], rows,
                  justify=["left", "left", "right", "left", "left", "left"],
                  title=f"{len(rows)} file(s), {human_bytes(listing.bytes)} in {listing.root}")
    parts = [x for x in listing.leftovers if x.kind == "part"]
    if parts:
        out.note(f"{len(parts)} incomplete download(s), {human_bytes(sum(x.size for x in parts))}: "
                 "`mckpt fetch` resumes them, `mckpt cache prune` removes them")


def render_cache_plan(out: Output, plan: CachePlan) -> None:
    if not plan.removals:
        out.line("nothing to remove")
        return
    rows = [[r.source or "-", human_bytes(r.size), human_bytes(r.frees), r.reason, _rel(r.path, plan)]
            for r in plan.removals]
    out.table(["source", "size", "frees", "why", "path"], rows, justify=["left", "right", "right", "left", "left"],
              title="Plan")
    out.line()
    out.line(f"total: {len(plan.removals)} file(s) to remove, {human_bytes(plan.frees)} freed", style="bold")


def _rel(p: os.PathLike[str], plan: CachePlan) -> str:
    return os.path.relpath(p, plan.root)


def render_cache_result(out: Output, r: Removal) -> None:
    if r.result in ("removed", "already gone"):
        out.line(f"{r.result}: {r.path}")


def render_cache_check(out: Output, c: CacheCheck) -> None:
    if c.problem is None:
        out.line(f"ok    {c.item.source} ({c.item.revision or '-'})", style="green")


def verdict_line(v: Verdict) -> str:
    """`ok    path  (what was checked)` or `FAIL  path: the first problem`."""
    if not v.ok:
        more = f" (+{len(v.problems) - 1} more)" if len(v.problems) > 1 else ""
        return f"FAIL  {v.path}: {v.problems[0]}{more}"
    what = [counted(v.records, "record") if v.records else v.layout or "", counted(v.tensors, "tensor"),
            "sha256 ✓" if v.sha256 else ""]
    return f"ok    {v.path}  ({', '.join(w for w in what if w)}, {human_bytes(v.size)})"


def render_verdict(out: Output, v: Verdict) -> None:
    out.line(verdict_line(v), style="green" if v.ok else "red")


def render_verify_summary(out: Output, verdicts: list[Verdict], seconds: float) -> None:
    failed = sum(1 for v in verdicts if not v.ok)
    total = sum(v.size for v in verdicts)
    out.line()
    out.line(f"{len(verdicts)} file(s) verified: {len(verdicts) - failed} ok, {failed} failed "
             f"({human_bytes(total)} read in {seconds:.1f} s)", style="bold red" if failed else "bold green")
