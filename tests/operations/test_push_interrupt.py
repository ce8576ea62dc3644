"""`mckpt push` pressed Ctrl-C mid-upload on a real terminal, and refused access.

The hub imitation holds the LFS upload; Ctrl-C then: exit 130, one line, no commit, no file, the
source as it was (what the test waits for is seen on the server, never a fixed sleep). A bucket
that refuses the user, and a key the server never issued, are one line each."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli
from hub_server import mammoth_checkpoint
from pty_run import run_on_pty
from s3_server import S3Server, start_moto

NAME = "er_seq-cifar10_buf500_e1_20240101-000000_abcd1234_with_a_long_descriptive_suffix_last.pt"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("big") / NAME
    return path, mammoth_checkpoint(path, 30)  # an old pickle: converted, then sent in 10 MiB parts


def _lines(screen: str) -> list[str]:
    return [ANSI.sub("", f) for f in re.split(r"[\r\n]", screen)]


@pytest.fixture
def hub() -> Iterator:
    import hub_server

    gen = hub_server.serve()
    h = next(gen)
    h.repos.add("me/er")
    yield h
    gen.close()


def test_ctrl_c_during_the_hub_upload_makes_no_commit(hub, big: tuple[Path, bytes], tmp_path: Path) -> None:
    path, data = big
    hub.faults.hold_uploads = threading.Event()
    env = {"HF_ENDPOINT": hub.hub_url, "HF_TOKEN": "hf_test", "HF_HUB_DISABLE_XET": "1",
           "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
    state = {"pressed": False}

    def watch(screen: bytes, proc: subprocess.Popen[bytes]) -> None:
        if not state["pressed"] and any(r[0] == "lfs" for r in list(hub.requests)):  # the LFS upload began
            proc.send_signal(signal.SIGINT)
            state["pressed"] = True

    code, screen = run_on_pty(["push", str(path), "hf://me/er"], env=env, cwd=tmp_path, watch=watch, timeout=180)
    hub.faults.hold_uploads.set()
    assert state["pressed"] and code == 130, screen
    assert [f for f in _lines(screen) if f.strip().startswith("error:")] == ["error: interrupted"], screen
    assert "Traceback" not in screen
    assert hub.commits == 0 and not any(k.startswith("me/er/") for k in hub.files)
    assert path.read_bytes() == data


# --------------------------------------------------------------------------------------------------
# refused access: one `error:` line and at most a `hint:` line


@pytest.fixture(scope="module")
def s3_auth() -> Iterator[S3Server]:
    """moto as its own process with access control on: the first 3 requests (the test's set-up)
    are let through, every later one needs a key moto issued and a policy that allows it."""
    server = start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    try:
        yield server
    finally:
        server.proxy.stop()
        assert server.process is not None
        server.process.terminate()
        server.process.wait(10)


def _one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = r.stderr.strip().splitlines()
    assert r.returncode not in (0, 130) and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("error: ") and len(lines) <= 2, r.stderr
    assert len(lines) == 1 or lines[1].startswith("hint: "), r.stderr
    return lines[0]


def test_denied_bucket_and_refused_key_are_one_line(s3_auth: S3Server, tmp_path: Path) -> None:
    import boto3

    src = tmp_path / "er_last.pt"
    mammoth_checkpoint(src, 1)
    admin = dict(endpoint_url=s3_auth.direct, aws_access_key_id="testing", aws_secret_access_key="testing",
                 region_name="us-east-1")
    boto3.client("s3", **admin).create_bucket(Bucket="denied")  # 1
    iam = boto3.client("iam", **admin)
    iam.create_user(UserName="nobody")  # 2: a user with no policy, so S3 denies it everything
    key = iam.create_access_key(UserName="nobody")["AccessKey"]  # 3
    user = {**s3_auth.env(), "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    denied = _one_error_line(run_cli("push", str(src), "s3://denied/p", env=user))
    assert "denied" in denied and ("403" in denied or "access" in denied.lower()), denied
    stranger = {**s3_auth.env(), "AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000"}
    refused = _one_error_line(run_cli("push", str(src), "s3://denied/p", env=stranger))
    assert "denied" in refused, refused
    assert os.path.getsize(src) > 0


def test_all_tasks_on_a_remote_source_is_refused(tmp_path: Path) -> None:
    r = run_cli("push", "s3://some/run/er_last.pt", "s3://other/p", "--all-tasks", env={"AWS_ACCESS_KEY_ID": "x"})
    line = _one_error_line(r)
    assert "--all-tasks" in line, r.stderr
