"""The checkpoint model: what a Mammoth file holds, read without torch and without tensor bytes.

`read_checkpoint` turns the archive's object tree into a :class:`Checkpoint`: the run's args as a
plain dict, its accuracy matrices and metrics, and summaries of the tensors, optimizer, scheduler
and buffer. Every field is JSON-ready so the CLI, Python users and later remote stores share it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from ..errors import MckptError
from ..io.sources import ByteSource, FileSource
from ..torchfile.archive import Archive, Layout, open_archive, tensor_items
from ..torchfile.safe_globals import is_safe_global
from ..torchfile.values import NdArray, PickledNamespace, Placeholder, StorageRef, TensorRef
from .metrics import Metrics, compute_metrics
from .names import ParsedName, parse_name, parse_stem

Kind = Literal["mammoth", "backbone", "other"]  # a Mammoth checkpoint, a bare state dict, anything else
Format = Literal["safe", "old_pickle", "backbone"]  # what torch.load(weights_only=True) makes of it

LOGGER_KEYS = (
    "accs", "fullaccs", "fwt", "bwt", "forgetting", "fwt_mask_classes", "bwt_mask_classes",
    "forgetting_mask_classes", "accs_mask_classes", "fullaccs_mask_classes",
)


def plain_leaf(value: Any) -> Any:
    """One value as `to_plain` shows it, a container left as it is (its items unconverted): the
    step both `to_plain` and the bounded renderer (`view.text.brief`) take at every node."""
    if isinstance(value, bool | int | float | str | dict | list | tuple | set | frozenset) or value is None:
        return value
    if isinstance(value, TensorRef):
        return {"tensor": {"dtype": value.dtype, "shape": list(value.shape)}}
    if isinstance(value, NdArray):
        return value.value
    if isinstance(value, Placeholder):
        return f"<{value.qualname}>"
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, slice):  # plain numbers only (the unpickler refuses others)
        return f"slice({value.start}, {value.stop}, {value.step})"
    return f"<{type(value).__name__}>"  # never repr(): a file's value could make it huge


def to_plain(value: Any) -> Any:
    """A JSON-ready copy: namespaces and dicts to dicts, numpy arrays to lists, tensors described."""
    value = plain_leaf(value)
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_plain(v) for v in value]
    return value


def as_number(value: Any) -> float | None:
    """Mammoth's safe mode stores some numbers as strings ('33.33'); read them leniently."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    if isinstance(value, NdArray):
        return as_number(value.value)
    return None


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    parameters: int
    storage: str
    offset: int
    alias_of: str | None = None  # first key that shares the same storage view

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape),
                "parameters": self.parameters, "storage": self.storage, "alias_of": self.alias_of}


@dataclass
class ModuleSummary:
    """One module's share of a state dict (keys grouped by their first `depth` dotted parts)."""

    name: str
    tensors: int = 0
    parameters: int = 0  # aliases not counted again
    aliases: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "tensors": self.tensors, "parameters": self.parameters, "aliases": self.aliases}


@dataclass
class TensorSummary:
    """Counts over a state dict; shared storages (Mammoth's aliases) are counted once."""

    tensors: list[TensorInfo]
    storages: int
    parameters: int
    bytes: int
    dtypes: dict[str, int]
    modules: list[ModuleSummary]

    @property
    def count(self) -> int:
        return len(self.tensors)

    def to_json(self, full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "count": self.count, "storages": self.storages, "parameters": self.parameters,
            "bytes": self.bytes, "dtypes": self.dtypes, "modules": [m.to_json() for m in self.modules],
            "aliases": sum(1 for t in self.tensors if t.alias_of),
        }
        if full:
            out["list"] = [t.to_json() for t in self.tensors]
        return out


