"""One resolver: every command that reads a checkpoint takes a path, a run folder, a run uid (or
a unique prefix of 4+ characters) and a URL, and they all mean the same file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import hub_server
import pytest
from hub_server import Hub
from save_load_support import run_args, write_checkpoint

from mckpt.domain.runs import scan
from mckpt.errors import MckptError
from mckpt.locate import read, resolve
from mckpt.locate.resolve import UID_PREFIX_MIN, resolve_checkpoint
from tests.conftest import run_cli

UID = "5a7c0e11"
STEM = f"sgd_seq-mnist_None_0_1_20261128-093000_{UID}"
OTHER = "9b8a7d66"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A working folder whose ./checkpoints holds a 3-task run and a second run."""
    ck = tmp_path / "checkpoints"
    ck.mkdir()
    for t in range(3):
        write_checkpoint(ck / f"{STEM}_{t}.pt", run_args(), tasks_done=t + 1)
    write_checkpoint(ck / f"sgd_seq-mnist_None_0_1_20261128-103000_{OTHER}_0.pt", run_args(lr=0.5), tasks_done=1)
    return tmp_path


def _forms(work: Path) -> dict[str, str]:
    """Every way to name the newest checkpoint of the first run."""
    folder = work / "one_run"
    folder.mkdir(exist_ok=True)
    for t in range(3):
        shutil.copy(work / "checkpoints" / f"{STEM}_{t}.pt", folder / f"{STEM}_{t}.pt")
    return {"path": f"checkpoints/{STEM}_2.pt", "uid": UID, "prefix": UID[:UID_PREFIX_MIN],
            "folder": str(folder), "folder/": f"{folder}/"}


