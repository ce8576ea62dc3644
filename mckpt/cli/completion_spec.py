"""What the shell completion scripts know: the CLI's commands, options and value kinds.

The static scripts in `completions/` are rendered from this description, and the description is
read off the Typer app's Click command tree (its public objects: commands, params, opts, help), so
a new command or option reaches the scripts by regenerating them, with no hand edits.

Each value gets a *kind* that the scripts know how to complete:
`file` (.pt files and folders, by the shell), `path` (any file), `dir`, `run` (a run uid from
`./checkpoints`, or a .pt file), `model` / `dataset` (names found in `./checkpoints`, answered by
`mckpt __complete`), `choice` (fixed words written into the script) and `none`.
"""

from __future__ import annotations

from dataclasses import dataclass

import click
import typer

from ..model.runs import SORT_KEYS
from ..view.output import TABLE_FORMATS

# Options whose plain-string values still have known candidates (a click.Choice wins over these).
OPTION_KINDS: dict[str, tuple[str, tuple[str, ...]]] = {
    "--model": ("model", ()),
    "--dataset": ("dataset", ()),
    "--to": ("choice", ("backbone", "full", "safe")),  # `mckpt convert --to`
    "--format": ("choice", TABLE_FORMATS),
    "--sort": ("choice", tuple(SORT_KEYS)),
}
# Arguments by name: runs (uid) as well as files for `diff A B` and `load CHECKPOINT`; URLs get
# nothing. Any other argument is a checkpoint file or folder.
ARGUMENT_KINDS = {
    **dict.fromkeys(("a", "b", "run", "runs", "checkpoint", "checkpoints"), "run"),
    **dict.fromkeys(("url", "urls"), "none"),
}


@dataclass(frozen=True)
class Values:
    kind: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class OptionSpec:
    names: tuple[str, ...]
    help: str
    values: Values | None  # None for flags

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


def _values(param: click.Parameter, name: str) -> Values:
    ptype = param.type
    if isinstance(ptype, click.Choice):
        return Values("choice", tuple(str(c) for c in ptype.choices))
    if name in OPTION_KINDS:
        kind, choices = OPTION_KINDS[name]
        return Values(kind, choices)
    if isinstance(ptype, click.types.IntParamType | click.types.FloatParamType | click.types.BoolParamType):
        return Values("none")
    if isinstance(ptype, click.Path):
        return Values("dir" if ptype.dir_okay and not ptype.file_okay else "path")
    if isinstance(param, click.Argument):
        return Values(ARGUMENT_KINDS.get(name, "file"))
    return Values("path")


def _option(opt: click.Option) -> OptionSpec:
    # Long names first, then short ones, sorted: Click keeps the help option's names in a set,
    # and the generated scripts must not change from one run to the next.
    names = tuple(sorted({*opt.opts, *opt.secondary_opts}, key=lambda n: (not n.startswith("--"), n)))
    long = next((n for n in names if n.startswith("--")), names[0])
    values = None if opt.is_flag or opt.count else _values(opt, long)
    return OptionSpec(names, _first_line(opt.help), values)


def _command(cmd: click.Command, ctx: click.Context, path: tuple[str, ...]) -> CommandSpec:
    options: list[OptionSpec] = []
    arguments: list[ArgumentSpec] = []
    for p in cmd.get_params(ctx):
        if isinstance(p, click.Option) and not p.hidden:
            options.append(_option(p))
        elif isinstance(p, click.Argument):
            name = p.name or "arg"
            arguments.append(ArgumentSpec(name, p.nargs == -1, _values(p, name)))
    subs: list[CommandSpec] = []
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            sub_ctx = click.Context(sub, info_name=name, parent=ctx, **sub.context_settings)
            subs.append(_command(sub, sub_ctx, (*path, name)))
    help_text = cmd.get_short_help_str(90) if len(path) > 1 else _first_line(cmd.help)
    return CommandSpec(path, help_text, tuple(options), tuple(arguments), tuple(subs))


def describe(app: typer.Typer, prog: str = "mckpt") -> CommandSpec:
    """The completion description of a Typer app, read from its Click command tree."""
    cmd = typer.main.get_command(app)
    ctx = click.Context(cmd, info_name=prog, **cmd.context_settings)
    return _command(cmd, ctx, (prog,))
