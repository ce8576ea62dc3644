"""The values a torch/Mammoth pickle reads into: tensor and storage descriptors, the inert stand-ins
for classes mckpt does not run, numpy arrays as lists, and torch's dtype tables.

Everything above the reader (the checkpoint model, `diff`, `convert`) works with these types; only
the reader (:mod:`.unpickler`) makes them, so they live apart from its engine.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------------------------------------------
# dtypes

_ITEMSIZE = {
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "complex128": 16, "complex64": 8,
    "complex32": 4, "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint64": 8, "uint32": 4,
    "uint16": 2, "uint8": 1, "bool": 1, "qint8": 1, "quint8": 1, "qint32": 4, "quint4x2": 1,
    "quint2x4": 1, "float8_e4m3fn": 1, "float8_e5m2": 1, "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1,
    "float8_e8m0fnu": 1,
}

STORAGE_DTYPES = {
    "DoubleStorage": "float64", "FloatStorage": "float32", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
    "ComplexDoubleStorage": "complex128", "ComplexFloatStorage": "complex64",
    "QInt8Storage": "qint8", "QUInt8Storage": "quint8", "QInt32Storage": "qint32",
    "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4", "UntypedStorage": "uint8",
}

# `torch.float` and friends: the old names torch still pickles for some dtypes.
TORCH_DTYPE_ALIASES = {
    "float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
    "short": "int16", "cfloat": "complex64", "cdouble": "complex128",
}


TORCH_DTYPES = frozenset(_ITEMSIZE)


def itemsize(dtype: str) -> int:
    """Bytes per element of a torch dtype name (1 for unknown names, so sizes stay bounded)."""
    return _ITEMSIZE.get(dtype, 1)


# ---------------------------------------------------------------------------------------------------
# what the pickle turns into


@dataclass(frozen=True)
class StorageRef:
    """One torch storage in the archive: `data/<key>` in a zip file. Its bytes are never read."""

    key: str
    dtype: str
    numel: int  # in elements of `dtype`
    location: str = "cpu"

    @property
    def nbytes(self) -> int:
        return self.numel * itemsize(self.dtype)


@dataclass
class TensorRef:
    """A tensor as a description: where its bytes live and how to view them."""

    storage: StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    requires_grad: bool = False
    dtype: str = ""

    def __post_init__(self) -> None:
        if not self.dtype:
            self.dtype = self.storage.dtype

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * itemsize(self.dtype)


class StateDict(OrderedDict):
    """`collections.OrderedDict` that can carry attributes (torch stores `_metadata` on it)."""

    def __setstate__(self, state: Any) -> None:
        # Only torch's `_metadata`: any other name would shadow a dict method (`items`, `get`).
        if isinstance(state, dict) and "_metadata" in state:
            self._metadata = state["_metadata"]


class PickledNamespace(dict):
    """`argparse.Namespace` from an old pickle, read as the dict of its attributes."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.update(state)


class Placeholder:
    """An instance of a class we do not know (e.g. Mammoth's `Buffer`): inert, records only.

    Nothing the pickle says is ever called: construction arguments, `__setstate__` state and
    list/dict items are stored for the checkpoint model to read.
    """

    qualname = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        obj = object.__new__(cls)
        obj.args = args
        obj.state = None
        obj.items = []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    @property
    def attrs(self) -> dict[str, Any]:
        """The object's attributes as pickled (its `__dict__`, plus slots when present)."""
        st = self.state
        out: dict[Any, Any] = {}
        for part in st if isinstance(st, tuple) and len(st) == 2 else (st,):
            if isinstance(part, dict):  # a crafted state can be anything: only dicts are attributes
                out.update(part)
        return out

    def __repr__(self) -> str:
        return f"<{self.qualname}>"


def new_placeholder_class(qualname: str) -> type[Placeholder]:
    """A fresh placeholder class named for a pickle's global (one per pickle, so no file can
    change the classes another file reads into)."""
    return type(qualname.rsplit(".", 1)[-1], (Placeholder,), {"qualname": qualname})


_placeholder_classes: dict[str, type[Placeholder]] = {}


def placeholder_class(qualname: str) -> type[Placeholder]:
    """The placeholder class for one of our fixed names (a pickle's own names get their own)."""
    cls = _placeholder_classes.get(qualname)
    if cls is None:
        cls = _placeholder_classes[qualname] = new_placeholder_class(qualname)
    return cls


class NdArray:
    """A pickled numpy array, decoded into nested Python lists where its dtype is plain (the
    unpickler fills it: `value` None when the array was too big or its dtype not plain)."""

    qualname = "numpy.ndarray"

    def __init__(self, *args: Any) -> None:
        self.shape: tuple[int, ...] = ()
        self.value: Any = None
        self.count = 0  # elements decoded into `value`

    def tolist(self) -> Any:
        return self.value


def contiguous(shape: tuple[int, ...], stride: tuple[int, ...]) -> bool:
    """Whether a view of `shape` with `stride` is C-contiguous (size-1 dimensions' strides ignored)."""
    expected = 1
    for size, st in zip(reversed(shape), reversed(stride), strict=True):
        if size != 1 and st != expected:
            return False
        expected *= size
    return True
