"""`prune`: delete the checkpoints a policy says are no longer needed, and never the ones that are.

Files are grouped into runs as `list` groups them. A plan says, for every file of every selected
run, whether it goes and why; only then, and file by file, are files deleted. What is never
deleted, whatever the policy: a run's newest file (unless named on the command line), a file
another run was resumed from (unless `include_parents`; for paused files `--paused` is that
request), and anything that is not a Mammoth checkpoint (other files are never planned at all).

What a file is comes from reading it (index and pickle, through the results record cache so an
unchanged file is read once): a run's files rank by the tasks done inside, then by name, then by
time, and only files that read take part. A file that does not read (truncated, empty, a bad
index, a refused pickle) is never a run's newest, never a reason to delete a sibling and never
"a later save"; it is listed apart with the reason, and only `--broken` deletes it. A symbolic
link met in a folder is never deleted, nor anything through it; a link named on the command line
is removed as a link (its target stays).

Lineage comes from two places: the resumed run's name (its prefix is the parent's run name) and
its saved `args.loadcheck` (which names the very file, also for older Mammoth whose names do not
grow). Executing goes through `io.remove` (deletion by identity: folder descriptor, no link
followed, device/inode/size/mtime compared at the moment of unlink): one that vanished or changed
since the plan is reported and left, and an error on one file does not stop the rest.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..domain.names import Task
from ..domain.newest import FileRead, by_contents, read_files, readable
from ..domain.record_cache import RecordCache
from ..domain.runs import CheckpointFile, Run, scan, task_order
from ..domain.where import Where
from ..errors import MckptError, UsageError
from ..io.remove import OK_RESULTS, Planned, plan_removal, remove_planned
from ..locate.resolve import pick_run

_AGE = re.compile(r"([0-9]+(?:\.[0-9]+)?)([smhdw])")
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> float:
    """`90m`, `12h`, `30d`, `2w` → seconds."""
    m = _AGE.fullmatch(text.strip().lower())
    if not m:
        raise UsageError(f"not an age: {text!r}", hint="a number and a unit: 90m, 12h, 30d, 2w")
    return float(m[1]) * _AGE_UNITS[m[2]]


def parse_tasks(text: str) -> frozenset[Task]:
    """`0,4` (task indices as in the file names, from 0), `last`, `joint`."""
    out: set[Task] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part.isascii() and part.isdigit():
            out.add(int(part))
        elif part in ("last", "joint"):
            out.add(part)
        else:
            raise UsageError(f"not a task: {part!r}", hint="task indices from 0 (as in the file names), last, joint")
    return frozenset(out)


def parse_keep(text: str) -> int:
    """`every:K` → K."""
    kind, _, k = text.partition(":")
    if kind != "every" or not (k.isascii() and k.isdigit()) or int(k) < 1:
        raise UsageError(f"{text!r}: no such rule", param="keep", hint="every:K keeps tasks 0, K, 2K, …")
    return int(k)


@dataclass
class Policy:
    """What to keep. Keep rules add up (a file any rule keeps is kept); with no keep rule at all,
    `keep_last` is 1, unless `paused` is the only thing asked."""

    keep_last: int | None = None
    keep_tasks: frozenset[Task] = frozenset()
    keep_every: int | None = None
    paused: bool = False
    older_than: float | None = None  # seconds: only files last written longer ago may go
    where: tuple[Where, ...] = ()  # the one --where language (domain.where)
    runs: tuple[str, ...] = ()  # uids (a unique prefix, as `locate.resolve.pick_run` takes it) or run names
    include_parents: bool = False
    broken: bool = False  # also delete files that do not read (never a side effect of another rule)

    @property
    def keeps_by_rule(self) -> bool:
        return self.keep_last is not None or bool(self.keep_tasks) or self.keep_every is not None

    @property
    def prunes_tasks(self) -> bool:
        return self.keeps_by_rule or not (self.paused or self.broken)

    def to_json(self) -> dict[str, Any]:
        return {"keep_last": self.effective_keep_last, "keep_tasks": sorted(map(str, self.keep_tasks)),
                "keep_every": self.keep_every, "paused": self.paused, "older_than_s": self.older_than,
                "where": [w.text for w in self.where], "runs": list(self.runs), "include_parents": self.include_parents,
                "broken": self.broken}

    def rules_text(self) -> str:
        """The keep rules in force, as typed: `--keep-last 1`, `--keep-tasks 0,4, --keep every:2`."""
        rules = [f"--keep-last {self.effective_keep_last}" if self.effective_keep_last else "",
                 f"--keep-tasks {','.join(sorted(map(str, self.keep_tasks)))}" if self.keep_tasks else "",
                 f"--keep every:{self.keep_every}" if self.keep_every else ""]
        return ", ".join(r for r in rules if r)

    @property
    def effective_keep_last(self) -> int | None:
        if self.keep_last is not None:
            return self.keep_last
        return None if self.keeps_by_rule or self.paused or self.broken else 1


@dataclass
class Decision:
    file: CheckpointFile
    delete: bool
    reason: str
    result: str | None = None  # after execution: "deleted", "already gone", or why not
    tasks_done: int | None = None  # as read from the file (None: it does not read, or is a link)
    unreadable: str | None = None  # why the file does not read
    planned: Planned | None = field(default=None, repr=False)  # what deletion checks it against

    def to_json(self) -> dict[str, Any]:
        out = {**self.file.to_json(), "reason": self.reason, "tasks_done": self.tasks_done}
        if self.unreadable is not None:
            out["unreadable"] = self.unreadable
        if self.result is not None:
            out["result"] = self.result
        return out


@dataclass
class RunPlan:
    run: Run
    decisions: list[Decision]

    @property
    def deletions(self) -> list[Decision]:
        return [d for d in self.decisions if d.delete]

    @property
    def bytes_freed(self) -> int:
        return sum(d.file.bytes for d in self.deletions)

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run.key, "uid": self.run.name.uid, "tasks": self.run.tasks_label,
                "delete": [d.to_json() for d in self.deletions],
                "keep": [d.to_json() for d in self.decisions if not d.delete], "bytes_freed": self.bytes_freed}


@dataclass
class PrunePlan:
    runs: list[RunPlan]
    other: list[dict[str, str]]
    policy: Policy
    executed: bool = False
    links: list[Decision] = field(default_factory=list)  # symbolic links named on the command line
    skipped: list[str] = field(default_factory=list)  # folders the walk did not look into

    @property
    def deletions(self) -> list[Decision]:
        return [d for r in self.runs for d in r.deletions] + [d for d in self.links if d.delete]

    @property
    def broken(self) -> list[Decision]:
        """The files that do not read, deleted or not (their own heading in the plan)."""
        return [d for r in self.runs for d in r.decisions if d.unreadable is not None]

    @property
    def bytes_freed(self) -> int:
        return sum(r.bytes_freed for r in self.runs)

    @property
    def failed(self) -> list[Decision]:
        return [d for d in self.deletions if d.result not in (None, *OK_RESULTS)]

    def to_json(self) -> dict[str, Any]:
        return {"policy": self.policy.to_json(), "runs": [r.to_json() for r in self.runs],
                "broken": [d.to_json() for d in self.broken], "links": [d.to_json() for d in self.links],
                "skipped": self.skipped, "other": self.other, "executed": self.executed,
                "total": {"runs": sum(1 for r in self.runs if r.deletions), "files": len(self.deletions),
                          "bytes": self.bytes_freed}}


# ---------------------------------------------------------------------------------------------------
# planning


@dataclass
class _RunInfo:
    args: dict[str, Any] | None = None  # the run's saved args (from its first readable file)
    parents: list[str] = field(default_factory=list)  # paths of the files it was resumed from
    parent_note: str = ""
    ranked: list[CheckpointFile] = field(default_factory=list)  # readable task files, newest first


def _read_files(runs: list[Run], cache: RecordCache | None) -> tuple[dict[str, FileRead], list[str]]:
    """Every checkpoint of `runs` read (from the cache where unchanged); links are not read."""
    return read_files((c.path for r in runs for c in r.checkpoints if not os.path.islink(c.path)), cache)


def _parents(run: Run, args: dict[str, Any] | None, by_base: dict[str, list[CheckpointFile]],
             runs: dict[str, Run]) -> tuple[list[str], str]:
    """The files `run` was resumed from: the one its args.loadcheck names, else (by its name's
    lineage) the parent's file for the task before its first, else all of the parent's files."""
    loadcheck = args.get("loadcheck") if args else None
    if isinstance(loadcheck, str) and loadcheck:
        hits = by_base.get(os.path.basename(loadcheck), [])
        if hits:
            return [c.path for c in hits], f"args.loadcheck of run {run.name.uid or run.key}"
    parent = run.name.parent
    if parent is None or parent.stem not in runs:
        return [], ""
    pfiles = runs[parent.stem].checkpoints
    ints = [c.task for c in run.checkpoints if isinstance(c.task, int)]
    if ints:
        before = [c for c in pfiles if c.task == min(ints) - 1]
        if before:
            return [c.path for c in before], f"the name of run {run.name.uid or run.key}"
    return [c.path for c in pfiles], f"the name of run {run.name.uid or run.key} (which file is unknown)"


def _selected(run: Run, info: _RunInfo, policy: Policy, chosen: set[str] | None) -> str | None:
    """None when the policy's run selection takes `run`, else why not."""
    if chosen is not None and run.key not in chosen:
        return "not among the runs named"
    if policy.where:
        if info.args is None:
            return "its args cannot be read, so no arg filter can match"
        for w in policy.where:
            if not w.matches(info.args):
                return f"{w.text} does not match"
    return None


