"""Remote stores: `s3://`, `gs://`, `az://` object stores and `hf://` repo folders, read by ranged
requests. Only this module is imported by commands that may meet a remote path; it tells one from a
local path (by `io.urls.url_kind`) without importing obstore or any HTTP module (those load when a
remote path is used).
"""

from __future__ import annotations

from ..io.urls import url_kind


def is_store_url(text: str) -> bool:
    """An object-store URL (`s3://`, `gs://`, `az://`)."""
    return url_kind(text) == "store"


def is_remote(text: str) -> bool:
    """Anything `list`, `inspect` and `diff` read remotely: object stores, hf://, http(s)://."""
    return url_kind(text) is not None
