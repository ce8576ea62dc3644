"""Planning a resume: which file, how many tasks it has done, and the exact Mammoth command.

Everything is decided from the safe reader's view of the file, before anything runs: a joint file,
a finished run, a bare backbone or an old pickle that current Mammoth cannot read are refused with
a way forward. The plan also carries the reasoning (`--dry-run` prints it) and the differences
between the saved args and what the user typed.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..choices import EVERY, check_choice
from ..domain.checkpoint import Checkpoint, read_checkpoint
from ..domain.names import parse_name
from ..errors import MckptError, UsageError
from ..locate import local_copy
from ..locate.resolve import resolve_checkpoint
from ..torchfile.safe_globals import is_safe_global
from .mammoth_args import (
    OverrideChange,
    UnsafeArgs,
    build_argv,
    check_user_flags,
    diff_overrides,
    parse_overrides,
    repeat_saved_args,
    shown,
)
from .mammoth_env import CURRENT, MammothEnv
from .save import checkpoint_folder

# Tasks of Mammoth's common datasets with their default config: enough to tell a finished run.
# Other datasets (or other configs, which may change the split) are not judged.
KNOWN_TASKS = {
    "seq-mnist": 5,
    "seq-cifar10": 5,
    "seq-cifar10-224": 5,
    "seq-cifar100": 10,
    "seq-cifar100-224": 10,
    "seq-tinyimg": 10,
    "seq-imagenet-r": 10,
    "seq-cub200": 10,
    "perm-mnist": 20,
    "rot-mnist": 20,
}

UNSAFE_ENV = {"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
# The globals old Mammoth pickles name (../shared/MAMMOTH_FORMAT.md). The safe reader reads any
# unknown global as an inert record, but torch.load(weights_only=False) calls it (`pydoc.pipepager`
# runs a shell command), so only files naming nothing else get UNSAFE_ENV.
OLD_PICKLE_GLOBALS = frozenset({
    "argparse.Namespace", "torch.device", "utils.buffer.Buffer", "utils.buffer.ReservoirSampling",
    "numpy.dtype", "numpy.ndarray", "_codecs.encode",
    *(f"numpy.{core}.multiarray.{name}" for core in ("core", "_core") for name in ("scalar", "_reconstruct")),
})


@dataclass
class ResumePlan:
    """What `mckpt load` will run, and why."""

    checkpoint: Checkpoint
    file: str  # the checkpoint file, absolute
    chosen_by: str  # "the file given", or which run's newest checkpoint
    run: str | None  # the file's run name
    tasks_done: int
    start_from: int
    total_tasks: int | None
    lineage: list[str]  # ancestor runs, oldest first
    mammoth: MammothEnv
    argv: list[str]  # the arguments after the entrypoint
    changes: list[OverrideChange]
    check: bool = False
    env: dict[str, str] = field(default_factory=dict)  # extra environment for Mammoth
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what a dry run planned without (no checkout, no python)

    @property
    def command(self) -> list[str]:
        return self.mammoth.command(self.argv)

    @property
    def watch(self) -> Path:
        """The checkpoint folder the resumed run writes to."""
        return checkpoint_folder(self.mammoth, self.argv, self.checkpoint.args)

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "chosen_by": self.chosen_by,
            "run": self.run,
            "tasks_done": self.tasks_done,
            "start_from": self.start_from,
            "total_tasks": self.total_tasks,
            "lineage": self.lineage,
            "check": self.check,
            "mammoth": str(self.mammoth.root),
            "layout": self.mammoth.layout,
            "cwd": str(self.mammoth.root),
            "command": self.command,
            "checkpoints": str(self.watch),
            "env": self.env,
            "arg_changes": [c.to_json() for c in self.changes],
            "reasons": self.reasons,
            "warnings": self.warnings,
            "missing": self.missing,
        }


def _run_name(ck: Checkpoint) -> str | None:
    """The run a file belongs to: its name's stem, or for a paused file (named by a uuid) the
    ckpt_name in its args, when the run had one."""
    if ck.name is None:
        return None
    if ck.name.dialect == "paused":
        stem = ck.args.get("ckpt_name")
        return stem if isinstance(stem, str) and stem else None
    return ck.name.stem


def total_tasks(args: dict[str, Any]) -> int | None:
    """The run's task count when mckpt knows it: a known dataset with its default config (another
    config may change N_TASKS, seq-cifar100's `20tasks` for one)."""
    config = args.get("dataset_config")
    if config not in (None, "None", "default"):
        return None
    return KNOWN_TASKS.get(str(args.get("dataset")))