def _key(path: str) -> str:
    """A path as the user's words name it: absolute, not resolved (a link is not its target)."""
    return os.path.normpath(os.path.abspath(path))


def plan_prune(paths: Iterable[str], policy: Policy, *, recursive: bool = False,
               now: float | None = None, cache: RecordCache | None = None) -> PrunePlan:
    """The plan for `paths` (folders are pruned by the policy; files named are deleted as asked,
    the guards still apply). Files are read (through `cache` when given) to know what they hold.
    Nothing is deleted here."""
    now = time.time() if now is None else now
    paths = list(paths)
    named_links = [p for p in paths if os.path.islink(p) and not os.path.isdir(p)]
    files = [p for p in paths if os.path.isfile(p) and p not in named_links]
    named = {_key(p) for p in files}
    folders = [p for p in paths if not os.path.isfile(p) and p not in named_links]
    # Named files are judged with their folder around them: a run resumed from one lives there.
    context = [os.path.dirname(p) or "." for p in files]
    context = [os.path.dirname(c) if os.path.basename(c) == "paused" else c for c in context]
    for f in folders:
        if not os.path.isdir(f):
            raise MckptError("no such folder or file", path=f)
    listing = scan(list(dict.fromkeys(folders + context)), recursive=recursive)
    real_folders = [os.path.realpath(f) for f in folders]

    def candidate(c: CheckpointFile) -> bool:
        return _key(c.path) in named or _under(os.path.realpath(c.path), real_folders, recursive)

    chosen = {pick_run(listing.runs, s, paths).key for s in policy.runs} if policy.runs else None
    reads, warnings = _read_files(listing.runs, cache)
    runs = {r.key: r for r in listing.runs}
    by_base: dict[str, list[CheckpointFile]] = {}
    for r in listing.runs:
        for c in r.checkpoints:
            by_base.setdefault(os.path.basename(c.path), []).append(c)
    infos = {}
    for r in listing.runs:
        readable_files = [c for c in r.checkpoints if readable(c, reads)]
        first = min(readable_files, key=lambda c: (task_order(c.task), c.mtime), default=None)
        args = reads[first.path].args if first is not None else None
        parents, note = _parents(r, args, by_base, runs)
        ranked = by_contents((c for c in readable_files if c.task != "paused"), reads)
        infos[r.key] = _RunInfo(args, parents, note, ranked)
    children: dict[str, list[str]] = {}  # parent file path → runs resumed from it
    for key, info in infos.items():
        for p in info.parents:
            children.setdefault(p, []).append(key)

    plans: dict[str, RunPlan] = {}
    for r in listing.runs:
        judge = _Judge(r, policy, infos[r.key], now, runs, children, reads, chosen)
        plans[r.key] = RunPlan(r, [judge.decide(c, candidate(c), _key(c.path) in named)
                                   for c in sorted(r.checkpoints, key=lambda c: (task_order(c.task), c.mtime))])
    _protect_parents(plans, children, policy)
    shown = [p for p in plans.values() if any(candidate(d.file) for d in p.decisions)]
    for p in shown:
        for d in p.decisions:
            _plan_deletion(d)
    other = [o for o in listing.other
             if _key(o["path"]) in named or _under(os.path.realpath(o["path"]), real_folders, recursive)]
    seen = {_key(c.path) for r in listing.runs for c in r.checkpoints} | {_key(o["path"]) for o in listing.other}
    other += [{"path": p, "reason": "not a .pt file"} for p in files if _key(p) not in seen]
    links = [_named_link(p) for p in named_links]
    return PrunePlan(shown, other, policy, links=links, skipped=listing.skipped + warnings)


