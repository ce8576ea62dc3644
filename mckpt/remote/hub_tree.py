"""`hf://owner/repo[@rev][/folder]` (and `hf://datasets/…`, `hf://spaces/…`) as a folder, via the hub's tree API.

`GET /api/{models|datasets|spaces}/<repo>/tree/<rev>/<folder>[?recursive=true]` answers a page of entries
(`type`, `path`, `size`, and for LFS files `lfs.oid`, the sha256) and a `Link: <…>; rel="next"`
header for the next page (followed by `hub_api.hub_json_pages`). Each file is then read by ranged
GETs of its `resolve/` URL (`open_remote`), so `list --acc` of a repo costs a few kilobytes per run.
The listing is untrusted: entries outside the folder, with `..` in their path or without a size are
refused. Its cost is bounded too: a page is at most PAGE_BYTES and PAGE_VALUES JSON values (counted
before parsing: a 24 MiB page of `[{},{},…]` made `list` peak at 731 MiB), each page is turned
into entries and dropped before the next is read, and a listing holds at most MAX_ENTRIES items.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from ..errors import MckptError
from ..io.hub_api import hub_json_pages
from ..io.sources import ByteSource
from ..io.urls import REPO_TYPES, hub_endpoint, repo_prefix
from .listing import RemoteEntry, keep

if TYPE_CHECKING:
    from ..fetch.options import FetchOptions

MAX_PAGES = 10_000
PAGE_BYTES = 8 << 20  # the hub's pages hold 1,000 entries: ~300 KiB
PAGE_VALUES = 100_000  # JSON values on a page (an entry has ~12): ~10 MiB of Python objects at most
MAX_ENTRIES = 1_000_000  # items in one listing, over all its pages


@dataclass(frozen=True)
class HubFolderUrl:
    """A folder (or file) of a hub repo at a revision; `path` is "" for the repo's root."""

    repo_type: str  # "model", "dataset" or "space", as `Remote.repo_type`
    repo: str
    revision: str
    path: str

    def display(self, path: str) -> str:
        """How `list` shows a file: `hf://owner/repo[@rev]/path`, which inspect accepts. The revision
        goes before the path (not last, as Mammoth writes it) so the path still ends in the file name
        that says which run it belongs to."""
        return self.child(path).url

    @property
    def url(self) -> str:
        """The folder as `hf://[datasets/|spaces/]owner/repo[@rev][/folder]`."""
        rev = "" if self.revision == "main" else f"@{quote(self.revision, safe='')}"
        return f"hf://{repo_prefix(self.repo_type)}{self.repo}{rev}" + (f"/{self.path}" if self.path else "")

    def child(self, path: str) -> HubFolderUrl:
        return HubFolderUrl(self.repo_type, self.repo, self.revision, path)

    def parent(self) -> HubFolderUrl:
        return self.child(self.path.rpartition("/")[0])

    def tree_path(self) -> str:
        """The tree API's path for this folder, relative to the hub endpoint."""
        path = f"/{quote(self.path)}" if self.path else ""
        return f"api/{self.repo_type}s/{self.repo}/tree/{quote(self.revision, safe='')}{path}"

    def resolve_url(self, endpoint: str, path: str) -> str:
        rev = quote(self.revision, safe="")
        return f"{endpoint}/{repo_prefix(self.repo_type)}{self.repo}/resolve/{rev}/{quote(path)}"


def _clean(path: str, text: str) -> str:
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise MckptError("a hub path may not contain . or .. segments", path=text)
    return "/".join(parts)


