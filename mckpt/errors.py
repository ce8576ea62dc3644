"""Errors that mckpt reports to the user as one line (plus an optional hint).

Every failure a user can cause (a bad file, a bad URL, a missing Mammoth checkout) is raised as a
:class:`MckptError`, so the CLI can print it without a traceback and library users can catch one
type. Anything else escaping is a bug in mckpt and is reported as such.
"""

from __future__ import annotations

import re
from collections.abc import Callable


def python_spelling(param: str, value: str | None = None) -> str:
    """How a library caller writes a parameter: `where`, `to='full'`."""
    if value is None:
        return param
    return f"{param}={value}" if value in ("True", "False") else f"{param}={value!r}"


# A parameter named in a spelled message: `{like}`, or with the value it takes, `{to=full}`; and
# `{{`/`}}`, a brace of text from elsewhere (see `braced`).
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([a-z_]+)(?:=([A-Za-z0-9_.-]+))?\}")
_BRACE = {"{{": "{", "}}": "}"}


def braced(text: str) -> str:
    """`text` (a path, a URL: anything not written here) for a spelled message: its braces kept
    as they are, never read as a parameter."""
    return text.replace("{", "{{").replace("}", "}}")


class MckptError(Exception):
    """A failure to report as `error: <path>: <message>` with an optional `hint:` line.

    Errors about parameters name them in the caller's terms: `param` is the parameter whose value
    is wrong, leading the message; a message or hint built with `spelled=True` may name others as
    `{like}` or `{to=full}`, and any text it holds from elsewhere goes through `braced`. `describe`
    and `spelled_hint` write them as a `spell` function says: `where`, `to='full'` for a library
    caller (`str(error)`), `--where`, `--to full` in the CLI (`cli.outcome`).
    """

    exit_code = 1

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None,
                 param: str | None = None, spelled: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.param = param
        self._spelled = spelled
        self._message = message
        self._hint = hint

    @property
    def message(self) -> str:
        return self._spell(self._message, python_spelling)

    @message.setter
    def message(self, text: str) -> None:
        self._message, self._spelled = text, False

    @property
    def hint(self) -> str | None:
        return self.spelled_hint(python_spelling)

    def _spell(self, text: str, spell: Callable[[str, str | None], str]) -> str:
        if not self._spelled:
            return text
        return _PLACEHOLDER.sub(lambda m: _BRACE.get(m[0]) or spell(m[1], m[2]), text)

    def __str__(self) -> str:
        return self.describe()

    def describe(self, spell: Callable[[str, str | None], str] = python_spelling) -> str:
        """The one line: `path: message`, its parameters written by `spell`."""
        line = self._line(spell)
        return f"{self.path}: {line}" if self.path else line

    def _line(self, spell: Callable[[str, str | None], str]) -> str:
        message = self._spell(self._message, spell)
        return f"{spell(self.param, None)} {message}" if self.param else message

    def spelled_hint(self, spell: Callable[[str, str | None], str] = python_spelling) -> str | None:
        return None if self._hint is None else self._spell(self._hint, spell)

    def to_json(self, spell: Callable[[str, str | None], str] = python_spelling) -> dict[str, object]:
        """The error inside a command's JSON document, so a script reads one schema either way."""
        return {"message": self._line(spell), "param": self.param, "path": self.path,
                "hint": self.spelled_hint(spell), "exit_code": self.exit_code}


class NotFound(MckptError):
    """A server or store answered, and nothing is at that name (so a caller may try it as a run uid)."""


class NotACheckpoint(MckptError):
    """The bytes are not a torch checkpoint at all (empty, random, an LFS pointer, a text file)."""


class IsSafetensors(NotACheckpoint):
    """A `.safetensors` file (by its bytes): not a checkpoint, but `inspect` can read its header."""


class CorruptCheckpoint(MckptError):
    """The file looks like a checkpoint but is truncated or malformed."""

    def __init__(self, message: str, *, path: str | None = None, hint: str | None = None,
                 param: str | None = None, spelled: bool = False) -> None:
        if hint is None and message.startswith("truncated"):
            # Nearly always a copy or download that was cut short (or a save that was killed).
            hint = ("the file is cut short (an interrupted copy, download or save?): copy or fetch it again; "
                    "`mckpt fetch` resumes and checks downloads")
        super().__init__(message, path=path, hint=hint, param=param, spelled=spelled)


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
