"""Crafted pickles against the allow-list unpickler: nothing runs, nothing blows up memory or time.

Each pickle here is a few bytes to a few KB; before the reader was hardened most of them ran for
minutes, allocated gigabytes, or escaped as a non-MckptError exception.
"""

from __future__ import annotations

import copyreg
import pickle
import struct
from pathlib import Path

import pytest

import mckpt.torchfile.unpickler as unpickler
from mckpt.domain.checkpoint import to_plain
from mckpt.errors import CorruptCheckpoint, MckptError, UnsafePickle
from mckpt.torchfile.unpickler import safe_loads
from mckpt.torchfile.values import NdArray, PickledNamespace, StateDict

P2 = b"\x80\x02"


def put(i: int) -> bytes:
    return b"r" + struct.pack("<I", i)


def get(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)


def text(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def doubling(depth: int, leaf: bytes, pair: bytes) -> bytes:
    """Memo entry `depth` holds `pair(entry depth-1, entry depth-1)`: 2**depth leaves as a tree."""
    body = leaf + put(0) + b"0"
    for i in range(depth):
        body += pair.replace(b"A", get(i)) + put(i + 1) + b"0"
    return body


def test_memo_index_does_not_size_memory() -> None:
    # The C unpickler sized its memo array from this index: 8 bytes of pickle, 2 GB of memory.
    assert safe_loads(P2 + b"N" + put(0x7FFFFFF0) + b".").obj is None


@pytest.mark.parametrize("where", ["dict key", "set member", "frozenset member"])
def test_shared_tuple_keys_are_not_hashed(where: str) -> None:
    # hash((t, t)) recurses into both halves: 60 levels would be 2**60 steps, in C, uninterruptible
    dag = doubling(60, b"K\x01\x85", b"AA\x86")
    tail = {"dict key": b"}" + get(60) + b"K\x00s.", "set member": b"\x8f(" + get(60) + b"\x90.",
            "frozenset member": b"(" + get(60) + b"\x91."}[where]
    with pytest.raises(CorruptCheckpoint, match="too nested to hash"):
        safe_loads(b"\x80\x04" + dag + tail)


def test_shared_lists_do_not_expand() -> None:
    # A list holding the same list twice, 60 levels deep: every reader walking it as a tree hangs.
    with pytest.raises(CorruptCheckpoint, match="expands to more than"):
        safe_loads(P2 + doubling(60, b"]", b"(AAl") + get(60) + b".")


def test_cycles_and_deep_nesting_are_refused() -> None:
    with pytest.raises(CorruptCheckpoint, match="cycle"):
        safe_loads(P2 + b"]" + put(0) + get(0) + b"a.")
    deep = P2 + b"]" * 100_000 + b"a" * 99_999 + b"."
    with pytest.raises(CorruptCheckpoint, match="levels deep"):
        safe_loads(deep)


def test_mammoth_sharing_is_still_read() -> None:
    # Sharing that real files have (one tensor under two names, a memoized string) stays readable.
    shared = {"w": [1.0, 2.0]}
    obj = safe_loads(pickle.dumps({"a": shared, "b": shared, "c": [shared] * 50}, protocol=2)).obj
    assert obj["c"][49] is obj["a"] and to_plain(obj)["b"] == {"w": [1.0, 2.0]}


STORAGE = b"(" + text("storage") + glob("torch", "FloatStorage") + text("0") + text("cpu") + b"K\x04tQ"
HUGE, SMALL = b"J\x00\x00\x00\x40", b"K\x05"  # 2**30, 5


@pytest.mark.parametrize("call, reason", [
    (glob("__builtin__", "list") + glob("__builtin__", "range") + HUGE + b"\x85R\x85R.", r"list\(\) of a range"),
    (glob("builtins", "tuple") + glob("builtins", "range") + HUGE + b"\x85R\x85R.", r"tuple\(\) of a range"),
    (glob("builtins", "bytearray") + HUGE + b"\x85R.", r"bytearray\(\) of 1073741824"),
    (glob("builtins", "bytes") + HUGE + b"\x85R.", r"bytes\(\) of 1073741824"),
    (glob("torch._utils", "_rebuild_tensor_v2") + b"(" + STORAGE + b"K\x00" + glob("builtins", "range")
     + HUGE + b"\x85R" + b")\x89)t" + b"R.", "a tensor shape that is not a tuple of sizes"),
])
def test_builtins_do_not_materialize_huge_values(call: bytes, reason: str) -> None:
    # Refused for the size (or for never iterating a range), not for some unrelated malformation.
    with pytest.raises(MckptError, match=reason):
        safe_loads(P2 + call)


def test_small_bytes_values_are_still_read() -> None:
    # The same calls with a small size are accepted: the refusal above is about the size.
    assert safe_loads(P2 + glob("builtins", "bytes") + SMALL + b"\x85R.").obj == bytes(5)
    assert safe_loads(P2 + glob("builtins", "bytearray") + SMALL + b"\x85R.").obj == bytearray(5)


def test_repr_of_a_huge_tree_is_never_taken() -> None:
    # str()/torch.device()/persistent ids used to format their argument: exponential for a DAG.
    dag = doubling(60, b"]", b"(AAl")
    for tail in (glob("builtins", "str") + get(60) + b"\x85R.",
                 glob("torch", "device") + get(60) + b"\x85R.",
                 b"(" + text("storage") + glob("torch", "FloatStorage") + get(60) + text("cpu")
                 + b"K\x01tQ."):
        with pytest.raises(CorruptCheckpoint, match="is a list, not text"):
            safe_loads(P2 + dag + tail)


def test_zero_sized_numpy_dimensions_are_bounded() -> None:
    # shape (10**9, 0) holds no element but would have been built as 10**9 empty lists
    arr = (glob("numpy.core.multiarray", "_reconstruct") + glob("numpy", "ndarray") + b"K\x00\x85C\x01b\x87R"
           + b"(K\x01J\x00\xca\x9a\x3bK\x00\x86" + glob("numpy", "dtype") + text("f8") + b"\x89\x88\x87R"
           + b"\x89C\x00tb.")
    obj = safe_loads(P2 + arr).obj
    assert isinstance(obj, NdArray) and obj.value is None


def test_numpy_decoding_has_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    np = pytest.importorskip("numpy")
    monkeypatch.setattr(unpickler, "MAX_DECODED_ELEMENTS", 1000)
    obj = safe_loads(pickle.dumps([np.zeros(600), np.zeros(600)], protocol=2)).obj
    assert [a.value is None for a in obj] == [False, True]


def test_opcode_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unpickler, "MAX_WORK", 1000)
    assert safe_loads(P2 + b"\x8f0" * 400 + b"N.").obj is None
    with pytest.raises(CorruptCheckpoint, match="more than 1000 steps of work"):
        safe_loads(P2 + b"\x8f" * 1000 + b".")


