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

from ..errors import MckptError, UsageError
from ..model.checkpoint import Checkpoint, is_safe_global, read_checkpoint
from ..model.resolve import resolve_checkpoint
from .mammoth_args import OverrideChange, build_argv, diff_overrides, parse_overrides, repeat_saved_args
from .mammoth_env import CURRENT, MammothEnv
from .save import EVERY, checkpoint_folder

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
    config = args.get("dataset_config")
    if config not in (None, "None", "default"):
        return None
    return KNOWN_TASKS.get(str(args.get("dataset")))


def _refuse_unresumable(ck: Checkpoint, mammoth: MammothEnv) -> None:
    if ck.kind != "mammoth":
        what = "a bare backbone" if ck.kind == "backbone" else "not a Mammoth checkpoint"
        raise MckptError(
            f"cannot resume: this is {what}, with no run to continue",
            path=ck.path,
            hint="to start a new run from its weights: mckpt save -- --loadcheck FILE --model …",
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


def _finished(ck: Checkpoint, total: int | None) -> str | None:
    """Why the run has nothing left to train, or None."""
    if total is not None and ck.tasks_done >= total:
        return f"all {total} tasks of {ck.args.get('dataset')} are done"
    if ck.name is not None and ck.name.task == "last" and ck.args.get("stop_after") is None:
        return "a `last` checkpoint is written after the final task"
    return None


def _lineage(ck: Checkpoint) -> list[str]:
    out = list(ck.name.lineage) if ck.name else []
    parent_file = ck.args.get("loadcheck")  # older Mammoth: the resumed run names its parent file
    if isinstance(parent_file, str) and parent_file:
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


def _current_layout(
    ck: Checkpoint, tasks_done: int, total: int | None, overrides: dict[str, object], notes: _Notes
) -> list[tuple[str, list[str]]]:
    """Current Mammoth restores the saved args, `stop_after` included: undo a reached stop."""
    notes.reasons.append("current Mammoth restores the saved args itself; only overrides are passed")
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
    return [("stop_after", ["--stop_after", str(total)])]


def _old_layout(
    ck: Checkpoint, mammoth: MammothEnv, check: bool, notes: _Notes
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
    repeated = repeat_saved_args(ck.args, mammoth.savecheck_is_flag)
    return [item for item in repeated if item[0] != "savecheck" or not check]


def _savecheck(
    ck: Checkpoint, mammoth: MammothEnv, every: str | None, overrides: dict[str, object], notes: _Notes
) -> list[tuple[str, list[str]]]:
    if every:
        return [("savecheck", ["--savecheck"] if mammoth.savecheck_is_flag else ["--savecheck", every])]
    if not ck.args.get("savecheck") and "savecheck" not in overrides:
        notes.warnings.append(
            "the saved run had no --savecheck: the resumed run writes no checkpoints "
            "unless you pass --every task|last"
        )
    return []


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
    """The command that resumes `target` (a file, a run folder or a run uid), or a MckptError."""
    if every is not None and every not in EVERY:
        raise UsageError(f"--every must be one of: {', '.join(EVERY)} (got {every!r})")
    extra = list(extra or [])
    search = search if search is not None else [mammoth.checkpoint_dir, Path.cwd() / "checkpoints"]
    resolved = resolve_checkpoint(target, search)
    file, chosen_by = os.path.abspath(resolved.path), resolved.chosen_by
    ck = read_checkpoint(file)
    _refuse_unresumable(ck, mammoth)
    total = total_tasks(ck.args)
    overrides: dict[str, object] = dict(parse_overrides(extra))
    notes = _Notes(reasons=[f"file: {file} ({chosen_by})"])
    tasks_done = ck.tasks_done
    task = ck.name.task if ck.name else None
    if isinstance(task, int) and task + 1 != tasks_done:
        notes.warnings.append(
            f"the name says task {task} but the results hold {tasks_done} tasks; using them"
        )
    if task == "paused":
        notes.reasons.append(
            f"a paused file: its results hold the {tasks_done} task(s) done before the interrupt"
        )
    notes.reasons.append(f"tasks done: {tasks_done} (len(results[0])) → --start_from {tasks_done}")
    finished = _finished(ck, total)
    if finished and not check and "start_from" not in overrides:
        raise MckptError(
            f"nothing left to train: {finished}",
            path=file,
            hint=f"see its results with: mckpt inspect {shlex.quote(file)}  (or ask Mammoth: mckpt load --check)",
        )
    base: list[tuple[str, list[str]]] = [
        ("loadcheck", ["--loadcheck", _path_for(mammoth, file)]),
        ("start_from", ["--start_from", str(tasks_done)]),
    ]
    if check:
        notes.reasons.append(
            f"--check: --stop_after {tasks_done} too, so Mammoth loads the file and trains nothing"
        )
        base.append(("stop_after", ["--stop_after", str(tasks_done)]))
    if mammoth.layout == CURRENT:
        base += [] if check else _current_layout(ck, tasks_done, total, overrides, notes)
    else:
        base += _old_layout(ck, mammoth, check, notes)
    if not check:
        own = _savecheck(ck, mammoth, every, overrides, notes)
        base = [item for item in base if item[0] != "savecheck" or not own] + own
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
        argv=build_argv(base, extra),
        changes=diff_overrides(ck.args, parse_overrides(extra)),
        check=check,
        env=notes.env,
        reasons=notes.reasons,
        warnings=notes.warnings,
    )
