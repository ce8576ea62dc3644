"""`push`: plan what goes where, then make each file safe, check it, hash it and send it.

The plan (:func:`plan_push`) reads every file's metadata with the safe reader, refuses what is
not a Mammoth checkpoint or backbone or has tensors outside their storages, decides each file's
conversion (an old pickle goes out in the safe layout; `--backbone` sends the `net.` backbone as
`convert --to backbone` writes it; `--safetensors` adds a `.safetensors` of it), and asks the
destination which names are taken (a read, never a write: `--dry-run` stops here).

Running it (:func:`run_push`) converts into a private temporary folder (the originals are never
touched), verifies a converted file's source first (a conversion would give damaged bytes new
CRCs), then reads each file to send exactly once: CRCs, index and pickle are checked and the
sha256 computed in that read, and for a store the same bytes are the upload. A file that fails
its check is not published. The card (README.md, and manifest.json for a store) goes last, so a
reader who sees it sees every file it lists.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..convert import Plan as ConvertPlan
from ..convert import plan_conversion, write_plan
from ..convert.plan import file_stem
from ..domain.checkpoint import Checkpoint, read_checkpoint
from ..errors import MckptError, UsageError
from ..io.progress import Progress
from ..io.sources import FileSource
from ..verify import stream, verify_source
from .card import MARKER, CardFile, card_text, manifest
from .dest import Destination, parse_destination
from .safetensors_export import DTYPES, export_safetensors, header_bytes
from .source import run_files

README, MANIFEST = "README.md", "manifest.json"
WHAT = {"upload": "checkpoint, as saved",
        "old_pickle->safe": "checkpoint, converted from old pickle to the safe layout",
        "full->backbone": "backbone (`net.` entries), as `mckpt convert --to backbone` writes it",
        "safetensors": "backbone (`net.` entries) as safetensors, args and metrics in its metadata"}


@dataclass
class PushOptions:
    all_tasks: bool = False
    backbone: bool = False
    safetensors: bool = False
    card: bool = True
    card_only: bool = False
    force: bool = False
    license: str | None = None


@dataclass
class PushFile:
    """One file to send: where it comes from, its remote name and how it is made."""

    source: str
    name: str
    action: str  # "upload", "old_pickle->safe", "full->backbone", "safetensors"
    bytes: int  # exact for an upload, planned for a conversion
    checkpoint: Checkpoint = field(repr=False)
    conversion: ConvertPlan | None = field(default=None, repr=False)
    sha256: str | None = None
    staged: str | None = None

    def to_json(self, dest: Destination) -> dict[str, Any]:
        return {"source": self.source, "name": self.name, "url": dest.fetch_url(self.name), "action": self.action,
                "bytes": self.bytes, "sha256": self.sha256}


@dataclass
class PushPlan:
    dest: Destination
    files: list[PushFile]
    runs: list[Checkpoint]  # the newest file of each SOURCE: the card's results
    options: PushOptions
    card_files: list[str] = field(default_factory=list)
    existing: dict[str, str] = field(default_factory=dict)  # remote names already there -> etag
    replaceable: set[str] = field(default_factory=set)  # of those, mckpt's own card files
    state: Any = None  # the hub's RepoState

    @property
    def taken(self) -> list[str]:
        """Remote names that hold something push would replace (refused without --force)."""
        sending = set(self.card_files) | (set() if self.options.card_only else {f.name for f in self.files})
        return [n for n in self.existing if n in sending and n not in self.replaceable]

    def to_json(self) -> dict[str, Any]:
        return {"destination": self.dest.url, "kind": self.dest.kind,
                "files": [] if self.options.card_only else [f.to_json(self.dest) for f in self.files],
                "card": [self.dest.fetch_url(n) for n in self.card_files],
                "bytes": sum(f.bytes for f in self.files) if not self.options.card_only else 0,
                "already_there": sorted(self.existing), "would_replace": sorted(self.taken) if self.options.force
                else [], "refused": sorted(self.taken) if not self.options.force else []}


def plan_push(sources: list[str], destination: str, options: PushOptions) -> PushPlan:
    """What `push` would send where; asks the destination which names are taken (no write)."""
    if not options.card and options.card_only:
        raise UsageError("{card_only} writes only the card, which is turned off; pass one of the two", spelled=True)
    dest = parse_destination(destination)
    files: list[PushFile] = []
    runs: list[Checkpoint] = []
    for spec in sources:
        paths = run_files(spec, options.all_tasks)
        cks = [_plan_file(p, options, files) for p in paths]
        runs.append(cks[-1])
    names = [f.name for f in files]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two files would be sent as {dupes[0]}; push them to different folders")
    card_files = ([README] + ([MANIFEST] if dest.kind == "store" else [])) if options.card else []
    plan = PushPlan(dest, files, runs, options, card_files)
    _look(plan)
    return plan


def _plan_file(path: str, options: PushOptions, files: list[PushFile]) -> Checkpoint:
    """Add the file(s) `path` becomes to `files`; returns its metadata."""
    with read_checkpoint(path, keep_open=True) as ck:
        assert ck.archive is not None
        problems = ck.archive.tensor_problems()
        if ck.kind == "other":
            raise MckptError("neither a Mammoth checkpoint nor a backbone state dict; not pushed", path=path)
        if problems:
            raise MckptError(f"{problems[0]}; not pushed", path=path, hint="see mckpt verify")
    name = os.path.basename(path)
    if options.backbone and ck.kind == "mammoth":
        conv = plan_conversion(path, "backbone", output=os.path.join(tempfile.gettempdir(), "x.pt"))
        name = file_stem(path) + "_backbone.pt"
        files.append(PushFile(path, name, "full->backbone", _planned_size(conv), ck, conv))
    elif ck.format == "old_pickle":
        conv = plan_conversion(path, "safe", output=os.path.join(tempfile.gettempdir(), "x.pt"))
        files.append(PushFile(path, name, "old_pickle->safe", _planned_size(conv), ck, conv))
    else:
        files.append(PushFile(path, name, "upload", ck.size, ck))
    if options.safetensors:
        with read_checkpoint(path, keep_open=True) as full:
            prefix = "net." if full.kind == "mammoth" else ""
            state = {k: t for k, t in full.model_state.items() if k.startswith(prefix) and t.dtype in DTYPES}
        size = len(header_bytes(state, _st_metadata(ck))) + sum(t.nbytes for t in state.values())
        files.append(PushFile(path, file_stem(path) + ("_backbone" if prefix else "") + ".safetensors",
                              "safetensors", size, ck))
    return ck


def _planned_size(conv: ConvertPlan) -> int:
    """A conversion's output size before it is written: its storages (the pickle and zip records add
    a few KiB, told exactly once written)."""
    return conv.nbytes


def _st_metadata(ck: Checkpoint) -> dict[str, str]:
    """The safetensors metadata: the run's args and metrics as JSON strings (the format allows only strings)."""
    from ..domain.checkpoint import to_plain

    return {"format": "pt", "mammoth_args": json.dumps(to_plain(ck.args), sort_keys=True),
            "mammoth_metrics": json.dumps({k: m.summary_json() for k, m in ck.metrics.items()}),
            "written_by": "mckpt push"}