def _unknown_total(args: dict[str, Any]) -> str:
    config = args.get("dataset_config")
    dataset = shown(str(args.get("dataset")))
    if config not in (None, "None", "default"):
        return f"{dataset} with dataset_config {shown(str(config))} (a config may change the task count)"
    return dataset


def _tasks_done(ck: Checkpoint, notes: _Notes) -> int:
    """Tasks finished, from the results: row t of the class-IL matrix lists tasks 0..t, so the last
    row's length counts them. The row count says the same unless a resume with --start_from below
    it appended rows (a 5-task `_last` resumed at 4 holds 6), or the run evaluated future tasks."""
    rows = ck.class_il
    if not rows or ck.args.get("eval_future"):
        return len(rows)
    covered = len(rows[-1])
    if covered != len(rows):
        notes.reasons.append(
            f"the results hold {len(rows)} rows but the last covers {covered} tasks "
            "(a resume with --start_from below the task count appends rows): "
            f"{covered} tasks done"
        )
    return covered


def _refuse_unresumable(ck: Checkpoint, mammoth: MammothEnv, check: bool) -> None:
    if ck.kind == "backbone" and check:
        return  # Mammoth's --loadcheck takes a bare backbone: --check asks it (see _bare_check)
    if ck.kind != "mammoth":
        what = "a bare backbone" if ck.kind == "backbone" else "not a Mammoth checkpoint"
        raise MckptError(
            f"cannot resume: this is {what}, with no run to continue",
            path=ck.path,
            hint="to start a new run from its weights: mckpt save -- --loadcheck FILE --model … "
            + ("(mckpt load FILE --check -- --model M --dataset D asks Mammoth whether it takes the file)"
               if ck.kind == "backbone" else ""),
        )
    task = ck.name.task if ck.name else None
    if task == "joint" or bool(ck.args.get("joint")):
        raise MckptError(
            "cannot resume a joint checkpoint: Mammoth refuses --start_from with --joint",
            path=ck.path,
            hint=f"see its results with: mckpt inspect {shlex.quote(ck.path)}",
        )
    if ck.format == "old_pickle" and mammoth.layout == CURRENT:
        raise MckptError(
            "current Mammoth cannot --loadcheck an old-pickle checkpoint "
            "(its loader uses torch.load(weights_only=True))",
            path=ck.path,
            hint=f"convert it first: mckpt convert --to safe {shlex.quote(ck.path)}",
        )


def _finished(ck: Checkpoint, tasks_done: int, total: int | None) -> str | None:
    """Why the run has nothing left to train, or None: decided from the results alone, never the
    name (`mckpt convert` writes files with no task done, and a `_last` file holding 2 of 5 tasks
    is resumed by Mammoth with --start_from 2: a name can say anything)."""
    if total is not None and tasks_done >= total:
        return f"all {total} tasks of {shown(str(ck.args.get('dataset')))} are done"
    return None


def _lineage(ck: Checkpoint) -> list[str]:
    """Ancestor runs, oldest first: the parents the name carries, then the file `args.loadcheck`
    names (the only trace when the name carries none: older Mammoth, or a run resumed from a
    paused file of a run without --ckpt_name), unless that is the parent the name already gave."""
    out = list(ck.name.lineage) if ck.name else []
    parent_file = ck.args.get("loadcheck")
    if isinstance(parent_file, str) and parent_file:
        parent = parse_name(parent_file)
        if parent is None or parent.stem not in out:
            out.append(parent_file)
    return out


