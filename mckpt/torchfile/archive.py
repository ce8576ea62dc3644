"""Reading torch checkpoints from any byte source without touching tensor bytes.

A `torch.save` file is a zip archive (`<name>/data.pkl` holding the object tree, `<name>/data/<key>`
holding raw storages) or, for torch < 1.6 and `_use_new_zipfile_serialization=False`, the legacy
layout (pickles back to back, then the storages). Either way only the index and the pickle are
read: for a 1 GB checkpoint that is a few kilobytes, which is what makes `inspect` fast and lets
the same code read from an HTTP range server.
"""

from __future__ import annotations

import re
import shlex
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import CorruptCheckpoint, IsSafetensors, NotACheckpoint, UnsafePickle
from ..io.sources import ByteSource, SourceReader
from .safetensors import looks_like_safetensors
from .unpickler import Unpickled, describe_value, safe_loads
from .values import Placeholder, StorageRef, TensorRef, itemsize

MAX_PICKLE_BYTES = 256 << 20  # data.pkl larger than this is refused, so memory stays bounded
MAX_CENTRAL_DIRECTORY = 64 << 20
MAX_MEMBERS = 1_000_000
# A deflated data.pkl (torch writes every record stored) may inflate to this multiple of its
# compressed size, with a floor for tiny ones: a re-zipped checkpoint still reads, a deflate
# bomb (250 KB inflating to 250 MiB) is refused before it costs memory.
MAX_INFLATE_RATIO = 16
MIN_INFLATE_LIMIT = 1 << 20
# The records torch.save writes besides one `data/<key>` per storage the pickle names; torch's
# writer adds bookkeeping under `.data/` (`version`, `serialization_id`), which torch.load reads
# only for `.data/version`. Any other member is refused: nothing else is a record torch.load reads.
_WRITTEN = frozenset({"data.pkl", "byteorder", "version", ".format_version", ".storage_alignment"})
_BOOKKEEPING = re.compile(r"\.data/[A-Za-z0-9_][A-Za-z0-9_.-]*")
MAX_NAME_BYTES = 511  # miniz's name buffer in torch's reader: longer names are cut short there
# Archive format versions torch 2.x reads (caffe2/serialize: kMin/kMaxSupportedFileFormatVersion).
_TORCH_FORMAT_VERSIONS = range(1, 11)

LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CDH = b"PK\x01\x02"
_LFH = b"PK\x03\x04"


Layout = Literal["zip", "legacy", "pickle"]  # torch's zip archive, torch < 1.6's pickles, a lone pickle


@dataclass(frozen=True)
class ZipMember:
    """One record of the zip's central directory."""

    name: str
    header_offset: int
    compressed_size: int
    size: int
    crc32: int
    method: int
    flags: int = 0  # general-purpose bit flags (bit 0: encrypted)


@dataclass(frozen=True)
class StorageSpan:
    """Where a storage's raw bytes are in the source: what `convert` copies without decoding."""

    key: str
    offset: int
    nbytes: int
    member: ZipMember | None = None


