"""Where `push` sends a run: a hub repo (`hf://[datasets/]owner/repo[/folder][@revision]`) or an
object-store prefix (`s3://`, `gs://`, `az://bucket/prefix`).

Parsed once, here, into a :class:`Destination` that names each remote file and the URL that
fetches it back, so the card's commands and the `--json` result are built from one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from ..errors import MckptError, UsageError
from ..io.urls import REPO_TYPES, hub_endpoint, repo_prefix
from ..remote import is_store_url

HINT = "give hf://owner/repo[/folder][@revision] or s3://bucket/prefix (gs://, az:// too)"


@dataclass(frozen=True)
class Destination:
    """A hub repo folder or a store prefix; `folder` is '' or ends in '/'."""

    kind: str  # "hub" or "store"
    text: str  # as the user gave it
    folder: str
    repo: str = ""  # hub: owner/repo
    repo_type: str = "model"
    revision: str = "main"
    scheme: str = ""  # store: s3, gs, az
    bucket: str = ""

    def path(self, name: str) -> str:
        """The remote path of file `name` (in the repo, or the object key)."""
        return self.folder + name

    def fetch_url(self, name: str) -> str:
        """What `mckpt fetch` takes to get file `name` back."""
        if self.kind == "store":
            return f"{self.scheme}://{self.bucket}/{self.path(name)}"
        kind = "" if self.repo_type == "model" else f"{self.repo_type}s/"
        rev = "" if self.revision == "main" else f"@{self.revision}"
        return f"hf://{kind}{self.repo}/{self.path(name)}{rev}"

    def resolve_url(self, name: str) -> str | None:
        """The https URL Mammoth's `--loadcheck` downloads (hub only; a store file is fetched first)."""
        if self.kind == "store":
            return None
        return (f"{hub_endpoint()}/{repo_prefix(self.repo_type)}{self.repo}/resolve/"
                f"{quote(self.revision, safe='')}/{quote(self.path(name))}")

    @property
    def url(self) -> str:
        """The destination folder as a URL, for messages and `--json`."""
        return self.fetch_url("").rstrip("/") if self.kind == "store" else self.text


def parse_destination(text: str) -> Destination:
    """A Destination, or a one-line usage error naming what is wrong with `text`."""
    if text.startswith("hf://"):
        body, at, rev = text[5:].rpartition("@")
        if not at:
            body, rev = text[5:], "main"
        first, _, rest = body.partition("/")
        repo_type = REPO_TYPES.get(first, "model")
        if repo_type == "space":
            raise UsageError("push sends runs to model and dataset repos, not spaces", path=text, hint=HINT)
        if repo_type != "model":
            body = rest
        parts = [p for p in body.split("/") if p]
        if len(parts) < 2 or not rev or any(p in (".", "..") for p in parts):
            raise UsageError("not a hub repo", path=text, hint=HINT)
        folder = "/".join(parts[2:])
        return Destination("hub", text, folder + "/" if folder else "", repo=f"{parts[0]}/{parts[1]}",
                           repo_type=repo_type, revision=rev)
    if is_store_url(text):
        from ..remote.objstore import parse_object_url

        url = parse_object_url(text)
        parts = [p for p in url.key.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise UsageError("a prefix with . or .. in it", path=text, hint=HINT)
        folder = "/".join(parts)
        return Destination("store", text, folder + "/" if folder else "", scheme=url.scheme, bucket=url.bucket)
    raise MckptError("not a place push can send to", path=text, hint=HINT)
