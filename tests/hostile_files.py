"""Hostile checkpoints, built from raw pickle opcodes and hand-made archives (no torch needed).

Used by tests/promises/test_hostile_classes.py (every class, several variants each) and by
bench/bench_hostile.py (peak memory and wall time of `inspect`, and `verify`, on each). Every file
is under 64 KB but the inflate class's (under 8 MiB: a deflate stream needs bytes to claim
gigabytes). A payload that ran would create the marker file; none may.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

P2 = b"\x80\x02"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MB = 1 << 20


def glob(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def text(s: str) -> bytes:
    raw = s.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(raw)) + raw


def put(i: int) -> bytes:
    return b"r" + struct.pack("<I", i)


def get(i: int) -> bytes:
    return b"j" + struct.pack("<I", i)


def call(func: bytes, *args: bytes) -> bytes:
    """`func(*args)` as opcodes: every argument an opcode sequence pushing one value."""
    return func + b"(" + b"".join(args) + b"tR"


def int_(n: int) -> bytes:
    if 0 <= n < 256:
        return b"K" + bytes([n])
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def mammoth(args: bytes, extra: bytes = b"") -> bytes:
    """A Mammoth-shaped pickle whose `args` is the value `args` pushes (memo slots 0-99 are free
    for it; ours start at 10_000)."""
    return (P2 + b"}(" + text("model") + b"}" + text("args") + args + text("results")
            + b"(]]}t" + extra + b"u.")


def args_dict(pairs: dict[str, str]) -> bytes:
    body = b"".join(text(k) + text(v) for k, v in pairs.items())
    return b"}(" + body + b"u"


# ---------------------------------------------------------------------------------------------------
# archives


def zip_bytes(members: list[tuple[str | bytes, bytes]], deflate: set[str] = frozenset()) -> bytes:  # type: ignore[assignment]
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as z:
        warnings.simplefilter("ignore")  # duplicate names are the point of some files
        for name, data in members:
            info = zipfile.ZipInfo(name if isinstance(name, str) else name.decode("latin-1"), (2025, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED if name in deflate else zipfile.ZIP_STORED
            z.writestr(info, data)
    return buf.getvalue()


def torch_members(pkl: bytes, folder: str = "archive") -> list[tuple[str | bytes, bytes]]:
    """What torch.save writes for a tensor-less tree (data.pkl first, as torch writes it)."""
    return [(f"{folder}/data.pkl", pkl), (f"{folder}/.format_version", b"1"),
            (f"{folder}/.storage_alignment", b"64"), (f"{folder}/byteorder", b"little"),
            (f"{folder}/version", b"3\n"), (f"{folder}/.data/serialization_id", b"0" * 40)]


def torch_zip(pkl: bytes) -> bytes:
    return zip_bytes(torch_members(pkl))


def legacy(main: bytes, sys_info: bytes | None = None, keys: bytes | None = None,
           protocol: bytes | None = None) -> bytes:
    """torch's legacy layout: magic, protocol, sys_info, the tree, the storage keys."""
    return (pickle.dumps(LEGACY_MAGIC, protocol=2) + (protocol or pickle.dumps(1001, protocol=2))
            + (sys_info or pickle.dumps({"protocol_version": 1001, "little_endian": True}, protocol=2))
            + main + (keys or pickle.dumps([], protocol=2)))


def _tar_member(name: str, data: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), 0
    return info.tobuf(tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512)


def tar_polyglot(tar_tree: bytes, pickle_tree: bytes | None) -> bytes:
    """A file that is both torch's pre-1.0 tar format (its `pickle` member holds `tar_tree`) and a
    legacy file whose main pickle is `pickle_tree` (or, for None, one lone pickle of a tree).
    torch.load reads the tar."""
    head = b"" if pickle_tree is None else pickle.dumps(LEGACY_MAGIC, protocol=2) + pickle.dumps(1001, protocol=2)
    # a pickle whose BINBYTES covers the rest of the first tar header and the members, then POP
    members = (_tar_member("storages", pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2))
               + _tar_member("tensors", pickle.dumps(0, protocol=2))
               + _tar_member("pickle", tar_tree) + b"\0" * 1024)
    opener = P2 + b"B" + struct.pack("<I", 512 - len(head) - 7 + len(members))
    block = bytearray((head + opener).ljust(512, b"\0"))
    # a regular-file tar header in the first block, whose name is the pickles' first bytes
    block[100:108], block[108:116], block[116:124] = b"0000644\0", b"0000000\0", b"0000000\0"
    block[124:136], block[136:148], block[156:157] = b"00000000000\0", b"00000000000\0", b"0"
    block[257:265] = b"ustar\x0000"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    if pickle_tree is None:
        return bytes(block) + members + b"0" + tree("lone")[2:]
    return bytes(block) + members + b"0}." + pickle_tree + pickle.dumps([], protocol=2)


