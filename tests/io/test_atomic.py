"""Publishing without clobbering, and the partial files of dead writers (mckpt/io/atomic.py)."""

from __future__ import annotations

import ast
import errno
import os
from pathlib import Path

import pytest

from mckpt.io import atomic
from mckpt.io.atomic import PartialFile, publish, remove_stale_partials


def _tmp(folder: Path, data: bytes = b"new") -> Path:
    tmp = folder / ".x.pt.0123abcd.partial"
    tmp.write_bytes(data)
    return tmp


def test_publish_never_replaces_a_file_without_force(tmp_path: Path) -> None:
    final = tmp_path / "x.pt"
    final.write_bytes(b"theirs")
    tmp = _tmp(tmp_path)
    with pytest.raises(FileExistsError):
        publish(tmp, final)
    assert final.read_bytes() == b"theirs" and tmp.read_bytes() == b"new"
    publish(tmp, final, force=True)
    assert final.read_bytes() == b"new" and not tmp.exists()


def test_publish_without_hard_links_still_never_clobbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Some file systems refuse hard links (EPERM); no such file system is mounted here, so only
    `os.link` is made to fail: the rename that follows is the real renameat2(RENAME_NOREPLACE)."""
    def no_links(src: object, dst: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "link", no_links)
    final = tmp_path / "x.pt"
    final.write_bytes(b"theirs")
    tmp = _tmp(tmp_path)
    with pytest.raises(FileExistsError):
        publish(tmp, final)
    assert final.read_bytes() == b"theirs" and tmp.exists()
    final.unlink()
    publish(tmp, final)
    assert final.read_bytes() == b"new" and not tmp.exists()


def test_only_partials_no_writer_holds_are_removed(tmp_path: Path) -> None:
    live = PartialFile(tmp_path / "live.pt")
    dead = PartialFile(tmp_path / "dead.pt")
    os.write(dead.fd, b"x" * 1000)
    os.close(dead.fd)  # what the kernel does when the writer is killed: the lock goes, the file stays
    other = tmp_path / ".notes.txt.partial"  # not a name mckpt gives: never touched
    other.write_text("keep")
    link = tmp_path / ".link.pt.0000abcd.partial"  # a symlink in the shape of a partial: not followed
    target = tmp_path / "target.pt"
    target.write_text("keep")
    link.symlink_to(target)
    folder = tmp_path / ".dir.pt.0000abcd.partial"
    folder.mkdir()
    try:
        assert remove_stale_partials(tmp_path) == [(str(dead.path), 1000)]
        assert live.path.exists() and other.exists() and link.is_symlink() and target.exists() and folder.is_dir()
        assert remove_stale_partials(tmp_path) == []
    finally:
        live.close(discard=True)
    assert not live.path.exists()


def test_a_partial_file_is_published_and_released(tmp_path: Path) -> None:
    final = tmp_path / "x.pt"
    p = PartialFile(final)
    os.write(p.fd, b"done")
    p.publish()
    p.close(discard=False)
    assert final.read_bytes() == b"done" and sorted(os.listdir(tmp_path)) == ["x.pt"]


def _file_moves(tree: ast.AST) -> list[int]:
    """Lines that rename, replace or hard-link a file: `os.replace/link/rename/renames(…)`, and the
    Path methods `.rename(x)`, `.replace(x)`, `.hardlink_to(x)` (one argument: `str.replace` and
    `dataclasses.replace` take other shapes), read from the syntax tree, not the text."""
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        f = node.func
        by_os = isinstance(f.value, ast.Name) and f.value.id == "os" and f.attr in ("replace", "link", "rename",
                                                                                   "renames")
        path_method = f.attr in ("rename", "hardlink_to") or (
            f.attr == "replace" and len(node.args) == 1 and not node.keywords
            and not (isinstance(f.value, ast.Name) and f.value.id == "dataclasses"))
        if by_os or path_method:
            lines.append(node.lineno)
    return lines


def test_only_io_atomic_renames_or_links_files_into_place() -> None:
    """One atomic-write primitive: no other module renames, replaces or hard-links a file."""
    package = Path(__file__).resolve().parents[2] / "mckpt"
    offenders = [f"{p.relative_to(package)}:{n}" for p in package.rglob("*.py") if p.name != "atomic.py"
                 for n in _file_moves(ast.parse(p.read_text()))]
    assert offenders == []


def test_the_file_move_scan_finds_each_kind() -> None:
    """The scan above must see what it looks for (and pass over text and dataclass replaces)."""
    code = ("os.replace(a, b)\nos.link(a, b)\ntarget.rename(dest)\npath.replace(dest)\np.hardlink_to(q)\n"
            "s.replace('a', 'b')\ndataclasses.replace(x, y=1)\nd.replace(microsecond=0)\n")
    assert _file_moves(ast.parse(code)) == [1, 2, 3, 4, 5]


def test_atomic_write_leaves_nothing_behind_when_the_writer_fails(tmp_path: Path) -> None:
    from mckpt.io.atomic import atomic_write

    final = tmp_path / "out.bin"
    final.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(final) as f:
        f.write(b"half of the new")
        raise RuntimeError("writer died")
    assert final.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    with atomic_write(final) as f:
        f.write(b"new")
    assert final.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_write_atomic_without_force_keeps_a_file_that_holds_the_name(tmp_path: Path) -> None:
    from mckpt.io.atomic import write_atomic

    final = tmp_path / "figure.png"
    final.write_bytes(b"theirs")
    with pytest.raises(FileExistsError):
        write_atomic(final, b"ours", force=False)
    assert final.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure.png"]


@pytest.mark.parametrize("links", [True, False])
def test_place_copy_links_or_copies_and_never_clobbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       links: bool) -> None:
    import os

    from mckpt.io.atomic import place_copy

    src = tmp_path / "src.pt"
    src.write_bytes(b"payload")
    if not links:  # a file system without hard links (FAT, some network mounts): a copy instead
        def no_link(*_a: object, **_k: object) -> None:
            raise OSError(1, "Operation not permitted")
        monkeypatch.setattr(os, "link", no_link)
    dest = tmp_path / "out" / "dest.pt"
    dest.parent.mkdir()
    place_copy(src, dest)
    assert dest.read_bytes() == b"payload"
    assert os.path.samefile(src, dest) is links
    other = tmp_path / "other.pt"
    other.write_bytes(b"other")
    with pytest.raises(FileExistsError):
        place_copy(other, dest)
    assert dest.read_bytes() == b"payload"
    place_copy(other, dest, force=True)
    assert dest.read_bytes() == b"other"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["dest.pt"]


def test_a_name_taken_meanwhile_is_reported_under_that_name(tmp_path: Path) -> None:
    from mckpt.io.atomic import write_atomic

    final = tmp_path / "run_0.pt"
    final.write_bytes(b"theirs")
    with pytest.raises(FileExistsError) as e:
        write_atomic(final, b"ours", force=False)
    assert e.value.filename == str(final)  # what the user named, not the hidden partial file


# --- two writers racing for one name -----------------------------------------------------------

def test_a_rival_between_any_check_and_the_publish_is_never_clobbered(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic race: right before the call that gives our file its name (whichever it is: a
    link, a rename, a replace), a rival writer takes the name. Only a no-clobber done by the kernel
    at that call refuses us; a check made earlier (`exists()`, then replace) would destroy the rival."""
    final = tmp_path / "x.pt"
    rival_wrote: list[str] = []

    def rival_first(real: object) -> object:
        def call(*args: object, **kwargs: object) -> object:
            dst = Path(os.fsdecode(args[1]))
            if dst == final and not rival_wrote:
                rival_wrote.append(real.__name__)
                final.write_bytes(b"rival")
            return real(*args, **kwargs)
        return call

    for name in ("link", "rename", "replace"):
        monkeypatch.setattr(os, name, rival_first(getattr(os, name)))
    with pytest.raises(FileExistsError):
        atomic.write_atomic(final, b"ours", force=False)
    assert rival_wrote, "the publish went through none of link/rename/replace"
    assert final.read_bytes() == b"rival"
    assert [p.name for p in tmp_path.iterdir()] == ["x.pt"]  # our partial file is gone too


