"""What changed between two checkpoints: their args, their results and (on request) their weights.

"What did I change?" is answered from the args with run bookkeeping left out (the arguments
Mammoth itself ignores when it compares a resumed run's args, plus how the file was saved), so two
runs of one configuration compare equal. Args and results come from the safe reader, without
torch. The weights comparison reads one tensor of each file at a time, straight from the
byte range of its storage, so its memory stays near the largest tensor whatever the file sizes.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from .domain.checkpoint import Checkpoint, read_checkpoint, to_plain
from .domain.metrics import Metrics, compute_metrics
from .domain.vocabulary import BOOKKEEPING_ARGS
from .errors import MckptError
from .io.progress import Progress
from .torchfile.archive import Archive, view_bytes
from .torchfile.values import TensorRef, contiguous

# Mammoth's bookkeeping, plus arguments that only say how or where the file was written
# (`save_checkpoint_mode`, D1's `ckpt_name_replace`).
IGNORED_ARGS = BOOKKEEPING_ARGS | {"ckpt_name_replace", "save_checkpoint_mode"}
METRIC_NAMES = ("final_avg", "forgetting", "bwt")
_MISSING = object()
_INTEGER_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"})


@dataclass(frozen=True)
class ArgChange:
    name: str
    a: Any
    b: Any


@dataclass
class ArgsDiff:
    """Args that differ (`changed`), exist only in B (`added`) or only in A (`removed`)."""

    changed: list[ArgChange]
    added: dict[str, Any]
    removed: dict[str, Any]
    ignored: list[str]  # bookkeeping args that differ but were left out (shown with all=True)

    @property
    def equal(self) -> bool:
        return not (self.changed or self.added or self.removed)

    def to_json(self) -> dict[str, Any]:
        return {
            "equal": self.equal,
            "changed": {c.name: {"a": c.a, "b": c.b} for c in self.changed},
            "added": self.added, "removed": self.removed, "ignored": self.ignored,
        }


def diff_args(a: dict[str, Any], b: dict[str, Any], all: bool = False) -> ArgsDiff:
    """Compare two runs' args as plain values (a Namespace and a dict of the same run compare equal)."""
    pa, pb = to_plain(a), to_plain(b)
    changed: list[ArgChange] = []
    added: dict[str, Any] = {}
    removed: dict[str, Any] = {}
    ignored: list[str] = []
    for name in sorted(set(pa) | set(pb)):
        va, vb = pa.get(name, _MISSING), pb.get(name, _MISSING)
        if va == vb:
            continue
        if name in IGNORED_ARGS and not all:
            ignored.append(name)
        elif va is _MISSING:
            added[name] = vb
        elif vb is _MISSING:
            removed[name] = va
        else:
            changed.append(ArgChange(name, va, vb))
    return ArgsDiff(changed, added, removed, ignored)


@dataclass
class MatrixDiff:
    """One accuracy matrix of each file, the cell-by-cell deltas (B − A) and the metrics of both."""

    a: list[list[float]]
    b: list[list[float]]
    metrics_a: Metrics
    metrics_b: Metrics

    @property
    def deltas(self) -> list[list[float | None]]:
        rows = max(len(self.a), len(self.b))
        out: list[list[float | None]] = []
        for t in range(rows):
            ra = self.a[t] if t < len(self.a) else []
            rb = self.b[t] if t < len(self.b) else []
            out.append([rb[i] - ra[i] if i < len(ra) and i < len(rb) else None
                        for i in range(max(len(ra), len(rb)))])
        return out

    def metric_deltas(self) -> dict[str, dict[str, float | None]]:
        out = {}
        for name in METRIC_NAMES:
            va, vb = getattr(self.metrics_a, name), getattr(self.metrics_b, name)
            out[name] = {"a": va, "b": vb, "delta": vb - va if va is not None and vb is not None else None}
        return out

    @property
    def equal(self) -> bool:
        return self.a == self.b

    def to_json(self) -> dict[str, Any]:
        """The stored accuracies and their exact differences, as in `inspect --json` and `results --json`."""
        return {"equal": self.equal, "a": self.a, "b": self.b, "delta": self.deltas,
                "metrics": self.metric_deltas()}


