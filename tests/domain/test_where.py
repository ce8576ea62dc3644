"""The one `--where` language (`mckpt.domain.where`) and the commands that take it: results, plot,
prune and list mean the same by `lr<0.1`, `model=derpp,er`, `er-ace` and `None` (issue 24's table:
`prune --where 'lr<0.1'` was refused, `list --where` did not exist)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from save_load_support import run_args, write_checkpoint

from mckpt.domain.runs import scan
from mckpt.domain.where import Where, parse_where
from mckpt.errors import UsageError
from mckpt.hygiene.prune import Policy, plan_prune
from tests.conftest import run_cli

SGD = "sgd_seq-mnist_None_0_1_20261128-093000_e3e70682"
ERACE = "er_ace_seq-mnist_None_200_1_20261128-113000_17e0aa3c"


@pytest.mark.parametrize(("text", "args", "hit"), [
    ("lr<0.1", {"lr": 0.05}, True), ("lr<0.1", {"lr": 0.1}, False), ("lr<=0.1", {"lr": 0.1}, True),
    ("n_epochs>=5", {"n_epochs": 5}, True), ("n_epochs>5", {"n_epochs": 5}, False),
    ("lr=0.10", {"lr": 0.1}, True), ("lr==0.1", {"lr": 0.1}, True),
    ("model=derpp,er", {"model": "er"}, True), ("model=derpp,er", {"model": "sgd"}, False),
    ("model!=sgd", {"model": "sgd"}, False), ("model!=sgd", {"model": "er"}, True),
    ("model=er-ace", {"model": "er_ace"}, True), ("model=ER_ACE", {"model": "er-ace"}, True),
    ("dataset_config=None", {"dataset_config": None}, True), ("dataset_config=None", {}, True),
    ("nowand=true", {"nowand": True}, True), ("nowand=1", {"nowand": True}, True),
    ("nowand=0", {"nowand": True}, False), ("lr>0", {"lr": "x"}, False), ("joint>0", {"joint": True}, False),
])
def test_one_language(text: str, args: dict[str, object], hit: bool) -> None:
    assert Where.parse(text).matches(args) is hit


@pytest.mark.parametrize("text", ["lr", "=3", "lr<high"])
def test_bad_conditions_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_where([text])


def test_the_condition_reads_back_as_typed() -> None:
    assert [w.text for w in parse_where(["lr<0.1", "model==derpp, er"])] == ["lr<0.1", "model=derpp,er"]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """./checkpoints with an sgd run (lr 0.1) and an er-ace run (lr 0.5), two files each."""
    ck = tmp_path / "checkpoints"
    ck.mkdir()
    for t in range(2):
        write_checkpoint(ck / f"{SGD}_{t}.pt", run_args(lr=0.1), tasks_done=t + 1)
        write_checkpoint(ck / f"{ERACE}_{t}.pt", run_args(model="er_ace", lr=0.5, buffer_size=200), tasks_done=t + 1)
    return tmp_path


def test_prune_takes_every_operator(work: Path) -> None:
    folder = str(work / "checkpoints")
    plan = plan_prune([folder], Policy(where=parse_where(["lr<0.3"])))
    assert {Path(d.file.path).name for d in plan.deletions} == {f"{SGD}_0.pt"}
    plan = plan_prune([folder], Policy(where=parse_where(["model=er-ace"])))
    assert {Path(d.file.path).name for d in plan.deletions} == {f"{ERACE}_0.pt"}
    r = run_cli("prune", "--where", "lr<0.3", "-n", "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["policy"]["where"] == ["lr<0.3"]
    assert [Path(d["path"]).name for run in doc["runs"] for d in run["delete"]] == [f"{SGD}_0.pt"]


def test_list_where_filters_on_saved_args(work: Path) -> None:
    r = run_cli("list", "--where", "lr<0.3", "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    assert [run["uid"] for run in json.loads(r.stdout)["runs"]] == ["e3e70682"]
    r = run_cli("list", "-w", "model=er-ace", "-w", "buffer_size>=200", "--json", cwd=work)
    assert [run["uid"] for run in json.loads(r.stdout)["runs"]] == ["17e0aa3c"]
    none = run_cli("list", "--where", "lr>1", cwd=work)
    assert none.returncode == 0 and "no run matches --where lr>1 (of 2 run(s) found)" in none.stdout
    assert run_cli("list", "--where", "lr>1", "-q", cwd=work).returncode == 1
    runs = scan([str(work / "checkpoints")], acc=True).runs
    assert all(r.args is not None and r.args["model"] in ("sgd", "er_ace") for r in runs)


@pytest.mark.parametrize("command", ["list", "results", "prune"])
def test_every_command_refuses_a_bad_condition_alike(work: Path, command: str) -> None:
    r = run_cli(command, "--where", "lr<high", cwd=work)
    assert r.returncode == 2
    assert "'lr<high': < compares numbers, and 'high' is not one" in r.stderr


def test_results_and_list_select_the_same_runs(work: Path) -> None:
    listed = run_cli("list", "--where", "model=er-ace,sgd", "--where", "lr!=0.1", "--json", cwd=work)
    results = run_cli("results", "--where", "model=er-ace,sgd", "--where", "lr!=0.1", "--json", cwd=work)
    assert listed.returncode == 0 and results.returncode == 0, listed.stderr + results.stderr
    (group,) = json.loads(results.stdout)["groups"]
    assert [Path(run["path"]).name for run in group["runs"]] == [f"{ERACE}_1.pt"]
    assert [run["uid"] for run in json.loads(listed.stdout)["runs"]] == ["17e0aa3c"]
