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
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ..errors import CorruptCheckpoint, UnsafePickle
from .values import (
    STORAGE_DTYPES,
    TORCH_DTYPE_ALIASES,
    TORCH_DTYPES,
    NdArray,
    PickledNamespace,
    Placeholder,
    StateDict,
    StorageRef,
    TensorRef,
    new_placeholder_class,
    placeholder_class,
)


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
    return NumpyDType(_text(code, "numpy dtype"))


_MAX_ARRAY_ELEMENTS = 1 << 20  # per array: bigger ones stay undecoded (value None)
MAX_DECODED_ELEMENTS = 1 << 20  # per pickle, all arrays together (tree walks stay < MAX_TREE_NODES)
_MAX_NDIM = 64


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


def decode_ndarray(arr: NdArray, state: Any, budget: Budget) -> None:
    """Fill `arr` from numpy's `__setstate__` tuple (version, shape, dtype, fortran, data), within `budget`."""
    if not (isinstance(state, tuple) and len(state) >= 5) or not isinstance(state[1], tuple):
        return
    _, shape, dtype, fortran, raw = state[:5]
    if len(shape) > _MAX_NDIM or not all(type(s) is int and 0 <= s <= _MAX_ARRAY_ELEMENTS for s in shape):
        return
    # Nested lists are built for every dimension, zero-sized ones included: bound them all.
    count = lists = 1
    for s in shape:
        count *= s
        lists *= max(s, 1)
    if lists > _MAX_ARRAY_ELEMENTS or count > budget.elements:
        return
    flat = raw if isinstance(raw, list) else _decode_numbers(dtype, raw, count)
    if flat is None or len(flat) < count:
        return
    budget.elements -= lists
    budget.charge(lists)
    arr.shape, arr.count = shape, lists
    arr.value = _reshape(list(flat[:count]), shape, bool(fortran))


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


def _codec(encoding: Any) -> str:
    # A codec name makes Python import `encodings.<name>`: only the plain text codecs pass.
    if not isinstance(encoding, str) or encoding.lower().replace("-", "").replace("_", "") not in (
            "latin1", "utf8", "ascii"):
        raise UnsafePickle(f"a text codec named {describe_value(encoding)}")
    return encoding


def _codecs_encode(obj: Any, encoding: Any = "utf-8", errors: Any = "strict") -> bytes:
    # Protocol 2 writes bytes as `_codecs.encode(text, 'latin1')`.
    if not isinstance(obj, str) or errors != "strict":
        raise CorruptCheckpoint("_codecs.encode of something other than text")
    return obj.encode(_codec(encoding))


def describe_value(value: Any) -> str:
    """A short, bounded name for a value in a message (never the repr of an attacker's object)."""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return repr(value)[:60] if not isinstance(value, int) or value.bit_length() < 64 else "a huge int"
    return f"a {type(value).__name__}"


def _text(value: Any, what: str) -> str:
    """`value` as text when it is a plain scalar; anything else is refused (its repr could be huge)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and value.bit_length() < 64:
        return str(value)
    if isinstance(value, bytes) and len(value) < 256:
        return value.decode("latin-1")
    raise CorruptCheckpoint(f"{what} is {describe_value(value)}, not text")


def _torch_device(spec: Any = "cpu", index: Any = None) -> str:
    spec = _text(spec, "a torch.device type")
    return f"{spec}:{_text(index, 'a torch.device index')}" if index is not None else spec


@dataclass(frozen=True)
class StorageType:
    """`torch.FloatStorage` & co as the dtype they carry."""

    dtype: str


def _dims(value: Any, what: str) -> tuple[int, ...]:
    """A tensor's shape or stride: a short tuple of non-negative machine-sized ints."""
    if not isinstance(value, tuple | list) or len(value) > _MAX_NDIM or not all(
            type(v) is int and 0 <= v < 1 << 62 for v in value):
        raise CorruptCheckpoint(f"a tensor {what} that is not a tuple of sizes")
    return tuple(value)


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> TensorRef:
    if not isinstance(storage, StorageRef):
        raise CorruptCheckpoint("tensor without a storage record")
    shape, strides = _dims(size, "shape"), _dims(stride, "stride")
    if type(offset) is not int or not 0 <= offset < 1 << 62 or len(shape) != len(strides):
        raise CorruptCheckpoint("a tensor with an impossible offset or stride")
    requires_grad = rest[0] is True if rest else False
    return TensorRef(storage, offset, shape, strides, requires_grad)