# ---------------------------------------------------------------------------------------------------
# payloads: opcodes pushing one value; running any of them would create `marker`


def code_payloads(marker: Path) -> dict[str, bytes]:
    m = str(marker)
    sh = text(f"touch {m}")
    argv = b"(" + text("touch") + text(m) + b"l"
    py = text(f"open({m!r}, 'w').close()")
    imp = call(glob("builtins", "__import__"), text("os"))
    inner = P2 + call(glob("os", "system"), sh) + b"."
    nested = b"B" + struct.pack("<I", len(inner)) + inner
    return {
        "os.system": call(glob("os", "system"), sh),
        "posix.system": call(glob("posix", "system"), sh),
        "nt.system": call(glob("nt", "system"), sh),
        "subprocess.Popen": call(glob("subprocess", "Popen"), argv),
        "subprocess.check_output": call(glob("subprocess", "check_output"), argv),
        "py2 commands.getoutput": call(glob("commands", "getoutput"), sh),
        "builtins.eval": call(glob("builtins", "eval"), py),
        "builtins.exec": call(glob("builtins", "exec"), py),
        "__builtin__.eval": call(glob("__builtin__", "eval"), py),
        "builtins.compile": call(glob("builtins", "compile"), py, text("x"), text("exec")),
        "getattr chain": call(call(glob("builtins", "getattr"), imp, text("system")), sh),
        "getattr via dotted name": call(glob("builtins", "getattr.__self__.eval"), py),
        "dunder name": call(glob("argparse", "__builtins__"), py),
        "lookalike __builtins__": call(glob("__builtins__", "eval"), py),
        "lookalike builtins.eval.": call(glob("builtins.", "eval"), py),
        "importlib.import_module": call(glob("importlib", "import_module"), text("os")),
        "copyreg._reconstructor Popen": call(glob("copyreg", "_reconstructor"), glob("subprocess", "Popen"),
                                             glob("builtins", "object"), argv),
        "copy_reg._reconstructor os": call(glob("copy_reg", "_reconstructor"), glob("os", "system"),
                                           glob("builtins", "object"), sh),
        "functools.partial": call(call(glob("functools", "partial"), glob("os", "system"), sh)),
        "operator.methodcaller": call(call(glob("operator", "methodcaller"), text("system"), sh), imp),
        "operator.attrgetter": call(call(glob("operator", "attrgetter"), text("system")), imp),
        "pickle.loads nested": call(glob("pickle", "loads"), nested),
        "_pickle.loads nested": call(glob("_pickle", "loads"), nested),
        "marshal.loads": call(glob("marshal", "loads"), b"C\x01\x00"),
        "types.FunctionType": call(glob("types", "FunctionType"), b"N", b"}"),
        "runpy.run_path": call(glob("runpy", "run_path"), text(m)),
        "pty.spawn": call(glob("pty", "spawn"), sh),
        "torch.load": call(glob("torch.serialization", "load"), text(m)),
        "numpy.load": call(glob("numpy", "load"), text(m)),
        "numpy reconstruct of os.system": call(glob("numpy.core.multiarray", "_reconstruct"),
                                               glob("os", "system"), sh),
        "rebuild_from_type with exec": call(glob("torch._tensor", "_rebuild_from_type_v2"),
                                            glob("builtins", "exec"), b"N", b"(" + py + b"t", b"}"),
        "NEWOBJ Popen": glob("subprocess", "Popen") + b"(" + argv + b"t\x81",
        "INST os.system": b"(" + sh + b"ios\nsystem\n",
        "OBJ posix.system": b"(" + glob("posix", "system") + sh + b"o",
        "BUILD setstate hook": call(glob("utils.buffer", "Buffer")) + b"}" + text("__setstate__")
        + glob("os", "system") + b"sb",
        "unlisted pydoc.pipepager": call(glob("pydoc", "pipepager"), text("x"), sh),
        "unlisted uuid command": call(glob("uuid", "_get_command_stdout"), text("touch"), text(m)),
        "persistent id storage type": b"(" + text("storage") + call(glob("os", "system"), sh)
        + text("0") + text("cpu") + b"K\x01tQ",
    }


