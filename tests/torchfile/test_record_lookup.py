"""mckpt reads a zip's records as torch's reader does, by construction (issue 21, items 1 and 3).

torch's reader (miniz's `mz_zip_reader_locate_file`, flags 0) finds `<folder>/<record>` by its
bytes with ASCII letters folded, nothing else. mckpt looks every record up through one function
with that rule (`record_key`), refuses two members it cannot tell apart, and reads only the
names torch.save writes. These tests generate name sets (Unicode case pairs, fullwidth letters,
ligatures, NFC/NFD, trailing dots and spaces, `./`, `//`, backslashes, duplicates, positions) and
ask torch itself which bytes it reads: mckpt reads the same or refuses. The attack that found
the bug (an `os.system` pickle where torch reads, a harmless twin named `data.p\\u212al` where
`str.lower()` reads) is rebuilt and run through `inspect`, `verify`, `diff --weights` and `load` (with
a stand-in Mammoth that runs whatever pickle it loads): nothing runs. `verify` inflates under the
reader's bound, checked by the bytes it inflates.
"""

from __future__ import annotations

import io
import random
import shutil
import struct
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from hostile_files import KELVIN, _with_storages, inflate_files, lookup_files, tensor_tree, zip_bytes
from save_load_support import env_for, make_checkout, read_calls, run_args, write_checkpoint

from mckpt.errors import CorruptCheckpoint, MckptError
from mckpt.io.sources import FileSource
from mckpt.torchfile.archive import (
    MAX_INFLATE_RATIO,
    RecordIndex,
    _read_central_directory,
    inflate_limit,
    open_archive,
    read_member,
    record_key,
)
from mckpt.verify import ZipWalk, _Damaged, stream, verify_source

RECORDS = ("data.pkl", "data/0", "byteorder", "version", ".storage_alignment")

# A second spelling of a record name, one per way two rules could read it differently; each
# maps the record part (or, for the folder ones, the whole name) to the twin's name.
TWINS: dict[str, Callable[[str], str]] = {
    "kelvin k": lambda r: r.replace("k", KELVIN),
    "kelvin K upper": lambda r: r.upper().replace("K", KELVIN),
    "long s": lambda r: r.replace("s", "\u017f"),
    "dotted I": lambda r: r.replace("i", "\u0130"),
    "dotless i": lambda r: r.replace("i", "\u0131"),
    "fullwidth": lambda r: "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in r),
    "ligature st": lambda r: r.replace("st", "\ufb06"),
    "ligature fi": lambda r: r.replace("a", "\ufb01"),
    "NFC e acute": lambda r: r + "\u00e9",
    "NFD e acute": lambda r: r + "e\u0301",
    "upper": str.upper,
    "title": str.title,
    "swapcase": str.swapcase,
    "trailing dot": lambda r: r + ".",
    "trailing space": lambda r: r + " ",
    "dot slash": lambda r: "./" + r,
    "double slash": lambda r: "/" + r,
    "inner double slash": lambda r: r.replace("/", "//"),
    "backslash": lambda r: r.replace("/", "\\"),
    "exact": lambda r: r,
}
FOLDER_TWINS: dict[str, Callable[[str], str]] = {
    "folder upper": lambda r: "ARCHIVE/" + r, "folder kelvin": lambda r: "ar" + KELVIN + "hive/" + r.upper(),
    "folder dot": lambda r: "archive/./" + r, "folder backslash": lambda r: "archive\\" + r,
}


def _saved(obj: object) -> dict[str, bytes]:
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(buf) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


@pytest.fixture(scope="module")
def base() -> tuple[list[tuple[str, bytes]], dict[str, bytes]]:
    """(what torch.save writes for a one-tensor tree, a decoy body for each record)."""
    real = _saved({"args": {"which": "real"}, "model": {"w": torch.tensor([1.0, 2.0])}})
    decoy = _saved({"args": {"which": "decoy"}, "model": {"w": torch.tensor([1.0, 2.0])}})
    bodies = {"data.pkl": decoy["archive/data.pkl"], "data/0": struct.pack("<2f", 3.0, 4.0), "byteorder": b"big",
              "version": b"99\n", ".storage_alignment": b"128"}
    return list(real.items()), bodies


