"""No dead ends: a Mammoth working folder is read as its `checkpoints/`, every hint names a command
that works, "nothing here" exits by one rule, and `--ids`/`--paths` feed real pipelines."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, run_cli

STEM = "er_seq-mnist_None_200_1_20261128-113000_17e0aa3c"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder as `mckpt demo` leaves it (`mckpt-demo/checkpoints`), with no `./checkpoints` of its
    own, an empty folder, a Mammoth working folder of one run, two runs whose uids share a prefix,
    and a safetensors file."""
    root = tmp_path_factory.mktemp("dead-ends")
    r = run_cli("demo", "-q", cwd=root)
    assert r.returncode == 0, r.stderr
    (root / "empty").mkdir()
    one = root / "one" / "checkpoints"
    one.mkdir(parents=True)
    shutil.copy(root / "mckpt-demo" / "checkpoints" / f"{STEM}_last.pt", one)
    twins = root / "twins" / "checkpoints"
    twins.mkdir(parents=True)
    for uid in ("17e0aa3c", "17e0ffff"):
        shutil.copy(root / "mckpt-demo" / "checkpoints" / f"{STEM}_last.pt", twins / f"{STEM[:-8]}{uid}_last.pt")
    header = json.dumps({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    (root / "w.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    return root


# --- a Mammoth working folder is read as its checkpoints/ ---------------------------------------

def test_every_command_reads_the_demo_folder_as_its_checkpoints(work: Path) -> None:
    listed = json.loads(run_cli("list", "mckpt-demo", "--json", cwd=work).stdout)
    assert listed["total"] == {"runs": 10, "files": 13, "bytes": listed["total"]["bytes"]}
    assert all(r["checkpoints"][0]["path"].startswith("mckpt-demo/checkpoints/") for r in listed["runs"])
    results = json.loads(run_cli("results", "mckpt-demo", "--json", cwd=work).stdout)
    assert results["found"] == 9  # of 10 runs: a resumed run and its parent count once
    pruned = json.loads(run_cli("prune", "mckpt-demo", "--dry-run", "--json", cwd=work).stdout)
    deleted = [d["path"] for run in pruned["runs"] for d in run["delete"]]
    assert deleted and all(p.startswith("mckpt-demo/checkpoints/") for p in deleted)
    verified = run_cli("verify", "mckpt-demo", "--json", cwd=work)
    assert verified.returncode == 0, verified.stderr
    assert json.loads(verified.stdout)["total"]["files"] == 13
    several = run_cli("inspect", "mckpt-demo", cwd=work)
    assert several.returncode == 1 and "holds 10 runs" in several.stderr


def test_a_working_folder_of_one_run_is_that_run(work: Path) -> None:
    r = run_cli("inspect", "one", "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["path"] == f"one/checkpoints/{STEM}_last.pt"


def test_a_folder_with_its_own_pt_files_is_itself(work: Path, tmp_path: Path) -> None:
    # A .pt file beside checkpoints/ means the folder is a folder of checkpoints, not a working folder.
    (tmp_path / "checkpoints").mkdir()
    shutil.copy(work / "one" / "checkpoints" / f"{STEM}_last.pt", tmp_path / f"{STEM}_last.pt")
    listed = json.loads(run_cli("list", str(tmp_path), "--json").stdout)
    assert [c["path"] for r in listed["runs"] for c in r["checkpoints"]] == [str(tmp_path / f"{STEM}_last.pt")]


# --- every hint points to something that works ----------------------------------------------------

# (where to run, the command): each ends in an error whose hint names a command in backticks.
HINTED = [
    (".", ["inspect", "mckpt-demo"]),  # several runs: list them
    (".", ["list", "zzzz9999", "mckpt-demo"]),  # no such uid in the folder named
    ("mckpt-demo", ["inspect", "zzzz9999"]),  # no such uid in ./checkpoints
    ("twins", ["inspect", "17e0"]),  # a prefix of two runs
    (".", ["inspect", "empty"]),  # a folder without checkpoints
    (".", ["inspect", "w.safetensors", "--args-only"]),
    (".", ["diff", "w.safetensors", "w.safetensors"]),
    (".", ["list", "--bogus"]),
    (".", ["cache", "rm", "deadbeefdead"]),
]


def _hinted_command(stderr: str) -> list[str]:
    hint = next(line for line in stderr.splitlines() if line.startswith("hint: "))
    found = re.search(r"`(mckpt [^`]+)`", hint)
    assert found, f"no command in the hint: {hint}"
    return shlex.split(found.group(1))[1:]


@pytest.mark.parametrize(("where", "command"), HINTED, ids=[" ".join(c) for _, c in HINTED])
def test_each_hint_names_a_command_that_works(work: Path, where: str, command: list[str]) -> None:
    first = run_cli(*command, cwd=work / where)
    assert first.returncode != 0
    error = first.stderr.splitlines()[0]
    assert error.startswith("error: ")
    then = run_cli(*_hinted_command(first.stderr), cwd=work / where)
    assert error not in then.stderr
    assert then.returncode == 0, (command, then.stderr)


def test_a_uid_looked_for_nowhere_names_no_command_that_fails(work: Path) -> None:
    # No ./checkpoints here: `see mckpt list` would end in "no ./checkpoints folder here".
    r = run_cli("inspect", "zzzz9999", cwd=work)
    assert r.returncode == 1 and "no ./checkpoints folder here to look in" in r.stderr and "`mckpt" not in r.stderr


# --- "nothing here": one rule --------------------------------------------------------------------

# An existing folder holding nothing (or nothing matching) is an answer for the commands that show a
# set (exit 0; with -q, 1, like grep -q); for those that must produce one thing, an error (1).
NOTHING = [
    (["list", "empty"], 0), (["list", "empty", "-q"], 1),
    (["list", "mckpt-demo", "--model", "nosuch"], 0), (["list", "mckpt-demo", "--model", "nosuch", "-q"], 1),
    (["results", "empty"], 0), (["results", "empty", "-q"], 1),
    (["results", "mckpt-demo", "--model", "nosuch", "-q"], 1),
    (["prune", "empty", "--dry-run"], 0), (["prune", "empty", "-y", "-q"], 0),
    (["verify", "empty"], 0), (["verify", "empty", "-q"], 1),
    (["cache", "ls"], 0), (["cache", "ls", "-q"], 1),
    (["inspect", "empty"], 1), (["plot", "empty", "-o", "none.png"], 1),
    (["list", "missing/"], 1), (["verify", "missing.pt"], 1), (["results", "missing/"], 1),
    (["list", "--bogus"], 2), (["verify"], 2),
]


@pytest.mark.parametrize(("command", "code"), NOTHING, ids=[" ".join(c) for c, _ in NOTHING])
def test_nothing_here_exits_by_one_rule(work: Path, command: list[str], code: int) -> None:
    r = run_cli(*command, cwd=work)
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    if code == 0 and "-q" in command:
        assert r.stdout == ""


def test_an_empty_folder_is_said_on_stderr_by_verify(work: Path) -> None:
    r = run_cli("verify", "empty", "--json", cwd=work)
    assert r.returncode == 0
    assert json.loads(r.stdout)["total"]["files"] == 0
    assert "empty: no .pt file to verify in this folder" in r.stderr


def test_the_readme_table_lists_every_exit_code_the_rule_uses() -> None:
    text = (REPO / "README.md").read_text()
    table = text[text.index("| exit code | meaning |"):]
    table = table[:table.index("\n\n")]
    assert {int(c) for c in re.findall(r"^\| (\d+) \|", table, re.M)} >= {0, 1, 2, 130, 141}


# --- --ids and --paths in real pipelines ---------------------------------------------------------

def _shell(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "MCKPT": f"{shlex.quote(sys.executable)} -m mckpt"}
    return subprocess.run(["bash", "-o", "pipefail", "-c", script], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=300)


def test_list_paths_feeds_verify_through_xargs(work: Path) -> None:
    r = _shell("$MCKPT list mckpt-demo --paths | xargs $MCKPT verify", work)
    assert r.returncode == 0, r.stderr
    assert "13 file(s) verified: 13 ok, 0 failed" in r.stdout
    paths = run_cli("list", "mckpt-demo", "--paths", cwd=work).stdout.splitlines()
    listed = json.loads(run_cli("list", "mckpt-demo", "--json", cwd=work).stdout)
    assert sorted(paths) == sorted(c["path"] for run in listed["runs"] for c in run["checkpoints"])


def test_results_ids_select_runs_in_another_command(work: Path) -> None:
    ids = run_cli("results", "mckpt-demo", "--model", "er", "--ids", cwd=work).stdout.split()
    assert sorted(ids) == ["17e0aa3c", "5f3f5638", "d576d415"]
    r = _shell("$MCKPT results mckpt-demo --model er --ids | xargs $MCKPT list mckpt-demo --json", work)
    assert r.returncode == 0, r.stderr
    assert sorted(run["uid"] for run in json.loads(r.stdout)["runs"]) == ids
    files = run_cli("results", "mckpt-demo", "--model", "er", "--paths", cwd=work).stdout.splitlines()
    assert [Path(f).name.split("_")[-2] for f in files] == run_cli(
        "results", "mckpt-demo", "--model", "er", "--ids", cwd=work).stdout.split()
    assert all((work / f).is_file() for f in files)


def test_list_ids_of_a_uid_prefix_and_quiet_stay_what_they_say(work: Path) -> None:
    assert run_cli("list", "mckpt-demo", "17e0", "--ids", cwd=work).stdout == "17e0aa3c\n"
    quiet = run_cli("list", "mckpt-demo", "--ids", "-q", cwd=work)
    assert quiet.returncode == 0 and quiet.stdout == ""


@pytest.mark.parametrize("both", [["--ids", "--paths"], ["--ids", "--json"], ["--paths", "--format", "csv"]])
def test_two_outputs_at_once_are_a_usage_error(work: Path, both: list[str]) -> None:
    r = run_cli("list", "mckpt-demo", *both, cwd=work)
    assert r.returncode == 2 and "choose the output: pass one of them" in r.stderr


def test_cache_ls_ids_and_paths_name_the_cached_files(tmp_path: Path) -> None:
    import hub_server

    from mckpt.fetch.download import fetch
    from mckpt.fetch.options import FetchOptions

    serving = hub_server.serve({"owner/repo/a.pt": os.urandom(50_000), "owner/repo/b.pt": os.urandom(70_000)})
    hub = next(serving)
    try:
        opts = FetchOptions(endpoint=hub.hub_url, cache_dir=str(tmp_path / "cache"), retries=0)
        fetch("hf://owner/repo/a.pt", opts)
        fetch("hf://owner/repo/b.pt", opts)
    finally:
        serving.close()
    cache = shlex.quote(str(tmp_path / "cache"))
    hashed = _shell(f"$MCKPT cache ls --cache-dir {cache} --paths | xargs sha256sum | cut -d' ' -f1", tmp_path)
    assert hashed.returncode == 0, hashed.stderr
    ids = run_cli("cache", "ls", "--cache-dir", str(tmp_path / "cache"), "--ids").stdout
    assert hashed.stdout == ids and len(ids.split()) == 2
    removed = _shell(f"$MCKPT cache ls --cache-dir {cache} --ids | sed -n 1p | xargs $MCKPT cache rm -y -q "
                     f"--cache-dir {cache}", tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert run_cli("cache", "ls", "--cache-dir", str(tmp_path / "cache"), "--ids").stdout.split() == ids.split()[1:]


def test_recursive_walks_the_whole_working_folder(work: Path, tmp_path: Path) -> None:
    # -r reads every sub-folder: the working folder is not narrowed to its checkpoints/.
    shutil.copytree(work / "one", tmp_path / "one")
    (tmp_path / "one" / "old").mkdir()
    shutil.copy(work / "mckpt-demo" / "checkpoints" / "derpp_seq-mnist_None_500_1_20261128-183000_0fa07a3f_last.pt",
                tmp_path / "one" / "old")
    plain = run_cli("list", "one", "--ids", cwd=tmp_path)
    walked = run_cli("list", "one", "-r", "--ids", cwd=tmp_path)
    assert plain.stdout.split() == ["17e0aa3c"]
    assert sorted(walked.stdout.split()) == ["0fa07a3f", "17e0aa3c"]
