"""Bare backbone → full Mammoth checkpoint, with the key layout of a template (`--like`).

Mammoth loads a full checkpoint strictly into the whole continual model, so the new file needs every
key of that model: the backbone's aliases (`_features`, a nested `net`) and the model's own entries.
Only a full checkpoint of the same model knows them. Each template key is matched to a source tensor
by normalized name and shape, aliases get the same storage, the template's other entries are copied,
and keys without a source are reported, never invented.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from ..domain.checkpoint import LOGGER_KEYS, Checkpoint, read_checkpoint
from ..errors import MckptError, UsageError
from ..io.path_component import component_problem
from ..torchfile.archive import Archive
from ..torchfile.archive_writer import ByteRange
from ..torchfile.values import StateDict, StorageRef, TensorRef, contiguous, itemsize
from .plan import BACKBONE_PREFIX, ArgOverrides, Plan, backbone_names, output_path
from .storage_table import StorageTable, rebuild, retensor


def plan_full(src: Checkpoint, like: str | None, output: str | None, overrides: ArgOverrides,
               allow_partial: bool) -> Plan:
    if src.kind == "mammoth":
        raise MckptError("already a full Mammoth checkpoint", path=src.path,
                         hint="{to=backbone} extracts its backbone; {to=safe} rewrites an old pickle", spelled=True)
    if src.kind != "backbone":
        raise MckptError("not a backbone state dict (a dict of tensors)", path=src.path)
    if like is None:
        return _plan_guess(src, output)
    with read_checkpoint(like, keep_open=True) as tmpl:
        return _plan_with_template(src, tmpl, like, output, overrides, allow_partial)


def _plan_with_template(src: Checkpoint, tmpl: Checkpoint, like: str, output: str | None,
                        overrides: ArgOverrides, allow_partial: bool) -> Plan:
    if tmpl.kind != "mammoth":
        raise MckptError("needs a full Mammoth checkpoint (one with `model` and `args`)", path=like, param="like")
    t_arch, s_arch = archive_of(tmpl), archive_of(src)
    if t_arch.byteorder != s_arch.byteorder:
        raise MckptError(f"byte order {s_arch.byteorder} differs from the template's {t_arch.byteorder}",
                         path=src.path)
    tmodel = tmpl.model_state  # a crafted template's `model` can be anything: only its tensors count
    for ck, arch in ((tmpl, t_arch), (src, s_arch)):  # what torch could not load is never written
        for key, t in ck.model_state.items():
            arch.check_tensor(ck.tensor_path(key), t)
    table = StorageTable()
    t_state = t_arch.obj["model"]
    t_meta = (rebuild(t_state._metadata, "model._metadata", t_arch, table)
              if isinstance(t_state, StateDict) and "_metadata" in vars(t_state) else None)
    args = rebuild(tmpl.args, "args", t_arch, table)
    args, changed = _apply_args(args, overrides, tmpl.path)
    # Named as Mammoth names the file of a run interrupted before it finished a task: the file has
    # done none, and a `_last` or `_<task>` name would say it had (and `load` would believe it).
    plan = Plan("backbone->full", src.path, output_path(output, Path("checkpoints", "paused"), f"{uuid.uuid4()}.pt"),
                template=tmpl.path, args=args)
    plan.notes.append("args: the template's, with " + ", ".join(changed))
    ssd = src.model_state
    wanted = {k[len(BACKBONE_PREFIX):] for k in tmodel if k.startswith(BACKBONE_PREFIX)}
    if not wanted:
        raise MckptError("the template's model has no `net.` (backbone) entries", path=like)
    names, had_prefix = backbone_names(list(ssd), wanted)
    if had_prefix:
        plan.notes.append("source keys read with Mammoth's `net.` prefix removed")
    _check_shapes(tmodel, names, ssd, src.path)
    groups: dict[str, list[str]] = {}
    for k, t in tmodel.items():
        groups.setdefault(t.storage.key, []).append(k)
    new_storage: dict[str, StorageRef] = {}
    for skey, keys in groups.items():
        sourced = [(k, ssd[names[k[len(BACKBONE_PREFIX):]]]) for k in keys
                   if k.startswith(BACKBONE_PREFIX) and k[len(BACKBONE_PREFIX):] in names]
        if sourced:
            new_storage[skey] = _storage_from_source(tmodel[keys[0]],
                                                     [(tmodel[k], s) for k, s in sourced], s_arch, table)
            plan.mapped.append((sourced[0][0], names[sourced[0][0][len(BACKBONE_PREFIX):]]))
            plan.aliased += [(k, sourced[0][0]) for k in keys if k != sourced[0][0]]
            continue
        missing = [k for k in keys if k.startswith(BACKBONE_PREFIX)]
        if missing and not allow_partial:
            plan.unmatched += missing
            continue
        new_storage[skey] = table.whole(t_arch, tmodel[keys[0]].storage)
        plan.copied += keys
        if missing:
            plan.notes.append(f"{', '.join(missing)}: no source tensor, filled from the template "
                              "(--allow-partial)")
    used = {s for _, s in plan.mapped}
    used |= {names[k[len(BACKBONE_PREFIX):]] for k, _ in plan.aliased
             if k.startswith(BACKBONE_PREFIX) and k[len(BACKBONE_PREFIX):] in names}
    plan.unused = [k for k in ssd if k not in used]
    if plan.unmatched:
        plan.problems.append(f"{len(plan.unmatched)} key(s) of the template have no source tensor")
    if plan.unused and not allow_partial:
        plan.problems.append(f"{len(plan.unused)} source key(s) have no place in the template")
    if plan.problems:
        return plan
    if plan.unused:
        plan.notes.append(f"{', '.join(plan.unused)}: no place in the template, left out (--allow-partial)")
    model = StateDict()
    if t_meta is not None:
        model._metadata = t_meta
    for k, t in tmodel.items():
        model[k] = retensor(t, new_storage[t.storage.key])
    obj = {"model": model, "optimizer": None, "scheduler": None, "args": args,
           "results": [[], [], {k: [] for k in LOGGER_KEYS}]}
    plan.notes += [
        "optimizer and scheduler: None (training restarts them)",
        "results: no task done, logger dump with its ten keys as empty lists (Mammoth needs them all)",
    ]
    if output is None:  # the name was chosen here; a name given with -o is the user's
        plan.notes.append("named paused/<uuid>.pt, as Mammoth names the file of a run stopped before its first "
                          "task (the run's name is args.ckpt_name): resume with --start_from 0")
    return plan.complete(obj, table.records, s_arch)


def _plan_guess(src: Checkpoint, output: str | None) -> Plan:
    """Without a template the true layout is unknown: show the guess, write nothing."""
    names, had_prefix = backbone_names(list(src.model_state), None)
    plan = Plan("backbone->full", src.path, output or "checkpoints/paused/<uuid>.pt")
    plan.mapped = [(BACKBONE_PREFIX + n, k) for n, k in names.items()]
    plan.problems = ["no template: the aliases the backbone registers (`_features`, a nested `net`) and "
                     "the continual model's own entries are unknown"]
    plan.notes = [
        "guessed: every key becomes `net.<key>`"
        + (" (the `net.` prefix was already there)" if had_prefix else ""),
        "guessed nothing else: Mammoth loads a full checkpoint strictly, so the aliases and the model's "
        "own buffers must come from a full checkpoint of the same model (--like FILE)",
        "or write the bare `net.`-prefixed form, which Mammoth's --loadcheck accepts for any backbone: "
        "--to backbone",
    ]
    return plan


def _check_shapes(tmodel: dict[str, TensorRef], names: dict[str, str], ssd: dict[str, TensorRef],
                  path: str) -> None:
    bad = []
    for k, t in tmodel.items():
        name = k[len(BACKBONE_PREFIX):]
        if k.startswith(BACKBONE_PREFIX) and name in names:
            s = ssd[names[name]]
            if s.shape != t.shape or s.dtype != t.dtype:
                bad.append(f"{k} is {t.dtype}{list(t.shape)} in the template but {names[name]} is "
                           f"{s.dtype}{list(s.shape)} here")
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise MckptError(f"shape mismatch: {bad[0]}{more}", path=path,
                         hint="the template must be a checkpoint of the same model and backbone")


def _storage_from_source(first_view: TensorRef, views: list[tuple[TensorRef, TensorRef]], arch: Archive,
                         table: StorageTable) -> StorageRef:
    """A storage laid out as the template's, filled with the source tensors' bytes.

    Usually the source shares storages exactly as the template does and the whole source storage is
    copied. Otherwise the storage is assembled from the tensors' byte ranges, which must tile it:
    bytes that no source tensor provides are never invented. The bytes, and so the device they were
    saved from, are the source's.
    """
    target = first_view.storage
    first = views[0][1].storage
    if (first.dtype == target.dtype and first.numel == target.numel
            and all(s.storage == first and s.offset == t.offset and s.stride == t.stride for t, s in views)):
        return table.whole(arch, first)
    size = itemsize(target.dtype)
    pieces: dict[int, tuple[int, TensorRef]] = {}
    for t, s in views:
        if not (contiguous(t.shape, t.stride) and contiguous(s.shape, s.stride)):
            raise MckptError(f"cannot lay out a non-contiguous tensor ({list(t.shape)} with stride "
                             f"{list(t.stride)}) without decoding it", path=arch.source.name)
        pieces.setdefault(t.offset * size, (t.numel * size, s))
    ranges: list[tuple[int, ByteRange]] = []
    cursor = 0
    for dst in sorted(pieces):
        n, s = pieces[dst]
        if dst + n <= cursor:
            continue
        if dst != cursor:
            raise MckptError(f"the template's storage of {target.numel} {target.dtype} values is not covered "
                             "by the source tensors; refusing to invent the rest", path=arch.source.name)
        ranges.append((dst, table.byte_range(arch, s.storage, s.offset * size, n)))
        cursor = dst + n
    if cursor != target.nbytes:
        raise MckptError(f"the template's storage of {target.numel} {target.dtype} values is not covered by "
                         "the source tensors; refusing to invent the rest", path=arch.source.name)
    return table.assembled(target.dtype, target.numel, first.location, ranges)


def _apply_args(args: dict[str, Any], overrides: ArgOverrides, template: str) -> tuple[dict[str, Any], list[str]]:
    """The template's args with the user's overrides and a new run identity (uid, timestamp, name)."""
    args = dict(args)
    changed = overrides.apply(args)
    for key in ("model", "dataset"):
        if not isinstance(args.get(key), str) or not args[key]:
            raise UsageError(f"no `{key}` in the template's args; pass --{key}")
    job = uuid.uuid4()
    now = datetime.now()
    args["conf_jobnum"] = str(job)
    args["conf_timestamp"] = str(now)
    args["ckpt_name"] = _run_stem(args, now, str(job).split("-")[0], set(overrides.as_dict()), template)
    changed.append("a new run identity (ckpt_name, conf_jobnum, conf_timestamp)")
    return args, changed


_NAME_PARTS = ("model", "dataset", "dataset_config", "buffer_size", "n_epochs")


def _run_stem(args: dict[str, Any], now: datetime, uid: str, given: set[str], template: str) -> str:
    """`<model>_<dataset>_<config>_<buffer>_<epochs>_<timestamp>_<uid>`: Mammoth's current (D3) name,
    with the uid taken from `conf_jobnum` as Mammoth does.

    Mammoth builds its file names from this (`<ckpt_name>_<task>.pt`, and a resumed run's prefix),
    so every part taken from the args must be one plain path component, or the file is refused.
    """
    parts = {"model": args["model"], "dataset": args["dataset"], "dataset_config": args.get("dataset_config"),
             "buffer_size": args.get("buffer_size") or 0, "n_epochs": args.get("n_epochs")}
    for key in _NAME_PARTS:
        problem = component_problem(str(parts[key]))
        if problem is not None:
            shown = repr(parts[key]) if len(repr(parts[key])) <= 60 else repr(parts[key])[:57] + "..."
            if key in given:
                raise UsageError(f"{key} {shown} cannot be part of a file name: {problem}")
            raise MckptError(f"the template's args.{key} {shown} cannot be part of a file name: {problem}",
                             path=template, hint=f"override it: {{overrides}} {key}=VALUE", spelled=True)
    stem = "_".join(str(x) for x in (*parts.values(), now.strftime("%Y%m%d-%H%M%S"), uid))
    problem = component_problem(f"{stem}_joint.pt")  # the longest name Mammoth gives a task file
    if problem is not None:
        raise MckptError(f"the run name built from the template's args cannot be a file name: {problem}",
                         path=template, hint="override the long args: {overrides} KEY=VALUE", spelled=True)
    return stem


def archive_of(ck: Checkpoint) -> Archive:
    if ck.archive is None or ck.archive.layout == "pickle":
        raise MckptError("a bare pickle, not a torch archive: there are no storages to copy", path=ck.path)
    return ck.archive