@dataclass
class Archive:
    """A checkpoint's index and object tree; tensor bytes stay in the source until asked for.

    The archive owns its source: :meth:`close` (or a `with` block) releases it. The index and the
    tree stay usable after closing; only reading tensor bytes needs the source open.
    """

    source: ByteSource
    layout: Layout
    unpickled: Unpickled
    members: list[ZipMember] = field(default_factory=list)
    prefix: str = ""
    byteorder: str = "little"
    warnings: list[str] = field(default_factory=list)
    _spans: dict[str, StorageSpan] = field(default_factory=dict)

    @property
    def obj(self) -> Any:
        return self.unpickled.obj

    def close(self) -> None:
        """Release the source (a file descriptor for a local file); closing twice is harmless."""
        self.source.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def storages(self) -> dict[str, StorageRef]:
        return self.unpickled.storages

    def storage_problem(self, ref: StorageRef) -> str | None:
        """Why the bytes of storage `ref` cannot be used as they are, or None: its record must be
        in the file, stored rather than compressed (torch writes storages stored, and mckpt reads
        and copies them as raw byte ranges), and hold the bytes the pickle says it has."""
        span = self._spans.get(ref.key) or self._legacy_view(ref)
        if span is None:
            return f"storage {ref.key} is listed in the pickle but missing from the archive; torch cannot load it"
        if span.member is not None and span.member.method != 0:
            return (f"storage {ref.key} is compressed inside the zip, which torch never writes (the file was "
                    "repacked); its bytes cannot be read raw")
        if span.nbytes < ref.nbytes:
            return f"storage {ref.key} holds {span.nbytes} bytes, fewer than its {ref.nbytes}; torch cannot load it"
        return None

    def tensor_problem(self, name: str, t: TensorRef) -> str | None:
        """The byte-range check of one tensor, shared by the reader's warnings, `diff` and
        `convert`: its storage passes :meth:`storage_problem` and its view (offset, shape,
        stride) lies inside that storage, as `torch.load` requires (it fails on the tensor
        otherwise). None when the tensor is sound."""
        problem = self.storage_problem(t.storage)
        if problem is None:
            start, nbytes = view_bytes(t)
            if start + nbytes > t.storage.nbytes:
                problem = (f"its view (offset {t.offset}, shape {list(t.shape)}, stride {list(t.stride)}) "
                           f"runs past storage {t.storage.key} ({t.storage.numel} {t.storage.dtype} values); "
                           "torch cannot load it")
        return f"tensor {name}: {problem}" if problem else None

    def check_tensor(self, name: str, t: TensorRef) -> None:
        """Refuse tensor `t` (CorruptCheckpoint) when :meth:`tensor_problem` finds one."""
        problem = self.tensor_problem(name, t)
        if problem is not None:
            raise CorruptCheckpoint(problem, path=self.source.name)

    def tensor_range(self, name: str, t: TensorRef) -> tuple[int, int]:
        """(file offset, byte count) of what tensor `t` views, after :meth:`check_tensor`."""
        self.check_tensor(name, t)
        start, nbytes = view_bytes(t)
        return self.span(t.storage.key).offset + start, nbytes

    def tensor_bytes(self, name: str, t: TensorRef) -> bytes:
        """The bytes tensor `t` views (one read of :meth:`tensor_range`); a file cut short inside
        them is refused, naming the storage."""
        offset, nbytes = self.tensor_range(name, t)
        data = self.source.read_at(offset, nbytes)
        if len(data) != nbytes:
            raise CorruptCheckpoint(f"truncated: storage {t.storage.key} is cut short", path=self.source.name)
        return data

    def tensor_problems(self, limit: int = 5) -> list[str]:
        """:meth:`tensor_problem` over every tensor of the tree: the first `limit`, then a count."""
        found: list[str] = []
        storages_told: set[str] = set()  # a storage's own problem is told once, not per alias
        for name, t in tensor_items(self.obj):
            if t.storage.key in storages_told:
                continue
            problem = self.tensor_problem(name, t)
            if problem is not None:
                found.append(problem)
                if self.storage_problem(t.storage) is not None:
                    storages_told.add(t.storage.key)
        if len(found) > limit:
            found[limit:] = [f"{len(found) - limit} more tensor(s) that fail this check"]
        return found

    def _legacy_view(self, ref: StorageRef) -> StorageSpan | None:
        """The span of a legacy file's storage view (`<root key>@<element offset>`, as the reader
        names it): the root storage's bytes from that offset on. Only the legacy format has views."""
        root, at, offset = ref.key.rpartition("@")
        base = self._spans.get(root) if at and self.layout == "legacy" else None
        if base is None:
            return None
        start = int(offset) * itemsize(ref.dtype)
        span = StorageSpan(ref.key, base.offset + min(start, base.nbytes), max(base.nbytes - start, 0))
        self._spans[ref.key] = span
        return span

    def span(self, key: str) -> StorageSpan:
        """The byte range of storage `key` (reads one local header for zip archives)."""
        span = self._spans.get(key)
        if span is None:
            raise CorruptCheckpoint(f"storage {key} is missing from the archive", path=self.source.name)
        if span.member is not None and span.offset < 0:
            span = StorageSpan(key, data_offset(self.source, span.member), span.nbytes, span.member)
            self._spans[key] = span
        return span


def view_bytes(t: TensorRef) -> tuple[int, int]:
    """(first byte, byte count) of the part of its storage that tensor `t` views; an empty
    tensor views nothing, wherever its offset points (torch accepts it)."""
    if any(n == 0 for n in t.shape):
        return 0, 0
    size = itemsize(t.dtype)
    extent = 1 + sum((n - 1) * s for n, s in zip(t.shape, t.stride, strict=True))
    return t.offset * size, extent * size


_WALKED = (TensorRef, Placeholder, dict, list, tuple)


