"""Mammoth command-line arguments as mckpt needs them: parsed, compared with saved args, rebuilt.

Resuming means putting together a Mammoth command from three sources: the file's saved args, the
flags mckpt adds (`--loadcheck`, `--start_from`, …) and what the user typed after `--`. The user's
words always win, and before launching mckpt says where they differ from the saved run, the same
comparison Mammoth makes, with the same run-bookkeeping arguments left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..model.checkpoint import to_plain
from ..model.vocabulary import BOOKKEEPING_ARGS

# Saved keys that Mammoth computes itself: repeating them on an older parser would be refused.
_COMPUTED_ARGS = frozenset(
    {
        "conf_jobnum",
        "conf_timestamp",
        "conf_host",
        "conf_git_hash",
        "conf_git_commit",
        "ckpt_name",
        "ckpt_name_replace",
        "class_order",
        "device",
        "num_classes",
        "loadcheck",
        "start_from",
        "stop_after",
        "job_number",
        "wandb_url",
    }
)
_FIRST = ("model", "dataset", "lr", "buffer_size")

Given = str | bool | list[str]
MISSING = object()


def parse_overrides(tokens: Iterable[str]) -> dict[str, Given]:
    """`--key value`, `--key=value`, `--key v1 v2` (a list) and bare `--flag` (True), last one wins."""
    out: dict[str, Given] = {}
    key: str | None = None
    values: list[str] = []

    def close() -> None:
        if key is not None:
            out[key] = True if not values else values[0] if len(values) == 1 else list(values)

    for tok in tokens:
        if tok.startswith("--") and len(tok) > 2 and not _is_number(tok):
            close()
            name, eq, value = tok[2:].partition("=")
            key, values = name, ([value] if eq else [])
        elif key is not None:
            values.append(tok)
    close()
    return out


def _is_number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


_TRUE = ("1", "true", "yes")
_FALSE = ("0", "false", "no")


def same_value(saved: Any, given: Given) -> bool:
    """Whether a typed value means what the saved one does (`1` is True, `0.10` is 0.1)."""
    saved = to_plain(saved)
    if isinstance(given, list) or isinstance(saved, list):
        given_list = given if isinstance(given, list) else [str(given)]
        return isinstance(saved, list) and [str(s) for s in saved] == [str(g) for g in given_list]
    if given is True:
        return saved is True or saved == 1
    if saved is None:
        return given == "None"
    if isinstance(saved, bool):
        return given.lower() in (_TRUE if saved else _FALSE)
    if isinstance(saved, int | float):
        try:
            return float(given) == float(saved)
        except ValueError:
            return False
    return str(saved) == given


@dataclass(frozen=True)
class OverrideChange:
    """One argument the new command sets differently from the saved run."""

    name: str
    saved: Any  # MISSING when the saved run did not have it
    given: Given

    @property
    def saved_text(self) -> str:
        return "(not saved)" if self.saved is MISSING else _text(to_plain(self.saved))

    @property
    def given_text(self) -> str:
        return _text(self.given)

    def to_json(self) -> dict[str, Any]:
        return {
            "arg": self.name,
            "saved": None if self.saved is MISSING else to_plain(self.saved),
            "saved_present": self.saved is not MISSING,
            "given": self.given,
        }


def _text(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def diff_overrides(saved: Mapping[str, Any], overrides: Mapping[str, Given]) -> list[OverrideChange]:
    """Overrides that change the saved run, bookkeeping arguments left out (as Mammoth does)."""
    changes = []
    for name, given in overrides.items():
        if name in BOOKKEEPING_ARGS:
            continue
        if name not in saved:
            changes.append(OverrideChange(name, MISSING, given))
        elif not same_value(saved[name], given):
            changes.append(OverrideChange(name, saved[name], given))
    return changes


def _flag_tokens(name: str, value: Any) -> list[str]:
    value = to_plain(value)
    if value is None or value is False or value == [] or isinstance(value, dict):
        return []  # the parser's default, or nothing a command line can say
    if value is True:
        return [f"--{name}"]
    if isinstance(value, list):
        return [f"--{name}", *(str(v) for v in value)]
    return [f"--{name}", str(value)]


def repeat_saved_args(saved: Mapping[str, Any], savecheck_is_flag: bool) -> list[tuple[str, list[str]]]:
    """The saved args as (name, tokens) for older Mammoth, which falls back to defaults otherwise.

    Computed keys are left out (the old parser would refuse them), and so are unset values.
    `minibatch_size` is a flag only for models with a buffer; `savecheck` follows the checkout.
    """
    names = [n for n in _FIRST if n in saved] + [n for n in saved if n not in _FIRST]
    out = []
    for name in names:
        if name in _COMPUTED_ARGS or (name == "minibatch_size" and "buffer_size" not in saved):
            continue
        value = saved[name]
        if name == "savecheck" and value:
            tokens = (
                ["--savecheck"]
                if savecheck_is_flag
                else ["--savecheck", "task" if value is True else str(value)]
            )
        else:
            tokens = _flag_tokens(name, value)
        if tokens:
            out.append((name, tokens))
    return out


def build_argv(base: Iterable[tuple[str, list[str]]], extra: list[str]) -> list[str]:
    """mckpt's flags, minus those the user typed again, then the user's arguments verbatim."""
    overridden = set(parse_overrides(extra))
    argv = [tok for name, tokens in base if name not in overridden for tok in tokens]
    return argv + list(extra)