def test_huge_ints_are_refused() -> None:
    with pytest.raises(CorruptCheckpoint, match="integer of"):
        safe_loads(P2 + b"\x8b" + struct.pack("<i", 10_000) + b"\x01" * 10_000 + b".")


def test_bytearray8_does_not_allocate_its_declared_size() -> None:
    with pytest.raises(CorruptCheckpoint, match="truncated"):
        safe_loads(b"\x80\x05\x96" + struct.pack("<Q", 1 << 40) + b"ab.")


def test_tensor_fields_are_checked() -> None:
    storage = b"(" + text("storage") + glob("torch", "FloatStorage") + text("0") + text("cpu") + b"K\x04tQ"
    rebuild = glob("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + b"K\x00"
    ok = safe_loads(P2 + rebuild + b"K\x02K\x02\x86K\x02K\x01\x86\x89)tR.").obj
    assert (ok.shape, ok.stride) == ((2, 2), (2, 1))
    for bad in (b"J\xff\xff\xff\xff\x85K\x01\x85\x89)tR.",  # negative size
                b"K\x02\x85K\x01K\x01\x86\x89)tR.",  # stride of another rank
                text("abc") + b"K\x01\x85\x89)tR."):  # a string as the shape
        with pytest.raises(CorruptCheckpoint):
            safe_loads(P2 + rebuild + bad)


# -- routes to a call -----------------------------------------------------------------------------


def test_build_cannot_change_our_classes() -> None:
    # BUILD on a class used to setattr on it: a crafted file could rewire PickledNamespace (or a
    # Placeholder class) for every file read later in the same process.
    before = dict(vars(PickledNamespace))
    attack = glob("argparse", "Namespace") + b"N}" + text("__setstate__") + glob("builtins", "list") + b"s\x86b."
    with pytest.raises(CorruptCheckpoint, match="sets the state of"):
        safe_loads(P2 + attack)
    assert dict(vars(PickledNamespace)) == before


def test_state_dict_methods_cannot_be_shadowed() -> None:
    # `{'items': list}` as the OrderedDict's state used to land in its __dict__, so `sd.items()`
    # called whatever the pickle named.
    od = glob("collections", "OrderedDict") + b")R" + b"}" + text("items") + glob("builtins", "bytes") + b"s"
    od += text("_metadata") + b"}sb"
    sd = safe_loads(P2 + od + b".").obj
    assert isinstance(sd, StateDict) and "items" not in vars(sd) and sd._metadata == {}
    assert list(sd.items()) == []


@pytest.mark.parametrize("attack", [
    P2 + glob("builtins", "object") + b")\x81.",  # NEWOBJ of a builtin
    P2 + glob("argparse", "Namespace") + b"N)\x81.",  # NEWOBJ of a non-class stack value
    b"\x80\x04" + glob("utils.buffer", "Buffer") + b")}\x92.",  # NEWOBJ_EX with kwargs: kwargs dropped
    P2 + b"K\x01)R.",  # REDUCE of something find_class never returned
    b"(" + glob("builtins", "int") + text("7") + b"o.",  # OBJ: allowed, int('7')
])
def test_calls_go_only_through_find_class(attack: bytes) -> None:
    try:
        obj = safe_loads(attack).obj
    except CorruptCheckpoint:
        return
    assert obj == 7 or type(obj).__name__ == "Buffer"


def test_extension_registry_is_not_consulted(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    copyreg.add_extension("os", "system", 0x7FFFFFF0)
    try:
        pickle.loads(b"\x80\x02\x84" + struct.pack("<i", 0x7FFFFFF0) + b".")  # fills pickle's cache
        attack = P2 + b"\x84" + struct.pack("<i", 0x7FFFFFF0) + text(f"touch {marker}") + b"\x85R."
        with pytest.raises(CorruptCheckpoint, match="extension registry"):
            safe_loads(attack)
    finally:
        copyreg.remove_extension("os", "system", 0x7FFFFFF0)
    assert not marker.exists()


@pytest.mark.parametrize("attack", [
    b"(S'touch {m}'\nios\nsystem\n.",  # INST, protocol 0
    b"(cposix\nsystem\nS'touch {m}'\no.",  # OBJ
    b"ccopy_reg\n_reconstructor\n(cos\nsystem\nc__builtin__\nobject\nS'touch {m}'\ntR.",
    b"\x80\x02ctorch._tensor\n_rebuild_from_type_v2\n(cbuiltins\nexec\nNNtR.",
    b"\x80\x02cpickle\nloads\nC\x05\x80\x02N.\x85R.",  # a nested pickle
    b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x0b\x00\x00\x00idna_polyfl\x86R.",
])
def test_protocol0_and_nested_routes_run_nothing(attack: bytes, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises((UnsafePickle, CorruptCheckpoint)):
        safe_loads(attack.replace(b"{m}", str(marker).encode()))
    assert not marker.exists()


def test_a_matrix_of_shared_rows_is_bounded(tmp_path: Path) -> None:
    """One 1,500-number row shared by 1,500 rows: a few KB naming 2.25M accuracies (under the tree
    limit, so it reaches the model)."""
    import torch

    from mckpt import read_checkpoint
    from mckpt.domain.checkpoint import MAX_TASKS

    row = [50.0] * 1500
    path = tmp_path / "wide.pt"
    torch.save({"model": {}, "args": {}, "results": [[row] * 1500, [[1.0]], {}]}, path)
    assert path.stat().st_size < 100_000
    ck = read_checkpoint(path)
    assert len(ck.class_il) == MAX_TASKS and all(len(r) == MAX_TASKS for r in ck.class_il)
    assert any("more than 1000 tasks" in w for w in ck.warnings)
    assert ck.task_il == [[1.0]]
