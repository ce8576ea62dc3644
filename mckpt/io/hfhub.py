"""What mckpt shares with huggingface_hub on disk: the saved token and the hub's download cache.

Users of the `hf` CLI already ran `hf auth login` and already downloaded files with
huggingface_hub; mckpt finds both where huggingface_hub puts them, so neither is asked for twice.
The cache layout (HF_HUB_CACHE, else $HF_HOME/hub; HF_HOME is $XDG_CACHE_HOME/huggingface, else
~/.cache/huggingface, by default)::

    models--owner--repo/blobs/<sha256 for LFS files, git blob id otherwise>
    models--owner--repo/snapshots/<commit>/<path>   symlink into blobs/
    models--owner--repo/refs/<revision>             the commit the revision named when last fetched

Datasets and spaces use `datasets--` and `spaces--`. A blob is trusted only after its sha256 is
checked, whatever its name says.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from ..choices import is_sha256
from .urls import Remote

_COMMIT = re.compile(r"[0-9a-f]{40}")


def _env_path(name: str) -> Path | None:
    """A folder or file named by an environment variable, `~` and `$VARS` expanded as huggingface_hub
    does; None when the variable is unset or empty."""
    value = os.environ.get(name)
    return Path(os.path.expanduser(os.path.expandvars(value))) if value else None


def xdg_cache_home() -> Path:
    """The user's cache folder: $XDG_CACHE_HOME, else ~/.cache (mckpt's cache and the hub's live there)."""
    return Path(os.path.expanduser(os.environ.get("XDG_CACHE_HOME") or "~/.cache"))


def hf_home() -> Path:
    """Where huggingface_hub keeps its token and cache (its `constants.HF_HOME`): $HF_HOME, else
    $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. A user who moved their caches with
    XDG_CACHE_HOME logged in there; ~/.cache would be another user's (or nobody's) token."""
    return _env_path("HF_HOME") or xdg_cache_home() / "huggingface"


def hub_token() -> str | None:
    """HF_TOKEN, else the token file `hf auth login` wrote ($HF_TOKEN_PATH, else $HF_HOME/token)."""
    if token := os.environ.get("HF_TOKEN", "").strip():
        return token
    path = _env_path("HF_TOKEN_PATH") or hf_home() / "token"
    try:
        token = path.read_text(errors="replace").strip()
    except OSError:
        return None
    return token or None


def hub_cache() -> Path:
    """HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE (its older name), else $HF_HOME/hub."""
    return _env_path("HF_HUB_CACHE") or _env_path("HUGGINGFACE_HUB_CACHE") or hf_home() / "hub"


def _repo_dir(remote: Remote) -> Path | None:
    if not remote.repo:
        return None
    return hub_cache() / f"{remote.repo_type}s--{remote.repo.replace('/', '--')}"


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def cached_blob(remote: Remote, sha256: str | None = None) -> tuple[Path, str] | None:
    """(path, sha256) of this hub file in the huggingface_hub cache, if present and intact.

    With `sha256` (the hub's X-Linked-Etag) the blob of that name is looked up; without it, the
    snapshot of the revision (a commit, or what refs/<revision> names) — usable offline.
    """
    repo = _repo_dir(remote)
    if repo is None or not repo.is_dir():
        return None
    if sha256:
        blob = repo / "blobs" / sha256
    else:
        rev = remote.revision or "main"
        if not _COMMIT.fullmatch(rev):
            try:
                rev = (repo / "refs" / rev).read_text().strip()
            except OSError:
                return None
            if not _COMMIT.fullmatch(rev):
                return None
        blob = repo / "snapshots" / rev / (remote.path or "")
    try:
        real = blob.resolve(strict=True)
        if not real.is_file() or not real.is_relative_to(repo.resolve()):
            return None
        name = real.name
        if not is_sha256(name) or (sha256 and name != sha256):
            return None  # a small non-LFS file is named by its git hash: nothing to check it against
        return (real, name) if file_sha256(real) == name else None
    except (OSError, RuntimeError):
        return None
