"""`hf://owner/repo[@rev][/folder]` (and `hf://datasets/…`) as a folder, via the hub's tree API.

`GET /api/{models|datasets}/<repo>/tree/<rev>/<folder>[?recursive=true]` answers a page of entries
(`type`, `path`, `size`, and for LFS files `lfs.oid`, the sha256) and a `Link: <…>; rel="next"`
header for the next page. Each file is then read by ranged GETs of its `resolve/` URL (an
`HttpSource`), so `list --acc` of a repo costs a few kilobytes per run. The listing is untrusted:
entries outside the folder, with `..` in their path or without a size are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from ..errors import MckptError
from ..io.http_source import HttpSource
from ..io.urls import hub_endpoint, origin
from .hub_http import get_json
from .listing import RemoteEntry, keep

MAX_PAGES = 10_000
_KINDS = ("models", "datasets")


@dataclass(frozen=True)
class HubFolderUrl:
    """A folder (or file) of a hub repo at a revision; `path` is "" for the repo's root."""

    kind: str
    repo: str
    revision: str
    path: str

    def display(self, path: str) -> str:
        """How `list` shows a file: Mammoth's `hf://owner/repo/path[@rev]`, which inspect accepts."""
        head = "datasets/" if self.kind == "datasets" else ""
        rev = "" if self.revision == "main" else f"@{self.revision}"
        return f"hf://{head}{self.repo}/{path}{rev}"

    @property
    def url(self) -> str:
        """The folder as `hf://[datasets/]owner/repo[@rev][/folder]`."""
        head = "datasets/" if self.kind == "datasets" else ""
        rev = "" if self.revision == "main" else f"@{quote(self.revision, safe='')}"
        return f"hf://{head}{self.repo}{rev}" + (f"/{self.path}" if self.path else "")

    def child(self, path: str) -> HubFolderUrl:
        return HubFolderUrl(self.kind, self.repo, self.revision, path)

    def parent(self) -> HubFolderUrl:
        return self.child(self.path.rpartition("/")[0])

    def tree_url(self, endpoint: str, recursive: bool) -> str:
        base = f"{endpoint}/api/{self.kind}/{self.repo}/tree/{quote(self.revision, safe='')}"
        path = f"/{quote(self.path)}" if self.path else ""
        return base + path + ("?recursive=true" if recursive else "")

    def resolve_url(self, endpoint: str, path: str) -> str:
        head = "datasets/" if self.kind == "datasets" else ""
        return f"{endpoint}/{head}{self.repo}/resolve/{quote(self.revision, safe='')}/{quote(path)}"


def _clean(path: str, text: str) -> str:
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise MckptError("a hub path may not contain . or .. segments", path=text)
    return "/".join(parts)


def parse_hub_folder(text: str) -> HubFolderUrl:
    """`hf://[datasets/]owner/repo[@rev][/folder]`, or with the revision last as Mammoth writes it
    (`hf://owner/repo/folder@rev`); a revision with `/` in it is written URL-quoted (refs%2Fpr%2F1)."""
    body = text.removeprefix("hf://")
    kind = "models"
    for k in _KINDS:
        if body.startswith(k + "/"):
            kind, body = k, body[len(k) + 1:]
    segs = body.split("/")
    if len(segs) < 2 or not segs[0] or not segs[1].partition("@")[0]:
        raise MckptError("not a hub folder: expected hf://owner/repo[@revision][/folder]", path=text,
                         hint="e.g. hf://loribonna/mammoth@main/checkpoints or hf://datasets/owner/name")
    name, at, rev = segs[1].partition("@")
    rest = "/".join(segs[2:])
    if not at and "@" in rest:
        rest, _, rev = rest.rpartition("@")
    return HubFolderUrl(kind, f"{segs[0]}/{name}", unquote(rev) or "main", _clean(rest, text))


def open_hub_file(where: HubFolderUrl, path: str, token: str | None, endpoint: str) -> HttpSource:
    """A repo file read by ranged GETs of its resolve/ URL, named as `list` shows it (hf://…)."""
    source = HttpSource(where.resolve_url(endpoint, path), token=token, endpoint=endpoint)
    source.name = where.display(path)
    return source


class HubFolder:
    """A repo folder listed through the tree API (token from HF_TOKEN, endpoint from HF_ENDPOINT)."""

    def __init__(self, url: HubFolderUrl, token: str | None = None, endpoint: str | None = None) -> None:
        self.where = url
        self.url = url.url
        self.token = token
        self.endpoint = hub_endpoint(endpoint)

    def tree(self, folder: HubFolderUrl, recursive: bool) -> list[dict[str, Any]]:
        """Every entry of `folder` (all pages), as the hub sent them, after checking their shape."""
        url: str | None = folder.tree_url(self.endpoint, recursive)
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            if origin(url) != origin(self.endpoint):
                raise MckptError("the hub's next-page link points to another server", path=folder.url)
            page, url = get_json(url, token=self.token, endpoint=self.endpoint, name=folder.url)
            if not isinstance(page, list) or not all(isinstance(i, dict) for i in page):
                raise MckptError("the hub's tree answer is not a list of entries", path=folder.url)
            items += page
        raise MckptError(f"the hub's tree listing has more than {MAX_PAGES} pages", path=folder.url)

    def entry(self, item: dict[str, Any], prefix: str) -> RemoteEntry | None:
        """A file item as an entry (None for folders); refuses paths outside the folder."""
        path = item.get("path")
        if item.get("type") != "file":
            return None
        lfs = item.get("lfs") if isinstance(item.get("lfs"), dict) else {}
        size = lfs.get("size", item.get("size"))
        if not isinstance(path, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise MckptError("the hub listed an entry without a path or size", path=self.url)
        if _clean(path, self.url) != path or not path.startswith(prefix):
            raise MckptError(f"the hub listed {path!r}, which is not inside the folder", path=self.url)
        oid = lfs.get("oid")
        sha = oid.lower() if isinstance(oid, str) and len(oid) == 64 else None
        shown = self.where.display(path)
        return RemoteEntry(path=shown, name=path[len(prefix):], bytes=size, sha256=sha,
                           opener=lambda: open_hub_file(self.where, path, self.token, self.endpoint))

    def entries(self, recursive: bool = False) -> list[RemoteEntry]:
        prefix = f"{self.where.path}/" if self.where.path else ""
        items = self.tree(self.where, recursive)
        if not recursive and any(i.get("type") == "directory" and i.get("path") == f"{prefix}paused"
                                 for i in items):
            items += self.tree(self.where.child(f"{prefix}paused"), False)
        found = [e for i in items if (e := self.entry(i, prefix)) is not None]
        return sorted((e for e in found if keep(e.name, recursive)), key=lambda e: e.name)