def _cases(base: tuple[list[tuple[str, bytes]], dict[str, bytes]]) -> list[tuple[str, list[tuple[str, bytes]]]]:
    """Every twin of every record before, after or instead of it, then random pairs of twins."""
    real, bodies = base
    cases: list[tuple[str, list[tuple[str, bytes]]]] = [("as torch.save wrote it", real)]
    twins = [(f"{how} {rec}", "archive/" + f(rec), rec) for rec in RECORDS for how, f in TWINS.items()]
    twins += [(f"{how} {rec}", f(rec), rec) for rec in RECORDS for how, f in FOLDER_TWINS.items()]
    twins = [t for t in twins if t[1] != "archive/" + t[2] or t[0].startswith("exact")]
    for label, name, rec in twins:
        twin = (name, bodies[rec])
        original = next(i for i, (n, _) in enumerate(real) if n == "archive/" + rec)
        cases.append((f"{label}, after", [*real, twin]))
        cases.append((f"{label}, before", [*real[:original], twin, *real[original:]]))
        if original:  # data.pkl stays first: the folder comes from it
            cases.append((f"{label}, instead", [*real[:original], twin, *real[original + 1:]]))
    rng = random.Random(21)
    for i in range(120):
        picked = rng.sample(twins, 2)
        members = [*real, *((name, bodies[rec]) for _, name, rec in picked)]
        members[1:] = rng.sample(members[1:], len(members) - 1)
        cases.append((f"random {i}: {picked[0][0]} + {picked[1][0]}", members))
    return cases


def _write(tmp_path: Path, members: list[tuple[str, bytes]]) -> Path:
    path = tmp_path / "case.pt"
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w") as z:
        warnings.simplefilter("ignore")  # duplicates are the point
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (2025, 1, 1, 0, 0, 0)), data)
    path.write_bytes(buf.getvalue())
    return path


def _torch_record(path: Path, record: str) -> bytes | Exception | None:
    """The bytes torch's reader returns for `record` (None: no such record)."""
    try:
        reader = torch._C.PyTorchFileReader(str(path))
    except RuntimeError as e:
        return e
    if not reader.has_record(record):
        return None
    return reader.get_record(record)


def test_record_key_folds_ascii_letters_and_nothing_else() -> None:
    assert record_key("archive/DATA.PKL") == record_key("archive/data.pkl") == b"archive/data.pkl"
    # names other rules merge (Unicode lower/casefold, NFKC, NFC, path clean-up): torch keeps them apart
    for twin, name in [("data.p\u212al", "data.pkl"), ("ver\u017fion", "version"), ("vers\u0130on", "version"),
                       ("\uff44ata.pkl", "data.pkl"), ("data.pkl\u0301", "data.pkl"), ("data.pkl.", "data.pkl"),
                       ("./data.pkl", "data.pkl"), ("data//0", "data/0"), ("data\\0", "data/0")]:
        assert record_key(twin) != record_key(name), twin


def test_the_one_lookup_reaches_the_member_torch_reads(base: tuple[list[tuple[str, bytes]], dict[str, bytes]],
                                                       tmp_path: Path) -> None:
    """The lookup function alone (no allow-list): where it finds no collision, every record it
    resolves holds the bytes torch's reader returns for that record."""
    compared = collided = 0
    for label, members in _cases(base):
        path = _write(tmp_path, members)
        source = FileSource(path)
        try:
            entries = _read_central_directory(source)
            if "/" not in entries[0].name:  # no folder: torch's reader refuses the file outright
                assert isinstance(_torch_record(path, "data.pkl"), RuntimeError), label
                continue
            prefix = entries[0].name[: entries[0].name.index("/") + 1]
            try:
                index = RecordIndex.build(entries, prefix, source.name)
            except CorruptCheckpoint as e:
                assert "twice" in e.message, label
                keys = [record_key(m.name) for m in entries]
                assert len(set(keys)) < len(keys), label  # torch too sees two members for one name
                collided += 1
                continue
            for record in RECORDS:
                theirs = _torch_record(path, record)
                if isinstance(theirs, Exception):
                    continue
                member = index.get(record)
                ours = None if member is None else read_member(source, member)
                assert ours == theirs, (label, record, ours, theirs)
                compared += 1
        finally:
            source.close()
    assert compared > 1000 and collided > 50, (compared, collided)