def _rebuild_tensor_v3(storage: Any, offset: int, size: Any, stride: Any, requires_grad: Any = False,
                       _hooks: Any = None, dtype: Any = None, *rest: Any) -> TensorRef:
    """Torch ≥ 2.3 writes dtypes that have no typed storage (float8, uint16…) as an untyped (byte)
    storage plus the dtype; the offset counts elements of that dtype."""
    if not (isinstance(dtype, str) and dtype in TORCH_DTYPES):
        raise CorruptCheckpoint("tensor record without a known dtype")
    t = _rebuild_tensor(storage, offset, size, stride, requires_grad)
    t.dtype = dtype
    return t


def _rebuild_parameter(data: Any, requires_grad: Any = False, *rest: Any) -> Any:
    if isinstance(data, TensorRef):
        data.requires_grad = requires_grad is True
    return data


# Our classes a pickle may instantiate (NEWOBJ, copyreg._reconstructor) and give a state (BUILD).
_INSTANTIABLE = (Placeholder, PickledNamespace, StateDict)


def _copyreg_reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    if isinstance(cls, type) and issubclass(cls, _INSTANTIABLE):
        obj = cls()
        if state is not None:
            type(obj).__setstate__(obj, state)
        return obj
    raise UnsafePickle(f"copyreg._reconstructor of {describe_value(cls)}")


def _defaultdict(*_factory: Any) -> dict[Any, Any]:
    # The default factory is never called: a read-only view needs no defaults.
    return {}


class _TensorType:
    """Stands for `torch.Tensor` / `Parameter` as the type argument of `_rebuild_from_type_v2`."""


def _rebuild_from_type(func: Any, new_type: Any, args: Any, state: Any = None) -> Any:
    if not any(func is f for f in (_rebuild_tensor, _rebuild_tensor_v3, _rebuild_parameter)):
        raise UnsafePickle(f"torch._tensor._rebuild_from_type_v2 with {describe_value(func)}")
    if not isinstance(args, tuple):
        raise CorruptCheckpoint("torch._tensor._rebuild_from_type_v2 without an argument tuple")
    return func(*args)


MAX_KEY_PARTS = 64


def check_key(key: Any, budget: Budget | None = None) -> Any:
    """Refuse a dict key or set member whose hash or equality would walk a huge shared tree.

    Python hashes and compares nested tuples recursively without caching, so a tuple built from
    two references to the previous one, 60 levels deep (a few hundred bytes of pickle), would take
    2**60 steps to insert into a dict.
    """
    todo, parts = [key], 0
    while todo:
        x = todo.pop()
        parts += 1
        if parts > MAX_KEY_PARTS:
            raise CorruptCheckpoint("a dict key or set member too nested to hash")
        if type(x) is tuple or type(x) is frozenset:
            todo.extend(x)
    if budget is not None:
        budget.charge(parts)
    return key


def _checked_items(cls: type) -> Any:
    """`set`/`frozenset`/`dict`-like constructors that check every key before hashing it."""

    def build(items: Any = (), *rest: Any) -> Any:
        if rest:
            raise CorruptCheckpoint(f"{cls.__name__}() with extra arguments")
        if not isinstance(items, list | tuple | dict | set | frozenset):
            raise CorruptCheckpoint(f"{cls.__name__}() of {describe_value(items)}")
        budget = _budget.get()
        if isinstance(items, dict):
            budget.keys(items.keys())
            return cls(items)
        if issubclass(cls, dict):
            for pair in items:
                if not isinstance(pair, list | tuple) or len(pair) != 2:
                    raise CorruptCheckpoint(f"{cls.__name__}() of something other than pairs")
            budget.keys(pair[0] for pair in items)
            return cls(items)
        budget.keys(items)
        return cls(items)

    return build


