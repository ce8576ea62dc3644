"""The fixed choices the library takes, each defined once (and the one checksum format).

The library checks its parameters against these tuples (`check_choice`, naming the parameter: a
Python caller has no flags), and the CLI builds its options from the same tuples: the words in
`--help`, the usage error, and the shell completion. A leaf module, so the CLI imports it
without the library behind it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import UsageError

TARGETS = ("full", "backbone", "safe")  # convert: the kind of file to write
EVERY = ("task", "last")  # save/load: Mammoth checkpoints after every task, or after the last one
MODES = ("safe", "old_pickle")  # save: the checkpoint format Mammoth writes
SHELLS = ("bash", "zsh", "fish")  # completion: the shells mckpt ships a completion script for
COLORS = ("auto", "always", "never")  # --color: colour on a terminal only, always, or never


def check_choice(parameter: str, value: str | None, choices: Sequence[str]) -> None:
    """Refuse a value outside `choices` (None means "the default" and passes)."""
    if value is not None and value not in choices:
        raise UsageError(f"must be one of: {', '.join(choices)} (got {value!r})", param=parameter)


SHA256 = re.compile(r"[0-9a-f]{64}")  # the one sha256 format: 64 lower-case hexadecimal digits


def is_sha256(text: str) -> bool:
    """Whether `text` is a sha256 as mckpt stores and compares them (lower-case hex)."""
    return SHA256.fullmatch(text) is not None


def sha256_of_etag(value: str | None) -> str | None:
    """The sha256 an ETag (or the hub's X-Linked-Etag) carries, quoted or weak, else None."""
    v = (value or "").strip().removeprefix("W/").strip('"').lower()
    return v if is_sha256(v) else None


def check_sha256(value: str | None, parameter: str = "sha256") -> str | None:
    """A sha256 checksum as given (64 hexadecimal digits, either case), lower-cased; None passes."""
    if value is not None and not is_sha256(value.lower()):
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise UsageError(f"wants 64 hexadecimal digits, not {shown!r}", param=parameter)
    return value.lower() if value is not None else None
