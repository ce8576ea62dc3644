"""Writing torch's zip checkpoint layout without torch, copying storages raw from other files.

`torch.save` writes an uncompressed zip: `<name>/data.pkl`, `<name>/.format_version`,
`<name>/.storage_alignment`, `<name>/byteorder`, one `<name>/data/<key>` record per storage, then
`<name>/version` and `<name>/.data/serialization_id`, every record's data aligned to 64 bytes (torch
pads the local header with an `FB` extra field), zip64 records once anything passes 4 GiB.
Writing that layout ourselves lets `convert` move storages from one archive to another with
`copy_file_range` (reusing the source's CRC when the record is stored whole), so neither time nor
memory grows with anything but the bytes on disk.
"""

from __future__ import annotations

import os
import secrets
import struct
import zlib
from dataclasses import dataclass

from ..io.progress import Progress

ALIGNMENT = 64
ZIP64_LIMIT = 0xFFFFFFFF  # sizes/offsets at or above this need zip64 fields (a module constant for tests)
_COPY_CHUNK = 8 << 20


@dataclass(frozen=True)
class _Entry:
    name: bytes
    header_offset: int
    size: int
    crc32: int


@dataclass(frozen=True)
class ByteRange:
    """`nbytes` bytes at `offset` of file `path`; `crc32` when a zip record already names it."""

    path: str
    offset: int
    nbytes: int
    crc32: int | None = None


