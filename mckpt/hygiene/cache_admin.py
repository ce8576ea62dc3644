"""`mckpt cache`: what `fetch` keeps, and removing or checking it (like `hf cache ls/rm/prune/verify`).

The layout itself is known only to `fetch/cache.py`; this module plans and carries out removals
over what `scan_cache` reports. Removing needs the folder to carry mckpt's mark (`io.cachedir`):
a folder that is not an mckpt cache is refused whole. A plan is made first and shown; carrying
it out holds each revision folder open (checked to be the one planned, never through a link),
takes the entry's lock there without waiting, so a fetch in progress is never pulled from under
its feet (its files are skipped and said so), and deletes by identity (`io.remove`): a file that
vanished or changed meanwhile is reported, not fatal, and nothing outside the cache is touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import MckptError
from ..fetch.cache import CacheEntry, Leftover, StoredFile, entry_name, hold_if_free, scan_cache
from ..io.cachedir import require_marked
from ..io.progress import Progress
from ..io.remove import OK_RESULTS, Planned, open_planned_folder, plan_removal, remove_planned
from ..io.urls import parse_source

_HEX = set("0123456789abcdef")


@dataclass
class CacheItem:
    """One completed file in the cache, as `cache ls` shows it."""

    stored: StoredFile
    source: str  # hf://owner/repo/path, or the URL
    revision: str | None

    def to_json(self) -> dict[str, Any]:
        s = self.stored
        return {"source": self.source, "revision": self.revision, "bytes": s.size, "sha256": s.sha256,
                "last_used": datetime.fromtimestamp(s.last_used).isoformat(timespec="seconds"),
                "commit": s.record.commit if s.record else None, "path": str(s.path),
                "referenced": s.referenced, "intact": s.intact, "links": s.links}


@dataclass
class CacheListing:
    root: Path
    items: list[CacheItem]
    leftovers: list[Leftover]

    @property
    def bytes(self) -> int:
        return sum(i.stored.size for i in self.items)

    def names(self, bare: str) -> list[str]:
        """`cache ls --ids`: each file's sha256 (what `cache rm` takes); `--paths`: where it is."""
        return [i.stored.sha256 if bare == "ids" else str(i.stored.path) for i in self.items]

    def to_json(self) -> dict[str, Any]:
        return {"root": str(self.root), "files": [i.to_json() for i in self.items],
                "leftovers": [{"path": str(x.path), "kind": x.kind, "bytes": x.size} for x in self.leftovers],
                "total": {"files": len(self.items), "bytes": self.bytes,
                          "leftover_bytes": sum(x.size for x in self.leftovers)}}


def _describe(url: str, endpoint: str | None) -> tuple[str, str | None]:
    try:
        r = parse_source(url, endpoint)
    except MckptError:
        return url, None
    return (f"hf://{r.repo}/{r.path}", r.revision) if r.repo else (url, None)


def list_cache(root: Path, endpoint: str | None = None) -> CacheListing:
    """Every completed file in the cache, biggest first, and the leftovers beside them."""
    files, leftovers = scan_cache(root) if root.is_dir() else ([], [])
    urls = {f.revision_dir: f.record.url for f in files if f.record is not None}
    items = []
    for f in files:
        url = urls.get(f.revision_dir)
        source, rev = _describe(url, endpoint) if url else (f.revision_dir.parent.name, f.revision_dir.name)
        items.append(CacheItem(f, source, rev))
    items.sort(key=lambda i: (-i.stored.size, i.source))
    return CacheListing(root, items, leftovers)


# ---------------------------------------------------------------------------------------------------
# removal plans


@dataclass
class Removal:
    path: Path
    revision_dir: Path
    size: int
    frees: int  # 0 when another hard link keeps the bytes
    reason: str
    source: str = ""
    result: str | None = None  # after execution: "removed", "already gone", or the error
    planned: Planned | None = field(default=None, repr=False)  # the file as the plan saw it
    revision_id: tuple[int, int] = field(default=(0, 0), repr=False)  # (st_dev, st_ino) of revision_dir

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "bytes": self.size, "frees": self.frees, "reason": self.reason,
                "source": self.source, "result": self.result}


