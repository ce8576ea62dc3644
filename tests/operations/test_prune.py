"""`prune` on copies of the real Mammoth files: several runs, a resumed lineage, paused files.

The folder built here holds the real run 9acd4744 (tasks 0–4), a run resumed from its task 2
(named as Mammoth names it: the parent's stem as prefix), a run resumed from the real paused file
(linked only by its saved `args.loadcheck`, as when the paused run had no --savecheck), the two
real `er` runs, the real joint run, a bare backbone and a file that is not a checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import run_cli

from mckpt.domain.where import Where
from mckpt.hygiene.prune import Policy, execute_prune, parse_age, plan_prune

PARENT = "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744"
CHILD = f"{PARENT}_sgd_seq-mnist_None_0_1_20261128-170042_4d2e1678"
PAUSED = "paused/1fb2c186-8ffa-4ebb-bea9-5c01ef524976.pt"
FROM_PAUSED = "sgd_seq-mnist_None_0_1_20261128-171500_abcdef12"
DAY = 86400.0


@pytest.fixture(scope="module")
def resumed_from_paused(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The real paused file, resumed: its args name it in `loadcheck` and carry a new run name."""
    from conftest import FIXTURES, fixtures_missing

    if not FIXTURES.is_dir():
        fixtures_missing("the paused file to resume")
    import torch

    obj = torch.load(FIXTURES / "checkpoints" / PAUSED, weights_only=True)
    obj["args"] = {**obj["args"], "loadcheck": f"checkpoints/{PAUSED}", "ckpt_name": FROM_PAUSED,
                   "conf_jobnum": "abcdef12-0000-4000-8000-000000000000"}
    out = tmp_path_factory.mktemp("resumed") / f"{FROM_PAUSED}_1.pt"
    torch.save(obj, out)
    return out.read_bytes()


@pytest.fixture
def folder(mammoth_fixtures: Path, resumed_from_paused: bytes) -> Path:
    ck = mammoth_fixtures / "checkpoints"
    for p in ck.rglob("*.json"):
        p.unlink()
    for t in (3, 4):  # the resumed run: tasks 3 and 4, as Mammoth names them after --start_from 3
        shutil.copy(ck / f"{PARENT}_{t}.pt", ck / f"{CHILD}_{t}.pt")
    (ck / f"{FROM_PAUSED}_1.pt").write_bytes(resumed_from_paused)
    shutil.copy(mammoth_fixtures / "bare" / "sgd_seq-mnist_backbone_plain.pt", ck / "backbone.pt")
    (ck / "notes.pt").write_text("not a checkpoint\n")
    # Times as training wrote them: the parent's tasks, the paused file, then the resumed runs.
    order = [*(f"{PARENT}_{t}.pt" for t in range(5)), PAUSED, f"{CHILD}_3.pt", f"{CHILD}_4.pt",
             f"{FROM_PAUSED}_1.pt"]
    base = time.time() - 100 * DAY
    for i, name in enumerate(order):
        os.utime(ck / name, (base + i * DAY, base + i * DAY))
    return ck


def deleted(plan) -> set[str]:  # type: ignore[no-untyped-def]
    return {os.path.relpath(d.file.path, d.file.path.split("/checkpoints/")[0] + "/checkpoints")
            for d in plan.deletions}


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*.pt")}


def test_default_keeps_each_runs_newest_and_the_parent_of_a_resumed_run(folder: Path) -> None:
    plan = plan_prune([str(folder)], Policy())
    assert deleted(plan) == {f"{PARENT}_0.pt", f"{PARENT}_1.pt", f"{PARENT}_3.pt", f"{CHILD}_3.pt"}
    reasons = {os.path.basename(d.file.path): d.reason for r in plan.runs for d in r.decisions}
    assert reasons[f"{PARENT}_2.pt"].startswith("run 4d2e1678 was resumed from it")
    assert reasons[f"{PARENT}_4.pt"].startswith("the run's newest readable file")
    assert reasons[os.path.basename(PAUSED)].startswith("paused")
    assert {os.path.basename(o["path"]) for o in plan.other} == {"backbone.pt", "notes.pt"}
    per_run = {r.run.name.uid: r.bytes_freed for r in plan.runs}
    assert per_run["9acd4744"] == sum((folder / f"{PARENT}_{t}.pt").stat().st_size for t in (0, 1, 3))
    assert plan.bytes_freed == sum(per_run.values())
    assert files(folder) >= {f"{PARENT}_{t}.pt" for t in range(5)}  # planning deletes nothing


