"""`results` of an s3:// folder of logs and checkpoints, against a real moto_server: the same
document as `results` of the same files on disk."""

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


def test_results_of_a_bucket_equals_results_of_the_folder(s3: S3Server, tmp_path: Path) -> None:
    if not FIXTURES.is_dir():
        fixtures_missing("results logs and checkpoints")
    work = tmp_path / "work"  # a Mammoth working folder: real logs and checkpoints, and generated logs
    working_folder(work, FIXTURES)
    make_bucket(s3, "runs", {f"lab/{p.relative_to(work)}": str(p) for p in work.rglob("*") if p.is_file()})
    env = {**s3.env(), "HOME": str(tmp_path), "MCKPT_CACHE": str(tmp_path / "cache"), "AWS_PROFILE": ""}
    for args in ((), ("--by", "model", "--tasks", "5")):
        local = run_cli("results", str(work), *args, "--json", env=env)
        remote = run_cli("results", "s3://runs/lab", *args, "--json", env=env)
        assert local.returncode == 0 and remote.returncode == 0, (local.stderr, remote.stderr)
        assert remote.stdout.replace("s3://runs/lab/", "") == local.stdout.replace(f"{work}/", "")
        doc = json.loads(local.stdout)
        sources = {x["source"] for g in doc["groups"] for r in g["runs"] for x in r["records"]}
        assert sources == {"log", "checkpoint"}
    human = run_cli("results", "s3://runs/lab", env=env)
    assert human.returncode == 0 and "runs" in human.stdout
