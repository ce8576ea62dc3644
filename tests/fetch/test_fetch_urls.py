"""Source parsing, safe file names, the cache root, and the archive's small tail read."""

from __future__ import annotations

from pathlib import Path

import hub_server
import pytest

from mckpt.errors import MckptError
from mckpt.fetch.cache import cache_root
from mckpt.io.sources import FileSource
from mckpt.io.urls import parse_source, safe_filename
from mckpt.torchfile.archive import open_archive

HUB = "https://huggingface.co"


@pytest.mark.parametrize("text", [
    "hf://loribonna/mammoth/backbones/resnet18.pt@main",
    "hf://loribonna/mammoth/backbones/resnet18.pt",
    f"{HUB}/loribonna/mammoth/resolve/main/backbones/resnet18.pt",
    f"{HUB}/loribonna/mammoth/blob/main/backbones/resnet18.pt",
])
def test_every_hub_spelling_is_one_remote(text: str) -> None:
    r = parse_source(text, HUB)
    assert r.url == f"{HUB}/loribonna/mammoth/resolve/main/backbones/resnet18.pt"
    assert (r.repo, r.revision, r.path, r.filename) == ("loribonna/mammoth", "main", "backbones/resnet18.pt",
                                                        "resnet18.pt")
    assert not r.pinned


def test_revision_is_last_in_hf_urls_and_a_commit_is_pinned() -> None:
    commit = "a" * 40
    r = parse_source(f"hf://o/r/x.pt@{commit}", HUB)
    assert r.revision == commit and r.pinned and r.url.endswith(f"/resolve/{commit}/x.pt")
    assert parse_source("hf://o/r/x.pt@v1.0", HUB).key == parse_source("hf://o/r/x.pt", HUB).key


def test_hf_endpoint_replaces_the_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example:8080/hf/")
    r = parse_source("hf://o/r/x.pt")
    assert r.url == "http://mirror.example:8080/hf/o/r/resolve/main/x.pt"
    assert parse_source("http://mirror.example:8080/hf/o/r/blob/dev/x.pt").revision == "dev"
    assert parse_source(f"{HUB}/o/r/resolve/main/x.pt").repo is None  # not the hub any more: plain URL


def test_plain_urls_keep_their_query_but_not_in_the_name() -> None:
    r = parse_source("https://example.org/files/model.pt?sig=abc#frag")
    assert r.url == "https://example.org/files/model.pt?sig=abc" and r.filename == "model.pt"
    assert r.repo is None and r.revision is None


@pytest.mark.parametrize("text", ["ftp://x/y.pt", "model.pt", "hf://onlyowner", "hf://o/r/../../etc/passwd"])
def test_bad_sources_are_refused_with_a_hint(text: str) -> None:
    with pytest.raises(MckptError) as e:
        parse_source(text, HUB)
    assert e.value.hint


@pytest.mark.parametrize(("name", "safe"), [
    ("../../etc/passwd", "passwd"), ("..%2F..%2Fevil.pt", "evil.pt"), ("..", "download"), ("", "download"),
    ("a\\..\\b.pt", "b.pt"), (".bashrc", "bashrc"), ("x\x00y:z.pt", "x_y_z.pt"), ("/", "download"),
])
def test_safe_filename_is_one_harmless_component(name: str, safe: str) -> None:
    assert safe_filename(name) == safe


def test_safe_filename_caps_length_and_keeps_the_extension() -> None:
    out = safe_filename("a" * 500 + ".pt")
    assert len(out) <= 200 and out.endswith(".pt")


def test_cache_root_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MCKPT_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "mckpt"
    monkeypatch.setenv("MCKPT_CACHE", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env"
    assert cache_root(tmp_path / "flag") == tmp_path / "flag"


def test_archive_reads_a_small_tail_and_widens_for_a_zip_comment(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    data = hub_server.mammoth_checkpoint(path, tensor_mb=1)
    with FileSource(path) as src:
        assert open_archive(src).obj["args"]["model"] == "er"
        assert src.bytes_read < 8 << 10  # head, 1 KiB tail, index, data.pkl: not a 64 KiB tail
    eocd = data.rfind(b"PK\x05\x06")
    comment = b"c" * 5000
    commented = data[: eocd + 20] + len(comment).to_bytes(2, "little") + comment
    path.write_bytes(commented)
    with FileSource(path) as src:
        assert open_archive(src).obj["args"]["model"] == "er"


def test_revision_is_the_last_at_and_path_segments_are_unquoted_after_splitting() -> None:
    r = parse_source("hf://o/r/dir@x/file.pt@main", HUB)
    assert (r.path, r.revision) == ("dir@x/file.pt", "main")
    r = parse_source(f"{HUB}/o/r/resolve/refs%2Fpr%2F1/f.pt", HUB)
    assert (r.revision, r.path) == ("refs/pr/1", "f.pt")


@pytest.mark.parametrize("text", ["http://[::1", "http://host:99999/x.pt", "https://user:secret@host/x.pt"])
def test_malformed_or_credentialed_urls_are_one_line_errors(text: str) -> None:
    with pytest.raises(MckptError) as e:
        parse_source(text, HUB)
    assert "secret" not in str(e.value)