def summarize_tensors(items: Iterable[tuple[str, Any]], depth: int = 2) -> TensorSummary:
    tensors: list[TensorInfo] = []
    seen_view: dict[tuple[str, int, tuple[int, ...]], str] = {}
    storages: dict[str, StorageRef] = {}
    dtypes: dict[str, int] = {}
    modules: dict[str, ModuleSummary] = {}
    for name, t in items:
        if not isinstance(t, TensorRef):
            continue
        name = name if isinstance(name, str) else str(name)  # a crafted file's keys can be anything
        view = (t.storage.key, t.offset, t.shape)
        alias = seen_view.get(view)
        if alias is None:
            seen_view[view] = name
        storages.setdefault(t.storage.key, t.storage)
        dtypes[t.dtype] = dtypes.get(t.dtype, 0) + 1
        info = TensorInfo(name, t.dtype, t.shape, t.numel, t.storage.key, t.offset, alias)
        tensors.append(info)
        mod = ".".join(name.split(".")[:-1][:depth]) or "(top)"
        m = modules.setdefault(mod, ModuleSummary(mod))
        m.tensors += 1
        if alias:
            m.aliases += 1
        else:
            m.parameters += t.numel
    return TensorSummary(
        tensors,
        len(storages),
        sum(s.numel for s in storages.values()),
        sum(s.nbytes for s in storages.values()),
        dtypes,
        list(modules.values()),
    )


def _distinct_bytes(items: Iterable[tuple[str, TensorRef]]) -> tuple[int, int]:
    storages = {t.storage.key: t.storage for _, t in items}
    return len(storages), sum(s.nbytes for s in storages.values())


@dataclass
class OptimizerSummary:
    """A torch optimizer's `state_dict()`: its class (guessed from its hyperparameters), its param
    groups without the parameter ids, and how much state it holds."""

    type: str | None
    param_groups: list[dict[str, Any]] = field(default_factory=list)  # JSON-ready; `params` is a count
    state_entries: int = 0
    state_keys: list[str] = field(default_factory=list)
    state_tensors: int = 0
    state_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "param_groups": self.param_groups, "state_entries": self.state_entries,
                "state_keys": self.state_keys, "state_tensors": self.state_tensors, "state_bytes": self.state_bytes}


@dataclass
class SchedulerSummary:
    """A torch LR scheduler's `state_dict()`: its class (guessed from its keys) and its public state."""

    type: str | None
    state: dict[str, Any] = field(default_factory=dict)  # JSON-ready; private keys left out but `_last_lr`

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, **self.state}


@dataclass(frozen=True)
class BufferTensor:
    dtype: str
    shape: tuple[int, ...]


@dataclass
class BufferSummary:
    """A rehearsal buffer (Mammoth's `Buffer`, pickled or as a dict): its size, how many examples
    it has seen, and its tensors."""

    cls: str | None  # the pickled class (e.g. `utils.buffer.Buffer`); None for a plain dict
    size: int | None
    seen: int | None
    tensors: dict[str, BufferTensor]
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"class": self.cls, "size": self.size, "seen": self.seen,
                "tensors": {k: {"dtype": v.dtype, "shape": list(v.shape)} for k, v in self.tensors.items()},
                "bytes": self.bytes}


def summarize_optimizer(opt: Any) -> OptimizerSummary | None:
    if not isinstance(opt, dict):
        return None if opt is None else OptimizerSummary(type(opt).__name__)
    # A crafted file can put anything anywhere: only the shapes torch writes are summarized.
    groups = opt.get("param_groups")
    groups_out = []
    for g in groups if isinstance(groups, list | tuple) else ():
        if not isinstance(g, dict):
            continue
        entry = {str(k): to_plain(v) for k, v in g.items() if k != "params"}
        params = g.get("params")
        entry["params"] = len(params) if isinstance(params, list | tuple) else 0
        groups_out.append(entry)
    state = opt.get("state")
    state = state if isinstance(state, dict) else {}
    tensors = list(tensor_items(state))
    _, nbytes = _distinct_bytes(tensors)
    kinds = sorted({str(k) for v in state.values() if isinstance(v, dict) for k in v})
    first = groups_out[0] if groups_out else {}
    if "betas" in first:
        guess = "AdamW" if first.get("decoupled_weight_decay") else "Adam"
    elif "momentum" in first and "dampening" in first:
        guess = "SGD"
    elif "alpha" in first and "centered" in first:
        guess = "RMSprop"
    else:
        guess = None
    return OptimizerSummary(guess, groups_out, len(state), kinds, len(tensors), nbytes)


