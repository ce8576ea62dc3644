"""Planning `mckpt save`: a Mammoth training command with checkpointing switched on.

mckpt adds only the checkpoint flags (`--savecheck`, `--ckpt_name`, `--save_checkpoint_mode`) and
passes the user's own Mammoth arguments through untouched; it refuses to guess when the user
set the same flag both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..choices import EVERY, MODES, check_choice
from ..errors import UsageError
from .mammoth_args import check_user_flags, parse_overrides
from .mammoth_env import CURRENT, MammothEnv


@dataclass
class SavePlan:
    mammoth: MammothEnv
    argv: list[str]
    watch: Path  # the checkpoint folder Mammoth will write to

    @property
    def command(self) -> list[str]:
        return self.mammoth.command(self.argv)

    def to_json(self) -> dict[str, Any]:
        return {
            "mammoth": str(self.mammoth.root),
            "layout": self.mammoth.layout,
            "cwd": str(self.mammoth.root),
            "command": self.command,
            "checkpoints": str(self.watch),
        }


def checkpoint_folder(mammoth: MammothEnv, argv: list[str], saved: dict[str, Any] | None = None) -> Path:
    """Where Mammoth writes: `checkpoints/` in its working folder, unless `--checkpoint_path` says."""
    given = parse_overrides(argv).get("checkpoint_path", (saved or {}).get("checkpoint_path"))
    return mammoth.root / given if isinstance(given, str) else mammoth.checkpoint_dir


def _clash(ours: str, theirs: str, overrides: dict[str, Any]) -> None:
    if theirs in overrides:
        raise UsageError(f"{ours} and --{theirs} after `--` both set the same thing; keep one")


def plan_save(
    mammoth: MammothEnv,
    extra: list[str],
    *,
    every: str | None = None,
    name: str | None = None,
    mode: str | None = None,
) -> SavePlan:
    """The training command: the user's arguments plus the checkpoint flags."""
    check_choice("every", every, EVERY)
    check_choice("mode", mode, MODES)
    check_user_flags(extra)
    overrides = parse_overrides(extra)
    # mckpt's flags as one `--name=value` token each, after the user's words: a --name starting
    # with `-` is still the prefix, never an option.
    ours: list[str] = []
    if every is not None:
        _clash("--every", "savecheck", overrides)
    if "savecheck" not in overrides:
        ours += ["--savecheck"] if mammoth.savecheck_is_flag else [f"--savecheck={every or 'task'}"]
    if name is not None:
        _clash("--name", "ckpt_name", overrides)
        ours += [f"--ckpt_name={name}"]
    if mode is not None:
        _clash("--mode", "save_checkpoint_mode", overrides)
        if mammoth.layout != CURRENT:
            raise UsageError(
                "older Mammoth (utils/main.py) has no --save_checkpoint_mode: it always writes "
                "old pickles (convert them later with `mckpt convert --to safe`)"
            )
        ours += [f"--save_checkpoint_mode={mode}"]
    argv = list(extra) + ours
    return SavePlan(mammoth, argv, checkpoint_folder(mammoth, argv))
