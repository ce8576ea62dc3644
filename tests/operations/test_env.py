"""`mckpt env`: versions without importing torch, the cache's size, the Mammoth checkout and its
commit (as git itself says), and environment variables with secrets hidden."""

from __future__ import annotations

import json
import os
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from conftest import run_cli

from mckpt.envinfo import HIDDEN, folder_usage, git_commit, shown_value

SECRETS = {"HF_TOKEN": "hf_supersecret", "AWS_SECRET_ACCESS_KEY": "awsSECRET", "AZURE_STORAGE_SAS_TOKEN": "sv=xyz",
           "MCKPT_TOKEN": "tok"}


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", "-C", str(root), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def mammoth(tmp_path: Path) -> Path:
    root = tmp_path / "mammoth"
    (root / "utils").mkdir(parents=True)
    (root / "main.py").write_text("print('mammoth')\n")
    (root / "utils" / "checkpoints.py").write_text("")
    _git(root, "init", "-q", "-b", "master")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-m", "one")
    return root


def test_env_json_reports_what_a_bug_report_needs(tmp_path: Path, mammoth: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "a").mkdir(parents=True)
    (cache / "a" / "one.bin").write_bytes(b"x" * 3000)
    os.link(cache / "a" / "one.bin", cache / "a" / "same.bin")  # a hard link: its bytes once
    (cache / "b.json").write_bytes(b"{}")
    outside = tmp_path / "big.bin"
    outside.write_bytes(b"y" * 10000)
    (cache / "link.bin").symlink_to(outside)  # not followed
    env = {"MCKPT_CACHE": str(cache), "MAMMOTH_ROOT": str(mammoth), "HTTPS_PROXY": "http://bob:pw@proxy:3128",
           "UNRELATED_VAR": "x", **SECRETS}
    r = run_cli("-X", "importtime", "-m", "mckpt", "env", "--json", env=env, module=None)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["packages"]["torch"] == metadata.version("torch")
    assert doc["packages"]["typer"] == metadata.version("typer")
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in r.stderr.splitlines()}
    assert not imported & {"torch", "matplotlib", "httpx", "huggingface_hub"}
    assert doc["cache"] == {"path": str(cache), "exists": True, "bytes": 3002, "files": 2}
    assert doc["mammoth"]["root"] == str(mammoth) and doc["mammoth"]["found_by"] == "MAMMOTH_ROOT"
    assert doc["mammoth"]["commit"] == _git(mammoth, "rev-parse", "HEAD")
    assert doc["environment"]["HTTPS_PROXY"] == "http://***@proxy:3128"
    assert doc["environment"]["MAMMOTH_ROOT"] == str(mammoth)
    assert "UNRELATED_VAR" not in doc["environment"]
    for name, value in SECRETS.items():
        assert doc["environment"][name] == HIDDEN
        assert value not in r.stdout


def test_env_human_view_and_no_checkout(tmp_path: Path) -> None:
    r = run_cli("env", cwd=tmp_path, env={"MCKPT_CACHE": str(tmp_path / "none"), "HF_TOKEN": "hf_secret"})
    assert r.returncode == 0, r.stderr
    assert "hf_secret" not in r.stdout and HIDDEN in r.stdout
    assert "not created yet" in r.stdout
    assert "mammoth  " in r.stdout and "not found" in r.stdout


def test_commit_is_read_as_git_reads_it(mammoth: Path, tmp_path: Path) -> None:
    """Loose ref, packed ref, detached HEAD, a linked worktree (a `.git` file), and not a checkout."""
    first = _git(mammoth, "rev-parse", "HEAD")
    assert git_commit(mammoth) == first
    (mammoth / "x").write_text("2")
    _git(mammoth, "add", ".")
    _git(mammoth, "commit", "-q", "-m", "two")
    _git(mammoth, "pack-refs", "--all")
    assert not (mammoth / ".git" / "refs" / "heads" / "master").exists()
    assert git_commit(mammoth) == _git(mammoth, "rev-parse", "HEAD") != first
    _git(mammoth, "worktree", "add", "-q", "-b", "side", str(tmp_path / "wt"), first)
    assert (tmp_path / "wt" / ".git").is_file() and git_commit(tmp_path / "wt") == first
    _git(mammoth, "checkout", "-q", "--detach", first)
    assert git_commit(mammoth) == first
    assert git_commit(tmp_path) is None


def test_secret_names_and_paths() -> None:
    assert shown_value("AWS_SESSION_TOKEN", "abc") == HIDDEN
    assert shown_value("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token") == "/var/run/token"  # where, not what
    assert shown_value("HF_TOKEN_PATH", "/h/token") == "/h/token"
    assert shown_value("ALL_PROXY", "socks5://u@h:1") == "socks5://***@h:1"
    assert shown_value("HTTP_PROXY", "http://h:1") == "http://h:1"
    assert folder_usage(Path("/nonexistent/mckpt")).exists is False