def code_files(marker: Path) -> dict[str, bytes]:
    """Every payload where torch.load meets a pickle: the zip's data.pkl (in args, at the top), a
    legacy file's main pickle and its side pickles, and a lone pickle."""
    out: dict[str, bytes] = {}
    for name, payload in code_payloads(marker).items():
        out[f"code/{name}/zip args"] = torch_zip(mammoth(payload))
        out[f"code/{name}/zip top"] = torch_zip(P2 + payload + b".")
        out[f"code/{name}/legacy main"] = legacy(mammoth(payload))
        out[f"code/{name}/legacy sys_info"] = legacy(mammoth(b"}"), sys_info=P2 + payload + b".")
        out[f"code/{name}/legacy keys"] = legacy(mammoth(b"}"), keys=P2 + b"(" + payload + b"l.")
        out[f"code/{name}/lone pickle"] = mammoth(payload)
    return out


# ---------------------------------------------------------------------------------------------------
# layouts torch reads differently (item 2): each file's benign pickle says which one was read


def tree(which: str) -> bytes:
    return pickle.dumps({"model": {}, "args": {"which": which}, "results": [[], [], {}]}, protocol=2)


def _swap(members: list[tuple[str | bytes, bytes]], name: str, data: bytes) -> list[tuple[str | bytes, bytes]]:
    return [(n, data if n == name else d) for n, d in members]


def layout_files() -> dict[str, bytes]:
    real = torch_members(tree("real"))
    rest = real[1:]
    d = "archive/data.pkl"
    out = {
        "layout/decoy beside data.pkl": zip_bytes([("archive/decoydata.pkl", tree("decoy")), *real]),
        "layout/decoy data.pkl in a subfolder": zip_bytes([*real, ("archive/sub/data.pkl", tree("decoy"))]),
        "layout/duplicate, decoy first": zip_bytes([(d, tree("decoy")), *rest, (d, tree("real"))]),
        "layout/duplicate, decoy last": zip_bytes([*real, (d, tree("decoy"))]),
        "layout/duplicate by case": zip_bytes([*real, ("archive/DATA.PKL", tree("decoy"))]),
        "layout/duplicate version": zip_bytes([*real, ("archive/version", b"99\n")]),
        "layout/member outside the folder": zip_bytes([*real, ("other/data.pkl", tree("decoy"))]),
        "layout/first member not in a folder": zip_bytes([("data.pkl", tree("decoy")), *real]),
        "layout/first member in a nested folder": zip_bytes([("archive/sub/x", b"")] + [
            (str(n).replace("archive/", "archive/sub/"), b) for n, b in real]),
        "layout/nested folder and a top data.pkl": zip_bytes([("archive/sub/x", b""), *real,
                                                              ("archive/sub/data.pkl", tree("decoy"))]),
        "layout/torchscript constants.pkl": zip_bytes([*real, ("archive/constants.pkl", tree("decoy"))]),
        "layout/no version": zip_bytes([m for m in real if m[0] != "archive/version"]),
        "layout/version 11": zip_bytes(_swap(real, "archive/version", b"11\n")),
        "layout/version text": zip_bytes(_swap(real, "archive/version", b"three\n")),
        "layout/.data/version overrides": zip_bytes([*real, ("archive/.data/version", b"0\n")]),
        "layout/byteorder with newline": zip_bytes(_swap(real, "archive/byteorder", b"little\n")),
        "layout/byteorder upper case": zip_bytes(_swap(real, "archive/byteorder", b"LITTLE")),
        "layout/alignment not a number": zip_bytes(_swap(real, "archive/.storage_alignment", b"sixty")),
        "layout/NUL in a name": zip_bytes([*real, ("archive/data.pkl\0x", tree("decoy"))]),
        "layout/name of 600 bytes": zip_bytes([*real, ("archive/" + "x" * 600, b"")]),
        "layout/empty zip": zip_bytes([]),
        "layout/junk before the zip": b"\0" * 64 + zip_bytes(real),
        "layout/encrypted data.pkl": _flag_encrypted(zip_bytes(real)),
        "layout/data.pkl missing": zip_bytes(rest),
    }
    out["layout/name not UTF-8"] = out["layout/decoy beside data.pkl"].replace(b"archive/decoydata",
                                                                              b"archive/\xff\xfecoydata")
    return out


