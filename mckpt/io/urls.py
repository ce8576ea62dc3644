"""What a fetch URL names: the hub repo, revision and path, or a plain http(s) file.

Users paste three spellings of one hub file (`resolve/`, the `blob/` page they copied from the
browser, Mammoth's `hf://owner/repo/path@rev`), so they are all reduced to one `Remote` whose `key`
is the same for each: the cache then finds a file however it was asked for. The local file name is
derived here too, and only here, so nothing from a URL can name a path outside the target folder.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, unquote, urlsplit

from ..errors import MckptError

DEFAULT_ENDPOINT = "https://huggingface.co"
_COMMIT = re.compile(r"[0-9a-f]{40}")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")
MAX_NAME = 200


@dataclass(frozen=True)
class Remote:
    """One remote file. `repo`/`revision`/`path` are set for hub files only."""

    url: str  # what is requested first (the hub's `resolve` URL, or the URL as given)
    filename: str  # safe local file name
    key: str  # the source without its revision: the same for every spelling of one file
    repo: str | None = None
    revision: str | None = None
    path: str | None = None
    repo_type: str = "model"  # "model", "dataset" or "space" (hub files only)

    @property
    def pinned(self) -> bool:
        """A full commit hash never changes, so a cached copy is valid without asking the server."""
        return self.revision is not None and bool(_COMMIT.fullmatch(self.revision))


def hub_endpoint(endpoint: str | None = None) -> str:
    """The hub's base URL: the argument, else HF_ENDPOINT, else huggingface.co."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port): the unit a credential is scoped to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def safe_filename(name: str, default: str = "download") -> str:
    """A single path component that cannot escape a folder or hide (`..`, `/`, NUL, `C:`)."""
    name = unicodedata.normalize("NFC", unquote(name))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip().lstrip(".")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        name = stem[: MAX_NAME - len(ext) - 1] + dot + ext if dot and len(ext) < 16 else name[:MAX_NAME]
    return name or default


# The hub's URL prefix of each repo type: `datasets/owner/repo`, `spaces/owner/repo`, `owner/repo`.
REPO_TYPES = {"datasets": "dataset", "spaces": "space"}


def repo_prefix(repo_type: str) -> str:
    """The path segment before owner/repo in hub URLs (empty for models)."""
    return "" if repo_type == "model" else f"{repo_type}s/"


def _hub(repo: str, revision: str, path: str, endpoint: str, repo_type: str = "model") -> Remote:
    parts = [p for p in path.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts) or repo.count("/") != 1 or "" in repo.split("/"):
        raise MckptError("not a hub file: expected owner/repo and a file path",
                         path=f"{repo}/{path}", hint="e.g. hf://loribonna/mammoth/backbone.pt@main, "
                                                     "hf://datasets/owner/repo/file.pt")
    clean = "/".join(parts)
    base = f"{endpoint}/{repo_prefix(repo_type)}{repo}"
    url = f"{base}/resolve/{quote(revision, safe='')}/{quote(clean)}"
    return Remote(url=url, filename=safe_filename(parts[-1]), key=f"{base}/{clean}",
                  repo=repo, revision=revision, path=clean, repo_type=repo_type)


def _with_revision(given: str | None, flag: str | None, text: str) -> str:
    """The URL's revision and `--revision` must agree when both are given."""
    if flag and given and given != flag:
        raise MckptError(f"says {flag!r}, and the URL names revision {given!r}", path=text, param="revision",
                         hint="give the revision once")
    return flag or given or "main"


def parse_source(text: str, endpoint: str | None = None, revision: str | None = None) -> Remote:
    """Parse `hf://[datasets/|spaces/]owner/repo/path[@rev]`, a hub `resolve/` or `blob/` URL, or
    any http(s) URL; `revision` (the `--revision` flag) applies to hub files only."""
    base = hub_endpoint(endpoint)
    if text.startswith("hf://"):
        body, at, rev = text[5:].rpartition("@")  # Mammoth's grammar: the revision comes last
        if not at:
            body, rev = text[5:], ""
        first, _, rest = body.partition("/")
        repo_type = REPO_TYPES.get(first, "model")
        if repo_type != "model":
            body = rest
        owner, _, rest = body.partition("/")
        name, _, path = rest.partition("/")
        return _hub(f"{owner}/{name}", _with_revision(rev, revision, text), path, base, repo_type)
    try:
        parts = urlsplit(text)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname) and origin(text) is not None
    except ValueError:  # a malformed host or port ("http://[::1", "http://h:99999")
        ok = False
    if not ok:
        raise MckptError("not a URL mckpt can fetch", path=text,
                         hint="use https://…, http://… or hf://owner/repo/path@revision")
    if parts.username or parts.password:
        raise MckptError("a URL with a user name or password is not supported (it would be printed and "
                         "cached)", path=f"{parts.scheme}://…@{parts.hostname}",
                         hint="for the Hugging Face hub, use HF_TOKEN or {token}", spelled=True)
    if origin(text) == origin(base):
        prefix = urlsplit(base).path.rstrip("/")
        # Split first, then unquote each segment: a revision like refs%2Fpr%2F1 is one segment.
        segs = [unquote(s) for s in parts.path[len(prefix):].lstrip("/").split("/")]
        repo_type = REPO_TYPES.get(segs[0], "model")
        if repo_type != "model":
            segs = segs[1:]
        if len(segs) >= 5 and segs[2] in ("resolve", "blob"):
            return _hub(f"{segs[0]}/{segs[1]}", _with_revision(segs[3], revision, text), "/".join(segs[4:]),
                        base, repo_type)
    if revision:
        raise MckptError("applies to hf:// and hub URLs only", path=text, param="revision",
                         hint="use hf://owner/repo/path or a hub URL")
    key = text.split("#", 1)[0]
    return Remote(url=key, filename=safe_filename(parts.path), key=key)


UrlKind = Literal["http", "hf", "store"]
URL_KINDS: dict[str, UrlKind] = {"http://": "http", "https://": "http", "hf://": "hf",
                                 "s3://": "store", "gs://": "store", "az://": "store"}


def url_kind(text: str) -> UrlKind | None:
    """What kind of URL `text` is, the one place a URL is told from a local path: `http` (any
    http(s) server, a hub `resolve/`/`blob/` URL included), `hf` (`hf://` repo files and folders),
    `store` (`s3://`, `gs://`, `az://` object stores), or None for a local path (`./s3:/x` too)."""
    for scheme, kind in URL_KINDS.items():
        if text.startswith(scheme):
            return kind
    return None
