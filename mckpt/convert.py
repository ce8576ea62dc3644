"""Planning and performing `mckpt convert`: backbones into full checkpoints and back, old pickles
into the safe layout.

A conversion is planned first (a :class:`Plan`: which keys map to which, which share storage, what
is copied from a template, what has no source, the args) and only then written. The plan holds the
new object tree with tensor descriptors and, for every storage of the new file, the byte ranges of
the source files it is made of: writing copies those ranges raw into a fresh torch archive, so a
tensor is never decoded and memory stays flat whatever the checkpoint's size. Nothing from any
input file is executed: the trees come from the allow-list reader.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .archive import Archive, _data_offset, open_archive
from .archive_writer import ByteRange, Progress, StorageRecord, write_torch_archive
from .checkpoint import LOGGER_KEYS, Checkpoint, read_checkpoint
from .errors import CorruptCheckpoint, MckptError, UsageError
from .sources import FileSource
from .torch_pickle import UnwritableValue, dumps
from .unpickler import NdArray, PickledNamespace, Placeholder, StateDict, StorageRef, TensorRef, itemsize

TARGETS = ("full", "backbone", "safe")
BACKBONE_PREFIX = "net."
WRAPPER_PREFIXES = ("module.", "_orig_mod.", "wrappee.")  # DataParallel/DDP, torch.compile, Mammoth wrappers


@dataclass(frozen=True)
class ArgOverrides:
    """`--model/--dataset/--buffer-size/--n-epochs/--set`, applied over the template's args."""

    model: str | None = None
    dataset: str | None = None
    buffer_size: int | None = None
    n_epochs: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        named = {"model": self.model, "dataset": self.dataset, "buffer_size": self.buffer_size,
                 "n_epochs": self.n_epochs}
        return {**{k: v for k, v in named.items() if v is not None}, **self.extra}


def parse_set(items: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values are read as JSON when they parse (numbers, null, lists), else text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set takes key=value, not {item!r}")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


@dataclass
class Plan:
    """What a conversion will do; rendered by the CLI, returned as data by `--json`."""

    conversion: str  # "backbone->full", "full->backbone", "backbone->backbone", "old_pickle->safe"
    source: str
    output: str
    template: str | None = None
    mapped: list[tuple[str, str]] = field(default_factory=list)  # (new key, source key)
    aliased: list[tuple[str, str]] = field(default_factory=list)  # (new key, key it shares storage with)
    copied: list[str] = field(default_factory=list)  # entries taken from the template as they are
    unmatched: list[str] = field(default_factory=list)  # keys of the target layout with no source
    unused: list[str] = field(default_factory=list)  # source keys the new file leaves out
    args: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what changed and what was guessed
    obj: Any = field(default=None, repr=False)
    storages: list[StorageRecord] = field(default_factory=list, repr=False)
    byteorder: str = "little"

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.storages)

    @property
    def writable(self) -> bool:
        return self.obj is not None and not self.unmatched

    def to_json(self) -> dict[str, Any]:
        """The `convert --dry-run --json` schema."""
        from .checkpoint import to_plain

        return {
            "conversion": self.conversion, "source": self.source, "template": self.template,
            "output": self.output, "writable": self.writable,
            "keys": {
                "mapped": [{"key": k, "source": s} for k, s in self.mapped],
                "aliased": [{"key": k, "shares_with": s} for k, s in self.aliased],
                "copied": self.copied, "unmatched": self.unmatched, "unused": self.unused,
            },
            "storages": len(self.storages), "bytes": self.nbytes,
            "args": to_plain(self.args), "notes": self.notes,
        }


# ---------------------------------------------------------------------------------------------------
# storages of the new file