def tensor_items(obj: Any, prefix: str = "") -> Iterator[tuple[str, TensorRef]]:
    """Every tensor under a nested dict/list (and pickled objects' attributes), with a dotted path.

    Each container is entered once, under the first path that reaches it: a pickle can share one
    sub-list under many parents, and walking it as a tree would cost far more than the file holds.
    """
    seen: set[int] = set()
    stack: list[tuple[str, Any]] = [(prefix, obj)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, TensorRef):
            yield path, value
            continue
        if isinstance(value, Placeholder):
            value = value.attrs
        if isinstance(value, dict):
            items: list[tuple[Any, Any]] = list(value.items())
        elif isinstance(value, list | tuple):
            items = list(enumerate(value))
        else:
            continue
        if id(value) in seen:
            continue
        seen.add(id(value))
        stack.extend((f"{path}.{k}" if path else str(k), v) for k, v in reversed(items)
                     if isinstance(v, _WALKED))  # numbers and text (most of a file's nodes) hold no tensor


def _u16(b: bytes, o: int) -> int:
    return struct.unpack_from("<H", b, o)[0]


def _u32(b: bytes, o: int) -> int:
    return struct.unpack_from("<I", b, o)[0]


def _u64(b: bytes, o: int) -> int:
    return struct.unpack_from("<Q", b, o)[0]


# Checkpoints are often shipped compressed; saying which tool undoes it beats "not a checkpoint".
_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bzip2"))


def sniff(head: bytes, name: str) -> str:
    """Say which layout `head` (the first bytes) starts, or raise a helpful NotACheckpoint."""
    if not head:
        raise NotACheckpoint("empty file (0 bytes)", path=name)
    if head.startswith(_LFH):  # torch's _is_zipfile: the first four bytes, nothing else
        return "zip"
    if head.startswith(_EOCD):
        raise NotACheckpoint("an empty zip archive (torch.load reads a zip only when it starts with a "
                             "member)", path=name)
    if head.startswith(LFS_POINTER):
        raise NotACheckpoint(
            "a Git LFS pointer, not the checkpoint itself",
            path=name,
            hint="fetch the real file: `git lfs pull`, or `mckpt fetch` its URL",
        )
    if head[:2] == b"\x80\x02" and head[2:3] == b"\x8a":
        return "legacy"
    lowered = head[:200].lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        raise NotACheckpoint("an HTML page, not a checkpoint (a `blob/` URL instead of `resolve/`?)",
                             path=name)
    if looks_like_safetensors(head):
        raise IsSafetensors("a safetensors file (tensors only), not a torch checkpoint", path=name,
                            hint=f"`mckpt inspect {shlex.quote(name)}` shows its tensors and metadata")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "pickle"
    for magic, tool in _COMPRESSED:
        if head.startswith(magic):
            raise NotACheckpoint(f"{tool}-compressed, not a checkpoint as torch.save writes it", path=name,
                                 hint=f"decompress it first ({tool} -d), then read the result")
    raise NotACheckpoint("not a torch checkpoint (neither a zip archive nor a torch pickle)", path=name)


def open_archive(source: ByteSource) -> Archive:
    """Read the index and the object tree of a checkpoint; raise MckptError on anything odd."""
    head = source.read_at(0, 512)
    layout = sniff(head, source.name)
    if layout == "zip":
        return _open_zip(source)
    # Not a zip: torch.load tries its tar format first and reads the file as pickles only when
    # that fails, so a file that is also a tar is read by a path mckpt never scanned.
    refuse_tar(head, source.name)
    reader = SourceReader(source, 0, MAX_PICKLE_BYTES)
    first = _load(reader, source.name)
    if not first.globals_seen and type(first.obj) is int and first.obj == _LEGACY_MAGIC:
        return _open_legacy(source, reader)
    if layout == "legacy":
        raise NotACheckpoint("a pickle, but not a torch checkpoint (wrong magic number)", path=source.name)
    # A lone pickle: torch.load refuses it (no magic number), but its contents are still shown.
    arch = Archive(source, "pickle", first)
    arch.warnings.append("a plain pickle, not a torch.save file: torch.load (and so Mammoth) cannot read it")
    return arch


