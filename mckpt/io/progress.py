"""The one progress protocol library code reports to (bytes hashed, files read, a download).

Library functions take a `Progress` and call it unconditionally; the CLI hands them the bar of
`view.output.Output.progress` (which satisfies this protocol as it is), a caller from Python
hands nothing and gets `NoProgress`. One shape for every job, so no adapter sits between a
library function and the bar that shows it.
"""

from __future__ import annotations

from typing import Any, Protocol


class Progress(Protocol):
    """Work counted towards a total: `advance(n)` as it is done, `total` when it becomes known
    (None: unknown), `reset` to start over (a download that restarts or resumes, `description`
    naming what is now counted), `note` for a line worth telling (a retry, a resume)."""

    total: int | None

    @property
    def done(self) -> int: ...

    def advance(self, n: int = 1) -> None: ...

    def reset(self, total: int | None, done: int = 0, description: str | None = None) -> None: ...

    def note(self, message: str) -> None: ...


class NoProgress:
    """The library default: counts, tells nobody."""

    def __init__(self) -> None:
        self.total: int | None = None
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n

    def reset(self, total: int | None, done: int = 0, description: str | None = None) -> None:
        self.total, self.done = total, done

    def note(self, message: str) -> None:
        pass


class Locked:
    """`progress` reported to from several threads (files verified in parallel, one bar): each
    call under `lock`."""

    def __init__(self, progress: Progress, lock: Any) -> None:
        self._progress, self._lock = progress, lock

    @property
    def total(self) -> int | None:
        return self._progress.total

    @total.setter
    def total(self, value: int | None) -> None:
        with self._lock:
            self._progress.total = value

    @property
    def done(self) -> int:
        return self._progress.done

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self._progress.advance(n)

    def reset(self, total: int | None, done: int = 0, description: str | None = None) -> None:
        with self._lock:
            self._progress.reset(total, done, description)

    def note(self, message: str) -> None:
        with self._lock:
            self._progress.note(message)