def _sequence(cls: type) -> Any:
    """`list`/`tuple` of an existing container only (no lazy iterable can grow in memory)."""

    def build(items: Any = ()) -> Any:
        if not isinstance(items, list | tuple | dict | set | frozenset | str | bytes | bytearray):
            raise CorruptCheckpoint(f"{cls.__name__}() of {describe_value(items)}")
        return cls(items)

    return build


_MAX_BYTES_ARG = 1 << 20


def _binary(cls: type) -> Any:
    """`bytes`/`bytearray` of bytes or text; an int argument would allocate that many bytes."""

    def build(value: Any = b"", encoding: Any = None, *rest: Any) -> Any:
        if isinstance(value, str):
            return cls(value, _codec(encoding)) if encoding is not None else cls(value, "latin-1")
        if isinstance(value, bytes | bytearray | list | tuple) and encoding is None and not rest:
            return cls(value)
        if type(value) is int and 0 <= value <= _MAX_BYTES_ARG and encoding is None and not rest:
            charge(value)  # allocates `value` zero bytes
            return cls(value)
        raise CorruptCheckpoint(f"{cls.__name__}() of {describe_value(value)}")

    return build


def _str(value: Any = "", encoding: Any = None, *rest: Any) -> str:
    if encoding is not None and isinstance(value, bytes | bytearray) and not rest:
        return bytes(value).decode(_codec(encoding))
    return _text(value, "str()") if encoding is None and not rest else _text(None, "str()")


def _plain_numbers(cls: type, allowed: tuple[type, ...]) -> Any:
    """`slice(...)` / `complex(...)` of plain numbers only: anything else could hide a container
    (a slice is no container to the tree check) or be parsed from text of any length."""

    def build(*args: Any) -> Any:
        if len(args) > 3 or not all(type(a) in allowed for a in args):
            raise CorruptCheckpoint(f"{cls.__name__}() of something other than plain numbers")
        return cls(*args)

    return build


def _range(*args: Any) -> Placeholder:
    # A range is lazy: `list(range(10**12))` would fill memory, so it stays an inert record.
    return placeholder_class("builtins.range")(*args)


_SAFE_BUILTINS = {
    "set": _checked_items(set), "frozenset": _checked_items(frozenset), "dict": _checked_items(dict),
    "bytearray": _binary(bytearray), "bytes": _binary(bytes), "str": _str, "range": _range,
    "tuple": _sequence(tuple), "list": _sequence(list), "complex": _plain_numbers(complex, (int, float)),
    "slice": _plain_numbers(slice, (int, type(None))), "int": int,
    "float": float, "bool": bool, "object": object,
}
_ORDERED_DICT = _checked_items(StateDict)


def _allowed(module: str, name: str) -> Any:
    """The builder standing for `module.name`, or None when it is not on the allow-list."""
    if module in ("builtins", "__builtin__"):
        return _SAFE_BUILTINS.get(name)
    if module == "collections" and name in ("OrderedDict", "defaultdict"):
        return _ORDERED_DICT if name == "OrderedDict" else _defaultdict
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
            return _SAFE_BUILTINS["tuple"]
        dtype = TORCH_DTYPE_ALIASES.get(name, name)
        if dtype in TORCH_DTYPES:
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


MAX_WORK = 2_000_000  # Mammoth files here: < 3k; ViT-B with Adam state: ~60k. A unit: see `Budget`.
MAX_UNKNOWN_CLASSES = 1000
MAX_TREE_NODES = 4_000_000  # the object tree as walked (shared parts counted at every use)
MAX_DEPTH = 100