def test_the_library_resolves_every_form_to_the_newest_file(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    for form, spec in _forms(work).items():
        resolved = resolve(spec)
        assert Path(resolved.path).name == f"{STEM}_2.pt", form
        assert not resolved.remote
        assert read(spec).tasks_done == 3, form


@pytest.mark.parametrize("form", ["path", "uid", "prefix", "folder", "folder/"])
def test_every_reading_command_takes_every_form(work: Path, form: str) -> None:
    spec = _forms(work)[form]
    inspect = run_cli("inspect", spec, "--json", cwd=work)
    assert inspect.returncode == 0, inspect.stderr
    assert json.loads(inspect.stdout)["path"].endswith(f"{STEM}_2.pt")
    diff = run_cli("diff", spec, f"checkpoints/{STEM}_2.pt", "--json", cwd=work)
    assert diff.returncode == 0, diff.stderr
    assert json.loads(diff.stdout)["a"]["path"].endswith(f"{STEM}_2.pt")
    convert = run_cli("convert", spec, "--to", "backbone", "--dry-run", "--json", cwd=work)
    assert convert.returncode == 0, convert.stderr
    assert json.loads(convert.stdout)["source"].endswith(f"{STEM}_2.pt")
    load = run_cli("load", spec, "--dry-run", "--json", cwd=work, env={"MAMMOTH_ROOT": ""})
    assert load.returncode == 0, load.stderr
    assert json.loads(load.stdout)["plan"]["file"].endswith(f"{STEM}_2.pt")


@pytest.mark.parametrize("form", ["uid", "prefix"])
def test_verify_takes_a_run_uid_for_its_newest_file(work: Path, form: str) -> None:
    r = run_cli("verify", _forms(work)[form], "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    (checked,) = json.loads(r.stdout)["files"]
    assert checked["path"].endswith(f"{STEM}_2.pt")
    # a missing path is still that file's failed verdict, not an unknown run
    missing = run_cli("verify", "gone.pt", cwd=work)
    assert missing.returncode == 1 and "gone.pt: no such file" in missing.stdout
    unknown = run_cli("verify", "feedbeef", cwd=work)
    assert unknown.returncode != 0 and "no such file, folder or run uid" in unknown.stderr


def test_plot_matrix_takes_a_run_uid(work: Path) -> None:
    pytest.importorskip("matplotlib")
    r = run_cli("plot", "--matrix", UID[:6], "-o", "m.svg", cwd=work)
    assert r.returncode == 0, r.stderr
    assert (work / "m.svg").read_text().startswith("<?xml")


@pytest.mark.parametrize("command", [("inspect",), ("diff", "{spec}"), ("convert", "--dry-run"),
                                     ("load", "--dry-run")])
def test_a_short_prefix_says_it_needs_4_characters(work: Path, command: tuple[str, ...]) -> None:
    spec = UID[:UID_PREFIX_MIN - 1]
    name, *rest = command
    r = run_cli(name, spec, *[a.format(spec=spec) for a in rest], cwd=work, env={"MAMMOTH_ROOT": ""})
    assert r.returncode == 1
    assert r.stderr.startswith(f"error: {spec}: no such file, folder or run uid; a uid prefix needs 4+ characters")
    assert "Traceback" not in r.stderr


def test_an_ambiguous_prefix_names_the_candidates(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(work)
    twin = f"sgd_seq-mnist_None_0_1_20261128-113000_{UID[:4]}ffff_0.pt"
    shutil.copy(work / "checkpoints" / f"{STEM}_0.pt", work / "checkpoints" / twin)
    with pytest.raises(MckptError, match="holds 2 runs") as e:
        resolve_checkpoint(UID[:4])
    assert UID in str(e.value) and f"{UID[:4]}ffff" in str(e.value)
    assert resolve_checkpoint(UID[:5]).path.endswith(f"{STEM}_2.pt")  # one more character settles it


def test_a_missing_path_is_no_such_file(work: Path) -> None:
    r = run_cli("diff", "nope/a.pt", UID, cwd=work)
    assert r.returncode == 1 and r.stderr == "error: nope/a.pt: no such file\n"


def test_a_revision_for_a_local_file_is_refused(work: Path) -> None:
    r = run_cli("inspect", UID, "--revision", "main", cwd=work)
    assert r.returncode == 2 and "revision applies to hf:// and hub URLs" in r.stderr


def test_a_remote_folder_listing_plugs_into_the_resolver(work: Path) -> None:
    """The hook a remote source (an hf:// or s3:// folder) uses: runs under a URL stand for it."""
    runs = scan([str(work / "checkpoints")]).runs
    only = [r for r in runs if r.name.uid == OTHER]
    got = resolve_checkpoint("hf://owner/repo/runs/", remote_runs=lambda url: only)
    assert got.path.endswith(f"{OTHER}_0.pt") and "hf://owner/repo/runs/" in got.chosen_by
    with pytest.raises(MckptError, match="holds 2 runs"):
        resolve_checkpoint("hf://owner/repo/runs/", remote_runs=lambda url: runs)
    single = resolve_checkpoint("hf://owner/repo/a.pt", remote_runs=lambda url: [])
    assert single.path == "hf://owner/repo/a.pt" and single.remote


@pytest.fixture
def hub(work: Path) -> Iterator[Hub]:
    a = (work / "checkpoints" / f"{STEM}_2.pt").read_bytes()
    b = (work / "checkpoints" / f"{STEM}_1.pt").read_bytes()
    yield from hub_server.serve({"owner/repo/a.pt": a, "owner/repo/b.pt": b})


def test_diff_convert_and_load_take_urls_as_inspect_does(work: Path, hub: Hub) -> None:
    env = {"HF_ENDPOINT": hub.hub_url, "MCKPT_CACHE": str(work / "cache"), "MAMMOTH_ROOT": ""}
    inspect = run_cli("inspect", "hf://owner/repo/a.pt", "--json", cwd=work, env=env)
    assert inspect.returncode == 0, inspect.stderr
    diff = run_cli("diff", "hf://owner/repo/a.pt", "hf://owner/repo/b.pt", "--weights", "--json", cwd=work, env=env)
    assert diff.returncode == 0, diff.stderr
    doc = json.loads(diff.stdout)
    assert doc["a"]["tasks_done"] == 3 and doc["b"]["tasks_done"] == 2
    same = run_cli("diff", "hf://owner/repo/a.pt", f"checkpoints/{STEM}_2.pt", "--weights", "--exit-code", "-q",
                   cwd=work, env=env)
    assert same.returncode == 0, same.stderr
    convert = run_cli("convert", "hf://owner/repo/b.pt", "--to", "backbone", "-o", "bb.pt", "--json",
                      cwd=work, env=env)
    assert convert.returncode == 0, convert.stderr
    assert (work / "bb.pt").is_file()
    load = run_cli("load", "hf://owner/repo/b.pt", "--dry-run", "--json", cwd=work, env=env)
    assert load.returncode == 0, load.stderr
    plan = json.loads(load.stdout)["plan"]
    assert plan["start_from"] == 2 and plan["file"].startswith(str(work / "cache"))


def test_diff_exit_code_is_0_when_same_and_1_when_they_differ(work: Path) -> None:
    a, b = f"checkpoints/{STEM}_2.pt", f"checkpoints/{STEM}_1.pt"
    assert run_cli("diff", a, a, "--exit-code", "-q", cwd=work).returncode == 0
    differ = run_cli("diff", a, b, "--exit-code", cwd=work)
    assert differ.returncode == 1 and differ.stdout and not differ.stderr  # the diff is shown, not an error
    assert run_cli("diff", a, b, "-q", cwd=work).returncode == 0  # without it, a diff is a success
    copy = work / "copy.pt"
    shutil.copy(work / a, copy)
    assert run_cli("diff", a, str(copy), "--weights", "--exit-code", "-q", cwd=work).returncode == 0
    # the same args and results, other weights: only --weights tells them apart
    import torch

    obj = torch.load(work / a, weights_only=True)
    obj["model"]["net.fc.weight"] = obj["model"]["net.fc.weight"] * 2
    torch.save(obj, work / "reweighted.pt")
    assert run_cli("diff", a, "reweighted.pt", "--exit-code", "-q", cwd=work).returncode == 0
    assert run_cli("diff", a, "reweighted.pt", "--weights", "--exit-code", "-q", cwd=work).returncode == 1


def test_load_dry_run_plans_without_a_checkout_and_says_what_is_missing(work: Path) -> None:
    r = run_cli("load", UID, "--dry-run", cwd=work, env={"MAMMOTH_ROOT": ""})
    assert r.returncode == 0, r.stderr
    assert "--start_from=3" in r.stdout
    assert "Missing to run it" in r.stdout and "no Mammoth checkout found" in r.stdout
    assert "with --mammoth or MAMMOTH_ROOT" in r.stdout
    real = run_cli("load", UID, cwd=work, env={"MAMMOTH_ROOT": ""})  # a real run still needs the checkout
    assert real.returncode == 1 and real.stderr.startswith("error: ") and "no Mammoth checkout" in real.stderr


def test_results_and_the_python_api_take_run_uids(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mckpt

    r = run_cli("results", UID[:5], OTHER, "--by", "lr", "--json", cwd=work)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["found"] == 2
    monkeypatch.chdir(work)
    assert mckpt.load(UID[:4]).tasks_done == 3
    ck, tensors = mckpt.load(UID, tensors=True)
    assert ck.path.endswith(f"{STEM}_2.pt") and tuple(tensors["model"]["net.fc.weight"].shape) == (2, 3)