RACE_NAMES = 200

RACER = """
import sys
from pathlib import Path
from mckpt.io.atomic import write_atomic
folder, me = Path(sys.argv[1]), sys.argv[2]
sys.stdin.read(1)  # the start signal, given to both writers at once
for i in range(int(sys.argv[3])):
    try:
        write_atomic(folder / f"n{i}.pt", f"{me}:{i}".encode(), force=False)
        print(f"won {i}")
    except FileExistsError:
        print(f"refused {i}")
"""


def check_race(folder: Path, outcomes: dict[str, list[str]]) -> None:
    """Each name: exactly one writer won and its bytes are there, the other was refused; no
    partial file is left and nothing else appeared."""
    for i in range(RACE_NAMES):
        winners = [w for w, lines in outcomes.items() if f"won {i}" in lines]
        losers = [w for w, lines in outcomes.items() if f"refused {i}" in lines]
        assert len(winners) == 1 and len(losers) == 1, (i, winners, losers)
        assert (folder / f"n{i}.pt").read_bytes() == f"{winners[0]}:{i}".encode()
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"n{i}.pt" for i in range(RACE_NAMES))


def test_two_threads_racing_for_each_name_one_wins(tmp_path: Path) -> None:
    import threading

    start = threading.Barrier(2)
    outcomes: dict[str, list[str]] = {"a": [], "b": []}

    def writer(me: str) -> None:
        start.wait()
        for i in range(RACE_NAMES):
            try:
                atomic.write_atomic(tmp_path / f"n{i}.pt", f"{me}:{i}".encode(), force=False)
                outcomes[me].append(f"won {i}")
            except FileExistsError:
                outcomes[me].append(f"refused {i}")

    threads = [threading.Thread(target=writer, args=(me,)) for me in outcomes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check_race(tmp_path, outcomes)


def test_two_processes_racing_for_each_name_one_wins(tmp_path: Path) -> None:
    import subprocess
    import sys

    from conftest import REPO

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = {me: subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path), me, str(RACE_NAMES)], env=env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for me in ("a", "b")}
    for p in procs.values():
        p.stdin.write("go")
        p.stdin.flush()
    outcomes = {}
    for me, p in procs.items():
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0
        outcomes[me] = out.splitlines()
    check_race(tmp_path, outcomes)
