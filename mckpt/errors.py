"""Errors that mckpt reports to the user as one line (plus an optional hint).

Every failure a user can cause (a bad file, a bad URL, a missing Mammoth checkout) is raised as a
:class:`MckptError`, so the CLI can print it without a traceback and library users can catch one
type. Anything else escaping is a bug in mckpt and is reported as such.
"""

from __future__ import annotations

from collections.abc import Callable


class MckptError(Exception):
    """A failure to report as `error: <path>: <message>` with an optional `hint:` line."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.hint = hint
        self.param = param

    def __str__(self) -> str:
        return self.describe()

    def describe(self, spell: Callable[[str], str] = str) -> str:
        """The one line: `path: message`, led by the parameter whose value is wrong (`param`) as
        `spell` writes it: its Python name for a library caller (`where 'lr': …`), its flag in
        the CLI (`--where 'lr': …`, see `cli.outcome`). One message serves both callers."""
        message = f"{spell(self.param)} {self.message}" if self.param else self.message
        return f"{self.path}: {message}" if self.path else message

    def to_json(self) -> dict[str, object]:
        """The error inside a command's JSON document, so a script reads one schema either way."""
        return {"message": self.message, "param": self.param, "path": self.path, "hint": self.hint,
                "exit_code": self.exit_code}


class NotFound(MckptError):
    """A server or store answered, and nothing is at that name (so a caller may try it as a run uid)."""


class NotACheckpoint(MckptError):
    """The bytes are not a torch checkpoint at all (empty, random, an LFS pointer, a text file)."""


class CorruptCheckpoint(MckptError):
    """The file looks like a checkpoint but is truncated or malformed."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None,
                 param: str | None = None) -> None:
        if hint is None and message.startswith("truncated"):
            # Nearly always a copy or download that was cut short (or a save that was killed).
            hint = ("the file is cut short (an interrupted copy, download or save?): copy or fetch it again; "
                    "`mckpt fetch` resumes and checks downloads")
        super().__init__(message, path=path, hint=hint, param=param)


class UnsafePickle(MckptError):
    """The pickle asks for a global that could run code; nothing from it was executed."""

    def __init__(self, global_name: str, *, path: str | None = None) -> None:
        if global_name.startswith(_PICKLED_OBJECT_MODULES):
            # torch.save(model) / torch.save(optimizer): common, and not an attack, but the same
            # refusal: only running the class's code could rebuild it.
            message = (f"refused to load: the pickle rebuilds a whole {global_name} object, not a state dict "
                       "(rebuilding it would run its code; nothing was executed)")
            hint = ("a torch.save(model)-style file: save model.state_dict() instead, or torch.load it with "
                    "weights_only=False only if you trust where it came from")
        else:
            message = f"refused to load: the pickle calls {global_name}, which could run code (nothing was executed)"
            hint = "this file was crafted or is not a checkpoint; do not torch.load it"
        super().__init__(message, path=path, hint=hint)
        self.global_name = global_name


_PICKLED_OBJECT_MODULES = ("torch.nn.", "torch.optim.", "torchvision.models.")


class UsageError(MckptError):
    """Options that do not fit together; reported like Click's usage errors (exit code 2)."""

    exit_code = 2
