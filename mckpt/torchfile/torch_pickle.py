"""A small protocol-2 pickler that writes what `torch.save` writes for plain checkpoint trees.

`pickle.Pickler` would verify each global by importing it (importing torch costs seconds), and
anything it cannot name would end up in the file. This writer knows exactly the types a safe
Mammoth checkpoint holds (None, bools, numbers, strings, lists, tuples, dicts, OrderedDicts with
their `_metadata`, tensors) and emits only the globals `torch.load(weights_only=True)` accepts:
`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and `torch.<Type>Storage`. Anything
else is refused with the path of the offending value, so no code can slip into a converted file.
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from typing import Any

from ..errors import MckptError
from .values import STORAGE_DTYPES, TensorRef

_STORAGE_NAMES = {dtype: name for name, dtype in STORAGE_DTYPES.items() if name != "UntypedStorage"}

_MARK, _STOP, _TUPLE, _REDUCE, _BUILD = b"(", b".", b"t", b"R", b"b"
_EMPTY_TUPLE, _EMPTY_LIST, _EMPTY_DICT = b")", b"]", b"}"
_APPENDS, _SETITEMS, _BINPERSID = b"e", b"u", b"Q"
_BATCH = 1000


class UnwritableValue(MckptError):
    """A value in the tree that a weights-only checkpoint cannot hold."""


def storage_type_name(dtype: str) -> str:
    """`torch.<Name>Storage` for a dtype; refuses dtypes torch has no typed storage for."""
    name = _STORAGE_NAMES.get(dtype)
    if name is None:
        raise UnwritableValue(f"no torch storage type for dtype {dtype}")
    return name


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray(b"\x80\x02")

    def global_(self, module: str, name: str) -> None:
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"

    def save(self, obj: Any, path: str) -> None:
        out = self.out
        if obj is None:
            out += b"N"
        elif obj is True or obj is False:
            out += b"\x88" if obj else b"\x89"
        elif isinstance(obj, int):
            self.int_(obj)
        elif isinstance(obj, float):
            out += b"G" + struct.pack(">d", obj)
        elif isinstance(obj, str):
            raw = obj.encode("utf-8", "surrogatepass")
            out += b"X" + struct.pack("<I", len(raw)) + raw
        elif isinstance(obj, TensorRef):
            self.tensor(obj, path)
        elif isinstance(obj, tuple):
            self.tuple_(obj, path)
        elif isinstance(obj, list):
            out += _EMPTY_LIST
            for i in range(0, len(obj), _BATCH):
                out += _MARK
                for j, item in enumerate(obj[i : i + _BATCH], i):
                    self.save(item, f"{path}[{j}]")
                out += _APPENDS
        elif isinstance(obj, OrderedDict):
            self.global_("collections", "OrderedDict")
            out += _EMPTY_TUPLE + _REDUCE
            self.items(obj, path)
            state = {k: v for k, v in vars(obj).items() if k == "_metadata"}
            if state:
                self.save(state, path)
                out += _BUILD
        elif type(obj) is dict:
            out += _EMPTY_DICT
            self.items(obj, path)
        else:
            raise UnwritableValue(f"{path} is a {type(obj).__name__}, which a weights-only checkpoint "
                                  "cannot hold")

    def int_(self, n: int) -> None:
        if 0 <= n < 256:
            self.out += b"K" + bytes([n])
        elif 0 <= n < 65536:
            self.out += b"M" + struct.pack("<H", n)
        elif -(2**31) <= n < 2**31:
            self.out += b"J" + struct.pack("<i", n)
        else:
            raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
            self.out += b"\x8a" + bytes([len(raw)]) + raw

    def tuple_(self, items: tuple[Any, ...], path: str) -> None:
        if not items:
            self.out += _EMPTY_TUPLE
            return
        short = len(items) <= 3
        if not short:
            self.out += _MARK
        for i, item in enumerate(items):
            self.save(item, f"{path}[{i}]")
        self.out += (b"\x85\x86\x87"[len(items) - 1 : len(items)]) if short else _TUPLE

    def items(self, d: dict[Any, Any], path: str) -> None:
        pairs = list(d.items())
        for i in range(0, len(pairs), _BATCH):
            self.out += _MARK
            for k, v in pairs[i : i + _BATCH]:
                self.save(k, path)
                self.save(v, f"{path}.{k}" if path else str(k))
            self.out += _SETITEMS

    def tensor(self, t: TensorRef, path: str) -> None:
        st = t.storage
        # A dtype viewed over another storage type (torch's untyped storages for float8, uint16…)
        # is written as torch writes it: _rebuild_tensor_v3 with the dtype after the hooks.
        v3 = t.dtype != st.dtype
        self.global_("torch._utils", "_rebuild_tensor_v3" if v3 else "_rebuild_tensor_v2")
        self.out += _MARK
        self.out += _MARK + b"X" + struct.pack("<I", 7) + b"storage"
        if v3:
            self.global_("torch.storage", "UntypedStorage")
        else:
            self.global_("torch", storage_type_name(st.dtype))
        self.save(st.key, path)
        self.save(st.location, path)
        self.save(st.numel, path)
        self.out += _TUPLE + _BINPERSID
        self.save(t.offset, path)
        self.tuple_(t.shape, path)
        self.tuple_(t.stride, path)
        self.save(bool(t.requires_grad), path)
        self.global_("collections", "OrderedDict")  # backward hooks: always empty in a checkpoint
        self.out += _EMPTY_TUPLE + _REDUCE
        if v3:
            self.global_("torch", t.dtype)
        self.out += _TUPLE + _REDUCE


def dumps(obj: Any) -> bytes:
    """The pickle torch would write for `obj` (storages named by their `StorageRef.key`)."""
    w = _Writer()
    w.save(obj, "")
    w.out += _STOP
    return bytes(w.out)