def _int_or(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


def _path_for(mammoth: MammothEnv, file: str) -> str:
    """Mammoth runs in its root: name the file relative to it when it lives there."""
    try:
        return str(Path(file).relative_to(mammoth.root))
    except ValueError:
        return file


def _flag(name: str, value: object) -> tuple[str, list[str]]:
    """One of mckpt's own flags as one `--name=value` token: argparse reads whatever follows the
    `=` as this flag's value, even a path that starts with `-`."""
    return name, [f"--{name}={value}"]


def _current_layout(
    ck: Checkpoint, tasks_done: int, total: int | None, overrides: dict[str, object], notes: _Notes
) -> list[tuple[str, list[str]]]:
    """Current Mammoth restores the saved args, `stop_after` included: undo a reached stop."""
    notes.reasons.append("current Mammoth restores the saved args itself; only overrides are passed")
    if ck.args.get("save_checkpoint_mode") == "old_pickle" and "save_checkpoint_mode" not in overrides:
        notes.warnings.append(
            "the saved run has save_checkpoint_mode='old_pickle', which Mammoth restores: the resumed "
            "run would write old pickles, which current Mammoth cannot --loadcheck; "
            "pass -- --save_checkpoint_mode safe to write safe files"
        )
    saved_stop = ck.args.get("stop_after")
    if not isinstance(saved_stop, int) or saved_stop > tasks_done or "stop_after" in overrides:
        return []
    if total is None:
        notes.warnings.append(
            f"the saved run had --stop_after {saved_stop}, which Mammoth restores: "
            "pass -- --stop_after N to train further"
        )
        return []
    notes.reasons.append(
        f"the saved run stopped after {saved_stop} tasks (restored by Mammoth): "
        f"--stop_after {total} to train to the end"
    )
    return [_flag("stop_after", total)]


def _old_layout(
    ck: Checkpoint, mammoth: MammothEnv, check: bool, overrides: dict[str, object], notes: _Notes
) -> list[tuple[str, list[str]]]:
    """Older Mammoth needs every saved arg repeated, and old pickles need an unsafe torch.load."""
    notes.reasons.append("older Mammoth (utils/main.py) does not restore saved args: repeating them")
    if ck.format == "old_pickle":
        other = [g for g in ck.globals_seen if g not in OLD_PICKLE_GLOBALS and not is_safe_global(g)]
        if other:
            raise MckptError(
                f"refused to resume: the pickle names {', '.join(other[:5])}, which Mammoth never writes; "
                "loading it needs TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, which would call it", path=ck.path,
                hint="this file was crafted or comes from other code; mckpt inspect reads it safely")
        notes.env.update(UNSAFE_ENV)
        notes.warnings.append(
            "this old-pickle file only loads with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, which lets "
            "its pickle run code inside the training process. mckpt's safe reader scanned it "
            f"first (globals: {', '.join(ck.globals_seen)}); resume only files you trust"
        )
    elif ck.format == "safe":
        notes.warnings.append(
            "older Mammoth expects args as an argparse.Namespace and may fail on a safe-mode file"
        )
    try:
        repeated = repeat_saved_args(ck.args, mammoth.savecheck_is_flag, overrides)
    except UnsafeArgs as e:
        e.path = ck.path
        raise
    return [item for item in repeated if item[0] != "savecheck" or not check]


def _savecheck(
    ck: Checkpoint, mammoth: MammothEnv, every: str | None, overrides: dict[str, object], notes: _Notes
) -> list[tuple[str, list[str]]]:
    if every:
        return [("savecheck", ["--savecheck"])] if mammoth.savecheck_is_flag else [_flag("savecheck", every)]
    if not ck.args.get("savecheck") and "savecheck" not in overrides:
        notes.warnings.append(
            "the saved run had no --savecheck: the resumed run writes no checkpoints "
            "unless you pass --every task|last"
        )
    return []


def _bare_check(ck: Checkpoint, mammoth: MammothEnv, overrides: dict[str, object], notes: _Notes) -> None:
    """`--check` of a bare backbone: Mammoth takes one with --loadcheck when told the run to build."""
    need = ["model", "dataset"] + (["lr"] if mammoth.layout != CURRENT else [])
    missing = [f"--{n}" for n in need if n not in overrides]
    if missing:
        raise UsageError(
            f"{ck.path}: a bare backbone holds no args, so Mammoth needs {', '.join(missing)} to build "
            f"the model it loads into; pass them after `--`: mckpt load {shlex.quote(ck.path)} --check -- "
            + " ".join(f"{m} …" for m in missing)
        )
    notes.reasons.append(
        "a bare backbone: Mammoth loads it into the model's backbone (model.net); "
        "optimizer, scheduler and results start fresh"
    )
    keys = list(ck.model_state)
    if not keys or not all(k.startswith("net.") for k in keys):
        notes.warnings.append(
            "its keys are not all under `net.`: Mammoth cuts 4 characters off every key containing "
            "`net` and may reject it (Missing keys); "
            f"the form it takes for every backbone: mckpt convert {shlex.quote(ck.path)} --to backbone"
        )


@dataclass
class _Notes:
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


def plan_resume(
    target: str,
    mammoth: MammothEnv,
    extra: list[str] | None = None,
    *,
    every: str | None = None,
    check: bool = False,
    search: list[Path] | None = None,
) -> ResumePlan:
    """The command that resumes `target` (a file, a run folder, a run uid or a URL), or a MckptError.

    With `check`, the command that asks Mammoth to load the file and train nothing.
    """
    check_choice("every", every, EVERY)
    extra = list(extra or [])
    check_user_flags(extra)
    search = search if search is not None else [mammoth.checkpoint_dir, Path.cwd() / "checkpoints"]
    resolved = local_copy(resolve_checkpoint(target, search))  # Mammoth loads a file on disk
    file, chosen_by = os.path.abspath(resolved.path), resolved.chosen_by
    ck = read_checkpoint(file)
    _refuse_unresumable(ck, mammoth, check)
    total = total_tasks(ck.args)
    overrides: dict[str, object] = dict(parse_overrides(extra))
    notes = _Notes(reasons=[f"file: {file} ({chosen_by})"])
    tasks_done = _tasks_done(ck, notes)
    task = ck.name.task if ck.name else None
    if isinstance(task, int) and task + 1 != tasks_done:
        notes.warnings.append(
            f"the name says task {task} but the results hold {tasks_done} tasks; using them"
        )
    if task == "last" and total is not None and tasks_done < total and ck.args.get("stop_after") is None:
        notes.warnings.append(
            f"the name says `last` (the run's final task) but the results hold {tasks_done} of "
            f"{total} tasks; using them"
        )
    if task == "paused":
        notes.reasons.append(
            f"a paused file: its results hold the {tasks_done} task(s) done before the interrupt"
        )
    notes.reasons.append(f"tasks done: {tasks_done} (from the results) → --start_from {tasks_done}")
    finished = _finished(ck, tasks_done, total)
    if finished and not check and "start_from" not in overrides:
        raise MckptError(
            f"nothing left to train: {finished}",
            path=file,
            hint=f"see its results with: mckpt inspect {shlex.quote(file)}  (or ask Mammoth: mckpt load --check)",
        )
    if total is None and ck.kind == "mammoth" and not finished:
        notes.warnings.append(
            f"mckpt does not know the task count of {_unknown_total(ck.args)}: it cannot tell whether "
            f"the run is finished; if it has done all its tasks, Mammoth loads the file and trains nothing"
        )
    own = [_flag("loadcheck", _path_for(mammoth, file)), _flag("start_from", tasks_done)]
    if check:
        notes.reasons.append(
            f"--check: --stop_after {tasks_done} too, so Mammoth loads the file and trains nothing"
        )
        own.append(_flag("stop_after", tasks_done))
    saved: list[tuple[str, list[str]]] = []
    if ck.kind == "backbone":
        _bare_check(ck, mammoth, overrides, notes)
    elif mammoth.layout == CURRENT:
        own += [] if check else _current_layout(ck, tasks_done, total, overrides, notes)
    else:
        saved = _old_layout(ck, mammoth, check, overrides, notes)
    if not check:
        own += _savecheck(ck, mammoth, every, overrides, notes)
    return ResumePlan(
        checkpoint=ck,
        file=file,
        chosen_by=chosen_by,
        run=_run_name(ck),
        tasks_done=tasks_done,
        start_from=_int_or(overrides.get("start_from"), tasks_done),
        total_tasks=total,
        lineage=_lineage(ck),
        mammoth=mammoth,
        argv=build_argv(saved, own, extra),
        changes=diff_overrides(ck.args, parse_overrides(extra)),
        check=check,
        env=notes.env,
        reasons=notes.reasons,
        warnings=notes.warnings,
    )
