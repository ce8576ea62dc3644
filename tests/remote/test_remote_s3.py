"""`list`, `inspect`, `diff` and `fetch` on s3:// against a real moto_server holding the real Mammoth files."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, REPO, fixtures_missing, run_cli

pytest.importorskip("moto", reason="moto[server] is in the [test] extra; without it there is no S3 server here")
pytest.importorskip("obstore", reason="obstore is a dependency of mckpt")

import s3_server
from s3_server import S3Server, make_bucket, put_large

_names = (f"bucket{i}" for i in itertools.count())


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    yield from s3_server.serve()


@pytest.fixture(scope="module")
def fixtures_bucket(s3: S3Server) -> str:
    """A bucket holding a copy of ../shared/fixtures/mammoth, keys = paths relative to it."""
    if not FIXTURES.is_dir():
        fixtures_missing("the test bucket holds them")
    bucket = next(_names)
    files = [*FIXTURES.rglob("*.pt"), *FIXTURES.rglob("logs.pyd")]  # list reads a bucket's results logs too
    make_bucket(s3, bucket, {str(p.relative_to(FIXTURES)): str(p) for p in files})
    return bucket


@pytest.fixture
def env(s3: S3Server, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {**s3.env(), "HOME": str(home), "MCKPT_CACHE": str(tmp_path / "cache"), "AWS_PROFILE": ""}


def _json(*args: str, env: dict[str, str], strip: str) -> object:
    r = run_cli(*args, "--json", env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.replace(strip, "").replace(str(FIXTURES) + "/", ""))


@pytest.mark.parametrize("args", [("checkpoints",), ("checkpoints", "--acc"), ("", "-r", "--acc"), ("",),
                                  ("older", "--sort", "name")])
def test_list_of_bucket_equals_list_of_same_files_on_disk(fixtures_bucket: str, env: dict[str, str],
                                                          args: tuple[str, ...]) -> None:
    sub, *opts = args
    local = _json("list", str(FIXTURES / sub), *opts, env=env, strip=str(FIXTURES) + "/")
    remote = _json("list", f"s3://{fixtures_bucket}/{sub}", *opts, env=env, strip=f"s3://{fixtures_bucket}/")
    assert remote == local
    assert local["runs"]  # type: ignore[index]


def test_inspect_json_equals_the_local_one(fixtures_bucket: str, env: dict[str, str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    rel = "checkpoints/paused/1fb2c186-8ffa-4ebb-bea9-5c01ef524976.pt"
    for args in ((), ("--tensors",), ("--args-only",)):
        local = _json("inspect", str(FIXTURES / rel), *args, env=env, strip="")
        remote = _json("inspect", f"s3://{fixtures_bucket}/{rel}", *args, env=env, strip=f"s3://{fixtures_bucket}/")
        assert remote == local, args
    # Every fixture, through the library (what the CLI prints is to_json()).
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from mckpt.domain.checkpoint import read_checkpoint
    from mckpt.locate.remote import open_checkpoint_source

    for p in sorted(FIXTURES.rglob("*.pt")):
        key = str(p.relative_to(FIXTURES))
        source = open_checkpoint_source(f"s3://{fixtures_bucket}/{key}")
        remote_doc = read_checkpoint(source).to_json(full_tensors=True)
        assert source.bytes_read <= p.stat().st_size  # type: ignore[attr-defined]
        local_doc = read_checkpoint(str(p)).to_json(full_tensors=True)
        assert remote_doc.pop("path") == f"s3://{fixtures_bucket}/{key}" and local_doc.pop("path") == str(p)
        assert remote_doc == local_doc, key


def test_run_uids_and_folders_stand_for_their_newest_file(fixtures_bucket: str, env: dict[str, str]) -> None:
    doc = _json("inspect", f"s3://{fixtures_bucket}/checkpoints/9acd", env=env, strip="")
    assert doc["path"].endswith("9acd4744_4.pt") and doc["tasks_done"] == 5  # type: ignore[index]
    r = run_cli("inspect", f"s3://{fixtures_bucket}/checkpoints/", env=env)
    assert r.returncode == 1 and "holds 5 runs" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("inspect", f"s3://{fixtures_bucket}/checkpoints/deadbeef", env=env)
    assert r.returncode == 1 and "no such remote file, folder or run uid" in r.stderr


def test_diff_across_a_local_and_a_remote_file(fixtures_bucket: str, env: dict[str, str]) -> None:
    a = FIXTURES / "checkpoints" / "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744_2.pt"
    b = "checkpoints/sgd_seq-mnist_None_0_1_20261128-165958_ca535245_joint.pt"
    local = _json("diff", str(a), str(FIXTURES / b), "--weights", env=env, strip=str(FIXTURES) + "/")
    remote = _json("diff", str(a), f"s3://{fixtures_bucket}/{b}", "--weights", env=env, strip=f"s3://{fixtures_bucket}/")
    assert remote == local
    assert local["weights"]["compared"] > 0  # type: ignore[index]
    by_uid = _json("diff", f"s3://{fixtures_bucket}/checkpoints/9acd4744", str(a), env=env,
                   strip=f"s3://{fixtures_bucket}/")
    assert by_uid["a"]["tasks_done"] == 5 and by_uid["b"]["tasks_done"] == 3  # type: ignore[index]


def test_convert_takes_an_object_like_any_checkpoint(fixtures_bucket: str, env: dict[str, str],
                                                     tmp_path: Path) -> None:
    """convert needs the whole file: an s3:// object is fetched into the cache once (as `fetch`
    does), then planned like the local file."""
    rel = "checkpoints/sgd_seq-mnist_None_0_1_20261128-165846_9acd4744_2.pt"
    local = _json("convert", str(FIXTURES / rel), "--to", "backbone", "--dry-run", env=env, strip="")
    remote = _json("convert", f"s3://{fixtures_bucket}/{rel}", "--to", "backbone", "--dry-run", env=env, strip="")
    assert remote["source"].startswith(env["MCKPT_CACHE"])  # type: ignore[index]
    for doc in (local, remote):
        doc.pop("source")  # type: ignore[union-attr]
        doc.pop("output", None)  # type: ignore[union-attr]
    assert remote == local


def test_verify_reads_every_object_of_a_bucket_prefix(fixtures_bucket: str, s3: S3Server,
                                                      env: dict[str, str]) -> None:
    """`verify s3://…/` checks every listed checkpoint by ranged reads; one flipped byte fails its file."""
    r = run_cli("verify", f"s3://{fixtures_bucket}/checkpoints/", env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    n = len(list((FIXTURES / "checkpoints").glob("**/*.pt")))  # this folder and its paused/
    assert [line.split()[0] for line in r.stdout.splitlines() if line.startswith(("ok", "FAIL"))] == ["ok"] * n
    assert f"{n} file(s) verified: {n} ok, 0 failed" in r.stdout
    good = FIXTURES / "checkpoints" / "er_seq-mnist_None_50_1_20261128-165918_95ed7ced_last.pt"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a tensor record
    bucket = next(_names)
    make_bucket(s3, bucket, {"runs/" + good.name: bytes(data)})
    r = run_cli("verify", f"s3://{bucket}/runs/" + good.name, env=env)
    assert r.returncode == 1 and "FAIL" in r.stdout and "CRC-32" in r.stdout, r.stdout + r.stderr


def test_errors_name_the_store_and_the_cause(fixtures_bucket: str, env: dict[str, str], s3: S3Server) -> None:
    key = f"s3://{fixtures_bucket}/checkpoints/er_seq-mnist_None_50_1_20261128-165918_95ed7ced_last.pt"
    cases = [
        (["list", "s3://no-such-bucket/x"], env, "no such bucket 'no-such-bucket'"),
        (["inspect", "s3://no-such-bucket/x.pt"], env, "no such bucket"),
        (["list", f"s3://{fixtures_bucket}/nothing-here"], env, "no such object or prefix"),
        (["inspect", key], {**env, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "no credentials found"),
        (["list", f"s3://{fixtures_bucket}/checkpoints"], {**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
         "endpoint unreachable"),
        (["inspect", key], {**env, "AWS_PROFILE": "nope"}, "AWS profile 'nope' is not in"),
        (["list", "s3://"], env, "not an object-store URL"),
    ]
    for argv, e, expected in cases:
        r = run_cli(*argv, env=e)
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert r.returncode == 1 and len(lines) == 1 and expected in lines[0], (argv, r.stderr)
        assert "Traceback" not in r.stderr and "Debug source" not in r.stderr
        if "no such bucket" in expected or "unreachable" in expected:
            assert "S3 at http://127.0.0.1:" in lines[0]


def test_access_denied_by_a_server_that_checks_keys(tmp_path: Path) -> None:
    # moto checks signatures and keys once INITIAL_NO_AUTH_ACTION_COUNT actions have passed (here 0).
    gen = s3_server.serve({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    server = next(gen)
    try:
        r = run_cli("list", "s3://some-bucket/", env={**server.env(), "HOME": str(tmp_path), "AWS_PROFILE": ""})
        assert r.returncode == 1 and "access denied (InvalidAccessKeyId)" in r.stderr, r.stderr
    finally:
        gen.close()


def test_aws_profile_files_give_keys_region_and_endpoint(fixtures_bucket: str, s3: S3Server,
                                                         tmp_path: Path) -> None:
    home = tmp_path / "h"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[lab]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    (home / ".aws" / "config").write_text(f"[profile lab]\nregion = eu-west-1\nendpoint_url = {s3.endpoint}\n")
    env = {"HOME": str(home), "AWS_PROFILE": "lab", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "",
           "AWS_ENDPOINT_URL": "", "AWS_REGION": ""}
    r = run_cli("list", f"s3://{fixtures_bucket}/checkpoints", "--acc", env=env)
    assert r.returncode == 0 and "5 run(s)" in r.stdout, r.stderr

    from mckpt.remote.aws_config import aws_settings

    s = aws_settings({"HOME": str(home), "AWS_PROFILE": "lab", "AWS_REGION": "us-west-2",
                      "AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "http://b:2"})
    assert (s.access_key_id, s.region, s.endpoint) == ("testing", "us-west-2", "http://b:2")
    assert s.credentials_from == f"profile lab in {home / '.aws' / 'credentials'}"
    s = aws_settings({"HOME": str(home), "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
                      "AWS_SESSION_TOKEN": "t", "AWS_DEFAULT_REGION": "ap-south-1"})
    assert (s.access_key_id, s.session_token, s.region, s.endpoint, s.credentials_from) == (
        "k", "t", "ap-south-1", None, "environment")
    assert aws_settings({"HOME": str(tmp_path / "empty")}).access_key_id is None


def test_inspect_of_a_1_gb_object_reads_under_1_mib(s3: S3Server, env: dict[str, str], tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    import argparse

    path = tmp_path / "er_seq-cifar10_None_500_1_20250101-101010_1a2b3c4d_1.pt"
    torch.save({"model": {"net.fc.weight": torch.zeros(256 << 20), "net.fc.bias": torch.zeros(10)},
                "args": argparse.Namespace(model="er", dataset="seq-cifar10", buffer_size=500, n_epochs=1),
                "results": [[[91.5]], [[95.0]], {}]}, path)
    size = path.stat().st_size
    assert size > 1 << 30
    bucket = next(_names)
    make_bucket(s3, bucket, {})
    put_large(s3, bucket, f"ck/{path.name}", path)
    path.unlink()
    # (moto copies the whole object for every ranged GET, so each read here costs it a second or so)
    before = s3.proxy.sent
    r = run_cli("inspect", f"s3://{bucket}/ck/{path.name}", env=env)
    assert r.returncode == 0 and "1.0 GiB" in r.stdout and "Class-IL" in r.stdout, r.stderr
    assert s3.proxy.sent - before < 1 << 20, s3.proxy.sent - before


def test_an_object_named_by_url_costs_two_requests(s3: S3Server, env: dict[str, str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Its first block tells its size and ETag (no HEAD first); then the zip index at the end. An
    empty object, which has no first block, is still told apart."""
    torch = pytest.importorskip("torch")
    from mckpt.domain.checkpoint import read_checkpoint
    from mckpt.errors import NotACheckpoint
    from mckpt.remote.objstore import ObjectSource, parse_object_url

    path = tmp_path / "er_seq-cifar10_None_500_1_20250101-101010_1a2b3c4d_1.pt"
    torch.save({"model": {"net.fc.weight": torch.zeros(1 << 20)}, "args": {"model": "er"}}, path)
    bucket = next(_names)
    make_bucket(s3, bucket, {f"ck/{path.name}": path.read_bytes(), "ck/empty.pt": b""})
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    source = ObjectSource(parse_object_url(f"s3://{bucket}/ck/{path.name}"))
    with read_checkpoint(source) as ck:
        assert ck.args == {"model": "er"} and source.size == path.stat().st_size
    assert source.requests == 2 and source.bytes_read == 2 * (64 << 10)
    with pytest.raises(NotACheckpoint, match="empty"):
        read_checkpoint(ObjectSource(parse_object_url(f"s3://{bucket}/ck/empty.pt")))


