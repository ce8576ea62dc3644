"""Opening the checkpoint a user named, wherever it is: the step after `locate.resolve`.

`locate.resolve` decides which file a path, run folder, run uid or URL stands for; this module
opens it. Local files are read in place; a URL is read through ranged requests (only the
index and the pickle, as `inspect` does; an object store or hub folder of one run, or a run uid in
one, stands for the run's newest file), or, for operations that need the whole file on disk
(`convert`, `load`), fetched once into the cache. The HTTP and obstore modules are imported only for URLs,
so local reads start without them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..domain.checkpoint import Checkpoint, read_checkpoint
from ..domain.vocabulary import CHECKPOINTS_DIR
from ..errors import UsageError
from .resolve import RemoteRuns, Resolved, resolve_checkpoint

if TYPE_CHECKING:
    from pathlib import Path

    from ..fetch.options import FetchOptions
    from ..io.sources import ByteSource


def resolve(spec: str, *, revision: str | None = None, search: Sequence[str | Path] = (CHECKPOINTS_DIR,),
            remote_runs: RemoteRuns | None = None) -> Resolved:
    """`resolve_checkpoint`, refusing a `revision` for what is not a URL (it would be ignored)."""
    resolved = resolve_checkpoint(spec, search, remote_runs=remote_runs)
    if revision is not None and not resolved.remote:
        raise UsageError("applies to hf:// and hub URLs, not to a local file", path=spec, param="revision")
    return resolved


def open_source(resolved: Resolved, *, revision: str | None = None,
                options: FetchOptions | None = None) -> str | ByteSource:
    """What `read_checkpoint` reads for `resolved`: its path, or ranged reads of its URL (a remote
    file, a remote folder of one run, or a run uid in a remote folder); a source is the caller's
    to close."""
    if not resolved.remote:
        return resolved.path
    from .remote import open_checkpoint_source  # only remote reads pay for obstore / the HTTP modules

    return open_checkpoint_source(resolved.path, options, revision=revision)


def read(spec: str, *, revision: str | None = None, search: Sequence[str | Path] = (CHECKPOINTS_DIR,),
         options: FetchOptions | None = None, keep_open: bool = False) -> Checkpoint:
    """The checkpoint `spec` names (file, run folder, run uid or URL), read without torch.

    Its file (or connection) is closed before returning unless `keep_open` (for streaming its
    tensors next; close the checkpoint when done, which closes the source too)."""
    source = open_source(resolve(spec, revision=revision, search=search), revision=revision, options=options)
    if isinstance(source, str):
        return read_checkpoint(source, keep_open=keep_open)
    try:
        ck = read_checkpoint(source)
    except BaseException:
        source.close()
        raise
    if not keep_open:
        source.close()
    return ck


def local_copy(resolved: Resolved, *, revision: str | None = None, options: FetchOptions | None = None) -> Resolved:
    """`resolved` as a file on this disk: itself, or for a URL its copy in the fetch cache
    (downloaded once, resumed if interrupted, reused afterwards)."""
    if not resolved.remote:
        return resolved
    from ..fetch.options import given_or_env
    from ..remote import is_store_url

    if is_store_url(resolved.path):
        from ..remote.fetch_object import fetch_object  # s3://, gs://, az://: the object-store client

        got = fetch_object(resolved.path, given_or_env(options, revision))
    else:
        from ..fetch.download import fetch

        got = fetch(resolved.path, given_or_env(options, revision))
    return Resolved(got.path, f"{resolved.chosen_by}, fetched into the cache")