def refuse_tar(head: bytes, name: str) -> None:
    """Refuse a file whose first block is a valid tar header: torch.load would read it as its
    pre-1.0 tar format (members `storages`, `tensors`, `pickle`), not as the pickles mckpt reads.

    This is tarfile's own header check, the one `tarfile.open` makes before torch commits to the
    tar path; anything it accepts is refused, even when a later tar member would fail.
    """
    if len(head) < 512:
        return
    import tarfile

    try:
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return
    raise NotACheckpoint("a tar archive (torch.load would read it as its pre-1.0 tar format, not as "
                         "the pickle mckpt reads; a crafted file?)", path=name)


def _load(data: Any, name: str, storages: dict[str, StorageRef] | None = None) -> Unpickled:
    try:
        return safe_loads(data, storages)
    except (CorruptCheckpoint, NotACheckpoint) as e:
        e.path = e.path or name
        raise
    except Exception as e:  # UnsafePickle and friends carry no path yet
        if getattr(e, "path", "x") is None:
            e.path = name  # type: ignore[attr-defined]
        raise


# ---------------------------------------------------------------------------------------------------
# zip


def _read_central_directory(source: ByteSource) -> list[ZipMember]:
    name = source.name
    # The end record is the last 22 bytes unless the zip has a comment (torch writes none), so a
    # 1 KiB tail finds it in one small read; a remote source pays for every byte asked for.
    for tail_len in (min(source.size, 1024), min(source.size, 65535 + 22 + 20)):
        tail = source.read_at(source.size - tail_len, tail_len)
        pos = tail.rfind(_EOCD)
        if pos >= 20 or (pos >= 0 and tail_len == source.size):
            break
    if pos < 0 or len(tail) - pos < 22:
        raise CorruptCheckpoint("truncated: the zip's end-of-archive record is missing", path=name)
    n_entries, cd_size, cd_offset = _u16(tail, pos + 10), _u32(tail, pos + 12), _u32(tail, pos + 16)
    sentinels = 0xFFFF in (n_entries,) or 0xFFFFFFFF in (cd_size, cd_offset)
    loc = pos - 20
    # torch's reader (miniz) takes the index from a zip64 record whenever its locator stands before the
    # end record, whatever the 32-bit fields say; mckpt does the same, and refuses a file whose two
    # records name different indexes (torch would read one, a zip tool or an older mckpt the other).
    if loc >= 0 and tail[loc : loc + 4] == _EOCD64_LOCATOR:
        at = _u64(tail, loc + 8) - (source.size - len(tail))  # torch writes it just before the locator,
        rec = tail[at : at + 56] if at >= 0 else source.read_at(_u64(tail, loc + 8), 56)  # in the tail read
        if len(rec) < 56 or rec[:4] != _EOCD64:
            raise CorruptCheckpoint("the zip64 end-of-archive record is damaged", path=name)
        z64 = _u64(rec, 32), _u64(rec, 40), _u64(rec, 48)
        sentinel_values = (0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
        for small, big, sentinel in zip((n_entries, cd_size, cd_offset), z64, sentinel_values, strict=True):
            if small != sentinel and small != big:
                raise CorruptCheckpoint("the zip has two end-of-archive records naming different indexes "
                                        "(torch.load reads the zip64 one; a crafted file?)", path=name)
        n_entries, cd_size, cd_offset = z64
    elif sentinels:
        raise CorruptCheckpoint("truncated: the zip64 locator is missing", path=name)
    if n_entries > MAX_MEMBERS or cd_size > MAX_CENTRAL_DIRECTORY:
        raise CorruptCheckpoint(f"implausible zip index ({n_entries} entries, {cd_size} bytes)", path=name)
    if cd_offset + cd_size > source.size:
        raise CorruptCheckpoint("truncated: the zip index points past the end of the file", path=name)
    cd = source.read_at(cd_offset, cd_size)
    members: list[ZipMember] = []
    o = 0
    for _ in range(n_entries):
        if cd[o : o + 4] != _CDH or o + 46 > len(cd):
            raise CorruptCheckpoint("the zip index is damaged", path=name)
        flags, method, crc = _u16(cd, o + 8), _u16(cd, o + 10), _u32(cd, o + 16)
        csize, usize = _u32(cd, o + 20), _u32(cd, o + 24)
        nlen, elen, clen = _u16(cd, o + 28), _u16(cd, o + 30), _u16(cd, o + 32)
        lho = _u32(cd, o + 42)
        try:
            fname = cd[o + 46 : o + 46 + nlen].decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptCheckpoint("a zip member's name is not UTF-8 (torch never writes one)", path=name) from None
        extra = cd[o + 46 + nlen : o + 46 + nlen + elen]
        if 0xFFFFFFFF in (csize, usize, lho):
            usize, csize, lho = _zip64_extra(extra, usize, csize, lho, name)
        members.append(ZipMember(fname, lho, csize, usize, crc, method, flags))
        o += 46 + nlen + elen + clen
    return members


def _zip64_extra(extra: bytes, usize: int, csize: int, lho: int, name: str) -> tuple[int, int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, ln = _u16(extra, i), _u16(extra, i + 2)
        if i + 4 + ln > len(extra):
            raise CorruptCheckpoint("the zip index is damaged (a zip64 field runs past its record)", path=name)
        if tag == 1:
            vals = list(struct.unpack_from(f"<{ln // 8}Q", extra, i + 4))
            if usize == 0xFFFFFFFF and vals:
                usize = vals.pop(0)
            if csize == 0xFFFFFFFF and vals:
                csize = vals.pop(0)
            if lho == 0xFFFFFFFF and vals:
                lho = vals.pop(0)
            break
        i += 4 + ln
    return usize, csize, lho


def data_offset(source: ByteSource, m: ZipMember) -> int:
    """Where member `m`'s bytes start (after its local header), checked against the file size."""
    hdr = source.read_at(m.header_offset, 30)
    if len(hdr) < 30 or hdr[:4] != _LFH:
        raise CorruptCheckpoint(f"the record of {m.name} is damaged or truncated", path=source.name)
    start = m.header_offset + 30 + _u16(hdr, 26) + _u16(hdr, 28)
    if m.method == 0 and m.compressed_size != m.size:  # else a stored record claims bytes it lacks
        raise CorruptCheckpoint(f"the zip index gives {m.name} two different sizes", path=source.name)
    if start + m.compressed_size > source.size:
        raise CorruptCheckpoint(f"truncated: {m.name} runs past the end of the file", path=source.name)
    return start


def inflate_limit(compressed: int, limit: int | None = None) -> int:
    """The most bytes `compressed` deflated bytes may inflate to (never over `limit` when given):
    the one bound of every inflation mckpt does (the reader's records, each record `verify`
    streams, and all of a file's records together), so a small file never costs unbounded time
    or memory."""
    bound = max(MIN_INFLATE_LIMIT, MAX_INFLATE_RATIO * compressed)
    return bound if limit is None else min(limit, bound)


def read_member(source: ByteSource, m: ZipMember, limit: int | None = None) -> bytes:
    """The uncompressed bytes of a (small) member, refusing anything over `limit` (a deflated
    member stops inflating there, so a zip bomb costs at most that much memory)."""
    limit = MAX_PICKLE_BYTES if limit is None else limit
    if m.method == 8:
        limit = inflate_limit(m.compressed_size, limit)
    if m.size > limit or m.compressed_size > limit:
        what = "inflates to" if m.method == 8 else "is"
        raise CorruptCheckpoint(f"{m.name} {what} {m.size} bytes, over the {limit} byte limit", path=source.name)
    if m.flags & 1:
        raise CorruptCheckpoint(f"{m.name} is encrypted (torch cannot read it)", path=source.name)
    raw = source.read_at(data_offset(source, m), m.compressed_size)
    if m.method == 0:
        data = raw
    elif m.method == 8:
        try:
            data = zlib.decompressobj(-15).decompress(raw, limit + 1)
        except zlib.error:
            raise CorruptCheckpoint(f"{m.name} is not valid deflate data (damaged file)", path=source.name) from None
        if len(data) > limit:
            raise CorruptCheckpoint(f"{m.name} inflates past {limit} bytes, more than its index says "
                                    "(a deflate bomb?)", path=source.name)
    else:
        raise CorruptCheckpoint(f"{m.name} uses zip compression method {m.method}", path=source.name)
    if zlib.crc32(data) != m.crc32:
        raise CorruptCheckpoint(f"{m.name} fails its CRC check (damaged file)", path=source.name)
    return data


def _archive_folder(members: list[ZipMember], name: str) -> str:
    """The folder every record lives in, decided as torch's reader decides it, refusing every
    layout where torch could read another record than the one mckpt reads.

    torch (caffe2's PyTorchStreamReader) takes the folder from the *first* member's name, then
    reads `<folder>/<record>` (see :func:`record_key`); `get_all_records`, which torch.load calls,
    refuses members outside that folder. torch.save writes ASCII names only, and a name outside
    ASCII is where readers' rules part (Unicode case folding, normalisation), so it is refused.
    """
    if not members:
        raise NotACheckpoint("an empty zip archive", path=name)
    first = members[0].name
    if "/" not in first:
        raise NotACheckpoint(f"a zip file, but not a torch checkpoint (no data.pkl where torch looks: the first "
                             f"member, {describe_value(first)}, is not in a folder)", path=name)
    prefix = first[: first.index("/") + 1]
    for m in members:
        raw = m.name.encode()
        if not m.name.isascii():
            raise CorruptCheckpoint(f"the zip holds {ascii(m.name)[:80]}, a name outside ASCII, which torch.save "
                                    "never writes (readers' rules for such names differ; a crafted file?)",
                                    path=name)
        if not m.name.startswith(prefix):
            raise CorruptCheckpoint(f"the zip holds {describe_value(m.name)}, outside its folder "
                                    f"{describe_value(prefix)} (torch.load refuses it; a crafted file?)", path=name)
        if len(raw) > MAX_NAME_BYTES or "\0" in m.name:
            raise CorruptCheckpoint(f"the zip holds a member name torch reads cut short ({describe_value(m.name)})",
                                    path=name)
    return prefix


def record_key(name: str) -> bytes:
    """What decides which member a record name reaches, as torch's reader decides it: the name's
    bytes with ASCII letters folded to lower case and nothing else (miniz's
    `mz_zip_reader_locate_file` with flags 0: MZ_TOLOWER on A-Z, bytes compared; no Unicode case,
    no normalisation, no path clean-up). Two members with one key collide: torch reads either."""
    return name.encode("utf-8", "surrogateescape").lower()  # bytes.lower folds A-Z only


@dataclass(frozen=True)
class RecordIndex:
    """The zip's records as torch finds them: one member per :func:`record_key`, a collision
    refused. Every record mckpt reads (the pickle, the bookkeeping, each storage) is looked up
    here, so it is the member torch reads."""

    prefix: str
    by_key: dict[bytes, ZipMember]

    @classmethod
    def build(cls, members: list[ZipMember], prefix: str, name: str) -> RecordIndex:
        by_key: dict[bytes, ZipMember] = {}
        for m in members:
            key = record_key(m.name)
            if key in by_key:
                raise CorruptCheckpoint(f"the zip holds {describe_value(m.name)} twice (torch and mckpt could read "
                                        "different copies; a crafted file?)", path=name)
            by_key[key] = m
        return cls(prefix, by_key)

    def get(self, record: str) -> ZipMember | None:
        """The member torch reads for `<folder>/<record>`, or None."""
        return self.by_key.get(record_key(self.prefix + record))

    def refuse_unwritten(self, name: str, storage_keys: set[str] | None = None) -> None:
        """Refuse any member torch.save does not write: the fixed records, `.data/` bookkeeping and,
        once the pickle is read (`storage_keys`), one `data/<key>` per storage it names."""
        for m in self.by_key.values():
            record = m.name[len(self.prefix):]
            if record in _WRITTEN or _BOOKKEEPING.fullmatch(record):
                continue
            key = record[5:] if record.startswith("data/") else None
            if key and (storage_keys is None or key in storage_keys):
                continue
            raise CorruptCheckpoint(f"the zip holds {describe_value(record)} in its folder, not a record "
                                    "torch.save writes (torch and mckpt could read different records; a crafted "
                                    "file?)", path=name)


def _record(source: ByteSource, m: ZipMember, limit: int = 64) -> bytes:
    """A small bookkeeping record (version, byteorder, alignment): torch reads them whole."""
    if m.size > limit:
        raise CorruptCheckpoint(f"{m.name} is {m.size} bytes, not a torch record", path=source.name)
    return read_member(source, m, limit)


def _check_records(source: ByteSource, index: RecordIndex) -> str:
    """Refuse what torch.load refuses before it reads the pickle (and any record torch.save does
    not write); return the byte order."""
    name = source.name
    if index.get("constants.pkl") is not None:
        raise NotACheckpoint("a TorchScript archive (torch.load hands it to torch.jit.load), not a checkpoint",
                             path=name, hint="load it with torch.jit.load if you trust it")
    index.refuse_unwritten(name)
    version = index.get(".data/version") or index.get("version")
    if version is None:
        raise CorruptCheckpoint("the zip has no version record (torch.load refuses it)", path=name)
    text = _record(source, version).decode("ascii", "replace").strip()
    if not (text.isascii() and text.isdigit()) or int(text) not in _TORCH_FORMAT_VERSIONS:
        raise CorruptCheckpoint(f"archive format version {describe_value(text)}, which torch.load does not read",
                                path=name)
    align = index.get(".storage_alignment")
    if align is not None:
        try:
            int(_record(source, align))
        except ValueError:
            raise CorruptCheckpoint("the storage alignment record is not a number (torch.load refuses it)",
                                    path=name) from None
    bo = index.get("byteorder")
    if bo is None:
        return "little"
    order = _record(source, bo)
    if order not in (b"little", b"big"):  # exactly: torch refuses "little\n"
        raise CorruptCheckpoint(f"{bo.name} says {describe_value(order.decode('latin-1'))}, not little or big",
                                path=name)
    return order.decode()


def _open_zip(source: ByteSource) -> Archive:
    members = _read_central_directory(source)
    prefix = _archive_folder(members, source.name)
    index = RecordIndex.build(members, prefix, source.name)
    pkl = index.get("data.pkl")
    if pkl is None:
        raise NotACheckpoint(f"a zip file, but not a torch checkpoint (no data.pkl in its folder "
                             f"{describe_value(prefix)})", path=source.name)
    byteorder = _check_records(source, index)
    unpickled = _load(read_member(source, pkl), source.name)
    index.refuse_unwritten(source.name, set(unpickled.storages))
    arch = Archive(source, "zip", unpickled, members, prefix, byteorder)
    for key in unpickled.storages:
        m = index.get(f"data/{key}")
        if m is not None:
            arch._spans[key] = StorageSpan(key, -1, m.size, m)
    last_end = max((m.header_offset + 30 + len(m.name) + m.compressed_size for m in members), default=0)
    if last_end > source.size:
        raise CorruptCheckpoint("truncated: the archive's records run past the end of the file",
                                path=source.name)
    return arch


# ---------------------------------------------------------------------------------------------------
# legacy (torch < 1.6) layout


def _side_pickle(reader: SourceReader, name: str) -> Any:
    """One of the legacy format's small pickles (magic, protocol, sys_info, storage keys).

    They hold only an int, a dict or a list, so any global in them is refused: `torch.load`
    unpickles them too, and only the main pickle's globals are reported to callers (such as
    `load`, which decides from them whether the unsafe load is acceptable).
    """
    side = _load(reader, name)
    if side.globals_seen:
        raise UnsafePickle(sorted(side.globals_seen)[0], path=name)
    return side.obj


def _open_legacy(source: ByteSource, reader: SourceReader) -> Archive:
    """The rest of a legacy file, `reader` just past its magic number, in torch's order: protocol,
    sys_info, the object tree, the storage keys, then each storage's bytes."""
    name = source.name
    protocol = _side_pickle(reader, name)
    if type(protocol) not in (int, float) or protocol != 1001:
        raise CorruptCheckpoint(f"unsupported legacy torch protocol ({describe_value(protocol)})", path=name)
    sys_info = _side_pickle(reader, name)
    little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
    main = _load(reader, name, {})
    keys = _side_pickle(reader, name)
    if not isinstance(keys, list):
        raise CorruptCheckpoint("the legacy storage list is damaged", path=name)
    unknown = next((k for k in keys if type(k) is not str or k not in main.storages), None)
    if unknown is not None:  # torch.load stops there: it has no storage of that key to fill
        raise CorruptCheckpoint(f"the legacy storage list names {describe_value(unknown)}, a storage the pickle "
                                "never uses", path=name)
    arch = Archive(source, "legacy", main, byteorder="little" if little else "big")
    pos = reader.pos
    for key in keys:
        key = str(key)
        ref = main.storages.get(key)
        hdr = source.read_at(pos, 8)
        if len(hdr) < 8:
            raise CorruptCheckpoint(f"truncated: storage {key} is missing its header", path=name)
        numel = struct.unpack("<q" if little else ">q", hdr)[0]
        nbytes = numel * itemsize(ref.dtype if ref else "uint8")
        if numel < 0 or pos + 8 + nbytes > source.size:
            raise CorruptCheckpoint(f"truncated: storage {key} runs past the end of the file", path=name)
        arch._spans[key] = StorageSpan(key, pos + 8, nbytes)
        pos += 8 + nbytes
    return arch