def _flag_encrypted(data: bytes) -> bytes:
    """Set the 'encrypted' bit of data.pkl's central-directory record."""
    i = data.index(b"PK\x01\x02")
    return data[: i + 8] + b"\x01\x00" + data[i + 10 :]


def legacy_layout_files() -> dict[str, bytes]:
    return {
        "legacy/tar polyglot": tar_polyglot(tree("tar"), tree("legacy")),
        "legacy/tar polyglot, lone pickle": tar_polyglot(tree("tar"), None),
        "legacy/magic as protocol 4": pickle.dumps(LEGACY_MAGIC, protocol=4) + pickle.dumps(1001, protocol=4)
        + pickle.dumps({}, protocol=4) + tree("real") + pickle.dumps([], protocol=4),
        "legacy/magic as protocol 0": pickle.dumps(LEGACY_MAGIC, protocol=0) + legacy(tree("real"))[15:],
        "legacy/protocol 1002": legacy(tree("real"), protocol=pickle.dumps(1002, protocol=2)),
        "legacy/protocol as text": legacy(tree("real"), protocol=pickle.dumps("1001", protocol=2)),
        "legacy/keys name an unknown storage": legacy(tree("real"), keys=pickle.dumps(["0"], protocol=2)),
        "legacy/keys not a list": legacy(tree("real"), keys=pickle.dumps({"0": 1}, protocol=2)),
        "legacy/wrong magic": pickle.dumps(LEGACY_MAGIC + 1, protocol=2) + legacy(tree("real"))[15:],
    }


# ---------------------------------------------------------------------------------------------------
# small files that cost time or memory (items 6-9)

_BIG = call(glob("builtins", "bytes"), b"J" + struct.pack("<i", MB)) + put(10_000) + b"0"  # memo 10000
_BIG_LIST = call(glob("builtins", "list"), get(10_000)) + put(10_001) + b"0"  # 1M ints


def _repeat(setup: bytes, each: bytes, n: int) -> bytes:
    return setup + b"(" + each * n + b"l"


