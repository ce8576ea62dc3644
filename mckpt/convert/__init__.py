"""Planning and performing `mckpt convert`: backbones into full checkpoints and back, old pickles
into the safe layout.

A conversion is planned first (a :class:`Plan`: which keys map to which, which share storage, what
is copied from a template, what has no source, the args) and only then written. The plan holds the
new object tree with tensor descriptors and, for every storage of the new file, the byte ranges of
the source files it is made of: writing copies those ranges raw into a fresh torch archive, so a
tensor is never decoded and memory stays flat whatever the checkpoint's size. Nothing from any
input file is executed: the trees come from the allow-list reader.

The package's entry point (`plan_conversion`, `write_plan`) holds the two conversions that keep
the source's own layout (to a bare backbone, to the safe layout); `full` builds a full checkpoint
from a template, `plan` holds the plan's data, `write` writes and checks it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..choices import TARGETS, check_choice
from ..domain.checkpoint import Checkpoint, read_checkpoint
from ..errors import MckptError, UsageError
from ..torchfile.archive import Archive
from ..torchfile.values import PickledNamespace, Placeholder, StateDict, TensorRef
from .full import archive_of, plan_full
from .plan import (
    BACKBONE_PREFIX,
    ArgOverrides,
    Plan,
    backbone_names,
    file_stem,
    output_path,
    parse_set,
    strip_wrappers,
)
from .storage_table import StorageTable, alias_pairs, own_storage, rebuild
from .write import WriteResult, verify_written, write_plan

__all__ = ["TARGETS", "ArgOverrides", "Plan", "WriteResult", "default_target", "parse_set", "plan_conversion",
           "verify_written", "write_plan"]


def plan_conversion(source: str | os.PathLike[str], to: str | None = None, *, like: str | None = None,
                    output: str | None = None, overrides: ArgOverrides | None = None,
                    strip_prefix: bool = False, allow_partial: bool = False, force: bool = False) -> Plan:
    """Plan converting `source`; `to` defaults from what the file is (see :func:`default_target`).
    An existing output makes the plan unwritable (`Plan.collision`) unless `force`.

    The source stays open while planning (the storages' byte offsets are read from its zip
    headers), then is closed: the plan names byte ranges by path, because it is a value that
    outlives this read (`--dry-run` prints it, :func:`write_plan` runs later and copies each
    range with its own descriptor, kernel to kernel).
    """
    with read_checkpoint(source, keep_open=True) as src:
        return _plan(src, to, like, output, overrides, strip_prefix, allow_partial).check_output(force)


def _plan(src: Checkpoint, to: str | None, like: str | None, output: str | None,
          overrides: ArgOverrides | None, strip_prefix: bool, allow_partial: bool) -> Plan:
    to = to or default_target(src)
    check_choice("to", to, TARGETS)
    if like is not None and to != "full":
        raise UsageError("{like} (a template) only goes with {to=full}", spelled=True)
    if overrides and overrides.as_dict() and to == "backbone":
        raise UsageError("nothing for {overrides} to set: {to=backbone} writes a bare backbone, which has no args",
                         spelled=True)
    if strip_prefix and to != "backbone":
        raise UsageError("{strip_prefix} only goes with {to=backbone}", spelled=True)
    if to == "full":
        return plan_full(src, like, output, overrides or ArgOverrides(), allow_partial)
    if to == "backbone":
        return _plan_backbone(src, output, strip_prefix)
    return _plan_safe(src, output, overrides or ArgOverrides())


def default_target(ck: Checkpoint) -> str:
    """Bare backbone → full; old pickle → safe; safe Mammoth checkpoint → backbone."""
    if ck.kind == "backbone":
        return "full"
    if ck.kind == "mammoth":
        return "safe" if ck.format == "old_pickle" else "backbone"
    raise MckptError("neither a Mammoth checkpoint nor a backbone state dict; nothing to convert",
                     path=ck.path)


def _plan_backbone(src: Checkpoint, output: str | None, strip_prefix: bool) -> Plan:
    """The `net.` entries of a full checkpoint, or a bare backbone put into Mammoth's `net.` form."""
    arch = archive_of(src)
    suffix = "_backbone_plain.pt" if strip_prefix else "_backbone.pt"
    plan = Plan("full->backbone" if src.kind == "mammoth" else "backbone->backbone", src.path,
                output_path(output, Path(src.path).parent, file_stem(src.path) + suffix))
    table = StorageTable()
    sd = src.model_state
    if src.kind == "mammoth":
        names = {k: strip_wrappers(k[len(BACKBONE_PREFIX):]) for k in sd if k.startswith(BACKBONE_PREFIX)}
        plan.unused = [k for k in sd if k not in names]
        if plan.unused:
            plan.notes.append(f"{len(plan.unused)} entries outside `net.` belong to the continual model, "
                              "not the backbone; they are left out")
    elif src.kind == "backbone":
        normalized, had_prefix = backbone_names(list(sd), None)
        names = {k: n for n, k in normalized.items()}
        plan.unused = [k for k in sd if k not in names]
        plan.notes.append("the keys already carry Mammoth's `net.` prefix" if had_prefix else
                          "not every key starts with `net.`, so all are read as backbone names")
        if plan.unused:
            plan.problems.append(f"{', '.join(plan.unused)}: the same name as another key once wrapper "
                                 "prefixes are removed")
    else:
        raise MckptError("neither a Mammoth checkpoint nor a backbone state dict", path=src.path)
    if not names:
        raise MckptError("no backbone (`net.`) entries to write", path=src.path)
    out = StateDict()
    for key, name in names.items():
        new_key = name if strip_prefix else BACKBONE_PREFIX + name
        out[new_key] = table.tensor(arch, src.tensor_path(key), sd[key])
    plan.notes.append("keys without `net.`: for loading into the bare backbone in plain PyTorch "
                      "(Mammoth's --loadcheck wants the `net.` form)" if strip_prefix else
                      "keys keep `net.`, the form Mammoth's --loadcheck accepts for every backbone")
    plan.aliased = alias_pairs(out)
    source_of = {(name if strip_prefix else BACKBONE_PREFIX + name): key for key, name in names.items()}
    plan.mapped = own_storage(out, plan.aliased, source_of)
    return plan.complete(out, table.records, arch)


