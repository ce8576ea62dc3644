"""Remote stores: `s3://`, `gs://`, `az://` object stores and `hf://` repo folders, read by ranged
requests. Only this module is imported by commands that may meet a remote path; it tells one from a
local path without importing obstore or any HTTP module (those load when a remote path is used).
"""

from __future__ import annotations

STORE_SCHEMES = ("s3://", "gs://", "az://")


def is_store_url(text: str) -> bool:
    """An object-store URL (`s3://`, `gs://`, `az://`)."""
    return text.startswith(STORE_SCHEMES)


def is_remote(text: str) -> bool:
    """Anything `list`, `inspect` and `diff` read remotely: object stores, hf://, http(s)://."""
    return text.startswith((*STORE_SCHEMES, "hf://", "http://", "https://"))