def test_fetch_from_s3_resumes_verifies_and_caches(s3: S3Server, env: dict[str, str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    body = os.urandom(3 << 20)
    bucket = next(_names)
    make_bucket(s3, bucket, {"runs/model.pt": body})
    url = f"s3://{bucket}/runs/model.pt"
    sha = hashlib.sha256(body).hexdigest()
    r = run_cli("fetch", url, "--sha256", "0" * 64, "-o", str(tmp_path / "out"), env=env)
    assert r.returncode == 1 and "sha256 check failed" in r.stderr and not (tmp_path / "out").exists()
    assert not list(Path(env["MCKPT_CACHE"]).rglob("model.pt")), "no half or wrong file is kept"

    # A .part holding the first MiB (as a killed fetch leaves it) is resumed, not restarted.
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from mckpt.fetch.cache import CacheEntry, PartInfo, cache_root
    from mckpt.remote.fetch_object import cache_remote
    from mckpt.remote.objstore import parse_object_url, store_for

    etag = store_for(parse_object_url(url)).head("runs/model.pt")["e_tag"]
    entry = CacheEntry(cache_root(env["MCKPT_CACHE"]), cache_remote(url))
    entry.dir.mkdir(parents=True, exist_ok=True)
    entry.start_part(PartInfo(url=url, validator=etag, linked_etag=None, total=len(body)))
    entry.part.write_bytes(body[: 1 << 20])
    before = s3.proxy.sent
    r = run_cli("fetch", url, "-o", f"{tmp_path / 'out'}/", "--json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["sha256"] == sha and doc["resumed_from"] == 1 << 20 and doc["transferred"] == len(body) - (1 << 20)
    assert s3.proxy.sent - before < len(body) - (1 << 20) + (64 << 10)
    assert (tmp_path / "out" / "model.pt").read_bytes() == body

    before = s3.proxy.sent
    r = run_cli("fetch", url, "--sha256", sha, "--json", env=env)
    assert r.returncode == 0 and json.loads(r.stdout)["from_cache"] is True, r.stderr
    assert s3.proxy.sent - before < 4096  # at most a HEAD to see that the object is unchanged

    r = run_cli("fetch", f"s3://{bucket}/runs/missing.pt", env=env)
    assert r.returncode == 1 and "no such object" in r.stderr


HTTP_STACK = ("httpx", "httpcore", "http.client", "mckpt.io.transport", "mckpt.io.hub_api", "mckpt.fetch.download")
LOADED = ("import sys, runpy\nsys.argv = sys.argv[1:]\n"
          "try:\n    runpy.run_module('mckpt', run_name='__main__')\nexcept SystemExit:\n    pass\n"
          "sys.stderr.write('LOADED=' + ','.join(sorted(sys.modules)) + '\\n')\n")


def _loaded(argv: list[str], env: dict[str, str], cwd: Path) -> set[str]:
    """The modules `mckpt ARGV` imported, run as the executable runs it."""
    import subprocess

    r = subprocess.run([sys.executable, "-c", LOADED, "mckpt", *argv], capture_output=True, text=True,
                       env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", **env}, cwd=cwd)
    line = next(x for x in r.stderr.splitlines() if x.startswith("LOADED="))
    return set(line.removeprefix("LOADED=").split(","))


def test_local_commands_import_no_object_store_or_http_stack(tmp_path: Path) -> None:
    if not FIXTURES.is_dir():
        fixtures_missing("local commands on them")
    ck = FIXTURES / "checkpoints"
    one = str(next(ck.glob("*.pt")))
    (tmp_path / "checkpoints").symlink_to(ck)
    heavy = {"obstore", "mckpt.remote.objstore", "mckpt.remote.hub_tree", *HTTP_STACK}
    for argv in (["list", str(ck), "--acc"], ["list", str(FIXTURES), "-r", "--json"], ["inspect", one],
                 ["diff", one, one], ["__complete", "run", "9a"], ["__complete", "model", ""], ["--version"]):
        assert _loaded(argv, {}, tmp_path) & heavy == set(), argv


def test_object_store_reads_import_no_http_stack(fixtures_bucket: str, env: dict[str, str], tmp_path: Path) -> None:
    """`inspect`/`list` of s3:// speak to the store through obstore alone (httpx costs 0.1 s to import)."""
    key = next(str(p.relative_to(FIXTURES)) for p in (FIXTURES / "checkpoints").glob("*.pt"))
    url = f"s3://{fixtures_bucket}"
    for argv in (["inspect", f"{url}/{key}"], ["list", f"{url}/checkpoints", "--acc"]):
        loaded = _loaded(argv, env, tmp_path)
        assert "obstore" in loaded and loaded & {*HTTP_STACK, "typer", "rich"} == set(), argv