def parse_hub_folder(text: str, revision: str | None = None) -> HubFolderUrl:
    """`hf://[datasets/|spaces/]owner/repo[@rev][/folder]`, or with the revision last as Mammoth writes
    it (`hf://owner/repo/folder@rev`); a revision with `/` in it is written URL-quoted (refs%2Fpr%2F1).
    `revision` (the `--revision` flag) applies when the URL names none, and must agree when it does."""
    body = text.removeprefix("hf://")
    first, _, rest = body.partition("/")
    repo_type = REPO_TYPES.get(first, "model")
    if repo_type != "model":
        body = rest
    segs = body.split("/")
    if len(segs) < 2 or not segs[0] or not segs[1].partition("@")[0]:
        raise MckptError("not a hub folder: expected hf://owner/repo[@revision][/folder]", path=text,
                         hint="e.g. hf://loribonna/mammoth@main/checkpoints or hf://datasets/owner/name")
    name, at, rev = segs[1].partition("@")
    rest = "/".join(segs[2:])
    if not at and "@" in rest:
        rest, _, rev = rest.rpartition("@")
    given = unquote(rev)
    if revision and given and given != revision:
        raise MckptError(f"says {revision!r}, and the URL names revision {given!r}", path=text, param="revision",
                         hint="give the revision once")
    return HubFolderUrl(repo_type, f"{segs[0]}/{name}", revision or given or "main", _clean(rest, text))


def open_hub_file(where: HubFolderUrl, path: str, options: FetchOptions) -> ByteSource:
    """A repo file read by ranged GETs of its resolve/ URL (or its cached copy offline), named in
    errors as `list` shows it (hf://…)."""
    from .http_file import open_remote

    opts = dataclasses.replace(options, revision=None)  # the resolve URL names the folder's revision
    return open_remote(where.resolve_url(hub_endpoint(opts.endpoint), path), opts, name=where.display(path))


class HubFolder:
    """A repo folder listed through the tree API, with the token and endpoint of `options`
    (HF_TOKEN or the `hf auth login` token file, HF_ENDPOINT)."""

    def __init__(self, url: HubFolderUrl, options: FetchOptions) -> None:
        self.where = url
        self.url = url.url
        self.options = options

    def tree(self, folder: HubFolderUrl, recursive: bool) -> Iterator[dict[str, Any]]:
        """Every entry of `folder` as the hub sent it, page by page (one page in memory at a time),
        after checking its shape and the listing's size."""
        opts = self.options
        count = 0
        try:
            for page in hub_json_pages(folder.tree_path(), params={"recursive": "true"} if recursive else None,
                                       endpoint=opts.endpoint, token=opts.token, deadline=opts.deadline,
                                       max_pages=MAX_PAGES, limit=PAGE_BYTES, max_values=PAGE_VALUES):
                if not isinstance(page, list) or not all(isinstance(i, dict) for i in page):
                    raise MckptError("the hub's tree answer is not a list of entries", path=folder.url)
                count += len(page)
                if count > MAX_ENTRIES:
                    raise MckptError(f"the hub lists more than {MAX_ENTRIES} entries here", path=folder.url,
                                     hint="list a sub-folder")
                yield from page
        except MckptError as e:
            e.path = folder.url  # name the folder the user gave, not the API URL behind it
            raise

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
                           opener=lambda: open_hub_file(self.where, path, self.options))

    def entries(self, recursive: bool = False) -> list[RemoteEntry]:
        prefix = f"{self.where.path}/" if self.where.path else ""
        found: list[RemoteEntry] = []
        paused = False
        for i in self.tree(self.where, recursive):
            paused |= not recursive and i.get("type") == "directory" and i.get("path") == f"{prefix}paused"
            if (e := self.entry(i, prefix)) is not None and keep(e.name, recursive):
                found.append(e)
        if paused:
            found += [e for i in self.tree(self.where.child(f"{prefix}paused"), False)
                      if (e := self.entry(i, prefix)) is not None and keep(e.name, recursive)]
        return sorted(found, key=lambda e: e.name)

    def files(self) -> list[RemoteEntry]:
        """Every file below the folder, unfiltered (results logs sit folders down)."""
        prefix = f"{self.where.path}/" if self.where.path else ""
        found = [e for i in self.tree(self.where, True) if (e := self.entry(i, prefix)) is not None]
        return sorted(found, key=lambda e: e.name)
