"""An http(s) checkpoint read by Range requests (`inspect URL`, a hub file of `list --acc`): the
http counterpart of the object-store reader (`remote/objstore.py`). Offline, the copy an earlier
fetch left in a cache stands in for it.
"""

from __future__ import annotations

import shlex

from ..errors import MckptError, braced
from ..fetch.cache import CacheEntry, cache_root
from ..fetch.options import FetchOptions, given_or_env
from ..io.hfhub import cached_blob
from ..io.http_source import HttpSource
from ..io.sources import ByteSource, FileSource
from ..io.urls import parse_source


def open_remote(url: str, options: FetchOptions | None = None, name: str | None = None) -> ByteSource:
    """A remote checkpoint for `read_checkpoint`: HTTP Range reads of the index and pickle only, or,
    offline (HF_HUB_OFFLINE / --offline), the cached copy from an earlier fetch (mckpt's, or
    huggingface_hub's). `name` is what errors call it (default: the URL)."""
    opts = given_or_env(options)
    if opts.offline:
        remote = parse_source(url, opts.endpoint, opts.revision)
        hit = CacheEntry(cache_root(opts.cache_dir), remote).lookup()
        if hit is not None:
            return FileSource(hit.path)
        if blob := cached_blob(remote):
            return FileSource(blob[0])
        raise MckptError("offline (HF_HUB_OFFLINE or {offline=True}) and not in the cache", path=remote.url,
                         hint=f"fetch it once with the network on: mckpt fetch {braced(shlex.quote(url))}",
                         spelled=True)
    return HttpSource(url, token=opts.token, endpoint=opts.endpoint, revision=opts.revision,
                      timeout=opts.timeout, deadline=opts.deadline, retries=min(opts.retries, 3),
                      backoff=opts.backoff, name=name)
