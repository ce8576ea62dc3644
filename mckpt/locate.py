"""Opening the checkpoint a user named, wherever it is: the step after `model.resolve`.

`model.resolve` decides which file a path, run folder, run uid or URL stands for; this module
opens it. Local files are read in place; a URL is read through HTTP Range requests (only the
index and the pickle, as `inspect` does), or, for operations that need the whole file on disk
(`convert`, `load`), fetched once into the cache. The HTTP modules are imported only for URLs,
so local reads start without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UsageError
from .model.checkpoint import Checkpoint, read_checkpoint
from .model.resolve import RemoteRuns, Resolved, resolve_checkpoint
from .model.vocabulary import CHECKPOINTS_DIR

if TYPE_CHECKING:
    from .fetch.download import FetchOptions
    from .io.sources import ByteSource


def resolve(spec: str, *, revision: str | None = None, search: Sequence[str | Path] = (CHECKPOINTS_DIR,),
            remote_runs: RemoteRuns | None = None) -> Resolved:
    """`resolve_checkpoint`, refusing a `revision` for what is not a URL (it would be ignored)."""
    resolved = resolve_checkpoint(spec, search, remote_runs=remote_runs)
    if revision is not None and not resolved.remote:
        raise UsageError("a revision applies to hf:// and hub URLs, not to a local file", path=spec)
    return resolved


def _options(revision: str | None, options: FetchOptions | None) -> FetchOptions:
    from .fetch.download import FetchOptions

    return options or FetchOptions.from_env(revision=revision)


def open_source(resolved: Resolved, *, revision: str | None = None,
                options: FetchOptions | None = None) -> str | ByteSource:
    """What `read_checkpoint` reads for `resolved`: its path, or ranged reads of its URL."""
    if not resolved.remote:
        return resolved.path
    from .fetch.download import open_remote  # only remote reads pay for the HTTP modules

    return open_remote(resolved.path, _options(revision, options))


def read(spec: str, *, revision: str | None = None, search: Sequence[str | Path] = (CHECKPOINTS_DIR,),
         options: FetchOptions | None = None) -> Checkpoint:
    """The checkpoint `spec` names (file, run folder, run uid or URL), read without torch."""
    return read_checkpoint(open_source(resolve(spec, revision=revision, search=search),
                                       revision=revision, options=options))


def local_copy(resolved: Resolved, *, revision: str | None = None, options: FetchOptions | None = None) -> Resolved:
    """`resolved` as a file on this disk: itself, or for a URL its copy in the fetch cache
    (downloaded once, resumed if interrupted, reused afterwards)."""
    if not resolved.remote:
        return resolved
    from .fetch.download import fetch

    got = fetch(resolved.path, _options(revision, options))
    return Resolved(got.path, f"{resolved.chosen_by}, fetched into the cache")
