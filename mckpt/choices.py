"""The fixed choices the library takes, each defined once.

The library checks its parameters against these tuples (`check_choice`, naming the parameter: a
Python caller has no flags), and the CLI builds its options from the same tuples: the words in
`--help`, the usage error, and the shell completion. A leaf module, so the CLI imports it
without the library behind it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import UsageError

TARGETS = ("full", "backbone", "safe")  # convert: the kind of file to write
EVERY = ("task", "last")  # save/load: Mammoth checkpoints after every task, or after the last one
MODES = ("safe", "old_pickle")  # save: the checkpoint format Mammoth writes


def check_choice(parameter: str, value: str | None, choices: Sequence[str]) -> None:
    """Refuse a value outside `choices` (None means "the default" and passes)."""
    if value is not None and value not in choices:
        raise UsageError(f"{parameter} must be one of: {', '.join(choices)} (got {value!r})")