def _torch_load(path: Path) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return torch.load(path, weights_only=True)
        except Exception as e:  # any of torch's error types is a refusal
            return e


def test_mckpt_reads_what_torch_load_reads_or_refuses(base: tuple[list[tuple[str, bytes]], dict[str, bytes]],
                                                      tmp_path: Path) -> None:
    read: list[str] = []
    refused = 0
    for label, members in _cases(base):
        path = _write(tmp_path, members)
        try:
            arch = open_archive(FileSource(path))
        except MckptError as e:
            assert e.message and "\n" not in e.message, label
            refused += 1
            continue
        with arch:
            theirs = _torch_load(path)
            assert isinstance(theirs, dict), (label, theirs)
            w = arch.obj["model"]["w"]
            values = struct.unpack(("<" if arch.byteorder == "little" else ">") + "2f", arch.tensor_bytes("w", w))
            assert (arch.obj["args"], list(values)) == (theirs["args"], theirs["model"]["w"].tolist()), label
            read.append(label)
    # what torch.save wrote reads, and a record's body replaced under its own name; every twin
    # (a second member for a record, whatever its spelling) is refused
    assert refused > 300 and read[0] == "as torch.save wrote it", (read, refused)
    assert all(label.startswith("exact ") and label.endswith(", instead") for label in read[1:]), read


# -- the attack that found it -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def lookup(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], Path]:
    root = tmp_path_factory.mktemp("lookup")
    marker = root / "pwned"
    files = {}
    for i, (name, data) in enumerate(lookup_files(marker).items()):
        files[name] = root / f"{i}.pt"
        files[name].write_bytes(data)
    return files, marker


def test_torch_reads_the_payload_mckpt_used_to_skip(lookup: tuple[dict[str, Path], Path]) -> None:
    files, _ = lookup
    evil = files["lookup/kelvin data.pkl, payload where torch reads"]
    assert b"os\nsystem" in _torch_record(evil, "data.pkl")  # type: ignore[operator]
    storage = files["lookup/kelvin storage k0"]
    assert _torch_record(storage, "data/k0") == struct.pack("<2f", 1, 2)
    assert _torch_load(storage)["model"]["w0"].tolist() == [1.0, 2.0]  # type: ignore[index]


@pytest.mark.parametrize("command", ["inspect", "verify"])
def test_inspect_and_verify_refuse_every_twin_in_one_line(lookup: tuple[dict[str, Path], Path], command: str) -> None:
    files, marker = lookup
    for name, path in files.items():
        r = run_cli(command, str(path))
        assert r.returncode == 1, (name, r.stdout, r.stderr)
        said = r.stderr if command == "inspect" else r.stdout + r.stderr
        assert str(path) in said and "Traceback" not in said, (name, said)
        if command == "inspect":
            assert len(r.stderr.splitlines()) == 1, (name, r.stderr)
        assert any(w in said for w in ("outside ASCII", "not a record torch.save writes", "twice")), (name, said)
    assert not marker.exists()


def test_diff_weights_refuses_a_storage_twin(lookup: tuple[dict[str, Path], Path], tmp_path: Path) -> None:
    """torch loads both files identically; mckpt used to read the twin and report a change."""
    files, _ = lookup
    twin = files["lookup/kelvin storage k0"]
    plain = tmp_path / "plain.pt"
    plain.write_bytes(zip_bytes(_with_storages(tensor_tree("real", ("k0",)), {"k0": struct.pack("<2f", 1, 2)})))
    assert _torch_load(plain)["model"]["w0"].tolist() == _torch_load(twin)["model"]["w0"].tolist()  # type: ignore[index]
    r = run_cli("diff", "--weights", str(plain), str(twin))
    assert r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert str(twin) in r.stderr and "outside ASCII" in r.stderr


