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


SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


def check_sha256(value: str | None, parameter: str = "sha256") -> str | None:
    """A sha256 checksum as given (64 hexadecimal digits, either case), lower-cased; None passes."""
    if value is not None and not SHA256_HEX.fullmatch(value):
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise UsageError(f"wants 64 hexadecimal digits, not {shown!r}", param=parameter)
    return value.lower() if value is not None else None
