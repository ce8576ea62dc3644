"""`list` of an s3:// folder shows the runs of its results logs, as `list` of the same files on disk
does, against a real moto_server; what it costs in requests, counted at the proxy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FIXTURES, fixtures_missing, run_cli
from mammoth_log import working_folder

pytest.importorskip("moto", reason="moto[server] is in the [test] extra; without it there is no S3 server here")
pytest.importorskip("obstore", reason="obstore is a dependency of mckpt")

import s3_server
from s3_server import S3Server, make_bucket


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    yield from s3_server.serve()


@pytest.fixture(scope="module")
def lab(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Mammoth working folder (real checkpoints and logs, generated logs) on disk and as `s3://runs/lab`."""
    if not FIXTURES.is_dir():
        fixtures_missing("results logs and checkpoints")
    work = tmp_path_factory.mktemp("list-logs") / "work"
    working_folder(work, FIXTURES)
    make_bucket(s3, "runs", {f"lab/{p.relative_to(work)}": str(p) for p in work.rglob("*") if p.is_file()})
    return work


@pytest.fixture
def env(s3: S3Server, tmp_path: Path) -> dict[str, str]:
    return {**s3.env(), "HOME": str(tmp_path), "MCKPT_CACHE": str(tmp_path / "cache"), "AWS_PROFILE": ""}


@pytest.mark.parametrize("sub,opts", [("", ()), ("", ("--acc",)), ("data", ()), ("data", ("-r",))])
def test_list_of_a_bucket_folder_equals_list_of_the_folder(lab: Path, env: dict[str, str], sub: str,
                                                           opts: tuple[str, ...]) -> None:
    local = run_cli("list", str(lab / sub) if sub else str(lab), *opts, "--json", env=env)
    remote = run_cli("list", f"s3://runs/lab/{sub}".rstrip("/"), *opts, "--json", env=env)
    assert local.returncode == 0 and remote.returncode == 0, (local.stderr, remote.stderr)
    here = f"{lab / sub}/" if sub else f"{lab}/"
    there = f"s3://runs/lab/{sub}/" if sub else "s3://runs/lab/"
    doc = json.loads(local.stdout.replace(here, ""))
    assert json.loads(remote.stdout.replace(there, "")) == doc
    sources = {r["source"] for r in doc["runs"]}
    assert "log" in sources and (sources >= {"checkpoint"} or sub) and len(doc["runs"]) == len(
        {r["uid"] for r in doc["runs"]})  # each run once


def test_a_plain_checkpoints_prefix_costs_no_more_requests(s3: S3Server, env: dict[str, str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """One listing without a delimiter: no more requests than the delimited listing it replaces
    (and one fewer with a `paused/` folder, which the delimited listing reads apart)."""
    from mckpt.locate.run_sources import store_files
    from mckpt.remote.objstore import ObjectFolder, parse_object_url

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    stem = "er_seq-cifar10_None_500_50_20250101-101010_1a2b3c4d"
    make_bucket(s3, "plain", {f"ck/{stem}_{t}.pt": b"x" for t in range(3)})
    make_bucket(s3, "paused", {f"ck/{stem}_0.pt": b"x", f"ck/paused/{stem}_1.pt": b"x"})
    for bucket, before_cost in (("plain", 1), ("paused", 2)):
        url = f"s3://{bucket}/ck"
        start = s3.proxy.requests
        old = ObjectFolder(parse_object_url(url)).entries()
        before = s3.proxy.requests - start
        checkpoints, logs = store_files(url, False)
        now = s3.proxy.requests - start - before
        assert before == before_cost and now == 1, (bucket, before, now)
        assert [e.name for e in checkpoints] == [e.name for e in old] and logs == []


def test_a_working_folder_costs_one_listing_and_one_read_per_log(lab: Path, s3: S3Server,
                                                                 env: dict[str, str]) -> None:
    """Its logs cost one GET each (each is under the first block read) beyond what listing its
    checkpoints costs: one listing, and the reads of the paused files whose names say nothing."""

    def requests(url: str) -> int:
        start = s3.proxy.requests
        r = run_cli("list", url, "--json", env=env)
        assert r.returncode == 0, r.stderr
        return s3.proxy.requests - start

    checkpoints, work = requests("s3://runs/lab/checkpoints"), requests("s3://runs/lab")
    assert work == checkpoints + len(list(lab.rglob("logs.pyd"))), (work, checkpoints)


def test_a_working_folder_without_logs_lists_its_checkpoints(s3: S3Server, env: dict[str, str],
                                                             tmp_path: Path) -> None:
    """A folder holding `checkpoints/` and no `.pt` of its own is a Mammoth working folder, in a
    store as on disk (`resolve.checkpoints_folder`'s rule), logs or none."""
    if not FIXTURES.is_dir():
        fixtures_missing("checkpoints")
    work = tmp_path / "bare-work"
    (work / "checkpoints").mkdir(parents=True)
    for p in (FIXTURES / "checkpoints").glob("*.pt"):
        (work / "checkpoints" / p.name).write_bytes(p.read_bytes())
    make_bucket(s3, "bare", {f"w/checkpoints/{p.name}": str(p) for p in (work / "checkpoints").glob("*.pt")})
    local = run_cli("list", str(work), "--json", env=env)
    remote = run_cli("list", "s3://bare/w", "--json", env=env)
    assert local.returncode == 0 and remote.returncode == 0, (local.stderr, remote.stderr)
    doc = json.loads(local.stdout.replace(f"{work}/", ""))
    assert json.loads(remote.stdout.replace("s3://bare/w/", "")) == doc and doc["runs"]
