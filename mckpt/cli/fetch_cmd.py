"""`mckpt fetch`: download a checkpoint from the hub or any http(s) URL, resumably and verified."""

from __future__ import annotations

import re
import sys
from typing import Annotated, Any

import typer

from ..errors import UsageError
from ..view.output import human_bytes
from .common import JsonOpt, QuietOpt, add_command, examples, handle_errors, make_output, shown_as


class LineReporter:
    """For pipes and logs: a line when something happens, no redraws."""

    def start(self, name: str, total: int | None, done: int) -> None:
        size = human_bytes(total) if total is not None else "unknown size"
        print(f"fetching {name} ({size})", file=sys.stderr, flush=True)

    def advance(self, n: int) -> None:
        pass

    def note(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)


class RichReporter:
    """On a terminal: a progress bar with bytes, speed and ETA, on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
        self.task: Any = None
        self.pending = 0

    def start(self, name: str, total: int | None, done: int) -> None:
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(name, total=total, completed=done)
        else:
            self.progress.reset(self.task, total=total, completed=done)

    def advance(self, n: int) -> None:
        # Rich takes a lock per update; one per 8 MiB keeps it off the download's hot path.
        self.pending += n
        if self.pending >= 8 << 20:
            self.progress.update(self.task, advance=self.pending)
            self.pending = 0

    def note(self, message: str) -> None:
        self.progress.console.print(message, markup=False, highlight=False)

    def stop(self) -> None:
        if self.task is not None and self.pending:
            self.progress.update(self.task, advance=self.pending)
        self.progress.stop()


@handle_errors
def fetch_command(
    source: Annotated[str, typer.Argument(
        metavar="SOURCE", parser=shown_as("url"),
        help="hf://owner/repo/path@rev, a hub resolve/ or blob/ URL, or any http(s) URL.")],
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE|DIR",
        help="Also place the file here (hard link or copy from the cache).")] = None,
    sha256: Annotated[str | None, typer.Option(
        "--sha256", metavar="HEX", help="Expected sha256; the download must match it.")] = None,
    revision: Annotated[str | None, typer.Option(
        "--revision", metavar="REV", help="Hub branch, tag or commit (default: main, or the URL's @rev).")] = None,
    token: Annotated[str | None, typer.Option(
        "--token", metavar="TOKEN",
        help="Hub token (default: $HF_TOKEN, else the `hf auth login` token); sent to the hub endpoint only.")] = None,
    offline: Annotated[bool, typer.Option(
        "--offline", help="Use the cache only, no network (or HF_HUB_OFFLINE=1).")] = False,
    cache_dir: Annotated[str | None, typer.Option(
        "--cache-dir", metavar="DIR", help="Cache folder (default: $MCKPT_CACHE or ~/.cache/mckpt).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a different existing file at -o.")] = False,
    retries: Annotated[int, typer.Option("--retries", metavar="N", min=0,
                                         help="Retries on dropped connections and 5xx.")] = 5,
    connections: Annotated[int, typer.Option(
        "--connections", metavar="N", min=1, max=64,
        help="Ranged connections for files of 64 MiB or more (1: a single stream).")] = 8,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Download a file into the cache: resumes, verifies sha256, never leaves half a file."""
    from ..fetch.download import FetchOptions, SilentReporter, checkpoint_brief, fetch  # HTTP stack: fetch only

    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise UsageError("--sha256 wants 64 hexadecimal digits", path=sha256)
    opts = FetchOptions.from_env(token=token, offline=offline or None, cache_dir=cache_dir,
                                 sha256=sha256, retries=retries, revision=revision, connections=connections)
    out = make_output(json, None, quiet)
    reporter: Any
    if quiet:
        reporter = SilentReporter()
    elif sys.stderr.isatty():
        reporter = RichReporter()
    else:
        reporter = LineReporter()
    try:
        result = fetch(source, opts, output=output, force=force, reporter=reporter)
    finally:
        if isinstance(reporter, RichReporter):
            reporter.stop()
    brief = checkpoint_brief(result.path)
    if json:
        out.emit_json({**result.to_json(), "checkpoint": brief})
        return
    if result.from_cache:
        how = "from the cache (nothing transferred)"
    elif result.resumed_from:
        how = f"resumed at {human_bytes(result.resumed_from)}, {human_bytes(result.transferred)} transferred"
    else:
        how = f"downloaded, {human_bytes(result.transferred)} transferred"
    pairs: list[tuple[str, Any]] = [("path", result.path), ("size", f"{human_bytes(result.size)} "
                                     f"({result.size} bytes)"), ("sha256", result.sha256), ("source", how)]
    if result.commit:
        pairs.append(("commit", result.commit))
    if brief:
        pairs += [("kind", brief["kind"]), ("model", brief["model"] or "-"),
                  ("dataset", brief["dataset"] or "-"), ("tasks", brief["tasks_done"])]
    out.fields(pairs)


def register(app: typer.Typer) -> None:
    add_command(app, "fetch", fetch_command, epilog=examples(
        "mckpt fetch hf://owner/repo/er_seq-cifar10_..._1.pt -o checkpoints/",
        "mckpt fetch https://example.org/run_4.pt --sha256 HEX",
    ))
