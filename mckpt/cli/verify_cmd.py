"""`mckpt verify`: read every byte of checkpoints and check all their format allows."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..choices import check_sha256
from .common import JsonOpt, QuietOpt, RecursiveOpt, TimeoutOpt, add_command, examples, handle_errors, shown_as
from .outcome import make_output

if TYPE_CHECKING:
    from ..verify import Verdict


def _known_checksums(cache_dir: str | None) -> Any:
    """A lookup of the checksum `fetch` recorded for a local file hard-linked out of the cache."""
    from ..fetch.cache import cache_root, checksums_by_inode

    by_inode = checksums_by_inode(cache_root(cache_dir))

    def known(path: str) -> tuple[str, str] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return by_inode.get((st.st_dev, st.st_ino))

    return known


@handle_errors
def verify_command(
    targets: Annotated[list[str], typer.Argument(
        metavar="FILE|FOLDER|URL...", parser=shown_as("file|run|url"),
        help="Checkpoints, folders of them, run uids (the newest file), or URLs (http(s)://, hf://, s3://, gs://, "
             "az://).")],
    sha256: Annotated[str | None, typer.Option(
        "--sha256", metavar="HEX", help="The sha256 the file must have (one file).")] = None,
    recursive: RecursiveOpt = False,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", metavar="N", min=1, help="Files verified at once (default: up to 4, one per core).")] = None,
    cache_dir: Annotated[str | None, typer.Option(
        "--cache-dir", metavar="DIR", help="Where fetched files' checksums are recorded (default: the cache).")] = None,
    timeout: TimeoutOpt = 30.0,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Read every byte of checkpoints and check all their format allows; exit 1 if any fails.

    A folder without checkpoints is said on stderr; with -q, nothing verified exits 1 (like grep -q).

    Checked: zip records' CRC-32 and sizes, the index against the local headers, every tensor
    view inside its storage, the pickle with the safe reader, and a sha256 when one is known.
    """
    from ..verify import collect_targets, verify_all
    from ..view.render_hygiene import render_verdict, render_verify_summary
    from .bodies import remote_options

    sha256 = check_sha256(sha256)
    skipped: list[str] = []
    empty: list[str] = []
    todo = collect_targets(targets, recursive=recursive, sha256=sha256, known=_known_checksums(cache_dir),
                           skipped=skipped, empty=empty)
    out = make_output(json, None, quiet)
    for line in skipped:
        out.warning(line)
    for folder in empty:
        out.warning(f"{folder}: no .pt file to verify in this folder{'' if recursive else ' (-r looks below it)'}")
    t0 = time.perf_counter()
    remote: dict[str, Any] = {}
    if options := remote_options([t.spec for t in todo if t.url], None, timeout):
        from functools import partial

        from ..locate.remote import open_checkpoint_source

        remote["open_remote"] = partial(open_checkpoint_source, options=options)  # each read within --timeout

    def done(v: Verdict) -> None:
        if not json:
            render_verdict(out, v)  # printed above the bar while one is drawn

    with out.progress(f"verifying {len(todo)} file(s)", _total_bytes(todo)) as bar:
        verdicts = verify_all(todo, workers=jobs, progress=bar, on_done=done, **remote)
    failed = [v for v in verdicts if not v.ok]
    out.show(lambda: {"files": [v.to_json() for v in verdicts],
                      "total": {"files": len(verdicts), "ok": len(verdicts) - len(failed), "failed": len(failed),
                                "bytes": sum(v.size for v in verdicts)}},
             lambda: render_verify_summary(out, verdicts, time.perf_counter() - t0))
    if failed or (quiet and not verdicts):
        raise typer.Exit(1)  # a file failed; or, with -q, nothing was verified (like grep -q)


def _total_bytes(todo: list[Any]) -> int | None:
    """The bytes the bar counts to: known when every target is a local file (a URL's size is known
    once it is opened)."""
    local = [os.path.getsize(t.spec) for t in todo if not t.url and os.path.isfile(t.spec)]
    return sum(local) if len(local) == len(todo) else None


def register(app: typer.Typer) -> None:
    add_command(app, "verify", verify_command, epilog=examples(
        "mckpt verify checkpoints/ -r",
        "mckpt verify model.pt --sha256 HEX",
    ))