class _StorageTable:
    """Numbers the new file's storages and remembers which source bytes make each one."""

    def __init__(self) -> None:
        self.records: list[StorageRecord] = []
        self._whole: dict[tuple[str, str, str], StorageRef] = {}

    def _range(self, archive: Archive, ref: StorageRef, byte_offset: int, nbytes: int) -> ByteRange:
        span = archive.span(ref.key)
        member = span.member
        if member is not None and member.method != 0:
            raise CorruptCheckpoint(f"storage {ref.key} is compressed inside the zip; torch never writes "
                                    "that, so the file was repacked", path=archive.source.name)
        if byte_offset + nbytes > span.nbytes:
            raise CorruptCheckpoint(f"storage {ref.key} holds {span.nbytes} bytes, fewer than its tensors need",
                                    path=archive.source.name)
        whole = member is not None and byte_offset == 0 and nbytes == member.size
        return ByteRange(archive.source.name, span.offset + byte_offset, nbytes,
                         member.crc32 if whole and member else None)

    def whole(self, archive: Archive, ref: StorageRef, location: str | None = None) -> StorageRef:
        """The whole of a source storage, copied once however many tensors use it."""
        loc = location or ref.location
        k = (archive.source.name, ref.key, loc)
        new = self._whole.get(k)
        if new is None:
            new = self.assembled(ref.dtype, ref.numel, loc, [(0, self._range(archive, ref, 0, ref.nbytes))])
            self._whole[k] = new
        return new

    def assembled(self, dtype: str, numel: int, location: str, ranges: list[tuple[int, ByteRange]]
                  ) -> StorageRef:
        new = StorageRef(str(len(self.records)), dtype, numel, location)
        self.records.append(StorageRecord(new.key, new.nbytes, ranges))
        return new


def _retensor(t: TensorRef, storage: StorageRef) -> TensorRef:
    return TensorRef(storage, t.offset, t.shape, t.stride, t.requires_grad, t.dtype)