def summarize_scheduler(sched: Any) -> SchedulerSummary | None:
    if sched is None:
        return None
    if not isinstance(sched, dict):
        return SchedulerSummary(getattr(sched, "qualname", type(sched).__name__))
    plain = {str(k): to_plain(v) for k, v in sched.items()
             if not (isinstance(k, str) and k.startswith("_")) or k == "_last_lr"}
    keys = set(sched)
    guess = next((name for key, name in (
        ("milestones", "MultiStepLR"), ("T_max", "CosineAnnealingLR"), ("step_size", "StepLR"),
        ("T_0", "CosineAnnealingWarmRestarts"), ("total_steps", "OneCycleLR"), ("patience", "ReduceLROnPlateau"),
    ) if key in keys), None)
    plain.pop("type", None)  # torch's schedulers have no such key: a crafted one must not pass for the guess
    return SchedulerSummary(guess, plain)


def summarize_buffer(buf: Any, args: dict[str, Any]) -> BufferSummary | None:
    if buf is None:
        return None
    if isinstance(buf, Placeholder):
        attrs, cls = buf.attrs, buf.qualname
    elif isinstance(buf, dict):
        attrs, cls = dict(buf), None
    else:
        attrs, cls = {}, type(buf).__name__
    tensors = {str(k): v for k, v in attrs.items() if isinstance(v, TensorRef)}
    _, nbytes = _distinct_bytes(tensors.items())
    size = attrs.get("_buffer_size") or attrs.get("buffer_size") or args.get("buffer_size")
    if size is None and "examples" in tensors and tensors["examples"].shape:
        size = tensors["examples"].shape[0]
    seen = attrs.get("num_seen_examples")
    return BufferSummary(cls, size if isinstance(size, int) else None, seen if isinstance(seen, int) else None,
                         {k: BufferTensor(v.dtype, v.shape) for k, v in tensors.items()}, nbytes)


MAX_TASKS = 1000  # far beyond any Mammoth benchmark; a crafted file can claim millions from a few bytes


def _matrix(value: Any, what: str, warnings: list[str]) -> list[list[float]]:
    """An accuracy matrix as floats, at most MAX_TASKS × MAX_TASKS (a larger one is cut, with a warning).

    Rows can be shared in a pickle, so a small file can name a huge matrix: the bound keeps the
    numbers read, rendered and printed proportional to what a real run writes.
    """
    if isinstance(value, NdArray):
        value = value.value
    if not isinstance(value, list | tuple):
        return []
    if len(value) > MAX_TASKS or any(isinstance(r, list | tuple) and len(r) > MAX_TASKS for r in value[:MAX_TASKS]):
        warnings.append(f"the {what} results claim more than {MAX_TASKS} tasks; only the first {MAX_TASKS} are read")
        value = [r[:MAX_TASKS] if isinstance(r, list | tuple) else r for r in value[:MAX_TASKS]]
    out = []
    for row in value:
        if isinstance(row, NdArray):
            row = row.value
        if isinstance(row, list | tuple):
            out.append([x for x in (as_number(v) for v in row) if x is not None])
        elif (x := as_number(row)) is not None:
            out.append([x])
    return out


@dataclass
class Checkpoint:
    """Everything `inspect` shows about one file, without tensor bytes.

    :func:`read_checkpoint` returns it closed: the summaries and the object tree need no open
    file. Operations that stream tensor bytes (`diff --weights`, `convert`) ask for
    `keep_open=True` and close it (`with` block) when done.
    """

    path: str
    size: int
    kind: Kind
    format: Format | None  # None for kind "other"
    layout: Layout
    name: ParsedName | None
    args: dict[str, Any]
    class_il: list[list[float]]
    task_il: list[list[float]]
    logger: dict[str, Any]
    tensors: TensorSummary
    optimizer: OptimizerSummary | None
    scheduler: SchedulerSummary | None
    buffer: BufferSummary | None
    globals_seen: list[str]
    warnings: list[str] = field(default_factory=list)
    archive: Archive | None = field(default=None, repr=False)

    def close(self) -> None:
        """Release the file behind :attr:`archive` (the summaries stay usable; closing twice is harmless)."""
        if self.archive is not None:
            self.archive.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def tasks_done(self) -> int:
        return len(self.class_il)

    @property
    def metrics(self) -> dict[str, Metrics]:
        return {"class_il": compute_metrics(self.class_il), "task_il": compute_metrics(self.task_il)}

    @property
    def model_state(self) -> dict[str, TensorRef]:
        """The model's state dict (the whole file for a bare backbone), as tensor descriptors."""
        if self.archive is None:
            return {}
        obj = self.archive.obj
        sd = obj.get("model") if self.kind == "mammoth" else obj
        # torch's state dict keys are strings; another key could not be loaded, so it is left out
        return ({k: v for k, v in sd.items() if isinstance(k, str) and isinstance(v, TensorRef)}
                if isinstance(sd, dict) else {})

    def tensor_path(self, key: str) -> str:
        """Where model entry `key` is in the file's tree, as the reader's warnings name it."""
        return f"model.{key}" if self.kind == "mammoth" else key

    def to_json(self, full_tensors: bool = False) -> dict[str, Any]:
        """The documented `inspect --json` schema (keys are stable; more may be added)."""
        name = self.name
        return {
            "path": self.path,
            "bytes": self.size,
            "kind": self.kind,
            "format": self.format,
            "layout": self.layout,
            "run": name_to_json(name) if name else None,
            "args": to_plain(self.args),
            "tasks_done": self.tasks_done,
            "results": {"class_il": self.class_il, "task_il": self.task_il},
            "metrics": {k: v.to_json() for k, v in self.metrics.items()},
            "tensors": self.tensors.to_json(full_tensors),
            "optimizer": self.optimizer.to_json() if self.optimizer else None,
            "scheduler": self.scheduler.to_json() if self.scheduler else None,
            "buffer": self.buffer.to_json() if self.buffer else None,
            "warnings": self.warnings,
        }


