"""A remote folder listing: what `list` needs from an object store or a hub repo, and nothing more.

Both `s3://` (and `gs://`, `az://`) prefixes and `hf://` repo folders implement `RemoteFolder`;
their entries carry what the listing alone says (name, size, checksum) and a factory for a
ByteSource that reads the object by ranged requests, so grouping files into runs costs no reads
and `--acc` reads only the few kilobytes each newest file needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import MckptError
from ..io.sources import ByteSource

CHECKPOINT_SUFFIX = ".pt"


class RemoteChanged(MckptError):
    """The object's ETag changed between two reads of it: what was read is not one file."""


@dataclass(frozen=True)
class RemoteEntry:
    """One listed object. `path` is its full URL (shown by `list`); `name` is relative to the folder."""

    path: str
    name: str
    bytes: int
    opener: Callable[[], ByteSource] = field(repr=False, compare=False)
    mtime: float = 0.0
    sha256: str | None = None  # the hub's lfs.oid; object stores rarely give one
    etag: str | None = None

    def open(self) -> ByteSource:
        """A ranged-read source for the object (no request until the first read where possible)."""
        return self.opener()


class RemoteFolder(Protocol):
    """A folder of a remote store: a bucket prefix or a repo path at a revision."""

    url: str

    def entries(self, recursive: bool = False) -> list[RemoteEntry]:
        """The `.pt` files in the folder and its `paused/` (all sub-folders with `recursive`)."""
        ...

    def files(self) -> list[RemoteEntry]:
        """Every file below the folder (all sub-folders), unfiltered."""
        ...


def keep(name: str, recursive: bool) -> bool:
    """Which listed names `list` considers, as for a local folder: `*.pt` here and in `paused/`,
    or anywhere below with `recursive`."""
    if not name.endswith(CHECKPOINT_SUFFIX):
        return False
    parts = name.split("/")
    return recursive or len(parts) == 1 or (len(parts) == 2 and parts[0] == "paused")
