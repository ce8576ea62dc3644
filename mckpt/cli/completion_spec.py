"""What the shell completion scripts know: the CLI's commands, options and value kinds.

The static scripts in `completions/` are rendered from this description, read off the Typer app:
the command tree `typer.main.get_command` returns gives the names, options, arguments and help,
and each parameter's Python annotation (on the command function, where Typer reads it too) gives
the kind of value it takes. The tree is only duck-typed (`param_type_name`, `opts`, `nargs`,
`list_commands`, …), never checked against Click's classes: Typer 0.26 and later carry their own
copy of Click, whose classes are not `click.*`, and 0.29 no longer gives parameters a Click type.
A new command or option reaches the scripts by regenerating them, with no hand edits.

Each value gets a *kind* that the scripts know how to complete:
`file` (.pt files and folders, by the shell), `path` (any file), `dir`, `run` (a run uid from
`./checkpoints`, or a .pt file), `model` / `dataset` (names found in `./checkpoints`, answered by
`mckpt __complete`), `choice` (fixed words written into the script) and `none`.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import typer

# Options whose plain-string values still have known candidates. Fixed choices need no entry: an
# Enum annotation or a `choice_option` (its callback carries the library's tuple) gives them.
OPTION_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "--model": ("model", ()),
    "--dataset": ("dataset", ()),
}
# Arguments by name: runs (uid) as well as files for `diff A B` and `load CHECKPOINT`; URLs get
# nothing. Any other argument is a checkpoint file or folder.
ARGUMENT_KINDS = {
    **dict.fromkeys(("a", "b", "run", "runs", "checkpoint", "checkpoints"), "run"),
    **dict.fromkeys(("url", "urls", "source", "sources"), "none"),
}
# Other options by the placeholder their help shows: `--cache-dir DIR` completes folders only,
# `--like CHECKPOINT` runs as well as files, `-o FILE` any path. A value that names no file
# (`--revision REV`, `--size WxH`, `--title TITLE`) gets no candidates rather than file names.
METAVAR_KINDS = {"DIR": "dir", "CHECKPOINT": "run", "FILE": "path", "FILE|DIR": "path", "PY": "path",
                 "PATH": "path"}


@dataclass(frozen=True)
class Values:
    kind: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Parsing:
    """How a parameter's words become the command function's value: what `cli.direct` needs to
    parse a command line exactly as Typer would. `convert` is the value's type (`str`, or
    `flag`: True, False for the `off` names; empty for any other); `choices` the values a strict choice
    takes; `unlike_typer` says why a parameter needs Typer itself (a callback, a count, an
    environment variable…), empty when it does not."""

    param: str
    convert: str
    default: Any
    choices: tuple[str, ...] = ()
    off: tuple[str, ...] = ()
    multiple: bool = False
    required: bool = False
    unlike_typer: str = ""


@dataclass(frozen=True)
class OptionSpec:
    names: tuple[str, ...]
    help: str
    values: Values | None  # None for flags
    parsing: Parsing | None = None

    @property
    def long(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if n.startswith("--"))

    @property
    def short(self) -> tuple[str, ...]:
        return tuple(n for n in self.names if not n.startswith("--"))


@dataclass(frozen=True)
class ArgumentSpec:
    name: str
    variadic: bool
    values: Values
    parsing: Parsing | None = None


@dataclass(frozen=True)
class CommandSpec:
    path: tuple[str, ...]  # ("mckpt",), ("mckpt", "list"), …
    help: str
    options: tuple[OptionSpec, ...]
    arguments: tuple[ArgumentSpec, ...]
    subcommands: tuple[CommandSpec, ...]

    @property
    def name(self) -> str:
        return self.path[-1]

    def walk(self) -> list[CommandSpec]:
        """This command and every command below it, parents first."""
        out = [self]
        for sub in self.subcommands:
            out.extend(sub.walk())
        return out


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""


def _annotations(callback: Any) -> dict[str, Any]:
    """The command function's parameter annotations, by name (Typer's wrappers unwrapped)."""
    if callback is None:
        return {}
    try:
        sig = inspect.signature(callback, eval_str=True)
    except (NameError, TypeError, ValueError):  # an annotation that cannot be evaluated: no kinds
        return {}
    return {name: p.annotation for name, p in sig.parameters.items()}


def _base_type(annotation: Any) -> Any:
    """`Annotated[list[Path] | None, …]` → `Path`: the type of one value."""
    while True:
        origin = typing.get_origin(annotation)
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin is typing.Annotated or origin in (typing.Union, types.UnionType) or origin in (list, tuple):
            if not args:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _param_info(annotation: Any) -> Any:
    """The `typer.Option(…)` / `typer.Argument(…)` object of an `Annotated[...]` annotation, if any."""
    if typing.get_origin(annotation) is typing.Annotated:
        for extra in annotation.__metadata__:
            if hasattr(extra, "param_decls"):
                return extra
    return None


def _values(annotation: Any, name: str, is_argument: bool, metavar: str | None = None) -> Values:
    base = _base_type(annotation)
    if isinstance(base, type) and issubclass(base, enum.Enum):
        return Values("choice", tuple(str(m.value) for m in base))
    callback = getattr(_param_info(annotation), "callback", None)
    choices = getattr(getattr(callback, "__self__", None), "choices", None)  # a `common.Choices.check`
    if choices:
        return Values("choice", tuple(choices))
    if name in OPTION_KINDS:
        kind, choices = OPTION_KINDS[name]
        return Values(kind, choices)
    if base in (int, float, bool):
        return Values("none")
    if isinstance(base, type) and issubclass(base, PurePath):
        info = _param_info(annotation)
        only_dirs = info is not None and getattr(info, "dir_okay", True) and not getattr(info, "file_okay", True)
        return Values("dir" if only_dirs else "path")
    if is_argument:
        return Values(ARGUMENT_KINDS.get(name, "file"))
    return Values(METAVAR_KINDS.get(metavar or "", "none" if metavar else "path"))


_CONVERTS = {str: "str"}  # what `cli.direct` reproduces; other value types are left to Typer


def _parsing(p: Any, annotation: Any) -> Parsing:
    """The parse of parameter `p` (a Typer/Click parameter, duck-typed) and its annotation."""
    is_flag = bool(getattr(p, "is_flag", False))
    base = _base_type(annotation)
    convert = "flag" if is_flag else _CONVERTS.get(base, "")
    info = _param_info(annotation)
    callback = getattr(info, "callback", None) if info is not None else p.callback
    checker = getattr(callback, "__self__", None)  # a `common.Choices`: a strict one validates, as below
    choices = tuple(checker.choices) if getattr(checker, "strict", False) else ()
    reasons = [why for why, present in (
        (f"values of type {getattr(base, '__name__', base)}", not convert),
        ("a count", getattr(p, "count", False)),
        ("an environment variable", getattr(p, "envvar", None)),
        ("several values per use", (getattr(p, "nargs", 1) or 1) > 1),
        ("eager", getattr(p, "is_eager", False)),
        ("required", getattr(p, "required", False) and getattr(p, "param_type_name", "") == "option"),
        ("a callback", callback is not None and not hasattr(checker, "choices")),
        ("a parser of its own", info is not None and (getattr(info, "click_type", None) is not None or (
            getattr(info, "parser", None) is not None and not getattr(info.parser, "passes_through", False)))),
    ) if present]
    return Parsing(param=p.name or "", convert=convert, default=p.default, choices=choices,
                   off=tuple(getattr(p, "secondary_opts", ())) if is_flag else (),
                   multiple=bool(getattr(p, "multiple", False)), required=bool(getattr(p, "required", False)),
                   unlike_typer=", ".join(reasons))


def _option(opt: Any, annotation: Any, in_signature: bool = True) -> OptionSpec:
    # Long names first, then short ones, sorted: Click keeps the help option's names in a set,
    # and the generated scripts must not change from one run to the next.
    names = tuple(sorted({*opt.opts, *opt.secondary_opts}, key=lambda n: (not n.startswith("--"), n)))
    long = next((n for n in names if n.startswith("--")), names[0])
    values = None if opt.is_flag or opt.count else _values(annotation, long, is_argument=False, metavar=opt.metavar)
    # Only the command function's own parameters have a parse (not --help, which Typer adds).
    return OptionSpec(names, _first_line(opt.help), values, _parsing(opt, annotation) if in_signature else None)


def _command(cmd: Any, ctx: typer.Context, path: tuple[str, ...]) -> CommandSpec:
    annotations = _annotations(cmd.callback)
    options: list[OptionSpec] = []
    arguments: list[ArgumentSpec] = []
    for p in cmd.get_params(ctx):
        annotation = annotations.get(p.name or "", str)
        if p.param_type_name == "option" and not p.hidden:
            options.append(_option(p, annotation, in_signature=(p.name or "") in annotations))
        elif p.param_type_name == "argument":
            name = p.name or "arg"
            arguments.append(ArgumentSpec(name, p.nargs == -1, _values(annotation, name, is_argument=True),
                                          _parsing(p, annotation)))
    subs: list[CommandSpec] = []
    if hasattr(cmd, "list_commands"):  # a group
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            sub_ctx = typer.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
            subs.append(_command(sub, sub_ctx, (*path, name)))
    help_text = cmd.get_short_help_str(90) if len(path) > 1 else _first_line(cmd.help)
    return CommandSpec(path, help_text, tuple(options), tuple(arguments), tuple(subs))


def describe(app: typer.Typer, prog: str = "mckpt") -> CommandSpec:
    """The completion description of a Typer app, read from the command tree Typer builds."""
    cmd = typer.main.get_command(app)
    ctx = typer.Context(cmd, info_name=prog, **cmd.context_settings)
    return _command(cmd, ctx, (prog,))