@dataclass
class CachePlan:
    root: Path
    removals: list[Removal] = field(default_factory=list)

    @property
    def frees(self) -> int:
        return sum(r.frees for r in self.removals)

    @property
    def failed(self) -> list[Removal]:
        return [r for r in self.removals if r.result not in (None, "removed", *OK_RESULTS)]

    def to_json(self) -> dict[str, Any]:
        return {"root": str(self.root), "removals": [r.to_json() for r in self.removals],
                "total": {"files": len(self.removals), "frees": self.frees}}


def _stored_removal(item: CacheItem, reason: str) -> list[Removal]:
    """The file, and its record when the record names it (a record without its file is a lie)."""
    s = item.stored
    out = [Removal(s.path, s.revision_dir, s.size, s.size if s.links == 1 else 0, reason, item.source)]
    if s.record is not None:
        rec = s.revision_dir / f"{s.path.name}.json"
        out.append(Removal(rec, s.revision_dir, _size(rec), _size(rec), "its record", item.source))
    return out


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _is_sha(spec: str) -> bool:
    return 8 <= len(spec) <= 64 and set(spec.lower()) <= _HEX


def plan_rm(root: Path, specs: Iterable[str], endpoint: str | None = None) -> CachePlan:
    """Remove what each spec names: a sha256 (8+ leading hex digits), or a source in any spelling
    `fetch` takes (every revision of it, or one with `@rev` / a `resolve/<rev>/` URL)."""
    require_marked(root)
    listing = list_cache(root, endpoint)
    plan = CachePlan(root)
    chosen: dict[Path, CacheItem] = {}
    for spec in specs:
        if set(spec.lower()) <= _HEX and len(spec) < 8:
            raise MckptError("too short for a sha256 prefix", path=spec, hint="give 8 or more hex digits")
        if _is_sha(spec):
            hits = [i for i in listing.items if i.stored.sha256.startswith(spec.lower())]
            if len({i.stored.sha256 for i in hits}) > 1:
                raise MckptError(f"the sha256 prefix matches {len({i.stored.sha256 for i in hits})} different "
                                 "files", path=spec, hint="give more digits (see `mckpt cache ls`)")
        else:
            remote = parse_source(spec, endpoint)
            entry = CacheEntry(root, remote)
            one_revision = remote.repo is None or not spec.startswith("hf://") or "@" in spec
            hits = [i for i in listing.items
                    if (i.stored.revision_dir == entry.dir if one_revision
                        else i.stored.revision_dir.parent == entry.dir.parent)]
        if not hits:
            raise MckptError("nothing in the cache matches this", path=spec,
                             hint="see `mckpt cache ls` for what the cache holds")
        chosen.update((i.stored.path, i) for i in hits)
    for item in chosen.values():
        plan.removals += _stored_removal(item, "asked for")
    removed = {r.path for r in plan.removals}
    # A revision left with no file keeps nothing worth its .part or lock either.
    for x in listing.leftovers:
        left = [i for i in listing.items if i.stored.revision_dir == x.revision_dir and i.stored.path not in removed]
        if any(r.revision_dir == x.revision_dir for r in plan.removals) and not left:
            plan.removals.append(Removal(x.path, x.revision_dir, x.size, x.size, _LEFTOVER_REASON[x.kind]))
    return _identify(plan)


_LEFTOVER_REASON = {
    "part": "an incomplete download (`mckpt fetch` would resume it)",
    "part-note": "what an incomplete download was fetched from",
    "lock": "a lock no fetch holds",
    "record": "a record whose file is gone or unreadable",
}


def plan_prune(root: Path, endpoint: str | None = None) -> CachePlan:
    """Incomplete `.part` downloads, stale locks and records, and files no record names any more
    (older copies of a revision that moved), or that were changed in place since they were fetched."""
    require_marked(root)
    listing = list_cache(root, endpoint)
    plan = CachePlan(root)
    for item in listing.items:
        s = item.stored
        if not s.referenced:
            plan.removals += _stored_removal(item, "no record names it (an older copy of a revision that moved)")
        elif not s.intact:
            plan.removals += _stored_removal(item, "changed since it was fetched (the cache no longer trusts it)")
    for x in listing.leftovers:
        if x.kind != "lock":
            plan.removals.append(Removal(x.path, x.revision_dir, x.size, x.size, _LEFTOVER_REASON[x.kind]))
    # A lock is stale once nothing of its file is left: a kept entry keeps its lock.
    going = {r.path for r in plan.removals}
    for x in listing.leftovers:
        if x.kind == "lock" and not any(p not in going for p in _belongings(listing, x)):
            plan.removals.append(Removal(x.path, x.revision_dir, x.size, x.size, _LEFTOVER_REASON[x.kind]))
    return _identify(plan)


