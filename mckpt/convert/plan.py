"""The data of a `mckpt convert` plan and the rules for backbone key names.

A conversion is planned before anything is written: a :class:`Plan` lists which keys map to which,
which share storage, what is copied from a template, what has no source, and the args. It holds the
new object tree (tensor descriptors only) and, for every storage of the new file, the byte ranges of
the source files it is made of, so writing never decodes a tensor.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..domain.checkpoint import to_plain
from ..errors import UsageError
from ..torchfile.archive import Archive
from ..torchfile.archive_writer import StorageRecord
from ..torchfile.torch_pickle import dumps

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

    def apply(self, args: dict[str, Any]) -> list[str]:
        """Set the overrides in `args` (in place, after the safe save mode); say what changed.

        A file in the safe layout says so in its args: Mammoth restores `save_checkpoint_mode`,
        so a run resumed from a file whose args still say `old_pickle` writes old pickles again,
        which current Mammoth cannot load. Args without the key (Mammoth before mid 2024) are left
        without it: current Mammoth's default is `safe`.
        """
        changed = []
        if args.get("save_checkpoint_mode", "safe") != "safe":
            changed.append(f"save_checkpoint_mode='safe' (was {args['save_checkpoint_mode']!r}: Mammoth restores "
                           "it, so a resumed run writes safe files too)")
            args["save_checkpoint_mode"] = "safe"
        given = self.as_dict()
        changed += [f"{k}={v!r} (was {args.get(k)!r})" for k, v in given.items() if args.get(k) != v]
        args.update(given)
        return changed


def parse_set(items: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values are read as JSON when they parse (numbers, null, lists), else text."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{item!r}: expected KEY=VALUE", param="overrides")
        try:
            out[key.strip()] = json.loads(raw)
        except ValueError:
            out[key.strip()] = raw
    return out


@dataclass
class Plan:
    """What a conversion will do; rendered by the CLI, returned as data by `--json`."""

    conversion: str  # "backbone->full", "full->backbone", "backbone->backbone", "old_pickle->safe", "safe->safe"
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
    problems: list[str] = field(default_factory=list)  # why the plan cannot be written as it stands
    collision: str | None = None  # why the output's place is taken (an existing file, an input), if it is
    obj: Any = field(default=None, repr=False)
    storages: list[StorageRecord] = field(default_factory=list, repr=False)
    byteorder: str = "little"

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.storages)

    @property
    def writable(self) -> bool:
        """Whether writing it now would succeed: a complete plan, and its output free (or --force)."""
        return self.obj is not None and not self.problems and self.collision is None

    def check_output(self, force: bool) -> Plan:
        """Note whether the output's place is taken, as `write_plan` will find it: an input is never
        overwritten, another file only with `force` (so `--dry-run` says what the real run will do)."""
        final = Path(self.output)
        if not final.exists():
            return self
        inputs = [Path(p) for p in (self.source, self.template) if p]
        if any(final.samefile(p) for p in inputs):
            self.collision = f"{self.output}: the output would overwrite an input"
        elif not force:
            self.collision = f"{self.output}: already exists; not overwritten without --force"
        return self

    def to_json(self) -> dict[str, Any]:
        """The `convert --dry-run --json` schema."""
        return {
            "conversion": self.conversion, "source": self.source, "template": self.template,
            "output": self.output, "writable": self.writable,
            "problems": self.problems + ([self.collision] if self.collision else []),
            "keys": {
                "mapped": [{"key": k, "source": s} for k, s in self.mapped],
                "aliased": [{"key": k, "shares_with": s} for k, s in self.aliased],
                "copied": self.copied, "unmatched": self.unmatched, "unused": self.unused,
            },
            "storages": len(self.storages), "bytes": self.nbytes,
            "args": to_plain(self.args), "notes": self.notes,
        }

    def complete(self, obj: Any, storages: list[StorageRecord], arch: Archive) -> Plan:
        """Attach the new tree; refuses unwritable values now, so --dry-run tells the truth."""
        dumps(obj)
        self.obj, self.storages, self.byteorder = obj, storages, arch.byteorder
        return self


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


def backbone_names(keys: list[str], wanted: set[str] | None) -> tuple[dict[str, str], bool]:
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



def output_path(output: str | None, default_dir: Path, default_name: str) -> str:
    """`-o` as given (a `.pt` file or a folder) or the default location."""
    if output is None:
        return str(default_dir / default_name)
    if output.endswith(".pt"):
        return output
    if output.endswith(os.sep) or Path(output).is_dir() or not Path(output).suffix:
        return str(Path(output) / default_name)
    raise UsageError(f"{output!r}: expected a file path ending in .pt, or a folder", param="output")


def file_stem(path: str) -> str:
    name = Path(path).name
    return name[:-3] if name.endswith(".pt") else Path(name).stem
