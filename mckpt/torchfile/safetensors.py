"""The header of a `.safetensors` file: tensors (dtype, shape, byte range) and metadata, never the data.

The format (https://github.com/huggingface/safetensors): 8 bytes little-endian N, then N bytes of
JSON, then the tensors' bytes. The JSON maps each tensor name to `{"dtype", "shape",
"data_offsets": [begin, end]}` (relative to the data) and may hold `"__metadata__"`, a map of
strings. The header comes from the file, so it is untrusted: its length is capped as the
safetensors library caps it and may not pass the file's end, its JSON may not nest deeper than
the format does, and every tensor's byte range must match its dtype and shape and lie inside the
data, the ranges covering it without overlap (what `safetensors.safe_open` checks). Anything else
is refused in one line.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

from ..errors import CorruptCheckpoint
from ..io.sources import ByteSource

MAX_HEADER = 100_000_000  # bytes: the safetensors library's own limit
MAX_SHAPE_RANK = 64

# Bits per element of each dtype the format names (F4, F6 pack several elements per byte).
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16, "F16": 16,
    "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "I64": 64, "U64": 64, "F64": 64, "C64": 64, "F4": 4,
    "F6_E2M3": 6, "F6_E3M2": 6,
}


def looks_like_safetensors(head: bytes) -> bool:
    """True when `head` (a file's first bytes) starts as a safetensors file: a length, then a JSON
    object. The length is not judged here: a huge one is refused by `read_safetensors`, by name."""
    return len(head) > 9 and head[8:9] == b"{" and head[9:10] in (b'"', b"}", b" ", b"\n", b"\r", b"\t")


@dataclass(frozen=True)
class SafeTensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int  # byte offsets in the data (after the header)
    end: int

    @property
    def parameters(self) -> int:
        return math.prod(self.shape)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), "parameters": self.parameters,
                "data_offsets": [self.begin, self.end]}


@dataclass(frozen=True)
class SafetensorsFile:
    """What `inspect` shows of a safetensors file; the tensors in the order of their bytes."""

    path: str
    size: int
    header_bytes: int
    tensors: list[SafeTensor]
    metadata: dict[str, str]

    @property
    def parameters(self) -> int:
        return sum(t.parameters for t in self.tensors)

    @property
    def dtypes(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for t in self.tensors:
            counts[t.dtype] = counts.get(t.dtype, 0) + 1
        return counts

    def to_json(self, full_tensors: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "path": self.path, "bytes": self.size, "kind": "safetensors", "header_bytes": self.header_bytes,
            "metadata": self.metadata, "tensors": {"count": len(self.tensors), "parameters": self.parameters,
                                                   "bytes": self.size - 8 - self.header_bytes, "dtypes": self.dtypes},
        }
        if full_tensors:
            doc["tensors"]["list"] = [t.to_json() for t in self.tensors]
        return doc


def _refuse(name: str, problem: str) -> CorruptCheckpoint:
    return CorruptCheckpoint(f"a bad safetensors header: {problem}", path=name)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the key {k[:80]!r} appears twice")
        out[k] = v
    return out


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_safetensors(source: ByteSource) -> SafetensorsFile:
    """Parse and check the header of the safetensors file `source`; reads the header bytes only."""
    name = source.name
    prefix = source.read_at(0, 8)
    if len(prefix) < 8:
        raise _refuse(name, f"the file is {source.size} bytes, shorter than the 8-byte length")
    n = struct.unpack("<Q", prefix)[0]
    if n > MAX_HEADER:
        raise _refuse(name, f"it claims {n} bytes of header (the format allows at most {MAX_HEADER})")
    if 8 + n > source.size:
        raise _refuse(name, f"it claims {n} bytes of header, past the file's end ({source.size} bytes)")
    raw = source.read_at(8, n)
    if len(raw) < n:
        raise _refuse(name, "the file ended inside the header")
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise _refuse(name, "its JSON nests deeper than the format allows") from None
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError; so are huge numbers
        raise _refuse(name, f"not valid JSON ({str(e)[:120]})") from None
    if not isinstance(header, dict):
        raise _refuse(name, "the JSON is not an object")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _refuse(name, "__metadata__ is not a map of strings")
    data = source.size - 8 - n
    tensors = sorted((_tensor(name, k, v, data) for k, v in header.items()), key=lambda t: (t.begin, t.end))
    at = 0
    for t in tensors:
        if t.begin != at:
            problem = "overlap" if t.begin < at else "leave a gap"
            raise _refuse(name, f"the byte ranges of {t.name[:80]!r} and the tensor before it {problem}")
        at = t.end
    if at != data:
        raise _refuse(name, f"its tensors cover {at} bytes of data, the file holds {data}")
    return SafetensorsFile(name, source.size, n, tensors, metadata)


def _tensor(file: str, key: str, spec: Any, data: int) -> SafeTensor:
    shown = key[:80]
    if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
        raise _refuse(file, f"{shown!r} is not {{dtype, shape, data_offsets}}")
    dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
    if dtype not in DTYPE_BITS:
        raise _refuse(file, f"{shown!r} has an unknown dtype {str(dtype)[:40]!r}")
    if not isinstance(shape, list) or len(shape) > MAX_SHAPE_RANK or not all(_count(s) for s in shape):
        raise _refuse(file, f"{shown!r} has a bad shape")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_count(o) for o in offsets)
            and offsets[0] <= offsets[1] <= data):
        raise _refuse(file, f"{shown!r} has data_offsets outside the file's {data} bytes of data")
    t = SafeTensor(key, dtype, tuple(shape), offsets[0], offsets[1])
    bits = t.parameters * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != t.end - t.begin:
        raise _refuse(file, f"{shown!r}: {t.end - t.begin} bytes for a {dtype} tensor of shape {list(shape)}")
    return t
