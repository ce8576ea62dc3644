"""Runs from Mammoth's results logs: where the logs are, which lines are one run, and its matrices.

Mammoth appends a line to `<base>/results/<setting>/<dataset>/<model>/logs.pyd` for every run that
ends, checkpoints or not. A class-IL dataset writes the run twice, class-IL values under
`class-il/` and task-IL values under `task-il/`, one line each, at the same time: the two are
paired by `conf_jobnum` (the run's uuid), else by their order among lines without one, so each
run has both settings. A domain-IL or general-continual log has one setting; its values take the
first (class-IL) place, as they do in Mammoth's checkpoints (`results[0]`).

A line is a run's args, then `accmean_task<i>` and `accuracy_<j>_task<i>` (accuracy on task j
after task i, both 1-based): the accuracy matrix, from which `metrics.compute_metrics` gives
Mammoth's numbers. A line with no accuracies (a `--loadcheck … --start_from N` check) or written
by an `--inference_only` evaluation of a loaded checkpoint is not a training run: it is left out,
with the reason.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..io.walk import walk_files
from .checkpoint import as_number
from .names import parse_name, parse_stem
from .results_log import LogFile, LogLine

if TYPE_CHECKING:
    from .results import RunResult

LOG_NAME = "logs.pyd"
SETTINGS = ("class-il", "task-il", "domain-il", "general-continual", "biased-class-il")
# Where a setting's values go in a run: Mammoth's checkpoints keep a one-setting run's in results[0].
SLOT = {"task-il": "task_il"}
_ACCURACY = re.compile(r"^accuracy_(\d+)_task(\d+)$")
_ACCURACY_KEYS = re.compile(r"(?:^|\0)(accuracy_(\d+)_task(\d+))(?=\0|$)")
_RESULT_KEY = re.compile(r"^(?:accmean_task\d+|accuracy_\d+_task\d+)$")
RESULT_KEYS = frozenset({"cpu_memory_usage", "gpu_memory_usage", "forward_transfer", "backward_transfer",
                         "forgetting"})
# How a results folder sits under what a user names: itself, a data folder, a Mammoth checkout.
LAYOUTS = ((LOG_NAME,), ("*", "*", "*", LOG_NAME), ("results", "*", "*", "*", LOG_NAME),
            ("data", "results", "*", "*", "*", LOG_NAME))


@dataclass(frozen=True)
class LogPlace:
    """Where a log sits: the setting folder it is in (None when not in Mammoth's layout), and the
    key of the logs written by the same runs (results folder, dataset, model)."""

    setting: str | None
    twins: tuple[str, ...]

    @staticmethod
    def of(path: str) -> LogPlace:
        parts = path.replace("\\", "/").split("/")
        if len(parts) >= 4 and parts[-4] in SETTINGS:
            return LogPlace(parts[-4], ("/".join(parts[:-4]), parts[-3], parts[-2]))
        return LogPlace(None, (path,))


def find_logs(folder: str, recursive: bool = False) -> list[str]:
    """The results logs under a local folder: in it, or in Mammoth's layout below it (a results
    folder, a data folder, a checkout); anywhere below with `recursive` (symlinks not followed)."""
    if recursive:
        # the one iterative walker (links not followed, depth bounded); what it skips the checkpoint
        # scan of the same folder reports
        found = [e.path for e in walk_files(folder, lambda e: True, lambda e: e.name == LOG_NAME)]
    else:
        found = [p for layout in LAYOUTS for p in glob.glob(os.path.join(glob.escape(folder), *layout))]
    return sorted(p for p in found if os.path.isfile(p))


def twin_of(path: str) -> str | None:
    """The other setting's log of a class-IL (or task-IL) log, when it is there on disk."""
    place = LogPlace.of(path)
    other = {"class-il": "task-il", "task-il": "class-il"}.get(place.setting or "")
    if other is None:
        return None
    root, dataset, model = place.twins
    twin = os.path.join(root, other, dataset, model, LOG_NAME) if root else os.path.join(other, dataset, model,
                                                                                          LOG_NAME)
    return twin if os.path.isfile(twin) else None


def looks_like_log(path: str) -> bool:
    """A file given directly is a results log when its first byte opens a dict (a torch file starts
    `PK` or with a pickle opcode): what it is comes from reading it, not from its name."""
    try:
        with open(path, "rb") as f:
            return f.read(1) == b"{"
    except OSError:
        return False  # the checkpoint reader says what is wrong with it


def accuracy_matrix(values: dict[str, Any]) -> list[list[float]] | None:
    """Row i: the accuracy on tasks 1..j after task i (None if a value is not a number)."""
    cells: dict[int, dict[int, float]] = {}
    # One C-speed scan of the keys joined (a line has ~100 args besides its accuracies); a match
    # that is only part of a key (one holding NUL) is not a key and is passed over.
    for key, j, i in _ACCURACY_KEYS.findall("\0".join(values)):
        if key not in values:
            continue
        v = values[key]
        x = v if type(v) is float else as_number(v)
        if x is None:
            return None
        cells.setdefault(int(i), {})[int(j)] = x
    rows = []
    for i in range(1, max(cells, default=0) + 1):
        row = cells.get(i, {})
        rows.append([row[j] for j in range(1, len(row) + 1) if j in row])
    return rows