def test_include_parents_lets_the_parent_go(folder: Path) -> None:
    plan = plan_prune([str(folder)], Policy(include_parents=True))
    assert f"{PARENT}_2.pt" in deleted(plan) and f"{PARENT}_4.pt" not in deleted(plan)


@pytest.mark.parametrize(("policy", "kept_parent_tasks"), [
    (Policy(keep_tasks=frozenset({0})), {0, 2, 4}),
    (Policy(keep_every=2), {0, 2, 4}),
    (Policy(keep_last=3), {2, 3, 4}),
    (Policy(keep_last=2, keep_tasks=frozenset({0})), {0, 2, 3, 4}),
])
def test_keep_rules_add_up_and_guards_still_hold(folder: Path, policy: Policy, kept_parent_tasks: set[int]) -> None:
    plan = plan_prune([str(folder)], policy)
    gone = deleted(plan)
    assert {t for t in range(5) if f"{PARENT}_{t}.pt" not in gone} == kept_parent_tasks
    assert f"{CHILD}_4.pt" not in gone and f"{FROM_PAUSED}_1.pt" not in gone


def test_paused_drops_the_paused_file_a_run_was_resumed_from_and_nothing_else(folder: Path) -> None:
    plan = plan_prune([str(folder)], Policy(paused=True))
    assert deleted(plan) == {PAUSED}
    (d,) = plan.deletions
    assert "run abcdef12 was resumed from it" in d.reason


def test_paused_file_nobody_resumed_is_kept(folder: Path) -> None:
    (folder / f"{FROM_PAUSED}_1.pt").unlink()
    plan = plan_prune([str(folder)], Policy(paused=True))
    assert deleted(plan) == set()


def test_older_than_where_and_run_selection(folder: Path) -> None:
    now = time.time()
    # Parent tasks were written 100, 99, … days ago: with --older-than 98d only tasks 0 and 1 may go.
    plan = plan_prune([str(folder)], Policy(older_than=parse_age("98d")), now=now)
    assert deleted(plan) == {f"{PARENT}_0.pt", f"{PARENT}_1.pt"}
    assert deleted(plan_prune([str(folder)], Policy(where=(Where.parse("model=er"),)))) == set()
    assert deleted(plan_prune([str(folder)], Policy(where=(Where.parse("lr=0.1"), Where.parse("model=sgd"))))) == {
        f"{PARENT}_0.pt", f"{PARENT}_1.pt", f"{PARENT}_3.pt", f"{CHILD}_3.pt"}
    assert deleted(plan_prune([str(folder)], Policy(where=(Where.parse("lr=0.5"),)))) == set()
    assert deleted(plan_prune([str(folder)], Policy(runs=("4d2e",)))) == {f"{CHILD}_3.pt"}


def test_a_file_named_is_deleted_even_if_newest_but_never_a_parent_or_a_foreign_file(folder: Path) -> None:
    newest = folder / f"{CHILD}_4.pt"
    assert deleted(plan_prune([str(newest)], Policy())) == {f"{CHILD}_4.pt"}
    assert deleted(plan_prune([str(folder / f"{PARENT}_2.pt")], Policy())) == set()
    (folder / "notes.txt").write_text("mine\n")
    plan = plan_prune([str(folder / "notes.pt"), str(folder / "backbone.pt"), str(folder / "notes.txt")], Policy())
    assert plan.deletions == [] and [os.path.basename(o["path"]) for o in plan.other] == [
        "backbone.pt", "notes.pt", "notes.txt"]