def _named_link(path: str) -> Decision:
    """A symbolic link named on the command line: the link itself goes, never its target."""
    st = os.lstat(path)
    d = Decision(CheckpointFile(path, "link", st.st_size, st.st_mtime), True,
                 f"a symbolic link named on the command line: the link goes, its target "
                 f"({os.readlink(path)}) stays")
    d.planned = plan_removal(path, link=True)
    return d


def _plan_deletion(d: Decision) -> None:
    """Record what a file to delete is now (device, inode, size, mtime), or keep it if it cannot be."""
    if not d.delete:
        return
    try:
        d.planned = plan_removal(d.file.path)
    except MckptError as e:
        d.delete, d.reason = False, e.message


def _under(real: str, folders: list[str], recursive: bool) -> bool:
    """Whether `real` is a file `scan` of one of `folders` takes: in it, in its paused/, or below
    it with `recursive`."""
    d = os.path.dirname(real)
    return any(d == f or (d.startswith(f + os.sep) and (recursive or d == os.path.join(f, "paused")))
               for f in folders)


@dataclass
class _Judge:
    """Decides each file of one run."""

    run: Run
    policy: Policy
    info: _RunInfo
    now: float
    runs: dict[str, Run]
    children: dict[str, list[str]]
    reads: dict[str, FileRead]
    chosen: set[str] | None

    def superseded(self, c: CheckpointFile) -> str | None:
        """Why a paused file is no longer needed: its run saved again later (a file that reads and
        holds at least the paused file's tasks), or a run was resumed from it (or from its run) and
        has saved since."""
        done = self.reads[c.path].tasks_done
        later = [x for x in self.info.ranked if x.mtime > c.mtime and self.reads[x.path].tasks_done >= done]
        if later:
            return f"its run saved again after it ({os.path.basename(max(later, key=lambda x: x.mtime).path)})"
        for key in self.children.get(c.path, []):
            return f"run {self.runs[key].name.uid or key} was resumed from it"
        for other in self.runs.values():
            if other.name.parent is not None and other.name.parent.stem == self.run.key and any(
                    x.mtime > c.mtime and readable(x, self.reads) for x in other.checkpoints):
                return f"run {other.name.uid or other.key} continued this run later"
        return None

    def decide(self, c: CheckpointFile, candidate: bool, named: bool) -> Decision:
        if os.path.islink(c.path):
            return Decision(c, False, "a symbolic link: never deleted, nor anything through it "
                                      "(name the link itself to remove it)")
        read = self.reads[c.path]
        d = self._decide(c, candidate, named, read)
        d.tasks_done, d.unreadable = (None, read.error) if read.error else (read.tasks_done, None)
        return d

    def _decide(self, c: CheckpointFile, candidate: bool, named: bool, read: FileRead) -> Decision:
        policy = self.policy
        if not candidate:
            return Decision(c, False, "not in the folders given")
        if named:
            return Decision(c, True, "named on the command line")
        why_not = _selected(self.run, self.info, policy, self.chosen)
        if why_not:
            return Decision(c, False, why_not)
        if read.error:
            if not policy.broken:
                return Decision(c, False, f"does not read ({read.error}); --broken deletes it")
            if policy.older_than is not None and self.now - c.mtime < policy.older_than:
                return Decision(c, False, "does not read, but newer than --older-than")
            return Decision(c, True, f"does not read ({read.error}), --broken")
        if c.task == "paused":
            if not policy.paused:
                return Decision(c, False, "paused (--paused drops it once it is superseded)")
            why = self.superseded(c)
            return Decision(c, True, f"paused, superseded: {why}") if why else Decision(
                c, False, "paused, and nothing has superseded it")
        rank = self.info.ranked.index(c)
        if rank == 0:
            return Decision(c, False, f"the run's newest readable file ({read.tasks_done} task(s) done)")
        if not policy.prunes_tasks:
            return Decision(c, False, "no keep rule given (--paused/--broken only)")
        keep_last = policy.effective_keep_last
        if keep_last is not None and rank < keep_last:
            return Decision(c, False, f"among the {keep_last} newest (--keep-last)")
        if c.task in policy.keep_tasks:
            return Decision(c, False, "--keep-tasks")
        if policy.keep_every and isinstance(c.task, int) and c.task % policy.keep_every == 0:
            return Decision(c, False, f"--keep every:{policy.keep_every}")
        if policy.older_than is not None and self.now - c.mtime < policy.older_than:
            return Decision(c, False, "newer than --older-than")
        newest = self.info.ranked[0]
        return Decision(c, True, f"not kept by {policy.rules_text()} ({read.tasks_done} task(s) done; "
                                 f"{os.path.basename(newest.path)} holds {self.reads[newest.path].tasks_done})")