def amplification_files() -> dict[str, bytes]:
    bl = _BIG + _BIG_LIST
    # 2,000 distinct keys: a dict big enough to copy (its keys come from the file itself)
    keys = b"}(" + b"".join(int_(1000 + k) + b"N" for k in range(2000)) + b"u" + put(10_004) + b"0"
    colliding = b"}" + b"(" + b"".join(int_(k * (2**61 - 1) + 7) + b"N" for k in range(1, 4000)) + b"u"
    dag = b"]" + put(0) + b"0" + b"".join(b"(" + get(i) + get(i) + b"l" + put(i + 1) + b"0" for i in range(60))
    sdag = b"]" + put(0) + b"0" + b"".join(call(glob("builtins", "slice"), get(i), get(i)) + put(i + 1) + b"0"
                                          for i in range(60))
    files = {
        "alloc/list(bytes 1M) x400": _repeat(bl, call(glob("builtins", "list"), get(10_000)), 400),
        "alloc/tuple(list 1M) x400": _repeat(bl, call(glob("builtins", "tuple"), get(10_001)), 400),
        "alloc/set(list 1M) x400": _repeat(bl, call(glob("builtins", "set"), get(10_001)), 400),
        "alloc/dict(list 1M) x400": _repeat(bl, call(glob("builtins", "dict"), get(10_001)), 400),
        "alloc/dict(dict 2k) x2000": _repeat(keys, call(glob("builtins", "dict"), get(10_004)), 2000),
        "alloc/OrderedDict(dict 2k) x1500": _repeat(keys + glob("collections", "OrderedDict") + put(10_005) + b"0",
                                                    call(get(10_005), get(10_004)), 1500),
        "alloc/bytes(1M) x400": _repeat(b"", call(glob("builtins", "bytes"), b"J" + struct.pack("<i", MB)), 400),
        "alloc/bytearray(1M) x400": _repeat(b"", call(glob("builtins", "bytearray"), b"J" + struct.pack("<i", MB)),
                                            400),
        "alloc/bytes(list 1M) x400": _repeat(bl, call(glob("builtins", "bytes"), get(10_001)), 400),
        "alloc/str(bytes 1M) x400": _repeat(_BIG, call(glob("builtins", "str"), get(10_000), text("latin1")), 400),
        "alloc/unknown class(*1M) x400": _repeat(bl, glob("utils.buffer", "Buffer") + call(
            glob("builtins", "tuple"), get(10_001)) + b"R", 400),
        "alloc/NEWOBJ class(*1M) x400": _repeat(bl, glob("utils.buffer", "Buffer") + call(
            glob("builtins", "tuple"), get(10_001)) + b"\x81", 400),
        "alloc/Namespace state of 2k keys x2000": _repeat(keys + glob("argparse", "Namespace") + put(10_005) + b"0",
                                                          get(10_005) + b")R" + get(10_004) + b"b", 2000),
        "cpu/frozenset(list 1M) x200": _repeat(bl, call(glob("builtins", "frozenset"), get(10_001)), 200),
        "cpu/FROZENSET opcode of 10k refs to 1M": bl + b"(" + get(10_001) * 10_000 + b"\x91",
        "cpu/colliding int keys": colliding,
        "cpu/colliding keys, set()": call(glob("builtins", "set"), b"(" + b"".join(
            int_(k * (2**61 - 1) + 7) for k in range(1, 5000)) + b"l"),
        "cpu/shared tuple key": b"K\x01\x85" + put(0) + b"0" + b"".join(
            get(i) + get(i) + b"\x86" + put(i + 1) + b"0" for i in range(60)) + b"}" + get(60) + b"Ns",
        "cpu/shared list tree": dag + get(60),
        "cpu/long INT line": b"I" + b"9" * 60_000 + b"\n",
        "cpu/many memo puts": b"N" + b"".join(put(i) for i in range(12_000)),
        "slice/2^60 tree inside a slice": sdag + get(60),
        "slice/list in a slice": call(glob("builtins", "slice"), dag + get(60), b"N"),
        "slice/slice in a slice": call(glob("builtins", "slice"), call(glob("builtins", "slice"), b"K\x01"), b"N"),
        "slice/huge complex text": call(glob("builtins", "complex"), text("1" * 60_000)),
    }
    out = {name: torch_zip(mammoth(value)) for name, value in files.items()}
    out["alloc/legacy list(bytes 1M) x400"] = legacy(mammoth(files["alloc/list(bytes 1M) x400"]))
    return out


def deflate_files() -> dict[str, bytes]:
    bomb = mammoth(args_dict({"pad": "A" * (50 * MB)}))  # inflates ~1000x
    members = torch_members(bomb)
    small = torch_members(tree("real"))
    out = {
        "deflate/data.pkl bomb 50 MiB": zip_bytes(members, deflate={"archive/data.pkl"}),
        "deflate/byteorder bomb": zip_bytes(_swap(small, "archive/byteorder", b"little" + b"\0" * (30 * MB)),
                                            deflate={"archive/byteorder"}),
        "deflate/version bomb": zip_bytes(_swap(small, "archive/version", b"3" + b" " * (30 * MB)),
                                          deflate={"archive/version"}),
    }
    # an index that understates the inflated size (the stream itself inflates to 50 MiB)
    lie = bytearray(out["deflate/data.pkl bomb 50 MiB"])
    i = lie.index(b"PK\x01\x02")
    lie[i + 24 : i + 28] = struct.pack("<I", 1000)
    out["deflate/index understates the size"] = bytes(lie)
    # re-zipped honestly (a small ratio): torch reads it, so mckpt does too
    out["deflate/re-zipped checkpoint (fine)"] = zip_bytes(small, deflate={"archive/data.pkl"})
    return out


