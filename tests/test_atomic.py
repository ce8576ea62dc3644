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
