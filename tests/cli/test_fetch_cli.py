"""`mckpt fetch` and `mckpt inspect <URL>` as a user runs them: real subprocesses, a real server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import hub_server
import pytest
from conftest import REPO, run_cli, sigint_default
from hub_server import Hub

from mckpt.view.output import human_bytes

NAME = "er_seq-cifar10_None_500_1_20250101-101010_1a2b3c4d_1.pt"
URL = f"hf://loribonna/mammoth/{NAME}"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    path = tmp_path_factory.mktemp("ckpt") / NAME
    return path, hub_server.mammoth_checkpoint(path)


@pytest.fixture
def hub(ckpt: tuple[Path, bytes]) -> Iterator[Hub]:
    yield from hub_server.serve({f"loribonna/mammoth/{NAME}": ckpt[1]})


@pytest.fixture
def env(hub: Hub, tmp_path: Path) -> dict[str, str]:
    return {"HF_ENDPOINT": hub.hub_url, "MCKPT_CACHE": str(tmp_path / "cache"),
            "MCKPT_RETRY_BACKOFF": "0.001", "HF_TOKEN": "", "HF_HUB_OFFLINE": "", "HF_HOME": str(tmp_path / "hf"),
            "HF_TOKEN_PATH": "", "HF_HUB_CACHE": ""}


def test_fetch_places_the_file_and_summarises_the_checkpoint(ckpt: tuple[Path, bytes], env: dict[str, str],
                                                             tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = run_cli("fetch", URL, "-o", f"{out}/", env=env)
    assert r.returncode == 0, r.stderr
    assert (out / NAME).read_bytes() == ckpt[1]
    assert f"path     {out / NAME}" in r.stdout
    for line in ("kind     mammoth", "model    er", "dataset  seq-cifar10", "tasks    2"):
        assert line in r.stdout
    assert r.stderr.startswith(f"mckpt: fetching {NAME} (") and "\r" not in r.stderr  # line-oriented in a pipe


def test_fetch_json_schema_and_second_run_from_cache(ckpt: tuple[Path, bytes], env: dict[str, str]) -> None:
    first = json.loads(run_cli("fetch", URL, "--json", "-q", env=env).stdout)
    second = json.loads(run_cli("fetch", URL, "--json", "-q", env=env).stdout)
    assert set(first) == {"path", "size", "sha256", "url", "cache_path", "revision", "commit", "from_cache",
                          "transferred", "resumed_from", "checkpoint"}
    assert first["transferred"] == len(ckpt[1]) and not first["from_cache"]
    assert second["from_cache"] and second["transferred"] == 0 and second["path"] == first["path"]
    assert second["checkpoint"] == {"kind": "mammoth", "model": "er", "dataset": "seq-cifar10",
                                    "tasks_done": 2}


def test_errors_are_one_line_with_a_hint(hub: Hub, env: dict[str, str]) -> None:
    hub.faults.require_token = "tok"
    r = run_cli("fetch", URL, env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and "HTTP 401" in lines[0] and lines[1].startswith("hint: ")
    assert run_cli("fetch", URL, "--sha256", "xyz", env=env).returncode == 2
    r = run_cli("fetch", URL, "--token", "tok", "-q", env=env)
    assert r.returncode == 0 and r.stdout == ""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "killed"])
def test_an_interrupted_fetch_keeps_the_part_and_the_next_run_resumes(
        hub: Hub, ckpt: tuple[Path, bytes], env: dict[str, str], tmp_path: Path, sig: signal.Signals) -> None:
    hub.faults.drop_after, hub.faults.drops, hub.faults.hold = 1_000_000, 1, threading.Event()
    proc = subprocess.Popen([sys.executable, "-m", "mckpt", "fetch", URL], cwd=tmp_path, text=True,
                            env={**os.environ, **env, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=sigint_default)
    cache = Path(env["MCKPT_CACHE"])
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size > 0 for p in cache.rglob("*.part")):
        assert time.monotonic() < deadline and proc.poll() is None, "the fetch never got its first bytes"
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    hub.faults.hold.set()
    (part,) = cache.rglob("*.part")
    kept = part.stat().st_size
    assert 0 < kept <= 1_000_000
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and f"interrupted; {human_bytes(kept)} kept" in err
        # named by what was asked for, with how to go on; not by the cache's inner folder
        error, hint = err.strip().splitlines()[-2:]
        assert error.startswith(f"error: {URL}: ") and str(cache) not in err, err
        assert hint == f"hint: run the same command again to resume from there: mckpt fetch {URL}"
    r = run_cli("fetch", URL, "--json", "-q", env=env)
    doc = json.loads(r.stdout)
    assert doc["resumed_from"] == kept and Path(doc["path"]).read_bytes() == ckpt[1]
    assert doc["transferred"] == len(ckpt[1]) - kept
    assert hub.cdn_bytes == 1_000_000 + doc["transferred"]  # the held first attempt sent 1,000,000


def test_two_concurrent_processes_share_one_download(hub: Hub, ckpt: tuple[Path, bytes],
                                                     env: dict[str, str]) -> None:
    procs = [subprocess.Popen([sys.executable, "-m", "mckpt", "fetch", URL, "--json", "-q"], text=True,
                              env={**os.environ, **env, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE)
             for _ in range(2)]
    docs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert {d["path"] for d in docs} == {docs[0]["path"]} and Path(docs[0]["path"]).read_bytes() == ckpt[1]
    assert hub.cdn_bytes == len(ckpt[1])


def test_inspect_url_reads_a_fraction_and_matches_local_inspect(hub: Hub, ckpt: tuple[Path, bytes],
                                                               env: dict[str, str]) -> None:
    hub.faults.require_token = "tok"
    remote = run_cli("inspect", URL, "--json", env={**env, "HF_TOKEN": "tok"})
    assert remote.returncode == 0, remote.stderr
    local = run_cli("inspect", str(ckpt[0]), "--json")
    r, loc = json.loads(remote.stdout), json.loads(local.stdout)
    assert r.pop("path").endswith(NAME) and loc.pop("path").endswith(NAME)
    assert r == loc
    assert hub.cdn_bytes < len(ckpt[1]) / 20, f"{hub.cdn_bytes} of {len(ckpt[1])} bytes read"
    assert all("range" in h and "authorization" not in h for _, _, h in hub.cdn_requests())


def test_inspect_url_errors_are_one_line(hub: Hub, env: dict[str, str]) -> None:
    r = run_cli("inspect", "hf://loribonna/mammoth/nope.pt", env=env)
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "HTTP 404" in r.stderr
    hub.faults.require_token = "tok"
    fetched, inspected = run_cli("fetch", URL, env=env), run_cli("inspect", URL, env=env)
    assert "HTTP 401" in inspected.stderr and "--token" in fetched.stderr and "--token" not in inspected.stderr
    hub.faults.require_token = None
    hub.faults.ignore_range = True
    r = run_cli("inspect", URL, env=env)
    assert r.returncode == 1 and "does not support range requests" in r.stderr and "mckpt fetch" in r.stderr


def test_inspect_url_offline_uses_the_cache_or_says_why(hub: Hub, ckpt: tuple[Path, bytes],
                                                       env: dict[str, str]) -> None:
    offline = {**env, "HF_HUB_OFFLINE": "1"}
    r = run_cli("inspect", URL, env=offline)
    assert r.returncode == 1 and "offline" in r.stderr and "not in the cache" in r.stderr
    assert "mckpt fetch" in r.stderr and hub.cdn_bytes == 0
    assert run_cli("fetch", URL, "-q", env=env).returncode == 0
    before = hub.cdn_bytes
    r = run_cli("inspect", URL, "--json", env=offline)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["kind"] == "mammoth" and hub.cdn_bytes == before


def test_local_commands_never_import_the_http_stack() -> None:
    code = ("import sys, mckpt.cli.app; bad = {'http.client', 'ssl', 'httpx', 'torch'} & set(sys.modules); "
            "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(REPO)},
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_giving_up_names_the_url(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port on 127.0.0.1 that nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ck.pt"
    env = {"MCKPT_CACHE": str(tmp_path / "cache"), "MCKPT_RETRY_BACKOFF": "0.001"}
    r = run_cli("fetch", url, "--retries", "1", env=env)
    assert r.returncode == 1
    last = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert last == [f"error: {url}: connection refused by 127.0.0.1 (gave up after 1 retry)"]
    assert "rerunning the same command resumes" in r.stderr
    r = run_cli("inspect", url, env=env)
    assert r.returncode == 1 and r.stderr.startswith(f"error: {url}: connection refused")
    assert "resumes" not in r.stderr  # inspect keeps nothing to resume


def test_fetch_revision_and_connections_options(hub: Hub, ckpt: tuple[Path, bytes], env: dict[str, str]) -> None:
    from hub_server import COMMIT

    r = run_cli("fetch", URL, "--revision", COMMIT, "--connections", "2", "--json", "-q", env=env)
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and doc["revision"] == COMMIT and Path(doc["path"]).read_bytes() == ckpt[1]
    r = run_cli("fetch", f"{URL}@main", "--revision", COMMIT, env=env)
    assert r.returncode == 1 and "--revision says" in r.stderr
    assert run_cli("fetch", URL, "--connections", "0", env=env).returncode == 2


@pytest.mark.parametrize("command", [["list"], ["inspect", "{file}"], ["__complete", "model", ""]])
def test_local_commands_do_not_import_httpx(ckpt: tuple[Path, bytes], tmp_path: Path, command: list[str]) -> None:
    args = [a.format(file=ckpt[0]) for a in command]
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "mckpt", *args], cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=120)
    imported = {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if "|" in line}
    assert imported and not {"httpx", "httpcore", "ssl", "h11"} & imported
