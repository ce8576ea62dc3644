"""`mckpt.locate.targets`: the words of list, results, plot, prune and verify mean the same in every
command (issue 24's table): one default folder and its one message, run uids everywhere, one
refusal of URLs by the commands that read local files only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from save_load_support import run_args, write_checkpoint

from mckpt.domain.runs import scan
from mckpt.errors import MckptError, UsageError
from mckpt.locate.targets import (
    Folder,
    LocalFile,
    RemoteFile,
    RemoteFolder,
    RunUid,
    classify,
    expand,
    select_runs,
)
from tests.conftest import run_cli

UID = "17e0aa3c"
STEM = f"er_seq-mnist_None_200_1_20261128-113000_{UID}"
OTHER = "9a164106"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working folder whose ./checkpoints holds two runs (real checkpoints: results reads them)."""
    ck = tmp_path / "checkpoints"
    ck.mkdir()
    for t in range(2):
        write_checkpoint(ck / f"{STEM}_{t}.pt", run_args(model="er"), tasks_done=t + 1)
    write_checkpoint(ck / f"sgd_seq-mnist_None_0_1_20261128-103000_{OTHER}_0.pt", run_args(lr=0.5), tasks_done=1)
    return tmp_path


def test_each_word_has_one_kind(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    assert classify("checkpoints") == Folder("checkpoints")
    assert classify(f"checkpoints/{STEM}_1.pt") == LocalFile(f"checkpoints/{STEM}_1.pt")
    assert classify("gone/") == Folder("gone/") and classify("gone/x.pt") == LocalFile("gone/x.pt")
    assert classify("17e0") == RunUid("17e0") and classify("x.pt") == LocalFile("x.pt")
    assert classify("https://h/x.pt") == RemoteFile("https://h/x.pt")
    assert classify("https://h/folder/") == RemoteFile("https://h/folder/")  # http has no listing
    assert classify("s3://b/k/x.pt") == RemoteFile("s3://b/k/x.pt")
    assert classify("s3://b/k/") == RemoteFolder("s3://b/k/")
    assert classify("hf://o/r/checkpoints") == RemoteFolder("hf://o/r/checkpoints")


def test_uids_are_looked_up_beside_the_folders_named_else_in_checkpoints(work: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    only = expand(["17e0"], "list")
    assert only.scope() == ["checkpoints"] and only.uids == ["17e0"]
    assert Path(only.newest_file("17e0")).name == f"{STEM}_1.pt"
    (work / "elsewhere").mkdir()
    beside = expand(["elsewhere", "17e0"], "results")
    assert beside.scope() == ["elsewhere"]
    with pytest.raises(MckptError, match="no such file, folder or run uid") as e:
        beside.newest_files()
    assert "looked in: elsewhere" in (e.value.hint or "")
    runs = scan(["checkpoints"]).runs
    assert [r.name.uid for r in select_runs(runs, ["17e0", OTHER], ["checkpoints"])] == [UID, OTHER]
    with pytest.raises(MckptError, match="uid prefix needs 4"):
        select_runs(runs, ["17e"], ["checkpoints"])


def test_a_url_is_refused_with_the_same_words_by_every_local_command() -> None:
    messages = set()
    for command in ("results", "plot", "prune"):
        for url in ("s3://b/checkpoints/", "hf://o/r/checkpoints", "https://h/x.pt"):
            with pytest.raises(UsageError) as e:
                expand(["checkpoints", url], command)
            messages.add(e.value.message)
            assert command in (e.value.hint or "")
    assert messages == {f"{c} reads local folders, files and run uids, not URLs"
                        for c in ("results", "plot", "prune")}
    assert expand(["s3://b/k/"], "verify", remote=True).urls == ["s3://b/k/"]


@pytest.mark.parametrize("url", ["s3://bucket/checkpoints/", "hf://owner/repo/checkpoints"])
def test_prune_refuses_every_store_url_alike(tmp_path: Path, url: str) -> None:
    """Was: `results s3://…` said "no such folder" (exit 1), `results hf://…` a usage error (exit 2).
    results and plot now read store folders (tests/remote/test_results_remote.py); prune deletes local files only."""
    r = run_cli("prune", url, "-n", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"error: {url}: prune reads local folders, files and run uids, not URLs\n")
    assert "then mckpt prune DIR" in r.stderr


@pytest.mark.parametrize(("command", "extra"), [("results", ()), ("plot", ("-o", "f.png"))])
def test_results_and_plot_refuse_an_http_url_alike(tmp_path: Path, command: str, extra: tuple[str, ...]) -> None:
    r = run_cli(command, "https://example.org/runs/", *extra, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"error: https://example.org/runs/: {command} reads local folders and files, "
                               "and s3://, gs://, az://, hf:// folders\n")
    assert f"then mckpt {command} DIR" in r.stderr


NO_FOLDER = {"list": "no ./checkpoints folder here", "prune": "no ./checkpoints folder here",
             "results": "no ./checkpoints or ./data/results folder here",  # results logs count too
             "plot": "no ./checkpoints or ./data/results folder here"}


@pytest.mark.parametrize(("command", "extra"), [("list", ()), ("results", ()), ("plot", ("-o", "f.png")),
                                                ("prune", ("-n",))])
def test_one_message_when_there_is_no_checkpoints_folder(tmp_path: Path, command: str,
                                                         extra: tuple[str, ...]) -> None:
    r = run_cli(command, *extra, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr == (f"error: checkpoints: {NO_FOLDER[command]}\n"
                        f"hint: run inside a Mammoth working folder, or pass a folder: mckpt {command} PATH\n")


def test_list_takes_run_uids(work: Path) -> None:
    """Was: `list 17e0` said "no such folder" while inspect, diff, verify and prune took uids."""
    r = run_cli("list", "17e0", "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    assert [run["uid"] for run in json.loads(r.stdout)["runs"]] == [UID]
    both = run_cli("list", OTHER, "17e0aa", "--json", cwd=work)
    assert sorted(run["uid"] for run in json.loads(both.stdout)["runs"]) == sorted([UID, OTHER])
    missing = run_cli("list", "ffff0000", cwd=work)
    assert missing.returncode == 1 and missing.stderr.startswith("error: ffff0000: no such file, folder or run uid\n")


def test_results_and_verify_take_a_uid_as_its_newest_file(work: Path) -> None:
    r = run_cli("results", "17e0", "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    (group,) = json.loads(r.stdout)["groups"]
    assert [run["path"] for run in group["runs"]] == [f"checkpoints/{STEM}_1.pt"]
    v = run_cli("verify", "17e0", "--json", cwd=work)
    assert v.returncode == 0, v.stderr
    assert [f["path"] for f in json.loads(v.stdout)["files"]] == [f"checkpoints/{STEM}_1.pt"]


@pytest.mark.parametrize("command", ["list", "results", "prune", "verify", "inspect"])
def test_a_uid_without_a_checkpoints_folder_is_the_same_error_everywhere(tmp_path: Path, command: str) -> None:
    r = run_cli(command, "17e0aa3c", cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith("error: 17e0aa3c: no such file, folder or run uid\n"), r.stderr
    assert "no ./checkpoints folder here to look in" in r.stderr