def _rebuild(value: Any, path: str, archive: Archive, table: _StorageTable, location: str | None = None) -> Any:
    """A copy of a read tree that the safe layout can hold: namespaces become dicts, numpy arrays
    lists, tensors point at the new file's storages. Anything else (an unknown pickled object) is
    refused with its path instead of being dropped or guessed at."""
    if isinstance(value, TensorRef):
        return _retensor(value, table.whole(archive, value.storage, location))
    if isinstance(value, NdArray):
        if value.value is None:
            raise UnwritableValue(f"{path} is a numpy array of a dtype mckpt cannot decode")
        return value.value
    if isinstance(value, Placeholder):
        raise UnwritableValue(f"{path} is a pickled {value.qualname} object, which a safe checkpoint "
                              "cannot hold", hint="only Mammoth's Buffer is turned into tensors")
    if isinstance(value, StateDict | OrderedDict):
        out: Any = StateDict()
        if "_metadata" in vars(value):
            out._metadata = value._metadata
    elif isinstance(value, dict):  # plain dicts and argparse namespaces
        out = {}
    elif isinstance(value, list | tuple):
        items = [_rebuild(v, f"{path}[{i}]", archive, table, location) for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    elif isinstance(value, bool | int | float | str) or value is None:
        return value
    else:
        raise UnwritableValue(f"{path} is a {type(value).__name__}, which a safe checkpoint cannot hold")
    for k, v in value.items():
        out[k] = _rebuild(v, f"{path}.{k}" if path else str(k), archive, table, location)
    return out


def _alias_pairs(sd: dict[str, Any]) -> list[tuple[str, str]]:
    first: dict[str, str] = {}
    pairs = []
    for k, t in sd.items():
        if isinstance(t, TensorRef):
            owner = first.setdefault(t.storage.key, k)
            if owner != k:
                pairs.append((k, owner))
    return pairs


def _own_storage(sd: dict[str, Any], aliased: list[tuple[str, str]], source_of: dict[str, str]
                 ) -> list[tuple[str, str]]:
    """(key, source key) for the keys that own a storage, i.e. are not an alias of an earlier key."""
    shared = {k for k, _ in aliased}
    return [(k, source_of[k]) for k, v in sd.items() if isinstance(v, TensorRef) and k not in shared]


# ---------------------------------------------------------------------------------------------------
# key names


def strip_wrappers(key: str, strip_net: bool = False) -> str:
    """A key without DataParallel/compile/wrapper prefixes (and one leading `net.` if asked)."""
    net_done = not strip_net
    changed = True
    while changed:
        changed = False
        for p in WRAPPER_PREFIXES:
            if key.startswith(p):
                key, changed = key[len(p):], True
        if not net_done and key.startswith(BACKBONE_PREFIX):
            key, net_done, changed = key[len(BACKBONE_PREFIX):], True, True
    return key


def _normalized_names(keys: list[str], wanted: set[str] | None) -> tuple[dict[str, str], bool]:
    """Map normalized backbone names to source keys, choosing whether a leading `net.` is Mammoth's
    prefix or a module of the backbone (the MNIST MLP has its own `net`): the reading that matches
    more of the wanted names wins; without a template, `net.` is a prefix only when every key has it.
    """
    plain: dict[str, str] = {}
    stripped: dict[str, str] = {}
    for k in keys:  # on a clash the first key wins; the others are reported as left out
        plain.setdefault(strip_wrappers(k), k)
        stripped.setdefault(strip_wrappers(k, strip_net=True), k)
    if wanted is None:
        use_stripped = all(strip_wrappers(k).startswith(BACKBONE_PREFIX) for k in keys)
    else:
        use_stripped = len(wanted & stripped.keys()) > len(wanted & plain.keys())
    return (stripped if use_stripped else plain), use_stripped


def _contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    expected = 1
    for size, st in zip(reversed(shape), reversed(stride), strict=True):
        if size != 1 and st != expected:
            return False
        expected *= size
    return True


# ---------------------------------------------------------------------------------------------------
# planning


def plan_conversion(source: str | os.PathLike[str], to: str | None = None, *, like: str | None = None,
                    output: str | None = None, overrides: ArgOverrides | None = None,
                    strip_prefix: bool = False, allow_partial: bool = False) -> Plan:
    """Plan converting `source`; `to` defaults from what the file is (see :func:`default_target`)."""
    src = read_checkpoint(source)
    to = to or default_target(src)
    if to not in TARGETS:
        raise UsageError(f"--to takes one of {', '.join(TARGETS)}, not {to!r}")
    if like is not None and to != "full":
        raise UsageError("--like only goes with --to full")
    if overrides and overrides.as_dict() and to != "full":
        raise UsageError("--model/--dataset/--buffer-size/--n-epochs/--set only go with --to full")
    if strip_prefix and to != "backbone":
        raise UsageError("--strip-prefix only goes with --to backbone")
    if to == "full":
        return _plan_full(src, like, output, overrides or ArgOverrides(), allow_partial)
    if to == "backbone":
        return _plan_backbone(src, output, strip_prefix)
    return _plan_safe(src, output)


def default_target(ck: Checkpoint) -> str:
    """Bare backbone → full; old pickle → safe; safe Mammoth checkpoint → backbone."""
    if ck.kind == "backbone":
        return "full"
    if ck.kind == "mammoth":
        return "safe" if ck.format == "old_pickle" else "backbone"
    raise MckptError("neither a Mammoth checkpoint nor a backbone state dict; nothing to convert",
                     path=ck.path)


def _output_path(output: str | None, default_dir: Path, default_name: str) -> str:
    if output is None:
        return str(default_dir / default_name)
    if output.endswith(".pt"):
        return output
    if output.endswith(os.sep) or Path(output).is_dir() or not Path(output).suffix:
        return str(Path(output) / default_name)
    raise UsageError(f"-o takes a file path ending in .pt or a folder, not {output!r}")


def _stem(path: str) -> str:
    name = Path(path).name
    return name[:-3] if name.endswith(".pt") else Path(name).stem


def _plan_backbone(src: Checkpoint, output: str | None, strip_prefix: bool) -> Plan:
    """The `net.` entries of a full checkpoint, or a bare backbone put into Mammoth's `net.` form."""
    arch = _archive(src)
    suffix = "_backbone_plain.pt" if strip_prefix else "_backbone.pt"
    plan = Plan("full->backbone" if src.kind == "mammoth" else "backbone->backbone", src.path,
                _output_path(output, Path(src.path).parent, _stem(src.path) + suffix))
    table = _StorageTable()
    sd = src.model_state
    if src.kind == "mammoth":
        names = {k: strip_wrappers(k[len(BACKBONE_PREFIX):]) for k in sd if k.startswith(BACKBONE_PREFIX)}
        plan.unused = [k for k in sd if k not in names]
        if plan.unused:
            plan.notes.append(f"{len(plan.unused)} entries outside `net.` belong to the continual model, "
                              "not the backbone; they are left out")
    elif src.kind == "backbone":
        normalized, had_prefix = _normalized_names(list(sd), None)
        names = {k: n for n, k in normalized.items()}
        plan.unused = [k for k in sd if k not in names]
        plan.notes.append("the keys already carry Mammoth's `net.` prefix" if had_prefix else
                          "not every key starts with `net.`, so all are read as backbone names")
    else:
        raise MckptError("neither a Mammoth checkpoint nor a backbone state dict", path=src.path)
    if not names:
        raise MckptError("no backbone (`net.`) entries to write", path=src.path)
    out = StateDict()
    for key, name in names.items():
        new_key = name if strip_prefix else BACKBONE_PREFIX + name
        out[new_key] = _retensor(sd[key], table.whole(arch, sd[key].storage))
    plan.notes.append("keys without `net.`: for loading into the bare backbone in plain PyTorch "
                      "(Mammoth's --loadcheck wants the `net.` form)" if strip_prefix else
                      "keys keep `net.`, the form Mammoth's --loadcheck accepts for every backbone")
    plan.aliased = _alias_pairs(out)
    source_of = {(name if strip_prefix else BACKBONE_PREFIX + name): key for key, name in names.items()}
    plan.mapped = _own_storage(out, plan.aliased, source_of)
    return _finish(plan, out, table, arch)


def _plan_safe(src: Checkpoint, output: str | None) -> Plan:
    if src.kind != "mammoth":
        raise UsageError(f"--to safe converts old-pickle Mammoth checkpoints; this file is a {src.kind}",
                         hint="a backbone becomes a checkpoint with --to full --like FILE")
    if src.format == "safe":
        raise MckptError("already in the safe layout (torch.load(weights_only=True) reads it)", path=src.path)
    arch = _archive(src)
    name = Path(src.path).name
    plan = Plan("old_pickle->safe", src.path, _output_path(output, Path(src.path).parent / "safe", name))
    table = _StorageTable()
    obj = arch.obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "buffer" and isinstance(value, Placeholder):
            out[key] = _buffer_tensors(value, arch, table, plan)
        else:
            out[key] = _rebuild(value, str(key), arch, table)
    if isinstance(obj.get("args"), PickledNamespace):
        plan.notes.append(f"args: argparse.Namespace → dict ({len(out['args'])} entries)")
    seen = arch.unpickled.globals_seen
    if "torch.device" in seen:
        plan.notes.append("torch.device values → strings ('cpu', 'cuda:0')")
    if any(g.startswith("numpy") for g in seen):
        plan.notes.append("numpy scalars and arrays → Python numbers and lists")
    model = out.get("model")
    if isinstance(model, dict):
        plan.aliased = _alias_pairs(model)
        plan.mapped = _own_storage(model, plan.aliased, {k: k for k in model})
    plan.args = out.get("args") if isinstance(out.get("args"), dict) else {}
    return _finish(plan, out, table, arch)


def _buffer_tensors(buf: Placeholder, arch: Archive, table: _StorageTable, plan: Plan) -> dict[str, Any]:
    """What Mammoth's `Buffer.serialize()` writes: `{name: tensor.to('cpu')}` for each of its
    `attributes` that the buffer holds."""
    attrs = buf.attrs
    names = attrs.get("attributes")
    if not isinstance(names, list):
        names = [k for k, v in attrs.items() if isinstance(v, TensorRef)]
    out = {n: _retensor(attrs[n], table.whole(arch, attrs[n].storage, "cpu"))
           for n in names if isinstance(attrs.get(n), TensorRef)}
    left = [k for k, v in attrs.items() if k not in out and v is not None]
    plan.notes.append(f"buffer: pickled {buf.qualname} → dict of its tensors ({', '.join(out) or 'none'}), "
                      f"as Buffer.serialize() writes it; its other attributes ({', '.join(left)}) are not "
                      "part of Mammoth's safe layout")
    return out


def _plan_full(src: Checkpoint, like: str | None, output: str | None, overrides: ArgOverrides,
               allow_partial: bool) -> Plan:
    if src.kind == "mammoth":
        raise MckptError("already a full Mammoth checkpoint", path=src.path,
                         hint="--to backbone extracts its backbone; --to safe rewrites an old pickle")
    if src.kind != "backbone":
        raise MckptError("not a backbone state dict (a dict of tensors)", path=src.path)
    if like is None:
        return _plan_guess(src, output)
    tmpl = read_checkpoint(like)
    if tmpl.kind != "mammoth":
        raise MckptError("--like needs a full Mammoth checkpoint (one with `model` and `args`)", path=like)
    t_arch, s_arch = _archive(tmpl), _archive(src)
    if t_arch.byteorder != s_arch.byteorder:
        raise MckptError(f"byte order {s_arch.byteorder} differs from the template's {t_arch.byteorder}",
                         path=src.path)
    tmodel = {k: v for k, v in t_arch.obj["model"].items() if isinstance(v, TensorRef)}
    t_meta = vars(t_arch.obj["model"]).get("_metadata")
    table = _StorageTable()
    args = _rebuild(tmpl.args, "args", t_arch, table)
    args, changed = _apply_args(args, overrides)
    plan = Plan("backbone->full", src.path,
                _output_path(output, Path("checkpoints"), f"{args['ckpt_name']}_last.pt"),
                template=tmpl.path, args=args)
    plan.notes.append("args: the template's, with " + ", ".join(changed))
    ssd = src.model_state
    wanted = {k[len(BACKBONE_PREFIX):] for k in tmodel if k.startswith(BACKBONE_PREFIX)}
    if not wanted:
        raise MckptError("the template's model has no `net.` (backbone) entries", path=like)
    names, had_prefix = _normalized_names(list(ssd), wanted)
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
            new_storage[skey] = _storage_from_source(tmodel[keys[0]].storage,
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
            plan.notes.append(f"{', '.join(missing)}: no source tensor, filled from the template (--allow-partial)")
    used = {s for _, s in plan.mapped}
    used |= {names[k[len(BACKBONE_PREFIX):]] for k, _ in plan.aliased
             if k.startswith(BACKBONE_PREFIX) and k[len(BACKBONE_PREFIX):] in names}
    plan.unused = [k for k in ssd if k not in used]
    if plan.unused and not allow_partial:
        plan.unmatched += [f"(source) {k}" for k in plan.unused]
    if plan.unmatched:
        return plan
    model = StateDict()
    if t_meta is not None:
        model._metadata = t_meta
    for k, t in tmodel.items():
        model[k] = _retensor(t, new_storage[t.storage.key])
    obj = {"model": model, "optimizer": None, "scheduler": None, "args": args,
           "results": [[], [], {k: [] for k in LOGGER_KEYS}]}
    plan.notes += [
        "optimizer and scheduler: None (training restarts them)",
        "results: no task done, logger dump with its ten keys as empty lists (Mammoth needs them all)",
        "named `_last`: resume with --start_from 0; the file has finished no task",
    ]
    return _finish(plan, obj, table, s_arch)


def _plan_guess(src: Checkpoint, output: str | None) -> Plan:
    """Without a template the true layout is unknown: show the guess, write nothing."""
    names, had_prefix = _normalized_names(list(src.model_state), None)
    plan = Plan("backbone->full", src.path, output or "checkpoints/<model>_<dataset>_…_last.pt")
    plan.mapped = [(BACKBONE_PREFIX + n, k) for n, k in names.items()]
    plan.unmatched = ["(unknown) aliases the backbone registers (`_features`, nested `net`)",
                      "(unknown) the continual model's own entries beside `net.`"]
    plan.notes = [
        "guessed: every key becomes `net.<key>`" + (" (the `net.` prefix was already there)" if had_prefix else ""),
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


def _storage_from_source(target: StorageRef, views: list[tuple[TensorRef, TensorRef]], arch: Archive,
                         table: _StorageTable) -> StorageRef:
    """A storage laid out as the template's, filled with the source tensors' bytes.

    Usually the source shares storages exactly as the template does and the whole source storage is
    copied. Otherwise the storage is assembled from the tensors' byte ranges, which must tile it:
    bytes that no source tensor provides are never invented.
    """
    first = views[0][1].storage
    if (first.dtype == target.dtype and first.numel == target.numel
            and all(s.storage == first and s.offset == t.offset and s.stride == t.stride for t, s in views)):
        return table.whole(arch, first, target.location)
    size = itemsize(target.dtype)
    pieces: dict[int, tuple[int, TensorRef]] = {}
    for t, s in views:
        if not (_contiguous(t.shape, t.stride) and _contiguous(s.shape, s.stride)):
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
        ranges.append((dst, table._range(arch, s.storage, s.offset * size, n)))
        cursor = dst + n
    if cursor != target.nbytes:
        raise MckptError(f"the template's storage of {target.numel} {target.dtype} values is not covered by "
                         "the source tensors; refusing to invent the rest", path=arch.source.name)
    return table.assembled(target.dtype, target.numel, target.location, ranges)


def _apply_args(args: dict[str, Any], overrides: ArgOverrides) -> tuple[dict[str, Any], list[str]]:
    """The template's args with the user's overrides and a new run identity (uid, timestamp, name)."""
    args = dict(args)
    changed = [f"{k}={v!r} (was {args.get(k)!r})" for k, v in overrides.as_dict().items() if args.get(k) != v]
    args.update(overrides.as_dict())
    for key in ("model", "dataset"):
        if not isinstance(args.get(key), str) or not args[key]:
            raise UsageError(f"no `{key}` in the template's args; pass --{key}")
    job = uuid.uuid4()
    now = datetime.now()
    args["conf_jobnum"] = str(job)
    args["conf_timestamp"] = str(now)
    args["ckpt_name"] = _run_stem(args, now, str(job).split("-")[0])
    changed.append("a new run identity (ckpt_name, conf_jobnum, conf_timestamp)")
    return args, changed


def _run_stem(args: dict[str, Any], now: datetime, uid: str) -> str:
    """`<model>_<dataset>_<config>_<buffer>_<epochs>_<timestamp>_<uid>`: Mammoth's current (D3) name,
    with the uid taken from `conf_jobnum` as Mammoth does."""
    return "_".join(str(x) for x in (
        args["model"], args["dataset"], args.get("dataset_config"), args.get("buffer_size") or 0,
        args.get("n_epochs"), now.strftime("%Y%m%d-%H%M%S"), uid))


def _archive(ck: Checkpoint) -> Archive:
    if ck.archive is None or ck.archive.layout == "pickle":
        raise MckptError("a bare pickle, not a torch archive: there are no storages to copy", path=ck.path)
    return ck.archive


def _finish(plan: Plan, obj: Any, table: _StorageTable, arch: Archive) -> Plan:
    plan.obj = obj
    plan.storages = table.records
    plan.byteorder = arch.byteorder
    dumps(obj)  # refuse unwritable values at planning time, so --dry-run tells the truth
    return plan


# ---------------------------------------------------------------------------------------------------
# writing


@dataclass
class WriteResult:
    path: str
    bytes: int
    storages: int
    checks: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "storages": self.storages, "checks": self.checks}


def write_plan(plan: Plan, *, force: bool = False, progress: Progress | None = None) -> WriteResult:
    """Write the planned file next to its final name, check it, fsync, then rename it into place.

    A crash or SIGKILL at any point leaves at most a hidden `.<name>.<random>.partial` file, never a
    file under the final name; an existing output is replaced only with `force`.
    """
    if not plan.writable:
        raise MckptError("the plan has keys without a source; nothing written", path=plan.source,
                         hint="see --dry-run; the template must match the backbone (or --allow-partial)")
    final = Path(plan.output)
    inputs = [Path(p) for p in (plan.source, plan.template) if p]
    if any(final.exists() and final.samefile(p) for p in inputs):
        raise MckptError("the output would overwrite an input; choose another -o", path=str(final))
    if final.exists() and not force:
        raise MckptError("already exists; not overwritten", path=str(final), hint="pass --force to replace it")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.{secrets.token_hex(4)}.partial"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            size = write_torch_archive(fd, _stem(str(final)), dumps(plan.obj), plan.storages,
                                       plan.byteorder, progress)
            os.fsync(fd)
        finally:
            os.close(fd)
        checks = verify_written(str(tmp), plan, progress)
        _publish(tmp, final, force)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return WriteResult(str(final), size, len(plan.storages), checks)


def _publish(tmp: Path, final: Path, force: bool) -> None:
    if force:
        os.replace(tmp, final)
    else:
        try:
            os.link(tmp, final)  # atomic, and fails if the name was taken meanwhile
        except FileExistsError:
            raise MckptError("appeared while converting; not overwritten", path=str(final),
                             hint="pass --force to replace it") from None
        except OSError:
            if final.exists():
                raise MckptError("already exists; not overwritten", path=str(final)) from None
            os.rename(tmp, final)
        else:
            tmp.unlink()
    dfd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def verify_written(path: str, plan: Plan, progress: Progress | None = None) -> list[str]:
    """Re-read the new file with mckpt's reader: index, record sizes, every CRC, the pickle.

    torch is not imported (that alone costs more than the conversion); the tests prove torch reads
    what passes here.
    """
    with FileSource(path) as src:
        arch = open_archive(src)
        by_name = {m.name: m for m in arch.members}
        for rec in plan.storages:
            m = by_name.get(f"{arch.prefix}data/{rec.key}")
            if m is None or m.size != rec.nbytes or m.method != 0:
                raise CorruptCheckpoint(f"verification failed: record data/{rec.key} is missing or has the "
                                        "wrong size", path=path)
        for m in arch.members:
            if _crc_of(path, _data_offset(src, m), m.size, progress) != m.crc32:
                raise CorruptCheckpoint(f"verification failed: {m.name} fails its CRC", path=path)
        if dumps(arch.obj) != dumps(plan.obj):
            raise CorruptCheckpoint("verification failed: the pickle does not read back as written", path=path)
    return [f"{len(arch.members)} zip records and their CRC-32s", "storage record sizes",
            "the pickle reads back to the planned tree"]


def _crc_of(path: str, offset: int, nbytes: int, progress: Progress | None) -> int:
    """CRC-32 of a byte range, read through one reused 8 MiB buffer."""
    view = memoryview(bytearray(min(nbytes, 8 << 20) or 1))
    crc = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        while nbytes:
            n = os.preadv(fd, [view[: min(nbytes, len(view))]], offset)
            if n <= 0:
                raise CorruptCheckpoint("verification failed: a record is truncated", path=path)
            crc = zlib.crc32(view[:n], crc)
            offset, nbytes = offset + n, nbytes - n
            if progress is not None:
                progress(n)
    finally:
        os.close(fd)
    return crc
