"""Mammoth command-line arguments as mckpt needs them: parsed, compared with saved args, rebuilt.

Resuming means putting together a Mammoth command from three sources: the file's saved args, the
flags mckpt adds (`--loadcheck`, `--start_from`, …) and what the user typed after `--`. The user's
words always win, and before launching mckpt says where they differ from the saved run, the same
comparison Mammoth makes, with the same run-bookkeeping arguments left out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..domain.checkpoint import to_plain
from ..domain.vocabulary import BOOKKEEPING_ARGS
from ..errors import MckptError, UsageError

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


# The flags mckpt itself sets on Mammoth's command line (load and save). A saved arg named after
# one, or after a prefix of one (argparse accepts `--loadchec` for `--loadcheck` unless the parser
# says allow_abbrev=False, and older Mammoth parsers do not all say it), is never repeated.
OWN_FLAGS = ("loadcheck", "start_from", "stop_after", "savecheck", "ckpt_name", "save_checkpoint_mode")
# ... and `--help`, which argparse also matches by prefix: a saved `h` would print help and exit.
_NOT_ABBREVIATED = (*OWN_FLAGS, "help")
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# argparse reads a token that starts with `-` as an option unless it is a plain negative number.
_NEGATIVE_NUMBER = re.compile(r"-[0-9]+\Z|-[0-9]*\.[0-9]+\Z")  # ASCII digits: `\d` takes `９` too
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A command line is not a place for bulk data: Linux caps one argument at 128 KiB, all at ~2 MiB.
MAX_REPEATED_CHARS = 64 * 1024
MAX_LIST_ITEMS = 1024


def abbreviates_own_flag(name: str) -> str | None:
    """The flag of mckpt's (or `help`) that `--name` would reach through argparse's prefix
    matching, if any (`help` itself too: Mammoth never saves it)."""
    return next((f for f in _NOT_ABBREVIATED if (f != name or f == "help") and f.startswith(name)), None)


def shown(text: str, limit: int = 60) -> str:
    """A name or value from a file, quoted with every unprintable character escaped (repr does
    that), cut to `limit`: safe to print on any terminal."""
    quoted = repr(text)
    return quoted if len(quoted) <= limit else quoted[: limit - 2] + "…" + quoted[-1]


def _name_problem(name: str) -> str | None:
    if not _PLAIN_NAME.match(name):
        return "is not a plain name (Mammoth's args are identifiers)"
    own = abbreviates_own_flag(name)
    if own is not None:
        return f"abbreviates --{own}, which mckpt sets itself"
    return None


def _value_problem(text: str, in_list: bool) -> str | None:
    if _CONTROL.search(text):
        return "holds a control character"
    if in_list and text.startswith("-") and not _NEGATIVE_NUMBER.match(text):
        return "holds an item Mammoth's parser would read as an option"
    return None


def _flag_tokens(name: str, value: Any) -> list[str] | str:
    """The tokens that say `name=value` to argparse as data only, or why there are none.

    A scalar is one `--name=value` token, which argparse never splits, whatever the value holds;
    a list needs one token per item, so each item must not look like an option.
    """
    value = to_plain(value)
    if value is None or value is False or value == [] or isinstance(value, dict):
        return []  # the parser's default, or nothing a command line can say
    if value is True:
        return [f"--{name}"]
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            return f"is a list of {len(value)} items (at most {MAX_LIST_ITEMS} go on a command line)"
        items = [str(v) for v in value]
        problem = next((p for p in (_value_problem(i, True) for i in items) if p), None)
        return problem or [f"--{name}", *items]
    text = str(value)
    return _value_problem(text, False) or [f"--{name}={text}"]


def repeat_saved_args(
    saved: Mapping[str, Any], savecheck_is_flag: bool, overridden: Iterable[str] = ()
) -> list[tuple[str, list[str]]]:
    """The saved args as (name, tokens) for older Mammoth, which falls back to defaults otherwise.

    Computed keys are left out (the old parser would refuse them), and so are unset values and the
    args the user sets again (`overridden`). `minibatch_size` is a flag only for models with a
    buffer; `savecheck` follows the checkout. Everything here comes from the file, so it goes to
    Mammoth as data, never as an option: an arg whose name or value could say anything else
    (another flag, an abbreviation of one of mckpt's, a control character, bulk data) is refused
    with an UnsafeArgs that names them all.
    """
    names = [n for n in _FIRST if n in saved] + [n for n in saved if n not in _FIRST]
    skip = set(overridden)
    out: list[tuple[str, list[str]]] = []
    problems: list[str] = []
    size = 0
    for name in names:
        if not isinstance(name, str):
            problems.append(f"{shown(str(name))} is not a plain name")
            continue
        if name in _COMPUTED_ARGS or (name == "minibatch_size" and "buffer_size" not in saved):
            continue
        if (problem := _name_problem(name)) is not None:
            problems.append(f"{shown(name)} {problem}")
            continue
        if name in skip:
            continue
        value = saved[name]
        if name == "savecheck" and value:
            value = True if savecheck_is_flag else ("task" if value is True else value)
        tokens = _flag_tokens(name, value)
        if isinstance(tokens, str):
            problems.append(f"{shown(name)} {tokens}")
            continue
        size += sum(len(t) + 1 for t in tokens)
        if tokens:
            out.append((name, tokens))
    if size > MAX_REPEATED_CHARS:
        problems.append(f"the saved args add up to {size} characters (at most {MAX_REPEATED_CHARS})")
    if problems:
        raise UnsafeArgs(problems)
    return out


class UnsafeArgs(MckptError):
    """Saved args that cannot go to Mammoth's command line as plain data; nothing was run."""

    def __init__(self, problems: list[str]) -> None:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        super().__init__(
            "refused to resume: saved arg " + "; ".join(problems[:3]) + more
            + ": mckpt repeats saved args on older Mammoth's command line only as plain data",
            hint="Mammoth never writes such args: the file was crafted or damaged (mckpt inspect reads "
            "it safely); an arg whose value is the problem can be set instead after `--`",
        )
        self.problems = problems


def check_user_flags(extra: Iterable[str]) -> None:
    """The user's own words after `--` may abbreviate one of mckpt's flags: say to spell it out,
    since mckpt would set the flag too and Mammoth would see two values (or refuse both)."""
    for name in parse_overrides(extra):
        own = abbreviates_own_flag(name)
        if own is not None:
            raise UsageError(f"--{name} after `--` abbreviates --{own}: spell it out as --{own}")


def build_argv(
    saved: Iterable[tuple[str, list[str]]], own: Iterable[tuple[str, list[str]]], extra: list[str]
) -> list[str]:
    """The repeated saved args, then mckpt's flags, then the user's words verbatim.

    Each name appears once: the user's words win over mckpt's flags, which win over the saved
    args (current Mammoth refuses a flag given twice). mckpt's flags also come after every token
    taken from a file, so with a parser that keeps the last value they win whatever the file says.
    """
    overridden = set(parse_overrides(extra))
    own = [(name, tokens) for name, tokens in own if name not in overridden]
    taken = overridden | {name for name, _ in own}
    argv = [tok for name, tokens in saved if name not in taken for tok in tokens]
    return argv + [tok for _, tokens in own for tok in tokens] + list(extra)
