"""Publishing without clobbering, and the partial files of dead writers (mckpt/io/atomic.py)."""

from __future__ import annotations

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


def test_only_io_atomic_renames_or_links_files_into_place() -> None:
    """One atomic-write primitive: no other module renames, replaces or hard-links a file."""
    import re

    package = Path(__file__).resolve().parent.parent / "mckpt"
    offenders = [f"{p.relative_to(package)}:{n}" for p in package.rglob("*.py") if p.name != "atomic.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if re.search(r"\bos\.(replace|link|rename|renames)\(|\.(rename|replace|hardlink_to)\(\w", line)
                 and "str" not in line and "datetime" not in line and ".replace(microsecond" not in line
                 and "dataclasses.replace(" not in line]
    assert offenders == []


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