class ArchiveWriter:
    """Appends stored (uncompressed) records to an open file descriptor, then the zip index."""

    def __init__(self, fd: int, archive_name: str, progress: Progress | None = None) -> None:
        self.fd = fd
        self.prefix = archive_name + "/"
        self.pos = 0
        self.entries: list[_Entry] = []
        self.progress = progress
        self._buf: bytearray | None = None
        self._sources: dict[str, int] = {}

    # -- records ------------------------------------------------------------------------------------

    def _local_header(self, name: bytes, size: int, crc: int) -> int:
        """Write a local header padded so the data starts on the alignment; return the data offset."""
        zip64 = size >= ZIP64_LIMIT
        extra = struct.pack("<HHQQ", 1, 16, size, size) if zip64 else b""
        unpadded = self.pos + 30 + len(name) + len(extra) + 4  # 4: the padding field's own header
        pad = -unpadded % ALIGNMENT
        extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # "FB" field, as torch writes it
        field32 = 0xFFFFFFFF if zip64 else size
        header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0x0800, 0, 0, 0, crc,
                             field32, field32, len(name), len(extra))
        os.pwrite(self.fd, header + name + extra, self.pos)
        self.pos += len(header) + len(name) + len(extra)
        return self.pos

    def add_bytes(self, name: str, data: bytes) -> None:
        raw_name = (self.prefix + name).encode()
        crc = zlib.crc32(data)
        header_offset = self.pos
        self._local_header(raw_name, len(data), crc)
        os.pwrite(self.fd, data, self.pos)
        self.pos += len(data)
        self.entries.append(_Entry(raw_name, header_offset, len(data), crc))

    def add_ranges(self, name: str, ranges: list[tuple[int, ByteRange]], size: int) -> None:
        """A record of `size` bytes assembled from byte ranges of other files, placed at offsets.

        The ranges must tile the record exactly (the planner guarantees it). With one range carrying
        a CRC the bytes go kernel-to-kernel; otherwise the CRC is computed while copying.
        """
        raw_name = (self.prefix + name).encode()
        header_offset = self.pos
        known = ranges[0][1].crc32 if len(ranges) == 1 and ranges[0][1].nbytes == size else None
        start = self._local_header(raw_name, size, known or 0)
        crc = 0
        for dst, rng in ranges:
            if known is not None:
                self._copy_raw(rng, start + dst)
            else:
                crc = self._copy_crc(rng, start + dst, crc)
        if known is None:
            crc_at = header_offset + 14
            os.pwrite(self.fd, struct.pack("<I", crc), crc_at)
        self.pos = start + size
        self.entries.append(_Entry(raw_name, header_offset, size, crc if known is None else known))

    # -- copying ------------------------------------------------------------------------------------

    def _source_fd(self, path: str) -> int:
        fd = self._sources.get(path)
        if fd is None:
            fd = os.open(path, os.O_RDONLY)
            self._sources[path] = fd
        return fd

    def _copy_raw(self, rng: ByteRange, dst: int) -> None:
        src = self._source_fd(rng.path)
        off, left = rng.offset, rng.nbytes
        while left:
            try:
                n = os.copy_file_range(src, self.fd, min(left, _COPY_CHUNK), off, dst)
            except (OSError, AttributeError):  # other filesystems / platforms: plain reads
                self._copy_crc(ByteRange(rng.path, off, left), dst, 0)
                return
            if n <= 0:
                raise OSError(f"{rng.path}: ended {left} bytes early while copying")
            off, dst, left = off + n, dst + n, left - n
            self._tick(n)

    def _copy_crc(self, rng: ByteRange, dst: int, crc: int) -> int:
        if self._buf is None:
            self._buf = bytearray(_COPY_CHUNK)
        view = memoryview(self._buf)
        src = self._source_fd(rng.path)
        off, left = rng.offset, rng.nbytes
        while left:
            n = os.preadv(src, [view[: min(left, _COPY_CHUNK)]], off)
            if n <= 0:
                raise OSError(f"{rng.path}: ended {left} bytes early while copying")
            crc = zlib.crc32(view[:n], crc)
            written = 0
            while written < n:
                written += os.pwrite(self.fd, view[written:n], dst + written)
            off, dst, left = off + n, dst + n, left - n
            self._tick(n)
        return crc

    def _tick(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(n)

    # -- index --------------------------------------------------------------------------------------

    def finish(self) -> int:
        """Write the central directory (zip64 when needed); return the archive's size."""
        cd_start = self.pos
        parts = []
        for e in self.entries:
            big_size, big_off = e.size >= ZIP64_LIMIT, e.header_offset >= ZIP64_LIMIT
            extra_vals = ([e.size, e.size] if big_size else []) + ([e.header_offset] if big_off else [])
            extra = (struct.pack(f"<HH{len(extra_vals)}Q", 1, 8 * len(extra_vals), *extra_vals)
                     if extra_vals else b"")
            size32 = 0xFFFFFFFF if big_size else e.size
            off32 = 0xFFFFFFFF if big_off else e.header_offset
            version = 45 if extra else 20
            parts.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0x0800, 0, 0, 0,
                                     e.crc32, size32, size32, len(e.name), len(extra), 0, 0, 0, 0, off32))
            parts.append(e.name + extra)
        cd = b"".join(parts)
        os.pwrite(self.fd, cd, cd_start)
        end = cd_start + len(cd)
        n = len(self.entries)
        tail = b""
        if n >= 0xFFFF or cd_start >= ZIP64_LIMIT or len(cd) >= ZIP64_LIMIT:
            tail += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(cd), cd_start)
            tail += struct.pack("<IIQI", 0x07064B50, 0, end, 1)
            n16, cd_size32, cd_off32 = 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF
        else:
            n16, cd_size32, cd_off32 = n, len(cd), cd_start
        tail += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n16, n16, cd_size32, cd_off32, 0)
        os.pwrite(self.fd, tail, end)
        self.pos = end + len(tail)
        return self.pos

    def close_sources(self) -> None:
        for fd in self._sources.values():
            os.close(fd)
        self._sources.clear()


@dataclass(frozen=True)
class StorageRecord:
    """One `data/<key>` record of the new archive and where its bytes come from."""

    key: str
    nbytes: int
    ranges: list[tuple[int, ByteRange]]  # (offset inside the record, source range)


def write_torch_archive(fd: int, archive_name: str, pickle_bytes: bytes, storages: list[StorageRecord],
                        byteorder: str = "little", progress: Progress | None = None) -> int:
    """Write a complete `torch.save`-compatible archive to `fd`; return its size in bytes."""
    w = ArchiveWriter(fd, archive_name, progress)
    try:
        w.add_bytes("data.pkl", pickle_bytes)
        w.add_bytes(".format_version", b"1")
        w.add_bytes(".storage_alignment", str(ALIGNMENT).encode())
        w.add_bytes("byteorder", byteorder.encode())
        for rec in storages:
            w.add_ranges(f"data/{rec.key}", rec.ranges, rec.nbytes)
        w.add_bytes("version", b"3\n")
        w.add_bytes(".data/serialization_id", str(secrets.randbits(128)).zfill(40).encode())
        return w.finish()
    finally:
        w.close_sources()