# ---------------------------------------------------------------------------------------------------
# record lookup (issue 21): names torch's reader (ASCII-only case folding, bytes otherwise) and
# another rule (Unicode folding, normalisation, path clean-up) would resolve differently


def tensor_tree(which: str, keys: tuple[str, ...] = ("0",)) -> bytes:
    """A tree holding one 2-float tensor per storage key (`model.w<i>`), as torch pickles it."""
    def tensor(key: str) -> bytes:
        pid = b"(" + text("storage") + glob("torch", "FloatStorage") + text(key) + text("cpu") + b"K\x02tQ"
        return call(glob("torch._utils", "_rebuild_tensor_v2"), pid, b"K\x00", b"K\x02\x85", b"K\x01\x85",
                    b"\x89", call(glob("collections", "OrderedDict")))
    model = b"}(" + b"".join(text(f"w{i}") + tensor(k) for i, k in enumerate(keys)) + b"u"
    return (P2 + b"}(" + text("model") + model + text("args") + b"}" + text("which") + text(which) + b"s"
            + text("results") + b"(]]}tu.")


def _with_storages(pkl: bytes, storages: dict[str, bytes]) -> list[tuple[str | bytes, bytes]]:
    first, *rest = torch_members(pkl)
    return [first, *((f"archive/data/{k}", v) for k, v in storages.items()), *rest]


KELVIN = "\u212a"  # KELVIN SIGN: str.lower() gives "k", torch's reader keeps its bytes


def lookup_files(marker: Path) -> dict[str, bytes]:
    real = torch_members(tree("real"))
    rest = real[1:]
    payload = torch_members(mammoth(call(glob("os", "system"), text(f"touch {marker}"))))
    f = "archive/"
    twin = {  # a second name for a record, one per way two rules can read a name differently
        "kelvin k": "data.p" + KELVIN + "l", "upper case": "DATA.PKL", "fullwidth": "\uff44ata.pkl",
        "long s": "ver\u017fion", "dotted I": "vers\u0130on", "dotless i": "vers\u0131on",
        "ligature st": ".\ufb06orage_alignment", "NFD": "data.pkl\u0301", "trailing dot": "data.pkl.",
        "trailing space": "data.pkl ", "dot slash": "./data.pkl", "double slash": "/data.pkl",
        "backslash": "data\\0", "exact duplicate": "data.pkl",
    }
    out = {
        "lookup/kelvin data.pkl, payload where torch reads": zip_bytes(
            [*payload, (f + twin["kelvin k"], tree("harmless"))]),
        "lookup/kelvin data.pkl, payload last": zip_bytes([*real, (f + twin["kelvin k"], payload[0][1])]),
        "lookup/kelvin storage k0": zip_bytes(_with_storages(tensor_tree("real", ("k0",)), {
            "k0": struct.pack("<2f", 1, 2), KELVIN + "0": struct.pack("<2f", 3, 4)})),
        "lookup/only an upper-case DATA.PKL": zip_bytes([(f + "DATA.PKL", tree("real")), *rest]),
        "lookup/a storage the pickle never names": zip_bytes(_with_storages(tensor_tree("real"), {
            "0": struct.pack("<2f", 1, 2), "7": b"x" * 8})),
    }
    for how, name in twin.items():
        out[f"lookup/{how} twin"] = zip_bytes([*real, (f + name, tree("decoy"))])
    return out


def raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip of (name, bytes as stored, method, size the index claims, crc) members: what no zip
    writer makes, an index that says anything about bytes compressed elsewhere."""
    body, index = bytearray(), bytearray()
    for name, data, method, size, crc in members:
        raw = name.encode()
        head = struct.pack("<HHHHHIIIHH", 20, 0, method, 0, 0x21, crc, len(data), size, len(raw), 0)
        index += (b"PK\x01\x02" + struct.pack("<H", 20) + head
                  + struct.pack("<HHHII", 0, 0, 0, 0, len(body)) + raw)
        body += b"PK\x03\x04" + head + raw + data
    end = struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(index), len(body), 0)
    return bytes(body + index + b"PK\x05\x06" + end)


def _zeros_deflated(mib: int) -> bytes:
    """A raw deflate stream of `mib` MiB of zeros, about 1 KiB per MiB (one flushed block repeated)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return (c.compress(b"\0" * MB) + c.flush(zlib.Z_FULL_FLUSH)) * mib + b"\x03\x00"


def inflate_files() -> dict[str, bytes]:
    """Small files whose records inflate to gigabytes: only `verify` inflates storages."""
    def stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
        return name, data, 0, len(data), zlib.crc32(data)

    bookkeeping = [stored(str(n), d) for n, d in torch_members(b"")[1:]]
    one = _zeros_deflated(1)
    n = 3000
    return {
        "inflate/one 4 MiB record claiming 4000 MiB": raw_zip([
            stored("archive/data.pkl", tensor_tree("bomb")), *bookkeeping,
            ("archive/data/0", _zeros_deflated(4000), 8, 4000 * MB, 0)]),
        f"inflate/{n} records of 1 KiB claiming 1 MiB each": raw_zip([
            stored("archive/data.pkl", tensor_tree("bombs", tuple(map(str, range(n))))), *bookkeeping,
            *((f"archive/data/{i}", one, 8, MB, zlib.crc32(b"\0" * MB)) for i in range(n))]),
    }


# ---------------------------------------------------------------------------------------------------
# text a file can use to forge output (item 10)

FORGERIES = {
    "clear screen": "\x1b[2J\x1b[H",
    "window title": "\x1b]0;pwned\x07",
    "forged line": "ok\r\nwarning: nothing to see\r",
    "C1 CSI": "\x9b31m",
    "bidi override": "\u202egpj.exe",
    "line separator": "a\u2028b",
    "NUL and backspace": "a\0\b\bb",
    "OSC 8 link": "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\",
}
FORBIDDEN = ("\x1b", "\r", "\x9b", "\u202e", "\u2028", "\0", "\b", "\x07")


def escape_files() -> dict[str, bytes]:
    """One file holding every forgery (in the model's name, arg names and values, a logger key),
    and one per forgery that mckpt refuses with an error quoting it."""
    args = {"model": "sgd" + "".join(FORGERIES.values()), "dataset": "seq-mnist"}
    args.update({f"name{s}": f"value{s}" for s in FORGERIES.values()})
    logger = {s: [1.0] for s in FORGERIES.values()}
    out = {"escape/every forgery in args": torch_zip(pickle.dumps(
        {"model": {}, "args": args, "results": [[[50.0]], [[60.0]], logger]}, protocol=2))}
    for name, s in FORGERIES.items():
        out[f"escape/{name} in an error"] = torch_zip(b"\x80\x04" + text("os") + text(f"x{s}") + b"\x93)R.")
    return out


@dataclass(frozen=True)
class Hostile:
    name: str
    path: Path


BUILDERS: dict[str, Callable[[Path], dict[str, bytes]]] = {
    "code": code_files, "layout": lambda m: layout_files(), "legacy": lambda m: legacy_layout_files(),
    "amplification": lambda m: amplification_files(), "deflate": lambda m: deflate_files(),
    "escape": lambda m: escape_files(), "lookup": lookup_files, "inflate": lambda m: inflate_files(),
}


def build_all(folder: Path, marker: Path, classes: tuple[str, ...] = tuple(BUILDERS)) -> list[Hostile]:
    """Write every hostile file under `folder` (one file per variant, names made safe)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for cls in classes:
        for i, (name, data) in enumerate(BUILDERS[cls](marker).items()):
            assert len(data) < (8 << 20 if cls == "inflate" else 64 << 10), (name, len(data))
            path = folder / f"{cls}-{i:03d}.pt"
            path.write_bytes(data)
            out.append(Hostile(name, path))
    return out