@dataclass
class Budget:
    """What one pickle may still spend, in units of work: one per opcode run, one per element a
    call copies, allocates or checks (`list(x)` costs `len(x)`, `bytes(n)` costs `n`), and one per
    earlier key of equal hash each time a key enters a dict or set (what probing costs when keys
    collide). Few bytes of pickle must not buy unbounded time or memory: an opcode that fetches a
    million-element list from the memo is one byte, the call it feeds is not.
    """

    work: int = field(default_factory=lambda: MAX_WORK)
    elements: int = field(default_factory=lambda: MAX_DECODED_ELEMENTS)  # numpy values decoded
    _tables: dict[int, dict[int, int]] = field(default_factory=dict)  # id(dict/set) → hash → keys

    def charge(self, units: int) -> None:
        self.work -= units
        if self.work < 0:
            raise CorruptCheckpoint(f"the pickle needs more than {MAX_WORK} steps of work (opcodes and "
                                    "elements copied or hashed): a crafted file?")

    def keys(self, keys: Iterable[Any], table: Any = None) -> None:
        """Charge (and check) `keys` entering one hash table: `table` when it is filled in several
        steps (SETITEMS batches), else a new one. The common case, flat keys of distinct hashes,
        is checked at C speed; only collisions take the counting loop (and pay for it)."""
        keys = keys if isinstance(keys, list | tuple) else list(keys)
        self.charge(len(keys))
        if not set(map(type, keys)) <= _FLAT_KEYS:
            for key in keys:
                check_key(key, self)
        hashes = list(map(hash, keys))
        counts = None if table is None else self._tables.setdefault(id(table), {})
        if len(set(hashes)) == len(hashes) and (counts is None or counts.keys().isdisjoint(hashes)):
            if counts is not None:
                counts.update(dict.fromkeys(hashes, 1))
            return
        counts = {} if counts is None else counts
        for h in hashes:
            n = counts[h] = counts.get(h, 0) + 1
            self.charge(n - 1)


_FLAT_KEYS = frozenset((str, int, float, bool, bytes, type(None)))


_budget: ContextVar[Budget] = ContextVar("mckpt_unpickle_budget")


def charge(units: int) -> None:
    """Charge the pickle being read (the builders below call this for the work they do)."""
    _budget.get().charge(units)


def call_cost(args: Any) -> int:
    """Units a call with `args` costs before its own work: one, plus the size of every sized argument
    (CPython copies or walks them: `tuple(x)`, `f(*args)`, `bool(x)` of a dict subclass...)."""
    if not isinstance(args, tuple):
        return 1
    if len(args) > 8:  # no builder of ours walks its arguments when it takes this many
        return 1 + len(args)
    return 1 + len(args) + sum(len(a) for a in args if isinstance(a, _SIZED))


_SIZED = (str, bytes, bytearray, list, tuple, dict, set, frozenset)


_Op = Any
_dispatch: dict[int, _Op] = dict(pickle._Unpickler.dispatch)  # type: ignore[attr-defined]


def _op(code: bytes) -> Any:
    def register(fn: Any) -> Any:
        _dispatch[code[0]] = fn
        return fn

    return register


class SafeUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]
    """Unpickles with :func:`_allowed` builders and records every global it met.

    This is pickle's pure-Python unpickler, not the C one: the C unpickler sizes its memo as an
    array from the index a pickle names (an 8-byte pickle made it allocate 2 GB) and hashes dict
    keys where nothing can check them first. Here every opcode that calls, hashes or mutates is
    overridden below, and each opcode is charged to a :class:`Budget`.
    """

    dispatch = _dispatch

    def __init__(self, file: Any, storages: dict[str, StorageRef] | None = None, unframed: bool = False) -> None:
        super().__init__(file)
        self.unframed = unframed  # the pickle declared protocol 0-3, which has no frames
        self.globals_seen: set[str] = set()
        self.storages: dict[str, StorageRef] = storages if storages is not None else {}
        self.budget = Budget()
        self._builders: dict[int, Any] = {}  # id → what find_class returned: the only callables
        self._placeholders: dict[str, type[Placeholder]] = {}

    def load(self) -> Any:
        """pickle's own reading loop (`pickle._Unpickler.load`), with each opcode charged to the
        budget in the loop itself: a metered dispatch table cost two Python calls per opcode, a
        third of the time an inspect spends unpickling."""
        self._unframer = pickle._Unframer(self._file_read, self._file_readline)  # type: ignore[attr-defined]
        # Unframed (protocol 0-3, what torch writes): reads go to the file itself, one Python call
        # per opcode fewer; the unframer would only have passed them on.
        self.read = read = self._file_read if self.unframed else self._unframer.read
        self.readinto = self._unframer.readinto
        self.readline = self._unframer.readline
        self.metastack: list[Any] = []
        self.stack: list[Any] = []
        self.append = self.stack.append
        self.proto = 0
        budget, dispatch = self.budget, self.dispatch
        try:
            while True:
                key = read(1)
                if not key:
                    raise EOFError
                budget.work -= 1
                if budget.work < 0:
                    budget.charge(0)  # raises, with the budget's own words
                dispatch[key[0]](self)
        except pickle._Stop as stop:  # type: ignore[attr-defined]
            return stop.value

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
        if builder is None:
            top = module.split(".", 1)[0]
            if top in _DENIED_TOP or "." in name or name.startswith("__"):
                raise UnsafePickle(qualname)
            builder = self._placeholders.get(qualname)
            if builder is None:
                if len(self._placeholders) >= MAX_UNKNOWN_CLASSES:
                    raise CorruptCheckpoint(f"the pickle names more than {MAX_UNKNOWN_CLASSES} classes")
                builder = self._placeholders[qualname] = new_placeholder_class(qualname)
        self._builders[id(builder)] = builder
        return builder

    def _builder(self, func: Any, opcode: str) -> Any:
        """`func` if find_class returned it; the pickle may call nothing else."""
        if self._builders.get(id(func)) is not func:
            raise CorruptCheckpoint(f"{opcode} of {describe_value(func)}, which the pickle did not import")
        return func

    def _callable(self, func: Any, opcode: str) -> Any:
        func = self._builder(func, opcode)
        return _NAMESPACE if func is PickledNamespace else func  # dict(...) hashes: check the keys

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise CorruptCheckpoint(f"unexpected persistent id ({describe_value(pid)})")
        storage_type, numel = pid[1], pid[4]
        key, location = _text(pid[2], "a storage key"), _text(pid[3], "a storage location")
        if not isinstance(storage_type, StorageType) or type(numel) is not int or not 0 <= numel < 1 << 62:
            raise CorruptCheckpoint("malformed storage record in the pickle")
        ref = self.storages.get(key)
        if ref is None:
            ref = StorageRef(key, storage_type.dtype, numel, location)
            self.storages[key] = ref
        view = pid[5] if len(pid) > 5 else None
        if view:  # legacy format: a view into a larger storage (view_key, offset, size)
            if not (isinstance(view, tuple) and len(view) == 3 and all(
                    type(v) is int and 0 <= v < 1 << 62 for v in view[1:])):
                raise CorruptCheckpoint("malformed storage view in the pickle")
            _, view_offset, view_size = view
            return StorageRef(f"{key}@{view_offset}", ref.dtype, view_size, location)
        return ref

    # -- opcodes that call --------------------------------------------------------------------------

    @_op(pickle.REDUCE)
    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self._callable(self.stack[-1], "a call")
        if not isinstance(args, tuple):
            raise CorruptCheckpoint("a call without an argument tuple")
        self.budget.charge(call_cost(args))
        self.stack[-1] = func(*args)

    def _instantiate(self, klass: Any, args: list[Any]) -> None:  # INST and OBJ (protocol 0/1)
        func = self._callable(klass, "an instance")
        self.budget.charge(call_cost(tuple(args)))
        self.append(func(*args))

    @_op(pickle.NEWOBJ)
    def load_newobj(self) -> None:
        args = self.stack.pop()
        self.append(self._new(self.stack.pop(), args))

    @_op(pickle.NEWOBJ_EX)
    def load_newobj_ex(self) -> None:
        self.stack.pop()  # keyword arguments: our classes take none
        args = self.stack.pop()
        self.append(self._new(self.stack.pop(), args))

    def _new(self, cls: Any, args: Any) -> Any:
        cls = self._builder(cls, "an instance")
        if not (isinstance(cls, type) and issubclass(cls, _INSTANTIABLE) and isinstance(args, tuple)):
            raise CorruptCheckpoint(f"an instance of {describe_value(cls)}")
        self.budget.charge(call_cost(args))
        return cls.__new__(cls, *args)

    @_op(pickle.BUILD)
    def load_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        self.budget.charge(call_cost((state,)))
        if isinstance(inst, PickledNamespace) and isinstance(state, dict):
            self.budget.keys(list(state))  # it copies the state's keys into itself
        if isinstance(inst, NdArray):
            decode_ndarray(inst, state, self.budget)
        elif isinstance(inst, (*_INSTANTIABLE, NumpyDType)) and not isinstance(inst, type):
            type(inst).__setstate__(inst, state)  # the class's method, never an attribute of inst
        else:
            raise CorruptCheckpoint(f"the pickle sets the state of {describe_value(inst)}")

    @_op(pickle.FRAME)
    def load_frame(self) -> None:
        if self.unframed:
            raise CorruptCheckpoint("the pickle declares protocol 0-3 and frames its data like protocol 4+ "
                                    "(torch writes protocol 2): a crafted file?")
        pickle._Unpickler.load_frame(self)  # type: ignore[attr-defined]

    @_op(pickle.EXT1)
    @_op(pickle.EXT2)
    @_op(pickle.EXT4)
    def load_ext(self) -> None:
        # The extension registry is process-wide and its cache returns objects without find_class.
        raise CorruptCheckpoint("the pickle uses the extension registry (torch never does)")

    # -- opcodes that hash or mutate ------------------------------------------------------------------

    def _set_items(self, target: Any, items: list[Any]) -> None:
        if isinstance(target, Placeholder):
            for i in range(0, len(items) - 1, 2):
                target[items[i]] = items[i + 1]
        elif isinstance(target, dict):
            self.budget.keys(items[0::2], target)
            for i in range(0, len(items) - 1, 2):
                target[items[i]] = items[i + 1]
        else:
            raise CorruptCheckpoint(f"the pickle sets items of {describe_value(target)}")

    @_op(pickle.SETITEM)
    def load_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._set_items(self.stack[-1], [key, value])

    @_op(pickle.SETITEMS)
    def load_setitems(self) -> None:
        items = self.pop_mark()
        self._set_items(self.stack[-1], items)

    @_op(pickle.DICT)
    def load_dict(self) -> None:
        d: dict[Any, Any] = {}
        self._set_items(d, self.pop_mark())
        self.append(d)

    @_op(pickle.ADDITEMS)
    def load_additems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if not isinstance(target, set):
            raise CorruptCheckpoint(f"the pickle adds set items to {describe_value(target)}")
        self.budget.keys(items, target)
        target.update(items)

    @_op(pickle.FROZENSET)
    def load_frozenset(self) -> None:
        items = self.pop_mark()
        self.budget.keys(items)
        self.append(frozenset(items))

    @_op(pickle.APPEND)
    def load_append(self) -> None:
        value = self.stack.pop()
        self._extend(self.stack[-1], [value])

    @_op(pickle.APPENDS)
    def load_appends(self) -> None:
        items = self.pop_mark()
        self._extend(self.stack[-1], items)

    def _extend(self, target: Any, items: list[Any]) -> None:
        if type(target) is not list and not isinstance(target, Placeholder):
            raise CorruptCheckpoint(f"the pickle appends to {describe_value(target)}")
        target.extend(items)

    # -- opcodes that allocate from a declared size ---------------------------------------------------

    @_op(pickle.BYTEARRAY8)
    def load_bytearray8(self) -> None:
        (n,) = struct.unpack("<Q", self.read(8))
        data = self.read(n)  # never more than the pickle holds (pickle's own allocates `n` first)
        if len(data) != n:
            raise CorruptCheckpoint("truncated: the pickle ends inside a bytearray")
        self.append(bytearray(data))

    @_op(pickle.LONG4)
    def load_long4(self) -> None:
        (n,) = struct.unpack("<i", self.read(4))
        if not 0 <= n <= 1024:  # bigger ints cannot even be printed (sys.int_max_str_digits)
            raise CorruptCheckpoint(f"the pickle holds an integer of {n} bytes")
        self.append(pickle.decode_long(self.read(n)))  # type: ignore[attr-defined]