@dataclass
class ResultsDiff:
    class_il: MatrixDiff
    task_il: MatrixDiff

    @property
    def equal(self) -> bool:
        return self.class_il.equal and self.task_il.equal

    def to_json(self) -> dict[str, Any]:
        return {"equal": self.equal, "class_il": self.class_il.to_json(), "task_il": self.task_il.to_json()}


def diff_results(a: Checkpoint, b: Checkpoint) -> ResultsDiff:
    def one(ma: list[list[float]], mb: list[list[float]]) -> MatrixDiff:
        return MatrixDiff(ma, mb, compute_metrics(ma), compute_metrics(mb))

    return ResultsDiff(one(a.class_il, b.class_il), one(a.task_il, b.task_il))


@dataclass(frozen=True)
class TensorChange:
    """A tensor present in both files with one shape: how far B moved from A."""

    key: str
    shape: tuple[int, ...]
    dtype: str
    rel_l2: float | None  # ‖B − A‖ / ‖A‖ (inf when A is all zeros and B is not); None: not comparable
    max_abs: float | None
    aliases: tuple[str, ...] = ()  # other keys of A naming the same tensor (not ranked again)

    def to_json(self) -> dict[str, Any]:
        rel = self.rel_l2
        return {"key": self.key, "shape": list(self.shape), "dtype": self.dtype,
                "rel_l2": None if rel is None or math.isinf(rel) else rel, "a_is_zero": rel == math.inf,
                "max_abs": self.max_abs, "aliases": list(self.aliases)}


@dataclass(frozen=True)
class ShapeChange:
    key: str
    a: tuple[int, ...]
    b: tuple[int, ...]
    dtype_a: str
    dtype_b: str


@dataclass
class WeightsDiff:
    """Keys only in A or B, shape (or dtype) changes, and the common tensors by relative change."""

    only_a: list[str]
    only_b: list[str]
    shape_changes: list[ShapeChange]
    changes: list[TensorChange]  # biggest relative change first
    compared: int  # tensors compared (aliases counted once)
    identical: int
    top: int | None = None

    @property
    def shown(self) -> list[TensorChange]:
        return self.changes if self.top is None else self.changes[: self.top]

    @property
    def equal(self) -> bool:
        return not (self.only_a or self.only_b or self.shape_changes) and self.identical == self.compared

    def to_json(self) -> dict[str, Any]:
        return {
            "equal": self.equal, "only_a": self.only_a, "only_b": self.only_b,
            "shape_changes": [{"key": s.key, "a": list(s.a), "b": list(s.b), "dtype_a": s.dtype_a,
                               "dtype_b": s.dtype_b} for s in self.shape_changes],
            "compared": self.compared, "identical": self.identical,
            "changes": [c.to_json() for c in self.shown],
        }


CHUNK_ELEMENTS = 1 << 20  # per chunk of a tensor pair: two float64 copies of it are 16 MiB