def test_execution_survives_a_vanished_file_and_reports_a_changed_one(folder: Path) -> None:
    plan = plan_prune([str(folder)], Policy())
    (folder / f"{PARENT}_0.pt").unlink()  # someone else deleted it between the plan and now
    os.utime(folder / f"{PARENT}_1.pt")  # … and a run rewrote this one
    execute_prune(plan)
    results = {os.path.basename(d.file.path): d.result for d in plan.deletions}
    assert results == {f"{PARENT}_0.pt": "already gone",
                       f"{PARENT}_1.pt": "changed since the plan was made: left alone",
                       f"{PARENT}_3.pt": "deleted", f"{CHILD}_3.pt": "deleted"}
    assert [os.path.basename(d.file.path) for d in plan.failed] == [f"{PARENT}_1.pt"]
    assert (folder / f"{PARENT}_1.pt").exists() and not (folder / f"{PARENT}_3.pt").exists()


def test_cli_deletes_nothing_without_yes_and_exactly_the_plan_with_it(folder: Path) -> None:
    before = files(folder)
    r = run_cli("prune", str(folder))
    assert r.returncode == 1 and "not a terminal" in r.stderr and "Traceback" not in r.stderr
    assert "total: 4 file(s) to delete in 2 run(s)" in r.stdout
    assert files(folder) == before
    r = run_cli("prune", str(folder), "--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["executed"] is False and doc["total"]["files"] == 4 and files(folder) == before
    planned = {d["path"] for run in doc["runs"] for d in run["delete"]}
    assert run_cli("prune", str(folder), "--json").returncode == 2  # --json cannot ask
    r = run_cli("prune", str(folder), "-y")
    assert r.returncode == 0, r.stderr
    assert files(folder) == before - {os.path.relpath(p, folder) for p in planned}
    assert "deleted 4 file(s)" in r.stdout


def test_cli_rejects_an_unknown_uid_and_bad_policies(folder: Path) -> None:
    r = run_cli("prune", str(folder), "ffff0000", "--dry-run")
    assert r.returncode == 1 and "ffff0000: no such file, folder or run uid" in r.stderr
    for bad in (["--older-than", "soon"], ["--keep", "most"], ["--keep-tasks", "x"], ["--where", "lr"]):
        r = run_cli("prune", str(folder), "--dry-run", *bad)
        assert r.returncode == 2 and "error:" in r.stderr, bad


def test_list_shows_the_total_size(folder: Path) -> None:
    r = run_cli("list", str(folder), "--json")
    doc = json.loads(r.stdout)
    assert doc["total"]["bytes"] == sum(run["bytes"] for run in doc["runs"]) > 0
    r = run_cli("list", str(folder))
    assert f"{doc['total']['runs']} run(s), {doc['total']['files']} file(s), " in r.stdout


def _prompted_prune(folder: Path, answer: bytes, at_prompt=None) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    """Run `mckpt prune FOLDER` on a real pseudo-terminal, answer its question, return (exit, screen)."""
    from pty_run import run_on_pty

    asked = []

    def reply(screen: bytes) -> bytes | None:
        if asked or b"[y/n]" not in screen:
            return None
        asked.append(True)
        if at_prompt is not None:
            at_prompt()
        return answer

    return run_on_pty(["prune", str(folder)], env={"NO_COLOR": "1"}, columns=200, reply=reply)


def test_interactive_confirm_on_a_real_terminal(folder: Path) -> None:
    before = files(folder)
    code, screen = _prompted_prune(folder, b"n\n")
    assert "Delete 4 file(s), freeing" in screen and code == 1 and "not confirmed" in screen
    assert files(folder) == before
    # Yes, and meanwhile another process deleted one of the planned files: the rest still goes.
    code, screen = _prompted_prune(folder, b"y\n", at_prompt=lambda: (folder / f"{PARENT}_0.pt").unlink())
    assert code == 0, screen
    assert "already gone" in screen and "deleted 3 file(s)" in screen
    assert files(folder) == before - {f"{PARENT}_{t}.pt" for t in (0, 1, 3)} - {f"{CHILD}_3.pt"}
