"""An allow-list unpickler: reads torch/Mammoth pickles without running anything from them.

`torch.load(weights_only=False)` lets a file call any Python function. Here every global the
pickle names is either mapped to a harmless builder of ours (tensors become :class:`TensorRef`
descriptors, numpy scalars become Python numbers, `argparse.Namespace` a dict), refused with an
error naming it (`os.system`, `builtins.eval`, anything else from modules that can run code), or
turned into an inert :class:`Placeholder` that only records its arguments and state, so an old
pickle's `utils.buffer.Buffer` can still be read.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..errors import CorruptCheckpoint, UnsafePickle

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

_TORCH_DTYPE_ALIASES = {
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
        if isinstance(st, tuple) and len(st) == 2:
            out = dict(st[0] or {})
            out.update(st[1] or {})
            return out
        return dict(st) if isinstance(st, dict) else {}

    def __repr__(self) -> str:
        return f"<{self.qualname}>"


_placeholder_classes: dict[str, type[Placeholder]] = {}


def placeholder_class(qualname: str) -> type[Placeholder]:
    cls = _placeholder_classes.get(qualname)
    if cls is None:
        cls = type(qualname.rsplit(".", 1)[-1], (Placeholder,), {"qualname": qualname})
        _placeholder_classes[qualname] = cls
    return cls


@dataclass
class NumpyDType:
    """`numpy.dtype(...)` as its type string and byte order; enough to decode scalars and arrays."""

    code: str
    byteorder: str = "<"

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.byteorder = "<" if state[1] in ("|", "=") else state[1]

    @property
    def struct_format(self) -> str | None:
        kind, size = self.code[:1], self.code[1:]
        fmt = {
            ("f", "8"): "d", ("f", "4"): "f", ("f", "2"): "e", ("i", "8"): "q", ("i", "4"): "i",
            ("i", "2"): "h", ("i", "1"): "b", ("u", "8"): "Q", ("u", "4"): "I", ("u", "2"): "H",
            ("u", "1"): "B", ("b", "1"): "?",
        }.get((kind, size))
        return None if fmt is None else self.byteorder + fmt


def _numpy_dtype(code: Any, *_: Any) -> NumpyDType:
    return NumpyDType(str(code))


_MAX_ARRAY_ELEMENTS = 1 << 20


def _decode_numbers(dtype: Any, raw: Any, count: int | None = None) -> list[Any] | None:
    if not isinstance(dtype, NumpyDType) or not isinstance(raw, bytes | bytearray):
        return None
    fmt = dtype.struct_format
    if fmt is None:
        return None
    size = struct.calcsize(fmt)
    n = len(raw) // size if count is None else count
    if n > _MAX_ARRAY_ELEMENTS or n * size > len(raw):
        return None
    return list(struct.unpack(fmt[0] + f"{n}" + fmt[1:], bytes(raw[: n * size])))


def _numpy_scalar(dtype: Any, raw: Any = None) -> Any:
    values = _decode_numbers(dtype, raw, 1)
    if values:
        return values[0]
    ph = placeholder_class("numpy.generic")(dtype, raw)
    return ph


class NdArray:
    """A pickled numpy array, decoded into nested Python lists where its dtype is plain."""

    qualname = "numpy.ndarray"

    def __init__(self, *args: Any) -> None:
        self.shape: tuple[int, ...] = ()
        self.value: Any = None

    def __setstate__(self, state: Any) -> None:
        if not (isinstance(state, tuple) and len(state) >= 5):
            return
        _, shape, dtype, fortran, raw = state[:5]
        self.shape = tuple(int(s) for s in shape)
        count = 1
        for s in self.shape:
            count *= s
        flat = raw if isinstance(raw, list) else _decode_numbers(dtype, raw, count)
        if flat is None or len(flat) < count:
            return
        self.value = _reshape(list(flat[:count]), self.shape, bool(fortran))

    def tolist(self) -> Any:
        return self.value


def _reshape(flat: list[Any], shape: tuple[int, ...], fortran: bool) -> Any:
    if not shape:
        return flat[0] if flat else None
    if fortran and len(shape) > 1:
        # Fortran order: transpose by walking indices in reverse.
        strides = [1]
        for s in shape[:-1]:
            strides.append(strides[-1] * s)

        def build(dim: int, base: int) -> Any:
            if dim == len(shape):
                return flat[base]
            return [build(dim + 1, base + i * strides[dim]) for i in range(shape[dim])]

        return build(0, 0)

    def nest(items: list[Any], dims: tuple[int, ...]) -> Any:
        if len(dims) == 1:
            return items
        step = len(items) // dims[0] if dims[0] else 0
        return [nest(items[i * step : (i + 1) * step], dims[1:]) for i in range(dims[0])]

    return nest(flat, shape)


def _ndarray_reconstruct(cls: Any, *args: Any) -> NdArray:
    return NdArray()


class _NdArrayType:
    """Stands for `numpy.ndarray` as the first argument of `_reconstruct`."""


def _codecs_encode(obj: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Protocol 2 writes bytes as `_codecs.encode(text, 'latin1')`; only plain text codecs pass.
    if not isinstance(obj, str) or encoding.lower().replace("-", "") not in ("latin1", "utf8", "ascii"):
        raise UnsafePickle(f"_codecs.encode with encoding {encoding!r}")
    return obj.encode(encoding, errors)


def _torch_device(spec: Any = "cpu", index: Any = None) -> str:
    return f"{spec}:{index}" if index is not None else str(spec)


@dataclass(frozen=True)
class StorageType:
    """`torch.FloatStorage` & co as the dtype they carry."""

    dtype: str


def _rebuild_tensor(storage: Any, offset: int, size: Any, stride: Any, *rest: Any) -> TensorRef:
    if not isinstance(storage, StorageRef):
        raise CorruptCheckpoint("tensor without a storage record")
    requires_grad = bool(rest[0]) if rest else False
    return TensorRef(storage, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride),
                     requires_grad)


def _rebuild_tensor_v3(storage: Any, offset: int, size: Any, stride: Any, requires_grad: Any = False,
                       _hooks: Any = None, dtype: Any = None, *rest: Any) -> TensorRef:
    """Torch ≥ 2.3 writes dtypes that have no typed storage (float8, uint16…) as an untyped (byte)
    storage plus the dtype; the offset counts elements of that dtype."""
    if not (isinstance(dtype, str) and dtype in _ITEMSIZE):
        raise CorruptCheckpoint("tensor record without a known dtype")
    t = _rebuild_tensor(storage, offset, size, stride, requires_grad)
    t.dtype = dtype
    return t


def _rebuild_parameter(data: Any, requires_grad: Any = False, *rest: Any) -> Any:
    if isinstance(data, TensorRef):
        data.requires_grad = bool(requires_grad)
    return data


def _copyreg_reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    if isinstance(cls, type) and issubclass(cls, Placeholder | PickledNamespace | StateDict | NdArray):
        obj = cls()
        if state is not None and hasattr(obj, "__setstate__"):
            obj.__setstate__(state)
        return obj
    raise UnsafePickle(f"copyreg._reconstructor of {getattr(cls, '__qualname__', cls)!r}")


def _defaultdict(*_factory: Any) -> dict[Any, Any]:
    # The default factory is never called: a read-only view needs no defaults.
    return {}


class _TensorType:
    """Stands for `torch.Tensor` / `Parameter` as the type argument of `_rebuild_from_type_v2`."""


def _rebuild_from_type(func: Any, new_type: Any, args: Any, state: Any = None) -> Any:
    if func not in (_rebuild_tensor, _rebuild_tensor_v3, _rebuild_parameter):
        raise UnsafePickle(f"torch._tensor._rebuild_from_type_v2 with {getattr(func, '__name__', func)!r}")
    return func(*args)


_SAFE_BUILTINS = {
    "set": set, "frozenset": frozenset, "bytearray": bytearray, "bytes": bytes, "complex": complex,
    "slice": slice, "range": range, "tuple": tuple, "list": list, "dict": dict, "int": int,
    "float": float, "str": str, "bool": bool, "object": object,
}


def _allowed(module: str, name: str) -> Any:
    """The builder standing for `module.name`, or None when it is not on the allow-list."""
    if module in ("builtins", "__builtin__"):
        return _SAFE_BUILTINS.get(name)
    if module == "collections" and name in ("OrderedDict", "defaultdict"):
        return StateDict if name == "OrderedDict" else _defaultdict
    if module == "argparse" and name == "Namespace":
        return PickledNamespace
    if module == "_codecs" and name == "encode":
        return _codecs_encode
    if module == "copyreg" and name == "_reconstructor":
        return _copyreg_reconstructor
    if module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        return {"scalar": _numpy_scalar, "_reconstruct": _ndarray_reconstruct}.get(name)
    if module == "numpy" and name == "dtype":
        return _numpy_dtype
    if module == "numpy" and name == "ndarray":
        return _NdArrayType
    if module == "torch._utils":
        return {
            "_rebuild_tensor_v2": _rebuild_tensor, "_rebuild_tensor": _rebuild_tensor,
            "_rebuild_tensor_v3": _rebuild_tensor_v3,
            "_rebuild_parameter": _rebuild_parameter,
            "_rebuild_parameter_with_state": _rebuild_parameter,
        }.get(name)
    if module == "torch._tensor" and name == "_rebuild_from_type_v2":
        return _rebuild_from_type
    if (module, name) in (("torch", "Tensor"), ("torch.nn.parameter", "Parameter")):
        return _TensorType
    if module in ("torch", "torch.storage") and name.endswith("Storage"):
        dtype = STORAGE_DTYPES.get(name) or name[: -len("Storage")].lower()
        return StorageType(dtype)
    if module == "torch":
        if name == "device":
            return _torch_device
        if name == "Size":
            return tuple
        dtype = _TORCH_DTYPE_ALIASES.get(name, name)
        if dtype in _ITEMSIZE:
            return dtype
    return None


# Modules that can run code, touch files or processes. A global from one of these that is not on
# the allow-list is refused outright; elsewhere an unknown global becomes an inert placeholder.
_DENIED_TOP = frozenset(
    "os posix nt sys subprocess _posixsubprocess builtins __builtin__ runpy importlib pickle _pickle "
    "shutil socket ctypes code codeop pty webbrowser io _io operator functools itertools types marshal "
    "multiprocessing threading _thread signal tempfile inspect asyncio platform pdb bdb cProfile "
    "profile trace timeit site distutils setuptools pip urllib http ftplib smtplib telnetlib glob "
    "fileinput zipimport gc copyreg _codecs codecs torch numpy pathlib shelve dbm sqlite3 "
    "ssl select selectors mmap resource fcntl pwd grp ensurepip venv zipfile tarfile pkgutil "
    "linecache traceback warnings logging contextlib weakref abc typing collections argparse "
    "jax tensorflow IPython sympy yaml dill cloudpickle joblib".split()
)


class SafeUnpickler(pickle.Unpickler):
    """Unpickles with :func:`_allowed` builders and records every global it met."""

    def __init__(self, file: Any, storages: dict[str, StorageRef] | None = None) -> None:
        super().__init__(file)
        self.globals_seen: set[str] = set()
        self.storages: dict[str, StorageRef] = storages if storages is not None else {}

    def find_class(self, module: str, name: str) -> Any:
        # Protocol 2 pickles name Python 2 modules (`commands.call` is subprocess.call): map them
        # first, as pickle's own find_class does, so no alias slips past the checks below.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        qualname = f"{module}.{name}"
        self.globals_seen.add(qualname)
        builder = _allowed(module, name)
        if builder is not None:
            return builder
        top = module.split(".", 1)[0]
        if top in _DENIED_TOP or "." in name or name.startswith("__"):
            raise UnsafePickle(qualname)
        return placeholder_class(qualname)

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage" and len(pid) >= 5):
            raise CorruptCheckpoint(f"unexpected persistent id {str(pid)[:60]!r}")
        storage_type, key, location, numel = pid[1], str(pid[2]), str(pid[3]), pid[4]
        if not isinstance(storage_type, StorageType) or not isinstance(numel, int) or numel < 0:
            raise CorruptCheckpoint("malformed storage record in the pickle")
        ref = self.storages.get(key)
        if ref is None:
            ref = StorageRef(key, storage_type.dtype, numel, location)
            self.storages[key] = ref
        view = pid[5] if len(pid) > 5 else None
        if view:  # legacy format: a view into a larger storage (view_key, offset, size)
            _, view_offset, view_size = view
            return StorageRef(f"{key}@{view_offset}", ref.dtype, int(view_size), location)
        return ref


@dataclass
class Unpickled:
    """The result of unpickling: the object tree, the globals it named, the storages it uses."""

    obj: Any
    globals_seen: set[str] = field(default_factory=set)
    storages: dict[str, StorageRef] = field(default_factory=dict)


def safe_loads(data: bytes | io.BufferedIOBase | Any, storages: dict[str, StorageRef] | None = None
               ) -> Unpickled:
    """Unpickle bytes (or a file-like object) with the allow-list; raise MckptError on bad input."""
    file = io.BytesIO(data) if isinstance(data, bytes | bytearray | memoryview) else data
    up = SafeUnpickler(file, storages)
    try:
        obj = up.load()
    except (UnsafePickle, CorruptCheckpoint):
        raise
    except RecursionError:
        raise CorruptCheckpoint("the pickle nests too deeply") from None
    except MemoryError:
        raise CorruptCheckpoint("the pickle asks for more memory than it holds") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error, UnicodeDecodeError, OverflowError) as e:
        raise CorruptCheckpoint(f"the pickle is malformed or truncated ({type(e).__name__}: {e})"[:200]
                                ) from None
    return Unpickled(obj, up.globals_seen, up.storages)