def _target(dest: Destination) -> Any:
    if dest.kind == "hub":
        from .hub_upload import HubTarget

        return HubTarget(dest)
    from .store_upload import StoreTarget

    return StoreTarget(dest)


def _look(plan: PushPlan) -> None:
    """Fill `existing` and `replaceable` from the destination (reads only)."""
    target = _target(plan.dest)
    names = [f.name for f in plan.files] + plan.card_files
    if plan.dest.kind == "hub":
        plan.state = target.state()
        plan.existing = target.existing(names, plan.state)
        card = target.read_text(README) if README in plan.existing else None
    else:
        plan.existing = target.existing(names)
        card = target.get_text(README) if README in plan.existing else None
    if card is not None and MARKER in card:
        plan.replaceable = {n for n in plan.card_files if n in plan.existing}


# ---------------------------------------------------------------------------------------------------
# running the plan


@dataclass
class PushResult:
    files: list[dict[str, Any]]
    card: list[str]
    commit: str | None = None
    commit_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "card": self.card, "commit": self.commit, "commit_url": self.commit_url}


def run_push(plan: PushPlan, bar: Progress) -> PushResult:
    """Send the plan's files and card (see the module's docstring); raises on the first failure,
    having published nothing of the file that failed."""
    taken = plan.taken
    if taken and not plan.options.force:
        from .store_upload import Taken

        raise Taken(f"{len(taken)} file(s) already there ({', '.join(taken[:3])}); nothing pushed",
                    path=plan.dest.fetch_url(taken[0]), hint="pass --force to replace them")
    target = _target(plan.dest)
    with tempfile.TemporaryDirectory(prefix="mckpt-push-") as tmp:
        for f in plan.files:
            _stage(f, Path(tmp), bar)
        send = plan.dest.kind == "store" and not plan.options.card_only
        for f in plan.files:
            _read_once(f, target if send else None, plan.options.force, bar)
        result = PushResult([] if plan.options.card_only else [f.to_json(plan.dest) for f in plan.files],
                            [plan.dest.fetch_url(n) for n in plan.card_files])
        extra = _card_bytes(plan)
        if plan.dest.kind == "hub":
            bar.reset(None, description="committing")
            sent = [] if plan.options.card_only else [(f.name, f.staged or f.source, f.sha256 or "")
                                                      for f in plan.files]
            if sent or extra:
                result.commit, result.commit_url = target.commit(
                    sent, extra, plan.state.commit, _message(plan))
        else:
            for name, data in extra:
                target.put_bytes(name, data, force=plan.options.force,
                                 replace_etag=plan.existing.get(name) if name in plan.replaceable else None)
    return result