def name_to_json(n: ParsedName) -> dict[str, Any]:
    return {
        "run": n.stem, "dialect": n.dialect, "prefix": n.prefix, "model": n.model, "dataset": n.dataset,
        "dataset_config": n.dataset_config, "buffer_size": n.buffer_size, "n_epochs": n.n_epochs,
        "timestamp": n.timestamp.isoformat() if n.timestamp else None, "uid": n.uid,
        "task": n.task, "parent": n.parent.stem if n.parent else None, "guessed": list(n.guessed),
    }


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, TensorRef) for v in obj.values())


def is_mammoth_tree(obj: Any) -> bool:
    return isinstance(obj, dict) and "model" in obj and ("args" in obj or "results" in obj)


def run_record(obj: dict[str, Any], warnings: list[str]
               ) -> tuple[dict[str, Any], list[list[float]], list[list[float]], dict[str, Any]]:
    """A Mammoth file's args, class-IL and task-IL matrices and logger dump, read leniently."""
    args: dict[str, Any] = {}
    class_il: list[list[float]] = []
    task_il: list[list[float]] = []
    logger: dict[str, Any] = {}
    raw_args = obj.get("args")
    if isinstance(raw_args, PickledNamespace | dict):
        args = {k if isinstance(k, str) else str(k): v for k, v in raw_args.items()}  # argparse names
    elif raw_args is not None:
        warnings.append(f"args is a {type(raw_args).__name__}, not a dict")
    results = obj.get("results")
    if isinstance(results, list | tuple):
        class_il = _matrix(results[0], "class-IL", warnings) if len(results) > 0 else []
        task_il = _matrix(results[1], "task-IL", warnings) if len(results) > 1 else []
        if len(results) > 2 and isinstance(results[2], dict):
            logger = results[2]
    return args, class_il, task_il, logger


def read_run_record(path: str | os.PathLike[str] | ByteSource
                    ) -> tuple[dict[str, Any], list[list[float]], list[list[float]]] | None:
    """Only a run's args and accuracy matrices (None if not a Mammoth file): what `results` needs
    from each of many files, without the tensor, optimizer and buffer summaries `inspect` shows.
    A ByteSource (a store's object) is read, not closed: it is the caller's."""
    if isinstance(path, ByteSource):
        obj = _archive_obj(path)
    else:
        with FileSource(path) as src:
            obj = _archive_obj(src)
    if not is_mammoth_tree(obj):
        return None
    args, class_il, task_il, _ = run_record(obj, [])
    return args, class_il, task_il


def _archive_obj(src: ByteSource) -> Any:
    try:
        return open_archive(src).obj
    except MckptError as e:
        e.path = e.path or src.name
        raise


