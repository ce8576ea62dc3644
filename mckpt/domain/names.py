"""Parsing Mammoth's checkpoint file names (the three dialects of MAMMOTH_FORMAT.md).

Parsing runs from the right, anchored on the last `YYYYmmdd-HHMMSS` timestamp: everything after it
is `[_<uid>]_<task>`, right before it come `<buffer>_<epochs>`, and the rest is
`[<prefix>_]<model>_<dataset>[_<config>]`, where only the dataset is free of underscores. A
resumed run's prefix is its parent's whole stem, which is parsed the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from .vocabulary import is_dataset, is_model, looks_like_dataset

_TS = r"[0-9]{8}-[0-9]{6}"  # ASCII digits only: `\d` takes every Unicode digit (`９`)
_TAIL = re.compile(rf"^(?P<head>.*)_(?P<ts>{_TS})(?:_(?P<uid>[0-9a-f]{{8}}))?_(?P<task>[0-9]+|last|joint)$")
_STEM = re.compile(rf"^(?P<head>.*)_(?P<ts>{_TS})(?:_(?P<uid>[0-9a-f]{{8}}))?$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HEAD = re.compile(r"^(?P<rest>.+)_(?P<buffer>[0-9]+)_(?P<epochs>[0-9]+)$")

Task = int | str  # an index, "last", "joint" or "paused"


@dataclass(frozen=True)
class ParsedName:
    """What a checkpoint's file name says about its run; `guessed` names the unsure fields."""

    stem: str  # the run's name: the file stem without `_<task>` (Mammoth's args.ckpt_name)
    dialect: str  # "D1", "D2", "D3" or "paused"
    task: Task
    model: str | None = None
    dataset: str | None = None
    dataset_config: str | None = None
    buffer_size: int | None = None
    n_epochs: int | None = None
    timestamp: datetime | None = None
    uid: str | None = None
    prefix: str | None = None
    parent: ParsedName | None = None
    guessed: tuple[str, ...] = field(default=())

    @property
    def run(self) -> str:
        return self.stem

    @property
    def lineage(self) -> list[str]:
        """Ancestor run stems, oldest first."""
        out: list[str] = []
        p = self.parent
        while p is not None:
            out.insert(0, p.stem)
            p = p.parent
        return out


def _file_stem(path: str) -> str:
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name[:-3] if name.endswith(".pt") else name


def parse_name(path: str) -> ParsedName | None:
    """Parse a checkpoint path or file name; None when it is not one of Mammoth's names."""
    name = _file_stem(path)
    if len(name) > MAX_NAME:
        return None
    if _UUID.match(name):
        # Interrupted runs: the uuid is fresh, nothing about the run is in the name (args tell).
        return ParsedName(stem=f"paused/{name}", dialect="paused", task="paused")
    m = _TAIL.match(name)
    if not m:
        return None
    task_s = m["task"]
    task: Task = int(task_s) if task_s.isdigit() else task_s
    stem = name[: -(len(task_s) + 1)]
    return _parse_stem(stem, m["head"], m["ts"], m["uid"], task)


def parse_stem(stem: str) -> ParsedName | None:
    """Parse a run name without its task part (what Mammoth keeps in `args.ckpt_name`)."""
    if len(stem) > MAX_NAME:
        return None
    m = _STEM.match(stem)
    if not m:
        return None
    return _parse_stem(stem, m["head"], m["ts"], m["uid"], None)


# A file name is at most 255 bytes; a run's `ckpt_name` grows by one stem (~60 characters) per
# resume. The parse is quadratic in the number of parts, and `ckpt_name` comes from inside a file
# (a crafted 1 MB one took minutes), so longer names are not parsed.
MAX_NAME = 4096


def _parse_stem(stem: str, head: str, ts: str, uid: str | None, task: Task | None) -> ParsedName | None:
    if len(stem) > MAX_NAME:
        return None
    h = _HEAD.match(head)
    if not h:
        return None
    try:  # by hand: strptime costs more than the rest of the parse (this runs per file in `list`)
        timestamp = datetime(int(ts[:4]), int(ts[4:6]), int(ts[6:8]), int(ts[9:11]), int(ts[11:13]), int(ts[13:15]))
    except ValueError:
        return None
    tokens = h["rest"].split("_")
    guessed: list[str] = []
    # The parent run, when this run was resumed: its whole stem is our prefix, so look for the
    # rightmost earlier timestamp and make sure what precedes our own identity parses as a stem.
    parent: ParsedName | None = None
    for i in range(len(tokens) - 1, 0, -1):
        if re.fullmatch(_TS, tokens[i]):
            j = i + 1 + (1 if i + 1 < len(tokens) and re.fullmatch(r"[0-9a-f]{8}", tokens[i + 1]) else 0)
            cand = parse_stem("_".join(tokens[:j]))
            if cand is not None and j < len(tokens):
                parent, tokens = cand, tokens[j:]
            break
    ds_idx = _find_dataset(tokens)
    if ds_idx is None:
        return None
    if not is_dataset(tokens[ds_idx]):
        guessed.append("dataset")
    after = tokens[ds_idx + 1 :]
    dialect = "D3" if uid and after else ("D2" if uid else "D1")
    # D3 writes str(None) when no config was chosen: that is an absent config, not one named "None".
    config = "_".join(after) if after and after != ["None"] else None
    if after and not uid:
        guessed.append("dataset_config")  # D1 names have no config: probably part of a prefix
    model, prefix = _split_model(tokens[:ds_idx], guessed)
    if model is None:
        return None
    if parent is not None:
        prefix = parent.stem if prefix is None else f"{parent.stem}_{prefix}"
    return ParsedName(
        stem=stem, dialect=dialect, task=task if task is not None else "", model=model,
        dataset=tokens[ds_idx], dataset_config=config, buffer_size=int(h["buffer"]),
        n_epochs=int(h["epochs"]), timestamp=timestamp, uid=uid, prefix=prefix, parent=parent,
        guessed=tuple(guessed),
    )


def _find_dataset(tokens: list[str]) -> int | None:
    for pred in (is_dataset, lambda t: looks_like_dataset(t) and not is_model(t)):
        for i in range(len(tokens) - 1, 0, -1):  # index 0 is at least the model
            if pred(tokens[i]):
                return i
    return None


def _split_model(tokens: list[str], guessed: list[str]) -> tuple[str | None, str | None]:
    """Split `[<prefix>_]<model>` preferring the longest known model name at the end."""
    if not tokens:
        return None, None
    for i in range(len(tokens)):
        cand = "_".join(tokens[i:])
        if is_model(cand):
            return cand, ("_".join(tokens[:i]) or None)
    # Unknown model: assume a one-word model and say so.
    guessed.append("model")
    if len(tokens) > 1:
        guessed.append("prefix")
    return tokens[-1], ("_".join(tokens[:-1]) or None)
