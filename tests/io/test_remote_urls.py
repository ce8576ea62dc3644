"""Object-store URLs and the settings each store needs, without a server."""

from __future__ import annotations

import pytest
from conftest import run_cli

from mckpt.errors import MckptError
from mckpt.io.urls import url_kind
from mckpt.remote import is_remote, is_store_url
from mckpt.remote.aws_config import aws_settings
from mckpt.remote.listing import keep
from mckpt.remote.objstore import ObjectUrl, parse_object_url


@pytest.mark.parametrize(("text", "url"), [
    ("s3://b/ck/x.pt", ObjectUrl("s3", "b", "ck/x.pt")),
    ("gs://lab-bucket/", ObjectUrl("gs", "lab-bucket", "")),
    ("az://container/a/b/", ObjectUrl("az", "container", "a/b/")),
    ("s3://b", ObjectUrl("s3", "b", "")),
])
def test_store_urls_parse(text: str, url: ObjectUrl) -> None:
    assert parse_object_url(text) == url and is_store_url(text) and is_remote(text)


@pytest.mark.parametrize("text", ["s3://", "s3:///key", "ftp://b/k", "s3:/b/k"])
def test_bad_store_urls_are_refused(text: str) -> None:
    with pytest.raises(MckptError, match="not an object-store URL"):
        parse_object_url(text)


def test_local_paths_are_not_remote() -> None:
    assert not any(is_remote(p) for p in ("checkpoints", "./s3:/x", "/tmp/hf:/a", "C:/x.pt"))


@pytest.mark.parametrize(("text", "kind"), [
    ("https://huggingface.co/o/r/resolve/main/a.pt", "http"), ("http://127.0.0.1:8000/x.pt", "http"),
    ("hf://o/r/checkpoints/", "hf"), ("s3://b/k.pt", "store"), ("gs://b/", "store"), ("az://c/a", "store"),
    ("checkpoints", None), ("./s3:/x", None), ("/tmp/hf:/a", None), ("ftp://h/x.pt", None),
])
def test_one_url_kind_decides_what_is_remote(text: str, kind: str | None) -> None:
    """`io.urls.url_kind` is the one place a URL is told from a path; `remote` asks it."""
    assert url_kind(text) == kind
    assert is_remote(text) == (kind is not None) and is_store_url(text) == (kind == "store")


def test_azure_without_an_account_says_which_variable(tmp_path) -> None:
    r = run_cli("list", "az://checkpoints/", env={"AZURE_STORAGE_ACCOUNT_NAME": "", "AZURE_STORAGE_ACCOUNT": "",
                                                 "HOME": str(tmp_path)})
    assert r.returncode == 1 and "set AZURE_STORAGE_ACCOUNT_NAME" in r.stderr and "Traceback" not in r.stderr


def test_an_endpoint_must_be_a_url(tmp_path) -> None:
    with pytest.raises(MckptError, match="not an http:// or https:// URL"):
        aws_settings({"HOME": str(tmp_path), "AWS_ENDPOINT_URL": "minio.lab:9000"})


def test_which_names_list_considers() -> None:
    assert keep("a.pt", False) and keep("paused/u.pt", False) and not keep("sub/a.pt", False)
    assert keep("sub/a.pt", True) and not keep("a.json", True)