def from_archive(archive: Archive, path: str | None = None) -> Checkpoint:
    """Build the model from an opened archive (any byte source)."""
    obj = archive.obj
    path = path or archive.source.name
    warnings = list(archive.warnings) + archive.tensor_problems()
    globals_seen = sorted(archive.unpickled.globals_seen)
    args: dict[str, Any] = {}
    class_il: list[list[float]] = []
    task_il: list[list[float]] = []
    logger: dict[str, Any] = {}
    optimizer: OptimizerSummary | None = None
    scheduler: SchedulerSummary | None = None
    buffer: BufferSummary | None = None
    kind: Kind
    fmt: Format | None
    if is_mammoth_tree(obj):
        kind = "mammoth"
        fmt = "safe" if all(is_safe_global(g) for g in globals_seen) else "old_pickle"
        if fmt == "old_pickle":  # what `load --dry-run` would refuse, said before anyone tries
            warnings.append("an old-pickle checkpoint: current Mammoth cannot --loadcheck it (its loader uses "
                            "torch.load(weights_only=True)); `mckpt convert --to safe` makes it loadable")
        args, class_il, task_il, logger = run_record(obj, warnings)
        model = obj.get("model")
        tensors = summarize_tensors(model.items() if isinstance(model, dict) else ())
        optimizer = summarize_optimizer(obj.get("optimizer"))
        scheduler = summarize_scheduler(obj.get("scheduler"))
        buffer = summarize_buffer(obj.get("buffer"), args)
    elif _is_state_dict(obj):
        kind, fmt = "backbone", "backbone"
        tensors = summarize_tensors(obj.items())
    else:
        kind, fmt = "other", None
        tensors = summarize_tensors(tensor_items(obj))
    name = parse_name(path)
    if name is not None and name.dialect == "paused" and args:
        name = _name_from_args(name, args)
    return Checkpoint(
        path=path, size=archive.source.size, kind=kind, format=fmt, layout=archive.layout, name=name,
        args=args, class_il=class_il, task_il=task_il, logger=logger, tensors=tensors,
        optimizer=optimizer, scheduler=scheduler, buffer=buffer, globals_seen=globals_seen,
        warnings=warnings, archive=archive,
    )


def _name_from_args(paused: ParsedName, args: dict[str, Any]) -> ParsedName:
    """A paused file's name says nothing: take the run's identity from its args."""
    jobnum = args.get("conf_jobnum")
    uid = jobnum.split("-")[0] if isinstance(jobnum, str) else None
    ts = None
    if isinstance(args.get("conf_timestamp"), str):
        try:
            ts = datetime.fromisoformat(args["conf_timestamp"]).replace(microsecond=0)
        except ValueError:
            ts = None
    ckpt = args.get("ckpt_name")
    parsed_run = parse_stem(ckpt) if isinstance(ckpt, str) else None
    return replace(
        paused,
        model=args.get("model"), dataset=args.get("dataset"),
        dataset_config=args.get("dataset_config"),
        buffer_size=args.get("buffer_size") if isinstance(args.get("buffer_size"), int) else 0,
        n_epochs=args.get("n_epochs") if isinstance(args.get("n_epochs"), int) else None,
        timestamp=ts, uid=uid, parent=parsed_run.parent if parsed_run else None,
        prefix=parsed_run.prefix if parsed_run else None,
    )


def read_checkpoint(source: str | os.PathLike[str] | ByteSource, *, keep_open: bool = False) -> Checkpoint:
    """Read a checkpoint's metadata from a path or any byte source (never runs pickled code).

    A file opened here from a path is closed before returning, unless `keep_open` (for reading
    tensor bytes next; close the checkpoint when done): a scan over thousands of runs must not
    hold a descriptor per file. A byte source passed in stays the caller's to close.
    """
    owned = isinstance(source, str | os.PathLike)
    src: ByteSource = FileSource(source) if owned else source  # type: ignore[arg-type]
    ck = None
    try:
        ck = from_archive(open_archive(src))
    except MckptError as e:
        e.path = e.path or src.name
        raise
    finally:
        if owned and not (keep_open and ck is not None):
            src.close()
    return ck


def checkpoint_brief(path: str) -> dict[str, Any] | None:
    """Kind, model, dataset and tasks of a fetched file if it is a checkpoint, else None."""
    try:
        ck = read_checkpoint(path)
    except MckptError:
        return None
    name = ck.name
    return {"kind": ck.kind, "model": ck.args.get("model") or (name.model if name else None),
            "dataset": ck.args.get("dataset") or (name.dataset if name else None),
            "tasks_done": ck.tasks_done}
