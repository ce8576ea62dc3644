"""The unpickler's allow-list against a reviewed list kept here, and a hostile payload for each
callable that sits next to an allowed one.

The allow-list is the heart of the promise that reading never runs pickle code: a wider one must
fail a test, not pass unnoticed. So the globals it accepts are enumerated (every name of every
module a pickle could name near the allowed ones, and more) and compared with `REVIEWED`; a change
to the allow-list is a change to this file, made by someone who read why.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import pickle
import struct
from pathlib import Path
from typing import Any

import pytest

import mckpt.torchfile.unpickler as unpickler
from mckpt.errors import CorruptCheckpoint, UnsafePickle
from mckpt.torchfile.unpickler import StorageType, safe_loads

# module -> the names a pickle may import from it. Reviewed: each is a builder of mckpt's own (it
# checks its arguments) or a plain value constructor; none reads attributes, imports, or calls
# what it is given.
REVIEWED: dict[str, frozenset[str]] = {
    "builtins": frozenset("bool bytearray bytes complex dict float frozenset int list object range set slice str "
                          "tuple".split()),
    "collections": frozenset({"OrderedDict", "defaultdict"}),
    "argparse": frozenset({"Namespace"}),
    "_codecs": frozenset({"encode"}),
    "copyreg": frozenset({"_reconstructor"}),
    "numpy": frozenset({"dtype", "ndarray"}),
    "numpy.core.multiarray": frozenset({"_reconstruct", "scalar"}),
    "torch._utils": frozenset({"_rebuild_parameter", "_rebuild_parameter_with_state", "_rebuild_tensor",
                               "_rebuild_tensor_v2", "_rebuild_tensor_v3"}),
    "torch._tensor": frozenset({"_rebuild_from_type_v2"}),
    "torch.nn.parameter": frozenset({"Parameter"}),
    # dtypes are inert strings; `Size` is a checked tuple; `device` a checked builder.
    "torch": frozenset(
        "Size Tensor device bfloat16 bool cdouble cfloat complex128 complex32 complex64 double float float16 "
        "float32 float64 float8_e4m3fn float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz float8_e8m0fnu half int int16 "
        "int32 int64 int8 long qint32 qint8 quint2x4 quint4x2 quint8 short uint16 uint32 uint64 uint8".split()),
}
REVIEWED["__builtin__"] = REVIEWED["builtins"]  # protocol 2 spells builtins so
REVIEWED["numpy._core.multiarray"] = REVIEWED["numpy.core.multiarray"]  # numpy 2's name
# `torch.<X>Storage` and `torch.storage.<X>Storage`, any X: an inert StorageType marker carrying
# the dtype, checked below to be nothing else.
STORAGE_MODULES = ("torch", "torch.storage")

# The Python builtins a builder may be itself (every other builder is a function or class of mckpt).
PLAIN_BUILTINS = (int, float, bool, object)

# Callables next to the allowed ones that would run code, read attributes or import, each with
# arguments it would accept: if one is ever allowed, its call runs (and the test sees it).
NEIGHBOURS: list[tuple[str, str, tuple[Any, ...]]] = [
    ("builtins", "getattr", ("x", "upper")),
    ("builtins", "setattr", ("x", "y", 1)),
    ("builtins", "delattr", ("x", "y")),
    ("builtins", "vars", ()),
    ("builtins", "globals", ()),
    ("builtins", "locals", ()),
    ("builtins", "__import__", ("os",)),
    ("builtins", "eval", ("__import__('os').system('touch {m}')",)),
    ("builtins", "exec", ("__import__('os').system('touch {m}')",)),
    ("builtins", "compile", ("1", "f", "eval")),
    ("builtins", "open", ("{m}", "w")),
    ("builtins", "type", ("X", (), {})),
    ("builtins", "breakpoint", ()),
    ("builtins", "print", ("x",)),
    ("builtins", "map", ("x", "y")),
    ("builtins", "memoryview", (b"x",)),
    ("builtins", "classmethod", ("x",)),
    ("builtins", "super", ()),
    ("__builtin__", "getattr", ("x", "upper")),
    ("__builtin__", "eval", ("__import__('os').system('touch {m}')",)),
    ("operator", "attrgetter", ("upper",)),
    ("operator", "methodcaller", ("upper",)),
    ("operator", "itemgetter", (0,)),
    ("operator", "getitem", ("x", 0)),
    ("functools", "partial", ("x",)),
    ("functools", "reduce", ("x", "y")),
    ("importlib", "import_module", ("os",)),
    ("importlib.util", "find_spec", ("os",)),
    ("pkgutil", "resolve_name", ("os:system",)),
    ("pkgutil", "get_data", ("os", "x")),
    ("os", "system", ("touch {m}",)),
    ("posix", "system", ("touch {m}",)),
    ("os", "popen", ("touch {m}",)),
    ("os", "remove", ("{m}",)),
    ("subprocess", "Popen", (["touch", "{m}"],)),
    ("subprocess", "check_output", (["touch", "{m}"],)),
    ("sys", "modules", ()),
    ("sys", "exit", (3,)),
    ("runpy", "run_path", ("{m}",)),
    ("shutil", "rmtree", ("{m}",)),
    ("codecs", "open", ("{m}", "w")),
    ("types", "FunctionType", ("x", {})),
    ("copyreg", "_reconstructor", ("x", "y", "z")),  # allowed itself: only with allowed classes (below)
    ("collections", "namedtuple", ("X", "a")),
    ("collections.OrderedDict", "fromkeys", ("x",)),  # a method chained through a module path
    ("argparse", "ArgumentParser", ()),
    ("_codecs", "decode", (b"x", "idna")),
    ("numpy", "load", ("{m}",)),
    ("numpy.core.multiarray", "frombuffer", (b"x",)),
    ("torch", "load", ("{m}",)),
    ("torch", "save", ("x", "{m}")),
    ("torch._utils", "_rebuild_device_tensor_from_numpy", ()),
    ("torch.storage", "_load_from_bytes", (b"x",)),
    ("torch.serialization", "load", ("{m}",)),
    ("utils.buffer", "__reduce_ex__", ()),  # a dunder of a module that is otherwise a placeholder
    ("utils.buffer", "Buffer.__init__", ()),  # a chain under a placeholder module
]


def candidate_names(module: str) -> set[str]:
    """Every name a pickle could plausibly ask of `module`: its own, the builtins', the reviewed
    ones and the neighbours'."""
    names = set(dir(builtins)) | {n for names in REVIEWED.values() for n in names}
    names |= {n for _, n, _ in NEIGHBOURS} | {"EvilStorage", "Storage"}
    real = {"__builtin__": "builtins"}.get(module, module)
    if real not in ("utils.buffer", "collections.OrderedDict"):  # no modules (Mammoth's; a class)
        names |= set(dir(importlib.import_module(real)))
    return names