_NAMESPACE = _checked_items(PickledNamespace)


def check_tree(obj: Any) -> None:
    """Refuse object trees that the readers could not walk: cycles, deep nesting, and shared
    containers or strings that expand past :data:`MAX_TREE_NODES` when walked as a tree (a list
    holding the same list twice, 60 levels deep, is a few hundred bytes of pickle and 2**60 nodes).

    Leaves (most of a checkpoint's nodes: strings, numbers, tensor references) are sized where
    their container is expanded, never pushed on the stack: every reader pays this walk per file."""
    sizes: dict[int, int] = {}  # id → expanded size, for nodes done
    on_path: set[int] = set()
    keep = []  # objects whose ids are in `sizes` stay alive, so no id is reused meanwhile
    kids = _children(obj)
    if not kids:
        return
    stack: list[tuple[Any, int, list[Any], bool]] = [(obj, 1, kids, False)]  # (node, depth, kids, expanded)
    while stack:
        x, depth, kids, expanded = stack[-1]
        if not expanded:
            if id(x) in on_path:
                raise CorruptCheckpoint("the pickle's object tree contains itself (a cycle)")
            if depth > MAX_DEPTH:
                raise CorruptCheckpoint(f"the pickle nests more than {MAX_DEPTH} levels deep")
            on_path.add(id(x))
            stack[-1] = (x, depth, kids, True)
            for k in kids:
                if id(k) in sizes:
                    continue
                grandkids = _children(k)
                if grandkids:
                    stack.append((k, depth + 1, grandkids, False))
                    continue
                # Text counts by its length (a node per 16 characters): one long string fetched
                # back from the memo thousands of times is two bytes per use in the pickle, and
                # hundreds of megabytes in the JSON or table that shows every use.
                sizes[id(k)] = 1 + (k.count if isinstance(k, NdArray) else
                                    len(k) // 16 if isinstance(k, str | bytes | bytearray) else 0)
                keep.append(k)
            continue
        stack.pop()
        on_path.discard(id(x))
        total = 1 + sum(sizes[id(k)] for k in kids)
        if total > MAX_TREE_NODES:
            raise CorruptCheckpoint(f"the pickle's object tree expands to more than {MAX_TREE_NODES} nodes "
                                    "(shared containers or strings)")
        sizes[id(x)] = total
        keep.append(x)


def _children(x: Any) -> list[Any]:
    if isinstance(x, dict):
        kids = [*x.keys(), *x.values()]
        meta = vars(x).get("_metadata") if isinstance(x, StateDict) else None
        return [*kids, meta] if meta is not None else kids
    if isinstance(x, list | tuple | set | frozenset):
        return list(x)
    if isinstance(x, Placeholder):
        return [x.args, x.state, x.items]
    if isinstance(x, slice):  # plain numbers only (see _plain_numbers), but walked all the same
        return [x.start, x.stop, x.step]
    return []


@dataclass
class Unpickled:
    """The result of unpickling: the object tree, the globals it named, the storages it uses."""

    obj: Any
    globals_seen: set[str] = field(default_factory=set)
    storages: dict[str, StorageRef] = field(default_factory=dict)


def safe_loads(data: bytes | io.BufferedIOBase | Any, storages: dict[str, StorageRef] | None = None
               ) -> Unpickled:
    """Unpickle bytes (or a file-like object) with the allow-list; raise MckptError on bad input."""
    whole = isinstance(data, bytes | bytearray | memoryview)
    file = io.BytesIO(data) if whole else data
    unframed = whole and len(data) > 1 and bytes(data[:1]) == pickle.PROTO and data[1] <= 3
    up = SafeUnpickler(file, storages, unframed=unframed)
    token = _budget.set(up.budget)
    try:
        obj = up.load()
        check_tree(obj)
    except (UnsafePickle, CorruptCheckpoint):
        raise
    except RecursionError:
        raise CorruptCheckpoint("the pickle nests too deeply") from None
    except MemoryError:
        raise CorruptCheckpoint("the pickle asks for more memory than it holds") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error, UnicodeDecodeError, OverflowError) as e:
        raise CorruptCheckpoint(f"the pickle is malformed or truncated ({type(e).__name__})") from None
    finally:
        _budget.reset(token)
    return Unpickled(obj, up.globals_seen, up.storages)