def _message(plan: PushPlan) -> str:
    if plan.options.card_only:
        return "Update the card (mckpt push --card-only)"
    return f"Add {len(plan.files)} file(s) with mckpt push"


def _stage(f: PushFile, tmp: Path, bar: Progress) -> None:
    """Make `f`'s file to send: the original itself, or a conversion in `tmp` (source verified first)."""
    if f.action == "upload":
        return
    source = FileSource(f.source)
    try:
        bar.reset(source.size, description=f"checking {f.name[:24]}")
        verdict = verify_source(source, progress=bar)
    finally:
        source.close()
    if not verdict.ok:
        raise MckptError(f"failed its check ({verdict.problems[0]}); not converted, nothing pushed", path=f.source)
    out = tmp / f.name
    if f.action == "safetensors":
        bar.reset(f.bytes, description=f"export {f.name[:26]}")
        f.bytes = export_safetensors(f.source, out, prefix="net." if f.checkpoint.kind == "mammoth" else "",
                                     metadata=_st_metadata(f.checkpoint), progress=bar)
    else:
        assert f.conversion is not None
        f.conversion.output = str(out)
        bar.reset(2 * f.conversion.nbytes, description=f"convert {f.name[:26]}")
        f.bytes = write_plan(f.conversion, progress=bar).bytes
    f.staged = str(out)


def _read_once(f: PushFile, target: Any, force: bool, bar: Progress) -> None:
    """One read of the file to send: checked (a torch file: CRCs, index, tensor views, pickle),
    hashed, and for a store uploaded as it is read; published only if the check passed."""
    from .store_upload import _Stopped

    path = f.staged or f.source
    source = FileSource(path)
    uploader = target.uploader(f.name, source.size, force=force) if target is not None else None
    ok = False
    try:
        bar.reset(source.size, description=f"{'push' if uploader else 'hash'} {f.name[:28]}")
        also = [uploader.feed] if uploader else []
        if f.action == "safetensors":
            hasher = hashlib.sha256()
            stream(source, [lambda b, p: hasher.update(b), *also], progress=bar)
            f.sha256, problem = hasher.hexdigest(), None
        else:
            verdict = verify_source(source, progress=bar, also=also, hash_all=True)
            f.sha256, problem = verdict.sha256, verdict.problems[0] if verdict.problems else None
        if problem is not None:
            raise MckptError(f"failed its check ({problem}); not pushed", path=path, hint="see mckpt verify")
        f.bytes = source.size
        ok = True
    except _Stopped as e:
        raise e.cause from None
    finally:
        source.close()
        if uploader is not None:
            uploader.finish(ok)


def _card_bytes(plan: PushPlan) -> list[tuple[str, bytes]]:
    """(name, bytes) of the card files, manifest first (README.md is the last thing written)."""
    if not plan.card_files:
        return []
    files = [CardFile(f.name, f.bytes, f.sha256, WHAT[f.action]) for f in plan.files]
    out: list[tuple[str, bytes]] = []
    if MANIFEST in plan.card_files:
        doc = manifest(plan.runs, files, {f.name: f.checkpoint for f in plan.files})
        out.append((MANIFEST, (json.dumps(doc, indent=2) + "\n").encode()))
    out.append((README, card_text(plan.runs, files, plan.dest, plan.options.license).encode()))
    return out


def preview_card(plan: PushPlan) -> str:
    """The card as `--dry-run` shows it (sha256 computed when pushed)."""
    files = [CardFile(f.name, f.bytes, None, WHAT[f.action]) for f in plan.files]
    return card_text(plan.runs, files, plan.dest, plan.options.license)