def _identify(plan: CachePlan) -> CachePlan:
    """Record what each file and its revision folder are now, for deletion by identity; a file
    that cannot be looked at (gone, or not a regular file) leaves the plan."""
    kept = []
    for r in plan.removals:
        try:
            r.planned = plan_removal(r.path)
            st = os.stat(r.revision_dir, follow_symlinks=False)
        except (MckptError, OSError):
            continue
        r.revision_id = (st.st_dev, st.st_ino)
        kept.append(r)
    plan.removals = kept
    return plan


def _belongings(listing: CacheListing, lock: Leftover) -> list[Path]:
    """Everything in the cache that the lock `lock` guards (the same file name, same revision)."""
    name = entry_name(lock.path, lock.revision_dir)
    return [*(i.stored.path for i in listing.items if i.stored.revision_dir == lock.revision_dir
              and i.stored.path.name == name),
            *(x.path for x in listing.leftovers if x.revision_dir == lock.revision_dir and x is not lock
              and entry_name(x.path, x.revision_dir) == name)]


def execute(plan: CachePlan, on_result: Callable[[Removal], None] | None = None) -> CachePlan:
    """Carry out `plan` file by file under each entry's lock; each result lands in `Removal.result`."""
    for r in plan.removals:
        r.result = _remove(r)
        if on_result is not None:
            on_result(r)
    _drop_empty_folders(plan)
    return plan


def _remove(r: Removal) -> str:
    """One removal: its revision folder held open (the one planned), the entry's lock taken there,
    the file deleted by identity."""
    rfd = open_planned_folder(str(r.revision_dir), r.revision_id)
    if rfd is None or r.planned is None:
        return "its folder changed since the plan was made: left alone"
    try:
        with hold_if_free(rfd, entry_name(r.path, r.revision_dir)) as free:
            if not free:
                return "in use by a running fetch: left alone"
            result = remove_planned(r.planned)
            return "removed" if result == "deleted" else result
    finally:
        os.close(rfd)


def _drop_empty_folders(plan: CachePlan) -> None:
    """Folders the plan emptied (sha256 folders, then revisions, then sources); never the root."""
    folders = {r.path.parent for r in plan.removals} | {r.revision_dir for r in plan.removals}
    folders |= {f.parent for f in folders}
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if (folder != plan.root and plan.root in folder.parents and folder.is_dir() and not folder.is_symlink()
                and not any(folder.iterdir())):
            folder.rmdir()


# ---------------------------------------------------------------------------------------------------
# verify


@dataclass
class CacheCheck:
    item: CacheItem
    sha256: str | None = None
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.item.source, "revision": self.item.revision, "path": str(self.item.stored.path),
                "ok": self.problem is None, "problem": self.problem, "sha256": self.sha256,
                "expected_sha256": self.item.stored.sha256}


def verify_cache(root: Path, endpoint: str | None = None, workers: int | None = None,
                 progress: Progress | None = None) -> list[CacheCheck]:
    """Hash every cached file and compare with the sha256 it was stored under (its folder's name,
    which the record repeats); `progress` counts the bytes hashed."""
    import hashlib
    import threading

    from ..io.sources import FileSource
    from ..verify import serialized, stream

    items = list_cache(root, endpoint).items
    if progress is not None:
        progress.total = sum(i.stored.size for i in items)
    lock = threading.Lock()

    def check(item: CacheItem) -> CacheCheck:
        out = CacheCheck(item)
        h = hashlib.sha256()
        try:
            with FileSource(item.stored.path) as src:
                stream(src, [lambda buf, pos: h.update(buf)], progress=serialized(progress, lock))
        except (MckptError, OSError) as e:
            out.problem = str(e)
            return out
        out.sha256 = h.hexdigest()
        if out.sha256 != item.stored.sha256:
            out.problem = f"sha256 {out.sha256} differs from the {item.stored.sha256} it was fetched with"
        elif item.stored.record is not None and item.stored.record.sha256 != item.stored.sha256:
            out.problem = f"its record says sha256 {item.stored.record.sha256}"
        return out

    n = workers or min(4, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(check, items))

