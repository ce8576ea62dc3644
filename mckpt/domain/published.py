"""Published numbers (Mammoth's `scripts/reproduce.json`) against the groups of `mckpt results`.

The file is a JSON list of `{model, setting, result, cmd, notes?}`: the final average accuracy a
paper reports for a model in a setting, and the command line (`--dataset=seq-cifar10 --model=er
--buffer_size 500 …`) that reproduces it. A group matches an entry when every run of the group
has the entry's model and every arg the command sets (the seed aside: a group averages seeds),
compared as `--where ARG=VALUE` compares (`er_ace` is `er-ace`, `1` is `True`, numbers as
numbers). The comparison is the group's mean minus the published number, with the group's std and
n; a domain-IL or general-continual number is compared with the first setting, where Mammoth keeps
a one-setting run's accuracies. Entries that match no group are kept, to be listed.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import MckptError
from .where import Where

if TYPE_CHECKING:
    from .results import Group, Results, Stat

MAX_BYTES = 16 << 20  # Mammoth's file is 11 KB
COLUMN = {"class-il": "class_il", "task-il": "task_il", "domain-il": "class_il", "general-continual": "class_il"}
IGNORED = frozenset({"seed", "notes", "non_verbose", "nowand", "wandb_entity", "wandb_project", "wandb_name",
                     "num_workers", "savecheck", "ckpt_name", "base_path", "results_path", "checkpoint_path"})


@dataclass(frozen=True)
class Published:
    """One entry: the model, the setting, the published result (a number, or several), and the
    args its command sets (name -> values as written)."""

    index: int  # its place in the file (0-based)
    model: str
    setting: str
    result: float | list[float]
    cmd: str
    args: dict[str, list[str]]
    notes: str | None = None

    @property
    def column(self) -> str | None:
        return COLUMN.get(self.setting)

    @property
    def dataset(self) -> str | None:
        values = self.args.get("dataset")
        return values[0] if values else None

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "model": self.model, "setting": self.setting, "result": self.result,
                "cmd": self.cmd, "notes": self.notes}


def parse_cmd(cmd: str) -> dict[str, list[str]]:
    """`--a=1 --b 2 3 --c` -> {a: [1], b: [2, 3], c: []} (Mammoth's args: one `--name` each)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for token in shlex.split(cmd):
        if token.startswith("--"):
            name, eq, value = token[2:].partition("=")
            current = out.setdefault(name.replace("-", "_"), [])
            if eq:
                current.append(value)
        elif current is not None:
            current.append(token)
    return out


def _number(value: Any) -> float | list[float] | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list) and value and all(isinstance(v, int | float) and not isinstance(v, bool)
                                                 for v in value):
        return [float(v) for v in value]
    return None


def read_published(path: str) -> tuple[list[Published], list[str]]:
    """The entries of a reproduce.json-shaped file, and a warning per entry left out (and why)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise MckptError("no such file", path=path, param="against") from None
    except OSError as e:
        raise MckptError(f"cannot read: {e.strerror}", path=path, param="against") from None
    if len(data) > MAX_BYTES:
        raise MckptError(f"larger than {MAX_BYTES >> 20} MiB: not a list of published numbers", path=path,
                         param="against")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise MckptError(f"not JSON ({str(e)[:80]})", path=path, param="against") from None
    if not isinstance(doc, list):
        raise MckptError("not a list of {model, setting, result, cmd} entries (Mammoth's reproduce.json)",
                         path=path, param="against")
    entries: list[Published] = []
    warnings: list[str] = []
    for i, e in enumerate(doc):
        result = _number(e.get("result")) if isinstance(e, dict) else None
        ok = (isinstance(e, dict) and isinstance(e.get("model"), str) and isinstance(e.get("setting"), str)
              and isinstance(e.get("cmd"), str) and result is not None)
        if not ok:
            warnings.append(f"{path}: entry {i} left out: not {{model, setting, result (a number), cmd}}")
            continue
        try:
            args = parse_cmd(e["cmd"])
        except ValueError as err:
            warnings.append(f"{path}: entry {i} left out: its cmd does not split ({err})")
            continue
        notes = e.get("notes")
        entries.append(Published(i, e["model"], e["setting"], result, e["cmd"], args,
                                 notes if isinstance(notes, str) and notes else None))
    return entries, warnings


def _norm(s: str) -> str:
    return s.replace("-", "_").lower()


def _arg_matches(args: dict[str, Any], name: str, values: list[str]) -> bool:
    if name not in args:
        return False
    v = args[name]
    if isinstance(v, list):
        return len(v) == len(values) and all(Where(name, "=", (s,)).matches({name: x}) for x, s in zip(v, values,
                                                                                                          strict=True))
    if len(values) != 1:
        return False
    return Where(name, "=", (values[0],)).matches(args)


def matches(entry: Published, args: dict[str, Any]) -> bool:
    """Whether a run's args are the entry's: its model, and every arg its command sets."""
    model = args.get("model")
    if not isinstance(model, str) or _norm(model) != _norm(entry.model):
        return False
    return all(_arg_matches(args, k, v) for k, v in entry.args.items() if k not in IGNORED)


@dataclass
class Match:
    """A group beside a published number: the group's statistic in the entry's setting, and the
    difference of its mean from the number (None when the group is not averaged, or the entry
    publishes several numbers)."""

    group: Group
    entry: Published
    stat: Stat | None

    @property
    def difference(self) -> float | None:
        if self.stat is None or self.stat.mean is None or not isinstance(self.entry.result, float):
            return None
        return self.stat.mean - self.entry.result

    def to_json(self, varying: list[str]) -> dict[str, Any]:
        from .metrics import round_acc

        return {"group": self.group.label(varying), "key": self.group.key, "entry": self.entry.to_json(),
                "column": self.entry.column,
                "stat": self.stat.to_json() if self.stat is not None else None,
                "difference": round_acc(self.difference)}


@dataclass
class Comparison:
    """Every (group, entry) match, and the entries no group matched."""

    matches: list[Match] = field(default_factory=list)
    unmatched: list[Published] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    varying: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"matches": [m.to_json(self.varying) for m in self.matches],
                "unmatched": [e.to_json() for e in self.unmatched], "warnings": self.warnings}


def compare(res: Results, entries: list[Published], warnings: list[str] | None = None) -> Comparison:
    """The published entries each group of `res` matches, in table order."""
    from .results import COLUMNS

    out = Comparison(warnings=list(warnings or ()), varying=res.varying)
    hit: set[int] = set()
    for g in res.groups:
        for e in entries:
            column = next((c for c in COLUMNS if c.name == e.column), None)
            if column is None or not g.runs or not all(matches(e, r.args) for r in g.runs):
                continue
            out.matches.append(Match(g, e, g.stat(column)))
            hit.add(e.index)
    out.unmatched = [e for e in entries if e.index not in hit]
    return out


def against_file(path: str) -> Callable[[Results], Comparison]:
    """Read `path` now (a bad file is an error before any run is read); compare later."""
    entries, warnings = read_published(path)
    return lambda res: compare(res, entries, warnings)
