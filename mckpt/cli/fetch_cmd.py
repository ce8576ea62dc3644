"""`mckpt fetch`: download a checkpoint from the hub or any http(s) URL, resumably and verified."""

from __future__ import annotations

from typing import Annotated

import typer

from .bodies import fetch_file
from .common import CacheDirOpt, JsonOpt, QuietOpt, add_command, examples, handle_errors, shown_as


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
    cache_dir: CacheDirOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a different existing file at -o.")] = False,
    retries: Annotated[int, typer.Option("--retries", metavar="N", min=0,
                                         help="Retries on dropped connections and 5xx.")] = 5,
    connections: Annotated[int | None, typer.Option(
        "--connections", metavar="N", min=1, max=64,
        help="Ranged connections for files of 64 MiB or more, from the start (1: a single stream). "
             "Default: one stream, joined by 8 ranged connections when it runs below 200 MB/s.")] = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Download a file into the cache: resumes, verifies sha256, never leaves half a file."""
    return fetch_file(source, output=output, sha256=sha256, revision=revision, token=token, offline=offline,
                      cache_dir=cache_dir, force=force, retries=retries, connections=connections, json=json,
                      quiet=quiet)


def register(app: typer.Typer) -> None:
    add_command(app, "fetch", fetch_command, epilog=examples(
        "mckpt fetch hf://owner/repo/er_seq-cifar10_..._1.pt -o checkpoints/",
        "mckpt fetch https://example.org/run_4.pt --sha256 HEX",
    ))
