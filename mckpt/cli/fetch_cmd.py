"""`mckpt fetch`: download a checkpoint from the hub or any http(s) URL, resumably and verified."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..choices import check_sha256
from ..remote import is_store_url
from ..view.output import Output, Progress, human_bytes
from .common import JsonOpt, QuietOpt, add_command, examples, handle_errors, shown_as
from .outcome import make_output

if TYPE_CHECKING:
    from ..fetch.download import FetchResult


class _Reporter:
    """The fetch's progress on the command's Output: a bar on a terminal; in a pipe or a log, a
    line when a transfer starts (no redraws); its notes as notices. Silent with -q."""

    def __init__(self, out: Output, bar: Progress) -> None:
        self.out, self.bar = out, bar

    def start(self, name: str, total: int | None, done: int) -> None:
        self.bar.reset(total, done, name)
        if self.bar.live is None:
            self.out.notice(f"fetching {name} ({human_bytes(total) if total is not None else 'unknown size'})")

    def advance(self, n: int) -> None:
        self.bar.advance(n)

    def note(self, message: str) -> None:
        self.out.notice(message)


@handle_errors
def fetch_command(
    source: Annotated[str, typer.Argument(
        metavar="SOURCE", parser=shown_as("url"),
        help="hf://owner/repo/path@rev, a hub resolve/ or blob/ URL, any http(s) URL, or s3://, gs://, az://.")],
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
    connections: Annotated[int | None, typer.Option(
        "--connections", metavar="N", min=1, max=64,
        help="Ranged connections for files of 64 MiB or more, from the start (1: a single stream). "
             "Default: one stream, joined by 8 ranged connections when it runs below 200 MB/s.")] = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Download a file into the cache: resumes, verifies sha256, never leaves half a file."""
    from ..fetch.download import FetchOptions, checkpoint_brief, fetch  # HTTP stack: fetch only

    out = make_output(json, None, quiet)

    sha256 = check_sha256(sha256)
    opts = FetchOptions.from_env(token=token, offline=offline or None, cache_dir=cache_dir,
                                 sha256=sha256, retries=retries, revision=revision, connections=connections)
    with out.progress("fetching") as bar:
        reporter = _Reporter(out, bar)
        if is_store_url(source):
            from ..remote.fetch_object import fetch_object  # s3://, gs://, az://: the object-store client

            result = fetch_object(source, opts, output=output, force=force, reporter=reporter)
        else:
            result = fetch(source, opts, output=output, force=force, reporter=reporter)
    brief = checkpoint_brief(result.path)
    out.show(lambda: {**result.to_json(), "checkpoint": brief}, lambda: _render_fetched(out, result, brief))


def _render_fetched(out: Output, result: FetchResult, brief: dict[str, Any] | None) -> None:
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