def _plan_safe(src: Checkpoint, output: str | None, overrides: ArgOverrides) -> Plan:
    if src.kind != "mammoth":
        what = "a bare backbone" if src.kind == "backbone" else "not a Mammoth checkpoint"
        raise UsageError(f"{{to=safe}} converts old-pickle Mammoth checkpoints; this file is {what}", spelled=True,
                         path=src.path,
                         hint="a backbone becomes a checkpoint with {to=full} and a template ({like})"
                         if src.kind == "backbone" else None)
    if src.format == "safe" and not overrides.as_dict():
        raise MckptError("already in the safe layout (torch.load(weights_only=True) reads it)", path=src.path,
                         hint="to change its args, convert it again with {to=safe} and {overrides}", spelled=True)
    arch = archive_of(src)
    name = Path(src.path).name
    plan = Plan(f"{src.format}->safe", src.path, output_path(output, Path(src.path).parent / "safe", name))
    table = StorageTable()
    obj = arch.obj
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "buffer" and isinstance(value, Placeholder):
            out[key] = _buffer_tensors(value, arch, table, plan)
        else:
            out[key] = rebuild(value, str(key), arch, table)
    if isinstance(obj.get("args"), PickledNamespace):
        plan.notes.append(f"args: argparse.Namespace → dict ({len(out['args'])} entries)")
    if isinstance(out.get("args"), dict):
        changed = overrides.apply(out["args"])
        if changed:
            plan.notes.append("args: " + ", ".join(changed))
        if "save_checkpoint_mode" not in out["args"]:
            plan.notes.append("args hold no save_checkpoint_mode (Mammoth before mid 2024): current Mammoth "
                              "resumes it with its default, safe")
    elif overrides.as_dict():
        raise MckptError("nothing for {overrides} to set: the file's args are not a dict or namespace",
                         path=src.path, spelled=True)
    seen = arch.unpickled.globals_seen
    if "torch.device" in seen:
        plan.notes.append("torch.device values → strings ('cpu', 'cuda:0')")
    if any(g.startswith("numpy") for g in seen):
        plan.notes.append("numpy scalars and arrays → Python numbers and lists")
    model = out.get("model")
    if isinstance(model, dict):
        plan.aliased = alias_pairs(model)
        plan.mapped = own_storage(model, plan.aliased, {k: k for k in model})
    plan.args = out.get("args") if isinstance(out.get("args"), dict) else {}
    return plan.complete(out, table.records, arch)


def _buffer_tensors(buf: Placeholder, arch: Archive, table: StorageTable, plan: Plan) -> dict[str, Any]:
    """What Mammoth's `Buffer.serialize()` writes: `{name: tensor.to('cpu')}` for each of its
    `attributes` that the buffer holds."""
    attrs = buf.attrs
    names = attrs.get("attributes")
    if not isinstance(names, list):
        names = [k for k, v in attrs.items() if isinstance(v, TensorRef)]
    # a crafted buffer's names can be anything: only text names are attributes Mammoth restores
    out = {n: table.tensor(arch, f"buffer.{n}", attrs[n], "cpu")
           for n in names if isinstance(n, str) and isinstance(attrs.get(n), TensorRef)}
    left = [str(k) for k, v in attrs.items() if k not in out and v is not None]
    plan.notes.append(f"buffer: pickled {buf.qualname} → dict of its tensors ({', '.join(out) or 'none'}), "
                      f"as Buffer.serialize() writes it; its other attributes ({', '.join(left)}) are not "
                      "part of Mammoth's safe layout")
    return out