def _chunks(t: TensorRef) -> Iterator[TensorRef]:
    """Tensor `t` as views of at most about CHUNK_ELEMENTS elements each, in element order: a
    contiguous tensor as runs of its flat storage, another one row block of its first dimension
    at a time (a row larger than a chunk stays whole)."""
    if contiguous(t.shape, t.stride):
        for start in range(0, t.numel, CHUNK_ELEMENTS):
            n = min(CHUNK_ELEMENTS, t.numel - start)
            yield replace(t, offset=t.offset + start, shape=(n,), stride=(1,))
        return
    rows = max(1, CHUNK_ELEMENTS // max(1, t.numel // t.shape[0]))
    for start in range(0, t.shape[0], rows):
        n = min(rows, t.shape[0] - start)
        yield replace(t, offset=t.offset + start * t.stride[0], shape=(n, *t.shape[1:]))


def _as_float64(torch: Any, dtype: Any, data: bytes, ref: TensorRef, big_endian: bool) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # read-only buffer: we never write through it
        flat = torch.frombuffer(data, dtype=torch.uint8)
    if big_endian and dtype.itemsize > 1:
        flat = flat.view(-1, dtype.itemsize).flip(1).reshape(-1)
    return flat.view(dtype).as_strided(ref.shape, ref.stride).to(torch.float64)


def _comparable(torch: Any, ref: TensorRef) -> Any:
    """The torch dtype of `ref` when its values can be compared as real numbers, else None."""
    dtype = getattr(torch, ref.dtype, None)
    # Real numbers only: complex has no order, and torch cannot convert quantized or bits dtypes
    # (a crafted file can name any `torch.<X>Storage`).
    if not isinstance(dtype, torch.dtype) or not (dtype.is_floating_point or ref.dtype in _INTEGER_DTYPES):
        return None
    # A view that repeats elements (stride 0, overlapping windows) could make a float64 copy of any
    # size (4 bytes of a crafted file viewed as 2**15 x 2**15 is 8 GiB): it is not compared.
    if ref.numel * dtype.itemsize > view_bytes(ref)[1]:
        return None
    return dtype


def _compare(torch: Any, name: str, arch_a: Archive, ta: TensorRef, arch_b: Archive, tb: TensorRef,
             progress: Progress | None = None) -> tuple[float | None, float | None]:
    """‖B − A‖ / ‖A‖ and max |B − A| of one tensor pair, read a chunk of each at a time: memory
    stays at one chunk pair whatever the tensor's size."""
    da, db = _comparable(torch, ta), _comparable(torch, tb)
    if da is None or db is None:
        return None, None
    if ta.numel == 0:
        return 0.0, 0.0
    base = diff_norm = max_abs = 0.0
    for ca, cb in zip(_chunks(ta), _chunks(tb), strict=True):
        bytes_a, bytes_b = arch_a.tensor_bytes(name, ca), arch_b.tensor_bytes(name, cb)
        xa = _as_float64(torch, da, bytes_a, ca, arch_a.byteorder == "big")
        xb = _as_float64(torch, db, bytes_b, cb, arch_b.byteorder == "big")
        del bytes_a, bytes_b
        base = math.hypot(base, float(torch.linalg.vector_norm(xa)))  # hypot: no overflow in the sum
        d = xb.sub_(xa).abs_()  # in place: two float64 copies of the chunk are the whole working set
        del xa
        diff_norm = math.hypot(diff_norm, float(torch.linalg.vector_norm(d)))
        chunk_max = float(d.max())
        max_abs = chunk_max if math.isnan(chunk_max) or not chunk_max <= max_abs else max_abs
        if progress is not None:
            progress.advance(ca.nbytes + cb.nbytes)
    if base == 0.0:
        return (0.0 if diff_norm == 0.0 else math.inf), max_abs
    return diff_norm / base, max_abs


@dataclass
class WeightPairs:
    """What a weights diff compares: the common keys grouped by the (A view, B view) they name,
    so aliases are read once, plus what cannot be compared (keys in one file, shape changes)."""

    only_a: list[str]
    only_b: list[str]
    shape_changes: list[ShapeChange]
    pairs: list[list[str]]  # keys naming one (A view, B view); the first is the one compared

    def nbytes(self, a: Checkpoint) -> int:
        """Bytes the comparison reads from both files (what progress counts up to)."""
        return 2 * sum(a.model_state[keys[0]].nbytes for keys in self.pairs)


def pair_weights(a: Checkpoint, b: Checkpoint) -> WeightPairs:
    """Match the two model state dicts key by key, after refusing any tensor torch cannot load."""
    sa, sb = a.model_state, b.model_state
    if a.archive is None or b.archive is None:
        raise MckptError("no tensors to compare", path=a.path if a.archive is None else b.path)
    for ck, state in ((a, sa), (b, sb)):  # a tensor torch cannot load has no weights to compare
        for key, t in state.items():
            ck.archive.check_tensor(ck.tensor_path(key), t)
    shape_changes: list[ShapeChange] = []
    pairs: dict[tuple[Any, ...], list[str]] = {}  # one entry per distinct (A view, B view)
    for key, ta in sa.items():
        tb = sb.get(key)
        if tb is None:
            continue
        if ta.shape != tb.shape or ta.dtype != tb.dtype:
            shape_changes.append(ShapeChange(key, ta.shape, tb.shape, ta.dtype, tb.dtype))
            continue
        view = (ta.storage.key, ta.offset, ta.stride, tb.storage.key, tb.offset, tb.stride, ta.shape)
        pairs.setdefault(view, []).append(key)
    return WeightPairs([k for k in sa if k not in sb], [k for k in sb if k not in sa], shape_changes,
                       list(pairs.values()))


def diff_weights(a: Checkpoint, b: Checkpoint, top: int | None = None, progress: Progress | None = None
                 ) -> WeightsDiff:
    """Compare the model state dicts, streaming a chunk of one tensor pair at a time (imports
    torch); both checkpoints must be open (``read_checkpoint(path, keep_open=True)``). `progress`
    is told each chunk's bytes, up to :meth:`WeightPairs.nbytes`."""
    matched = pair_weights(a, b)
    sa, sb = a.model_state, b.model_state
    changes: list[TensorChange] = []
    if same_file(a, b):  # one file under two names (`diff A A`, a hard link): equal without a read
        changes = [TensorChange(keys[0], sa[keys[0]].shape, sa[keys[0]].dtype, 0.0, 0.0, tuple(keys[1:]))
                   for keys in matched.pairs]
    elif matched.pairs:
        from .torch_import import import_torch

        torch = import_torch("comparing weights")
        for keys in matched.pairs:
            ta, tb = sa[keys[0]], sb[keys[0]]
            rel, max_abs = _compare(torch, a.tensor_path(keys[0]), a.archive, ta, b.archive, tb, progress)
            changes.append(TensorChange(keys[0], ta.shape, ta.dtype, rel, max_abs, tuple(keys[1:])))
    identical = sum(1 for c in changes if c.max_abs == 0.0)
    changes.sort(key=lambda c: -1.0 if c.rel_l2 is None else c.rel_l2, reverse=True)
    return WeightsDiff(matched.only_a, matched.only_b, matched.shape_changes, changes, len(changes), identical,
                       top)


def same_file(a: Checkpoint, b: Checkpoint) -> bool:
    """Whether both checkpoints were read from one local file (same device and inode of the open
    files, whatever the names they were given by)."""
    sources = [c.archive.source if c.archive is not None else None for c in (a, b)]
    if not all(hasattr(s, "identity") and not s.closed for s in sources):  # a URL, or closed: unknown
        return False
    return sources[0].identity() == sources[1].identity()  # type: ignore[union-attr]


@dataclass
class CheckpointDiff:
    a: Checkpoint
    b: Checkpoint
    args: ArgsDiff | None  # None when either file has no args (a bare backbone)
    results: ResultsDiff
    weights: WeightsDiff | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """Nothing differs in what was compared (args, results, and the weights with `weights`):
        what `diff --exit-code` answers."""
        return ((self.args is None or self.args.equal) and self.results.equal
                and (self.weights is None or self.weights.equal))

    def to_json(self) -> dict[str, Any]:
        """The documented `diff --json` schema."""
        return {
            "a": {"path": self.a.path, "format": self.a.format, "tasks_done": self.a.tasks_done},
            "b": {"path": self.b.path, "format": self.b.format, "tasks_done": self.b.tasks_done},
            "args": self.args.to_json() if self.args is not None else None,
            "results": self.results.to_json(),
            "weights": self.weights.to_json() if self.weights is not None else None,
            "notes": self.notes,
        }


def diff_checkpoints(a: str | Checkpoint, b: str | Checkpoint, weights: bool = False,
                     top: int | None = None, all: bool = False, progress: Progress | None = None
                     ) -> CheckpointDiff:
    """Compare two checkpoints (paths or already read); torch is imported only with `weights`.

    A path is opened here and closed before returning; a :class:`Checkpoint` passed in stays the
    caller's (with `weights` it must be open: ``read_checkpoint(path, keep_open=True)``).
    """
    with contextlib.ExitStack() as opened:
        ca, cb = (c if isinstance(c, Checkpoint) else opened.enter_context(read_checkpoint(c, keep_open=weights))
                  for c in (a, b))
        return _diff(ca, cb, weights, top, all, progress)


def _diff(ca: Checkpoint, cb: Checkpoint, weights: bool, top: int | None, all: bool,
          progress: Progress | None) -> CheckpointDiff:
    notes = [f"{c.path} is a {'bare backbone' if c.kind == 'backbone' else 'torch file'}: it has no args"
             " or results" for c in (ca, cb) if c.kind != "mammoth"]
    # Against a file without args every arg would show as added or removed: compare none instead.
    args = None if notes else diff_args(ca.args, cb.args, all=all)
    out = CheckpointDiff(ca, cb, args, diff_results(ca, cb), notes=notes)
    if weights:
        out.weights = diff_weights(ca, cb, top, progress)
        if same_file(ca, cb):
            out.notes.append("A and B are one file (same device and inode): its weights were not read")
    return out
