"""A `.safetensors` file written straight from a checkpoint's zip, without torch and in flat memory.

The format is small enough to write by hand: an 8-byte little-endian header length, a JSON header
(each tensor's dtype, shape and `[begin, end)` byte range in the data that follows, and a
`__metadata__` of string pairs), then the tensors' raw bytes back to back. Every tensor of a torch
checkpoint is already raw little-endian bytes inside a stored (uncompressed) zip record, so each
one is copied range to range through one reused buffer: memory stays at that buffer whatever the
size, and nothing is decoded. The `safetensors` package is used only by the tests, to check that
it loads the same tensors torch does.

Tensors sharing a storage are written once each (safetensors has no aliasing); a tensor that is
not a contiguous row-major view is refused, since its bytes are not one range.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from ..domain.checkpoint import read_checkpoint
from ..errors import MckptError
from ..io.atomic import atomic_write
from ..io.progress import Progress
from ..io.sources import FileSource
from ..torchfile.values import TensorRef

# torch dtype name -> safetensors dtype name (the ones both formats have)
DTYPES = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64", "int32": "I32",
    "int16": "I16", "int8": "I8", "uint64": "U64", "uint32": "U32", "uint16": "U16", "uint8": "U8", "bool": "BOOL",
    "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2",
}
COPY_BLOCK = 8 << 20


def contiguous(t: TensorRef) -> bool:
    """Whether `t` views its elements as one row-major run (dimensions of size 1 may have any stride)."""
    expected = 1
    for n, s in zip(reversed(t.shape), reversed(t.stride), strict=True):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def header_bytes(tensors: dict[str, TensorRef], metadata: dict[str, str]) -> bytes:
    """The length prefix and JSON header for `tensors` laid out in their order, padded with spaces
    to 8 bytes as the `safetensors` package writes it."""
    header: dict[str, object] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, t in tensors.items():
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(len(text) + 8) % 8)
    return struct.pack("<Q", len(text)) + text


def export_safetensors(source: str, output: Path, *, prefix: str = "net.", metadata: dict[str, str] | None = None,
                       progress: Progress | None = None) -> int:
    """Write the model entries of `source` whose key starts with `prefix` (the backbone, as
    `convert --to backbone` picks it, keys kept) to `output`; returns its size."""
    with read_checkpoint(source, keep_open=True) as ck:
        arch = ck.archive
        assert arch is not None
        state = {k: t for k, t in ck.model_state.items() if k.startswith(prefix)}
        if not state:
            raise MckptError(f"no `{prefix}` entries to export", path=source)
        if arch.byteorder != "little":
            raise MckptError("a big-endian checkpoint; safetensors holds little-endian bytes", path=source)
        for key, t in state.items():
            if t.dtype not in DTYPES:
                raise MckptError(f"tensor {key}: dtype {t.dtype} has no safetensors name", path=source)
            if not contiguous(t):
                raise MckptError(f"tensor {key} is a strided view, not one byte range; safetensors needs "
                                 "contiguous tensors", path=source)
        ranges = [(arch.tensor_range(ck.tensor_path(k), t)) for k, t in state.items()]
        head = header_bytes(state, metadata or {})
        buf = bytearray(COPY_BLOCK)
        source_file = arch.source
        assert isinstance(source_file, FileSource)  # read_checkpoint opened the local path
        with atomic_write(output, force=True) as f:
            f.write(head)
            for start, nbytes in ranges:
                done = 0
                while done < nbytes:
                    view = memoryview(buf)[: min(COPY_BLOCK, nbytes - done)]
                    got = source_file.readinto_at(start + done, view)
                    if got <= 0:
                        raise MckptError("truncated while exporting", path=source)
                    f.write(view[:got])
                    done += got
                    if progress is not None:
                        progress.advance(got)
        return os.path.getsize(output)