def run_args(values: dict[str, Any]) -> dict[str, Any]:
    """A line's args: everything but the results Mammoth appends to them."""
    return {k: v for k, v in values.items()
            if k not in RESULT_KEYS and not (k.startswith("acc") and _RESULT_KEY.match(k))}


def not_a_run(values: dict[str, Any]) -> str | None:
    """Why a line is not a training run's result, or None."""
    if values.get("inference_only") is True:
        return "an --inference_only evaluation of a loaded checkpoint, not a training run"
    if not any(k.startswith("accuracy_") and _ACCURACY.match(k) for k in values):
        return "no task accuracies (a --loadcheck check, or no task finished): not a run's result"
    return None


def jobnum(values: dict[str, Any]) -> str | None:
    j = values.get("conf_jobnum")
    return j if isinstance(j, str) and j else None


def uid_of(values: dict[str, Any]) -> str | None:
    """The run's uid as its checkpoint names carry it: the first 8 hex digits of conf_jobnum."""
    j = jobnum(values)
    return j.split("-")[0].lower() if j else None


def pair_lines(first: list[LogLine], second: list[LogLine]) -> list[tuple[LogLine | None, LogLine | None]]:
    """Lines of two settings' logs that are one run: by conf_jobnum where it names one line in
    each, then in order among the rest when their args agree; the others stand alone."""
    def unique(lines: list[LogLine]) -> dict[str, LogLine]:
        seen: dict[str, list[LogLine]] = {}
        for ln in lines:
            if (j := jobnum(ln.values)) is not None:
                seen.setdefault(j, []).append(ln)
        return {j: v[0] for j, v in seen.items() if len(v) == 1}

    a, b = unique(first), unique(second)
    pairs: list[tuple[LogLine | None, LogLine | None]] = []
    used: set[int] = set()
    rest_a: list[LogLine] = []
    for ln in first:
        j = jobnum(ln.values)
        if j is not None and j in a and j in b:
            pairs.append((ln, b[j]))
            used.add(b[j].number)
        else:
            rest_a.append(ln)
    rest_b = [ln for ln in second if ln.number not in used]
    while rest_a and rest_b and run_args(rest_a[0].values) == run_args(rest_b[0].values):
        pairs.append((rest_a.pop(0), rest_b.pop(0)))
    pairs += [(ln, None) for ln in rest_a] + [(None, ln) for ln in rest_b]
    return pairs


def _ancestors(args: dict[str, Any], own: str | None) -> tuple[str, list[str]]:
    """(the run's name, the runs it continues): its ckpt_name and that name's lineage when the name
    is its own (carries its uid), else its uid; older Mammoth: the file it loaded."""
    stem = args.get("ckpt_name")
    parsed = parse_stem(stem) if isinstance(stem, str) else None
    if parsed is not None and (own is None or parsed.uid in (None, own)):
        lineage = parsed.lineage
        name = parsed.stem
    else:
        lineage, name = [], own or "?"
    if not lineage:
        loaded = args.get("loadcheck")
        parent = parse_name(loaded) if isinstance(loaded, str) else None
        lineage = [parent.stem] if parent is not None else []
    return name, lineage


@dataclass
class LogRuns:
    """What a set of logs holds: runs, lines left out (with why), and warnings about bad lines."""

    runs: list[RunResult]
    skipped: list[dict[str, str]]
    warnings: list[str]


def runs_from_logs(logs: Iterable[LogFile]) -> LogRuns:
    """Every training run in `logs`, its twins paired: one RunResult per run."""
    from .results import RunResult

    by_key: dict[tuple[str, ...], dict[str | None, LogFile]] = {}
    warnings: list[str] = []
    for log in logs:
        place = LogPlace.of(log.path)
        warnings += log.warnings
        by_key.setdefault(place.twins, {})[place.setting] = log
    out = LogRuns([], [], warnings)
    for group in by_key.values():
        first_setting = next((s for s in group if s != "task-il"), None)
        first = group.get(first_setting)
        second = group.get("task-il") if first_setting != "task-il" else None
        pairs = pair_lines(first.lines if first else [], second.lines if second else [])
        for a, b in pairs:
            lines = [(log, ln) for log, ln in ((first, a), (second, b)) if log is not None and ln is not None]
            main_log, main = lines[0]
            where = f"{main_log.path}:{main.number}"
            reason = not_a_run(main.values)
            matrices = {"class_il": [], "task_il": []}
            for log, ln in lines:
                m = accuracy_matrix(ln.values)
                if m is None:
                    reason = reason or f"{log.path}:{ln.number}: an accuracy that is not a number"
                    continue
                matrices[SLOT.get(LogPlace.of(log.path).setting or "", "class_il")] = m
            if reason:
                out.skipped.append({"path": where, "reason": reason})
                continue
            args = run_args(main.values)
            uid = uid_of(main.values)
            name, lineage = _ancestors(args, uid)
            run = RunResult(name, main_log.path, args, matrices["class_il"], matrices["task_il"], lineage,
                            source="log", line=main.number, uid=uid,
                            records=[{"source": "log", "path": log.path, "line": ln.number,
                                      "setting": LogPlace.of(log.path).setting} for log, ln in lines])
            out.runs.append(run)
    return out


def read_local_logs(paths: Iterable[str]) -> list[LogFile]:
    """Local logs read one by one (each is small: a few KB a run)."""
    from .results_log import read_log_file

    return [read_log_file(p) for p in paths]
