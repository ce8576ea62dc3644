"""The storages of a file being converted, and the object tree rebuilt to point at them.

Every tensor of the new file refers to a storage of the new archive; each such storage is made of
byte ranges of the input files. Building the tree and the table together keeps shared storages
shared (Mammoth's aliases) and copies each source storage once.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ..errors import CorruptCheckpoint
from ..torchfile.archive import Archive
from ..torchfile.archive_writer import ByteRange, StorageRecord
from ..torchfile.torch_pickle import UnwritableValue
from ..torchfile.values import NdArray, Placeholder, StateDict, StorageRef, TensorRef


class StorageTable:
    """Numbers the new file's storages and remembers which source bytes make each one."""

    def __init__(self) -> None:
        self.records: list[StorageRecord] = []
        self._whole: dict[tuple[str, str, str], StorageRef] = {}

    def byte_range(self, archive: Archive, ref: StorageRef, byte_offset: int, nbytes: int) -> ByteRange:
        """Bytes of a source storage, after the archive's check of that storage; callers pass
        ranges of tensors that passed :meth:`Archive.tensor_problem`, which keeps them inside it."""
        problem = archive.storage_problem(ref)
        if problem is not None:
            raise CorruptCheckpoint(problem, path=archive.source.name)
        span = archive.span(ref.key)
        member = span.member
        whole = member is not None and byte_offset == 0 and nbytes == member.size
        return ByteRange(archive.source.name, span.offset + byte_offset, nbytes,
                         member.crc32 if whole and member else None)

    def tensor(self, archive: Archive, name: str, t: TensorRef, location: str | None = None) -> TensorRef:
        """Tensor `t` of `archive`, pointing at the new file's copy of its whole storage; a tensor
        torch could not load from the source is refused (:meth:`Archive.tensor_problem`)."""
        archive.check_tensor(name, t)
        return retensor(t, self.whole(archive, t.storage, location))

    def whole(self, archive: Archive, ref: StorageRef, location: str | None = None) -> StorageRef:
        """The whole of a source storage, copied once however many tensors use it."""
        loc = location or ref.location
        k = (archive.source.name, ref.key, loc)
        new = self._whole.get(k)
        if new is None:
            whole = self.byte_range(archive, ref, 0, ref.nbytes)
            new = self.assembled(ref.dtype, ref.numel, loc, [(0, whole)])
            self._whole[k] = new
        return new

    def assembled(self, dtype: str, numel: int, location: str, ranges: list[tuple[int, ByteRange]]
                  ) -> StorageRef:
        new = StorageRef(str(len(self.records)), dtype, numel, location)
        self.records.append(StorageRecord(new.key, new.nbytes, ranges))
        return new


def retensor(t: TensorRef, storage: StorageRef) -> TensorRef:
    return TensorRef(storage, t.offset, t.shape, t.stride, t.requires_grad, t.dtype)


def rebuild(value: Any, path: str, archive: Archive, table: StorageTable, location: str | None = None) -> Any:
    """A copy of a read tree that the safe layout can hold: namespaces become dicts, numpy arrays
    lists, tensors point at the new file's storages. Anything else (an unknown pickled object) is
    refused with its path instead of being dropped or guessed at."""
    if isinstance(value, TensorRef):
        return table.tensor(archive, path, value, location)
    if isinstance(value, NdArray):
        if value.value is None:
            raise UnwritableValue(f"{path} is a numpy array mckpt did not decode (its dtype, or over "
                                  "the 1M-element limit)")
        return value.value
    if isinstance(value, Placeholder):
        raise UnwritableValue(f"{path} is a pickled {value.qualname} object, which a safe checkpoint "
                              "cannot hold", hint="only Mammoth's Buffer is turned into tensors")
    if isinstance(value, StateDict | OrderedDict):
        out: Any = StateDict()
        if "_metadata" in vars(value):  # rebuilt too: a crafted file can put anything in it
            out._metadata = rebuild(value._metadata, f"{path}._metadata", archive, table, location)
    elif isinstance(value, dict):  # plain dicts and argparse namespaces
        out = {}
    elif isinstance(value, list | tuple):
        items = [rebuild(v, f"{path}[{i}]", archive, table, location) for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    elif isinstance(value, bool | int | float | str) or value is None:
        return value
    else:
        raise UnwritableValue(f"{path} is a {type(value).__name__}, which a safe checkpoint cannot hold")
    for k, v in value.items():
        out[k] = rebuild(v, f"{path}.{k}" if path else str(k), archive, table, location)
    return out


def alias_pairs(sd: dict[str, Any]) -> list[tuple[str, str]]:
    first: dict[str, str] = {}
    pairs = []
    for k, t in sd.items():
        if isinstance(t, TensorRef):
            owner = first.setdefault(t.storage.key, k)
            if owner != k:
                pairs.append((k, owner))
    return pairs


def own_storage(sd: dict[str, Any], aliased: list[tuple[str, str]], source_of: dict[str, str]
                 ) -> list[tuple[str, str]]:
    """(key, source key) for the keys that own a storage, i.e. are not an alias of an earlier key."""
    shared = {k for k, _ in aliased}
    return [(k, source_of[k]) for k, v in sd.items() if isinstance(v, TensorRef) and k not in shared]


