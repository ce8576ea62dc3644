"""`mckpt env`: versions, cache, Mammoth checkout and environment, for a bug report (`hf env`)."""

from __future__ import annotations

import typer

from .cache_cmd import CacheDirOpt
from .common import JsonOpt, add_command, examples, handle_errors
from .outcome import make_output


@handle_errors
def env_command(cache_dir: CacheDirOpt = None, json: JsonOpt = False) -> None:
    """Print what to paste into a bug report: versions of mckpt, Python and the libraries it uses,
    the cache folder and its size, the Mammoth checkout found and its commit, and the environment
    variables that change what mckpt does (secrets shown as set, never by value)."""
    from ..envinfo import collect_env
    from ..view.render_env import render_env

    report = collect_env(cache_dir=cache_dir)
    out = make_output(json)
    out.show(report.to_json, lambda: render_env(out, report))


def register(app: typer.Typer) -> None:
    add_command(app, "env", env_command, epilog=examples("mckpt env", "mckpt env --json"))