MODULES = sorted({*REVIEWED, *STORAGE_MODULES, *(m for m, _, _ in NEIGHBOURS), "numpy.core.multiarray"})


@pytest.mark.parametrize("module", MODULES)
def test_the_allow_list_is_the_reviewed_list(module: str) -> None:
    allowed = {n for n in candidate_names(module) if unpickler._allowed(module, n) is not None}
    storages = {n for n in allowed if module in STORAGE_MODULES and n.endswith("Storage")}
    assert allowed - storages == REVIEWED.get(module, frozenset()), (
        f"{module}: the allow-list changed; review the change and update REVIEWED")
    for name in storages:
        assert type(unpickler._allowed(module, name)) is StorageType, f"{module}.{name}"


@pytest.mark.parametrize("module", sorted(REVIEWED))
def test_every_builder_is_mckpts_own_or_a_plain_constructor(module: str) -> None:
    for name in REVIEWED[module]:
        builder = unpickler._allowed(module, name)
        if isinstance(builder, str) or builder in PLAIN_BUILTINS:
            continue  # a dtype name, or int/float/bool/object
        where = inspect.getmodule(builder)
        assert where is not None and where.__name__.startswith("mckpt."), f"{module}.{name} is {builder!r}"


def payload(module: str, name: str, args: tuple[Any, ...], marker: Path) -> bytes:
    """`module.name(*args)` as pickle opcodes (protocol 2, GLOBAL + REDUCE)."""
    filled = tuple(a.replace("{m}", str(marker)) if isinstance(a, str) else
                   [x.replace("{m}", str(marker)) for x in a] if isinstance(a, list) else a for a in args)
    body = pickle.dumps(filled, protocol=2)[2:-1]  # the tuple's opcodes, without PROTO and STOP
    return b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n" + body + b"R."


@pytest.mark.parametrize(("module", "name", "args"), [n for n in NEIGHBOURS if n[:2] not in
                                                      {("copyreg", "_reconstructor")}],
                         ids=[f"{m}.{n}" for m, n, _ in NEIGHBOURS if (m, n) != ("copyreg", "_reconstructor")])
def test_each_neighbour_is_refused_and_runs_nothing(module: str, name: str, args: tuple[Any, ...],
                                                   tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    attack = payload(module, name, args, marker)
    with pytest.raises((UnsafePickle, CorruptCheckpoint)) as refused:
        safe_loads(attack)
    assert not marker.exists()
    if module.split(".")[0] in unpickler._DENIED_TOP or "." in name or name.startswith("__"):
        # refused by name, before anything is called
        assert type(refused.value) is UnsafePickle and name in str(refused.value)


def test_reconstructor_builds_only_allowed_classes(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    attack = (b"ccopy_reg\n_reconstructor\n(cos\nsystem\nc__builtin__\nobject\nS'touch " + str(marker).encode()
              + b"'\ntR.")
    with pytest.raises(UnsafePickle):
        safe_loads(attack)
    assert not marker.exists()


# --- the work budget: hash collisions spread over several SETITEMS batches -----------------------

def colliding_int(k: int) -> bytes:
    """An int whose hash is 7, like every other k (CPython hashes ints modulo 2**61 - 1)."""
    n = k * (2**61 - 1) + 7
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw  # LONG1


def one_dict(keys: list[bytes], batch: int) -> bytes:
    """A dict filled by SETITEMS batches of `batch` keys each (value None)."""
    body = b"\x80\x02}"
    for i in range(0, len(keys), batch):
        body += b"(" + b"".join(k + b"N" for k in keys[i : i + batch]) + b"u"
    return body + b"."


@pytest.mark.parametrize("batch", [1, 7, 100])
def test_collisions_across_batches_into_one_dict_are_charged(batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    # 400 keys of one hash cost 400*399/2 = 79,800 probes whichever way they arrive; the opcodes
    # alone are ~1,300 units. A budget of 20,000 lets the opcodes through and must stop the probes.
    monkeypatch.setattr(unpickler, "MAX_WORK", 20_000)
    with pytest.raises(CorruptCheckpoint, match="steps of work"):
        safe_loads(one_dict([colliding_int(k) for k in range(400)], batch))


def test_distinct_keys_in_many_batches_stay_cheap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unpickler, "MAX_WORK", 20_000)
    keys = [b"J" + struct.pack("<i", k) for k in range(400)]  # BININT: distinct hashes
    assert len(safe_loads(one_dict(keys, 1)).obj) == 400
