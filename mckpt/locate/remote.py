"""What a remote path stands for: a folder to list, or one checkpoint to read.

`list` turns `s3://…`/`gs://…`/`az://…` prefixes and `hf://` repo folders into runs with the same
grouping as local folders (names from the listing alone). `inspect` and `diff` take a remote file,
a remote folder holding one run, or a run uid in a remote folder (`s3://b/checkpoints/9a164106`),
like their local counterparts; a run stands for its newest checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..domain.runs import ListedFile, Listing, group_files, local_files
from ..errors import MckptError, NotFound
from ..io.progress import Progress
from ..io.sources import ByteSource
from ..remote import is_remote, is_store_url
from ..remote.listing import RemoteEntry, RemoteFolder
from .resolve import list_hint, match_runs, single_run

if TYPE_CHECKING:
    from ..fetch.options import FetchOptions

ACC_WORKERS = 16  # concurrent reads for `list --acc`: enough to hide round trips, few enough for a lab server


def open_folder(url: str, options: FetchOptions | None = None) -> RemoteFolder:
    """The folder a remote URL names (an object-store prefix or a hub repo folder); `options`
    (default: from the environment) give the hub's token, endpoint and revision."""
    if is_store_url(url):
        from ..remote.objstore import ObjectFolder, parse_object_url

        return ObjectFolder(parse_object_url(url))
    if url.startswith("hf://"):
        from ..fetch.options import given_or_env  # the hub's token and endpoint: not for a store
        from ..remote.hub_tree import HubFolder, parse_hub_folder

        opts = given_or_env(options)
        if opts.offline:
            raise MckptError("offline (HF_HUB_OFFLINE): a hub folder cannot be listed", path=url)
        return HubFolder(parse_hub_folder(url, opts.revision), opts)
    raise MckptError("cannot list this URL: only s3://, gs://, az:// and hf:// folders can be listed", path=url,
                     hint="`mckpt inspect URL` reads one remote file")


def list_paths(paths: Iterable[str], recursive: bool = False, acc: bool = False,
               progress: Progress | None = None, options: FetchOptions | None = None
               ) -> tuple[Listing, list[str], list[RemoteEntry]]:
    """The runs under remote folders (and any local ones given with them), grouped as for local
    folders, and the results logs in Mammoth's layout under them (local paths, store entries) for
    `run_sources.add_log_runs`. A store folder costs one listing of everything below it (logs sit
    folders down); with `acc` the newest files are read ACC_WORKERS at a time. `options` as for
    `open_folder` (the hub's token, endpoint and each read's deadline)."""
    from .run_sources import split_targets, store_files

    files: list[ListedFile] = []
    local_logs: list[str] = []
    remote_logs: list[RemoteEntry] = []
    for path in paths:
        if is_remote(path):
            checkpoints, logs = store_files(path, recursive, options)
            files += checkpoints
            remote_logs += logs
        else:
            found = split_targets([path], recursive)
            files += local_files(found.checkpoints, recursive)
            local_logs += found.logs
    return group_files(files, acc=acc, workers=ACC_WORKERS, progress=progress), local_logs, remote_logs


def open_checkpoint_source(spec: str, options: FetchOptions | None = None, *,
                           revision: str | None = None) -> ByteSource:
    """A ByteSource for the checkpoint a remote `spec` names: a file, a folder of one run, or a run
    uid (or unique uid prefix) in the folder above it. `options.revision` (`--revision`) applies
    to hub files and folders only. An object store needs none of the options: they are read from
    the environment (`options`, else with `revision`) only for the hub and http(s)."""
    if is_store_url(spec):
        if (options.revision if options else revision) is not None:
            raise MckptError("applies to hf:// and hub URLs, not to an object store", path=spec, param="revision")
        from ..remote.objstore import ObjectFolder, ObjectSource, parse_object_url

        u = parse_object_url(spec)
        if u.key and not u.key.endswith("/"):
            try:
                return ObjectSource(u)
            except NotFound:
                pass  # a folder or a run uid, then
        folder_key = u.key if not u.key or u.key.endswith("/") else u.key + "/"
        here: RemoteFolder = ObjectFolder(u.child(folder_key))
        parent: RemoteFolder | None = ObjectFolder(u.child(u.key.rstrip("/").rpartition("/")[0] + "/")) \
            if u.key.strip("/") else None
        name = u.key.rstrip("/").rpartition("/")[2]
    elif spec.startswith("hf://"):
        from ..fetch.options import given_or_env
        from ..remote.hub_tree import HubFolder, open_hub_file, parse_hub_folder

        opts = given_or_env(options, revision)
        where = parse_hub_folder(spec, opts.revision)
        if where.path.endswith(".pt"):
            return open_hub_file(where, where.path, opts)
        if opts.offline:
            raise MckptError("offline (HF_HUB_OFFLINE): a hub folder cannot be listed", path=spec)
        here = HubFolder(where, opts)
        parent = HubFolder(where.parent(), opts) if where.path else None
        name = where.path.rpartition("/")[2]
    else:
        from ..fetch.options import given_or_env
        from ..remote.http_file import open_remote  # http(s): the HTTP stack, for this read only

        return open_remote(spec, given_or_env(options, revision))
    return _resolve_in(here, parent, name, spec)


def _resolve_in(here: RemoteFolder, parent: RemoteFolder | None, name: str, spec: str) -> ByteSource:
    try:
        runs = group_files(here.entries()).runs
    except NotFound:
        if parent is None:
            raise
        runs = []
    if runs:
        return _open(single_run(runs, here.url, [here.url]).newest.listed)
    if parent is not None:
        matches = match_runs(group_files(parent.entries()).runs, name)
        if matches:
            return _open(single_run(matches, f"uid {name}", [parent.url]).newest.listed)
    raise MckptError("no such remote file, folder or run uid", path=spec,
                     hint="give a .pt object, a folder of one run, or a run uid in a folder "
                          f"(see {list_hint([(parent or here).url])})")


def _open(listed: object) -> ByteSource:
    if not isinstance(listed, RemoteEntry):
        raise AssertionError("a remote run's files are remote entries")
    return listed.open()