class _Touch:
    """Unpickling this creates a file: what a payload would do, harmlessly."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


D2 = "sgd_seq-mnist_0_1_20240701-080910_1a2b3c4d"


def test_load_refuses_the_twin_and_the_payload_never_runs(tmp_path: Path) -> None:
    """An older Mammoth layout: `load` used to say it scanned the file (it read the twin), set
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1, and Mammoth's torch.load ran the payload."""
    root = make_checkout(tmp_path / "old-mammoth", layout="old")
    shutil.copy(Path(__file__).parents[1] / "fake_mammoth" / "loose_old_main.py", root / "utils" / "main.py")
    args = {k: v for k, v in run_args(ckpt_name=D2).items() if k not in ("dataset_config", "save_checkpoint_mode")}
    target = write_checkpoint(root / "checkpoints" / f"{D2}_1.pt", args, 2, old_pickle=True)
    marker = tmp_path / "PWNED"
    obj = torch.load(target, weights_only=False)  # our own file
    obj["trap"] = _Touch(marker)  # last: the storage keys stay those of the harmless pickle
    with zipfile.ZipFile(target) as z:
        harmless = {i.filename: z.read(i) for i in z.infolist()}
    folder = next(iter(harmless)).split("/")[0]
    evil = _saved(obj)["archive/data.pkl"]
    members = [(n, evil if n.endswith("/data.pkl") else d) for n, d in harmless.items()]
    target.write_bytes(zip_bytes([*members, (f"{folder}/data.p{KELVIN}l", harmless[f"{folder}/data.pkl"])]))
    assert _torch_record(target, "data.pkl") == evil
    # the trap is real: the stand-in Mammoth, told to load it the unsafe way, runs the payload
    probe = tmp_path / "probe.pt"
    shutil.copy(target, probe)
    ran = subprocess.run([sys.executable, "utils/main.py", f"--loadcheck={probe}"], cwd=root, capture_output=True,
                         text=True, timeout=120)
    assert ran.returncode == 0 and marker.exists(), ran.stderr
    marker.unlink()
    calls = len(read_calls(root))
    for argv in (["load", str(target), "--every", "task"], ["load", str(target), "--dry-run", "--json"]):
        r = run_cli(*argv, cwd=root, env=env_for())
        assert r.returncode != 0 and len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
        assert str(target) in r.stderr and "outside ASCII" in r.stderr
    assert len(read_calls(root)) == calls and not marker.exists()


# -- item 3: one inflate bound ----------------------------------------------------------------------


def _walk(path: Path) -> ZipWalk:
    """Stream `path` through verify's record walk; return it (its counters) after the first problem."""
    with open_archive(FileSource(path)) as arch:
        walk = ZipWalk(arch.members, path.stat().st_size)
        with pytest.raises(_Damaged):
            stream(arch.source, [walk.feed])
    return walk


def test_verify_never_inflates_a_record_past_the_readers_bound(tmp_path: Path) -> None:
    path = tmp_path / "bomb.pt"
    path.write_bytes(inflate_files()["inflate/one 4 MiB record claiming 4000 MiB"])
    v = verify_source(FileSource(path))
    assert not v.ok and "claims to inflate to 4194304000 bytes" in v.problems[0] and "byte limit" in v.problems[0]
    assert _walk(path).inflated_total == 0  # refused from the index, before a byte is inflated


def test_verify_inflates_a_file_s_records_together_within_the_bound(tmp_path: Path) -> None:
    """3000 records, each within the per-record floor: together they stop at the file's bound."""
    path = tmp_path / "bombs.pt"
    path.write_bytes(inflate_files()["inflate/3000 records of 1 KiB claiming 1 MiB each"])
    size = path.stat().st_size
    v = verify_source(FileSource(path))
    assert not v.ok and "the records inflate past" in v.problems[0], v.problems
    walk = _walk(path)
    assert walk.inflate_budget == inflate_limit(size) == MAX_INFLATE_RATIO * size
    assert walk.inflate_budget < walk.inflated_total <= walk.inflate_budget + 1  # 3000 MiB unbounded