def _protect_parents(plans: dict[str, RunPlan], children: dict[str, list[str]], policy: Policy) -> None:
    """Keep every file a living run was resumed from; a run lives while it keeps a file. Protecting
    a file can bring a run back to life, so repeat until nothing changes."""
    if policy.include_parents:
        return
    changed = True
    while changed:
        changed = False
        living = {k for k, p in plans.items() if any(not d.delete for d in p.decisions)}
        for p in plans.values():
            for d in p.decisions:
                if not d.delete:
                    continue
                kids = [k for k in children.get(d.file.path, []) if k in living and k != p.run.key]
                if kids and not d.reason.startswith("paused, superseded"):
                    who = plans[kids[0]].run
                    d.delete = False
                    d.reason = f"run {who.name.uid or who.key} was resumed from it (--include-parents deletes it)"
                    changed = True


# ---------------------------------------------------------------------------------------------------
# carrying it out


def execute_prune(plan: PrunePlan, on_result: Callable[[Decision], None] | None = None) -> PrunePlan:
    """Delete the planned files one by one, by identity (`io.remove`): a file gone meanwhile is
    "already gone"; one that changed since the plan, or whose folder did, is left alone; other
    errors are recorded and the rest goes on."""
    for d in plan.deletions:
        d.result = remove_planned(d.planned) if d.planned is not None else "not planned: left alone"
        if on_result is not None:
            on_result(d)
    plan.executed = True
    return plan
