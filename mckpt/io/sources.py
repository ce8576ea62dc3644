"""Byte sources: anything that can give `n` bytes at an offset.

The archive reader only ever asks for byte ranges, so a local file, an HTTP server that honours
`Range`, or an object store can all serve a checkpoint without being downloaded whole.
"""

from __future__ import annotations

import os
import shlex
import stat
from typing import Protocol, runtime_checkable

from ..errors import MckptError


@runtime_checkable
class ByteSource(Protocol):
    """Random-access, read-only bytes with a known size and a name for messages."""

    name: str
    size: int

    def read_at(self, offset: int, n: int) -> bytes:
        """Return up to `n` bytes starting at `offset` (fewer only at the end)."""
        ...

    def close(self) -> None: ...


class FileSource:
    """A local file read with `pread`, so concurrent readers never share a file position."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.name = os.fspath(path)
        self._fd = -1
        try:
            # O_NONBLOCK: opening a named pipe would otherwise wait for a writer, forever
            self._fd = os.open(self.name, os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError:
            raise MckptError("no such file", path=self.name) from None
        except PermissionError:
            raise MckptError("permission denied", path=self.name) from None
        except OSError as e:
            raise MckptError(f"cannot open: {e.strerror}", path=self.name) from None
        st = os.fstat(self._fd)
        if stat.S_ISDIR(st.st_mode):
            self.close()
            raise MckptError("is a folder, not a checkpoint file", path=self.name,
                             hint=f"to see the runs in it: mckpt list {shlex.quote(self.name)}")
        if not stat.S_ISREG(st.st_mode):
            self.close()
            raise MckptError("not a regular file (a pipe, socket or device)", path=self.name)
        self.size = st.st_size
        self.bytes_read = 0

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def identity(self) -> tuple[int, int]:
        """(st_dev, st_ino) of the file this source has open: two names for one file share it."""
        st = os.fstat(self._fd)
        return st.st_dev, st.st_ino

    def read_at(self, offset: int, n: int) -> bytes:
        if self._fd < 0:  # a caller's bug, not the file's: say which file and what to do
            raise ValueError(f"{self.name}: read after close (keep the checkpoint open while streaming)")
        if offset < 0 or n < 0:
            raise ValueError("negative offset or length")
        n = max(0, min(n, self.size - offset))
        data = os.pread(self._fd, n, offset) if n else b""
        self.bytes_read += len(data)
        return data

    def readinto_at(self, offset: int, buf: bytearray | memoryview) -> int:
        """Fill `buf` from `offset` without allocating (`verify` streams whole files through a few
        reused buffers); returns the bytes read, fewer only at the end."""
        n = os.preadv(self._fd, [buf], offset) if len(buf) else 0
        self.bytes_read += n
        return n

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SourceReader:
    """A sequential file-like view of a source, for the legacy format's back-to-back pickles.

    It refuses to read past `limit` bytes so a crafted file cannot make us read (or hold) an
    unbounded amount of data.
    """

    def __init__(self, source: ByteSource, offset: int = 0, limit: int | None = None) -> None:
        self.source = source
        self.pos = offset
        self.end = source.size if limit is None else min(source.size, offset + limit)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.end - self.pos
        n = min(n, self.end - self.pos)
        data = self.source.read_at(self.pos, n)
        self.pos += len(data)
        return data

    def readline(self) -> bytes:
        out = bytearray()
        while self.pos < self.end:
            chunk = self.source.read_at(self.pos, min(256, self.end - self.pos))
            if not chunk:
                break
            i = chunk.find(b"\n")
            if i >= 0:
                out += chunk[: i + 1]
                self.pos += i + 1
                break
            out += chunk
            self.pos += len(chunk)
        return bytes(out)
