"""Issue 20, "Nothing lost": prune, cache prune/rm and the folder walk never cost a good checkpoint.

Each case is built with real files: copies of the real Mammoth run 9acd4744 (tasks 0–4), files
broken in each way a file breaks (cut short, empty, a bad zip index, a pickle the reader refuses),
symbolic links at each level, folders swapped between plan and execution, names with other
Unicode digits, folder chains deeper than Python's stack, and caches that are not caches.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import run_cli

from mckpt.errors import MckptError
from mckpt.hygiene.prune import Policy, execute_prune, parse_age, parse_keep, parse_tasks, plan_prune

PARENT = "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744"
DAY = 86400.0


@pytest.fixture
def real(mammoth_fixtures: Path) -> Path:
    """The folder of real Mammoth files."""
    return mammoth_fixtures / "checkpoints"


def _run_folder(real: Path, dest: Path, tasks: range = range(4)) -> Path:
    """`dest` with the real run's files for `tasks`, written a day apart in task order."""
    dest.mkdir(parents=True, exist_ok=True)
    base = time.time() - 100 * DAY
    for t in tasks:
        shutil.copy(real / f"{PARENT}_{t}.pt", dest / f"{PARENT}_{t}.pt")
        os.utime(dest / f"{PARENT}_{t}.pt", (base + t * DAY, base + t * DAY))
    return dest


def _break(path: Path, kind: str) -> None:
    """Make `path` a file that does not read, in one of the ways files break (same mtime)."""
    st = path.stat()
    data = path.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "bad index":  # the zip's end-of-central-directory record overwritten
        path.write_bytes(data[:-22] + b"\xff" * 22)
    elif kind == "refused pickle":  # a real torch.save whose pickle names a function: never run
        import torch

        torch.save({"model": {}, "args": os.system}, path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


BROKEN = ["truncated", "empty", "bad index", "refused pickle"]


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("position", [3, 1, 0])  # newest, in the middle, oldest
def test_a_broken_file_is_never_newest_and_goes_only_with_broken(real: Path, tmp_path: Path, kind: str,
                                                                  position: int) -> None:
    ck = _run_folder(real, tmp_path / "ck")
    broken = ck / f"{PARENT}_{position}.pt"
    _break(broken, kind)
    best = ck / f"{PARENT}_{max(t for t in range(4) if t != position)}.pt"
    plan = execute_prune(plan_prune([str(ck)], Policy()))
    assert broken.exists() and best.exists()
    assert [d.file.path for d in plan.broken] == [str(broken)] and "--broken" in plan.broken[0].reason
    assert not plan.failed
    # --broken (alone) deletes exactly the broken file, never a good one as a side effect
    before = _names(ck)
    plan = execute_prune(plan_prune([str(ck)], Policy(broken=True)))
    assert _names(ck) == before - {broken.name}
    assert [d.result for d in plan.deletions] == ["deleted"]


def test_dry_run_says_why_for_each_file_and_lists_broken_ones_apart(real: Path, tmp_path: Path) -> None:
    ck = _run_folder(real, tmp_path / "ck")
    _break(ck / f"{PARENT}_3.pt", "truncated")
    r = run_cli("prune", "-n", str(ck), env={"COLUMNS": "250", "MCKPT_CACHE": str(tmp_path / "cache")})
    assert r.returncode == 0, r.stderr
    assert "1 file(s) that do not read" in r.stdout and f"{PARENT}_3.pt" in r.stdout
    for t in range(3):
        assert f"{PARENT}_{t}.pt" in r.stdout
    assert "the run's newest readable file (3 task(s) done)" in r.stdout
    assert r.stdout.count("not kept by --keep-last 1") == 2
    assert _names(ck) == {f"{PARENT}_{t}.pt" for t in range(4)}
    # the second run reads no file again (record cache) and decides the same
    again = run_cli("prune", "-n", str(ck), env={"COLUMNS": "250", "MCKPT_CACHE": str(tmp_path / "cache")})
    assert again.stdout == r.stdout
    assert (tmp_path / "cache" / "CACHEDIR.TAG").is_file()


def test_a_paused_file_is_not_superseded_by_a_later_file_that_does_not_read(real: Path, tmp_path: Path) -> None:
    import torch

    ck = tmp_path / "ck"
    (ck / "paused").mkdir(parents=True)
    stem = "sgd_seq-mnist_None_0_40_20261128-170100_be22a87c"
    obj = torch.load(real / "paused" / "1fb2c186-8ffa-4ebb-bea9-5c01ef524976.pt", weights_only=True)
    obj["args"] = {**obj["args"], "ckpt_name": stem}
    paused = ck / "paused" / "1fb2c186-8ffa-4ebb-bea9-5c01ef524976.pt"
    torch.save(obj, paused)
    os.utime(paused, (time.time() - 2 * DAY,) * 2)
    later = ck / f"{stem}_1.pt"
    later.write_bytes(b"")  # the save that was cut: newer, of the same run, and empty
    plan = execute_prune(plan_prune([str(ck)], Policy(paused=True)))
    assert paused.exists() and not plan.deletions
    reasons = {os.path.basename(d.file.path): d.reason for r in plan.runs for d in r.decisions}
    assert reasons[paused.name] == "paused, and nothing has superseded it"


def test_contents_decide_over_names(real: Path, tmp_path: Path) -> None:
    """A `_last` file holding 2 tasks is not newer than a `_3` holding 4."""
    ck = _run_folder(real, tmp_path / "ck", range(3, 4))
    last = ck / f"{PARENT}_last.pt"
    shutil.copy(real / f"{PARENT}_1.pt", last)
    plan = execute_prune(plan_prune([str(ck)], Policy()))
    assert (ck / f"{PARENT}_3.pt").exists() and not last.exists()
    assert "holds 4" in plan.deletions[0].reason and plan.deletions[0].tasks_done == 2


@pytest.mark.parametrize("digit", ["９", "٩", "९", "৯"])  # fullwidth, Arabic-Indic, Devanagari, Bengali nine
def test_other_unicode_digits_are_not_task_numbers(real: Path, tmp_path: Path, digit: str) -> None:
    from mckpt.domain.names import parse_name

    ck = _run_folder(real, tmp_path / "ck", range(3, 4))
    odd = ck / f"{PARENT}_{digit}.pt"
    shutil.copy(real / f"{PARENT}_1.pt", odd)
    os.utime(odd, (time.time(),) * 2)
    assert parse_name(odd.name) is None
    assert parse_name(f"sgd_seq-mnist_None_0_1_2026112{digit}-165846_9acd4744_1.pt") is None
    assert parse_name(f"sgd_seq-mnist_None_{digit}_1_20261128-165846_9acd4744_1.pt") is None
    execute_prune(plan_prune([str(ck)], Policy()))
    assert _names(ck) == {f"{PARENT}_3.pt", odd.name}
    for parse, text in ((parse_tasks, digit), (parse_age, f"{digit}d"), (parse_keep, f"every:{digit}")):
        with pytest.raises(MckptError):
            parse(text)


@pytest.mark.parametrize("digit", ["９", "٩", "९", "৯"])
def test_other_unicode_digits_are_no_numbers_anywhere(digit: str) -> None:
    """Every regex and conversion that reads a number from untrusted text takes ASCII digits only."""
    from mckpt.domain.where import Where, number
    from mckpt.train.mammoth_args import _value_problem
    from mckpt.view.output import inert_csv

    assert _value_problem(f"-{digit}", in_list=True) is not None  # not a plain negative number
    assert _value_problem("-9", in_list=True) is None
    assert inert_csv(f"-{digit}") == f"'-{digit}"  # text a spreadsheet must not evaluate
    assert inert_csv("-38.02") == "-38.02"
    assert number(digit * 3) is None and number("500") == 500.0
    assert not Where("buffer_size", ">=", ("200",)).matches({"buffer_size": "5" + digit * 2})
    with pytest.raises(MckptError):
        Where.parse(f"lr{digit}=1")


def test_one_uid_matcher_refuses_an_ambiguous_prefix(real: Path, tmp_path: Path) -> None:
    ck = _run_folder(real, tmp_path / "checkpoints", range(2))
    other = PARENT.replace("9acd4744", "9acd0000")
    for t in range(2):
        shutil.copy(real / f"{PARENT}_{t}.pt", ck / f"{other}_{t}.pt")
    before = _names(ck)
    for args in (["9acd"], ["--run", "9acd"]):
        r = run_cli("prune", "-y", *args, str(ck))
        assert r.returncode != 0 and "9acd4744" in r.stderr and "9acd0000" in r.stderr and "which one" in r.stderr
        inspect = run_cli("inspect", "9acd", cwd=tmp_path)
        assert inspect.returncode != 0 and "which one" in inspect.stderr
    assert _names(ck) == before
    short = run_cli("prune", "-y", "--run", "9ac", str(ck))
    assert short.returncode != 0 and "4+ characters" in short.stderr and _names(ck) == before
    r = run_cli("prune", "-y", "--run", "9acd4", str(ck))
    assert r.returncode == 0 and _names(ck) == before - {f"{PARENT}_0.pt"}


def test_a_symlink_named_goes_as_a_link_and_its_target_stays(real: Path, tmp_path: Path) -> None:
    ck = _run_folder(real, tmp_path / "ck", range(4, 5))
    (ck / "latest.pt").symlink_to(f"{PARENT}_4.pt")
    r = run_cli("prune", "-y", str(ck / "latest.pt"))
    assert r.returncode == 0, r.stderr
    assert (ck / f"{PARENT}_4.pt").is_file() and not os.path.lexists(ck / "latest.pt")


def test_a_symlink_met_is_never_newest_nor_deleted_nor_deleted_through(real: Path, tmp_path: Path) -> None:
    ck = _run_folder(real, tmp_path / "ck", range(3))
    away = _run_folder(real, tmp_path / "away", range(4, 5))
    (ck / f"{PARENT}_4.pt").symlink_to(away / f"{PARENT}_4.pt")  # a link at file level, into another folder
    (ck / "sub").symlink_to(away, target_is_directory=True)  # and one at folder level (-r never enters it)
    plan = execute_prune(plan_prune([str(ck)], Policy(), recursive=True))
    assert _names(ck) == {f"{PARENT}_2.pt", f"{PARENT}_4.pt", "sub"}
    assert _names(away) == {f"{PARENT}_4.pt"}
    assert {os.path.basename(d.file.path) for d in plan.deletions} == {f"{PARENT}_0.pt", f"{PARENT}_1.pt"}


def _twin(src: Path, dest: Path) -> None:
    """A folder with files of the same names, sizes and mtimes as `src` (other inodes)."""
    dest.mkdir()
    for p in src.iterdir():
        shutil.copy2(p, dest / p.name)
        st = p.stat()
        os.utime(dest / p.name, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.mark.parametrize("swap", ["folder", "parent", "file"])
def test_a_swap_between_plan_and_execution_deletes_nothing_elsewhere(real: Path, tmp_path: Path,
                                                                     swap: str) -> None:
    top = tmp_path / "top"
    ck = _run_folder(real, top / "ck")
    decoy = tmp_path / "decoy"
    plan = plan_prune([str(ck)], Policy())
    assert len(plan.deletions) == 3
    if swap == "folder":  # the named folder becomes a symlink to a folder of look-alikes
        _twin(ck, decoy)
        ck.rename(tmp_path / "moved")
        ck.symlink_to(decoy, target_is_directory=True)
    elif swap == "parent":  # a folder above it does
        (decoy / "ck").parent.mkdir()
        _twin(ck, decoy / "ck")
        top.rename(tmp_path / "moved")
        top.symlink_to(decoy, target_is_directory=True)
    else:  # one planned file is replaced by a look-alike (same name, size, mtime)
        victim = ck / f"{PARENT}_0.pt"
        st = victim.stat()
        shutil.copy(victim, tmp_path / "copy")
        os.replace(tmp_path / "copy", victim)
        os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    execute_prune(plan)
    if swap == "file":
        assert [d.result for d in plan.deletions] == ["changed since the plan was made: left alone",
                                                      "deleted", "deleted"]
        assert _names(ck) == {f"{PARENT}_0.pt", f"{PARENT}_3.pt"}
    else:
        look_alikes = decoy if swap == "folder" else decoy / "ck"
        assert _names(look_alikes) == {f"{PARENT}_{t}.pt" for t in range(4)}
        assert all("left alone" in (d.result or "") for d in plan.deletions) and len(plan.failed) == 3


def test_a_swap_at_the_cli_prompt_deletes_nothing_elsewhere(real: Path, tmp_path: Path) -> None:
    from test_prune import _prompted_prune

    ck = _run_folder(real, tmp_path / "ck")
    decoy = tmp_path / "decoy"

    def swap() -> None:
        _twin(ck, decoy)
        ck.rename(tmp_path / "moved")
        ck.symlink_to(decoy, target_is_directory=True)

    code, screen = _prompted_prune(ck, b"y\n", at_prompt=swap)
    assert code == 1 and "left alone" in screen, screen
    assert _names(decoy) == {f"{PARENT}_{t}.pt" for t in range(4)}
    assert _names(tmp_path / "moved") == {f"{PARENT}_{t}.pt" for t in range(4)}


# --- the cache ---------------------------------------------------------------------------------------

SLUG = "owner--repo-0123456789abcdef"


def _leftovers(rev: Path) -> None:
    rev.mkdir(parents=True, exist_ok=True)
    (rev / "model.pt.part").write_bytes(b"x" * 10)
    (rev / "model.pt.part.json").write_text("{}")
    (rev / "model.pt.json").write_text("not a record")


def test_cache_prune_refuses_a_folder_that_is_not_an_mckpt_cache(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    _leftovers(plain / "project" / "data")
    (plain / "a" / "b").mkdir(parents=True)
    (plain / "a" / "b" / "c.json").write_text("{}")
    before = sorted(p.relative_to(plain) for p in plain.rglob("*"))
    for cmd in (["prune"], ["rm", "0123456789abcdef"]):
        r = run_cli("cache", *cmd, "-y", "--cache-dir", str(plain))
        assert r.returncode != 0 and "not an mckpt cache" in r.stderr and str(plain) in r.stderr
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 2
    assert sorted(p.relative_to(plain) for p in plain.rglob("*")) == before


def test_cache_prune_never_follows_a_symlink_inside_nor_creates_files_outside(tmp_path: Path) -> None:
    from mckpt.io.cachedir import mark

    cache, outside = tmp_path / "cache", tmp_path / "outside"
    _leftovers(outside / "main")
    _leftovers(outside / "rev2")
    cache.mkdir()
    mark(cache)
    (cache / "evil-fedcba9876543210").symlink_to(outside, target_is_directory=True)  # a source folder
    (cache / SLUG).mkdir()
    (cache / SLUG / "main").symlink_to(outside / "rev2", target_is_directory=True)  # a revision folder
    _leftovers(cache / SLUG / "real")
    (cache / SLUG / "real" / "linked.pt.part").symlink_to(outside / "main" / "model.pt.part")  # a file
    before = sorted(p.relative_to(outside) for p in outside.rglob("*"))
    r = run_cli("cache", "prune", "-y", "--cache-dir", str(cache))
    assert r.returncode == 0, r.stderr
    assert sorted(p.relative_to(outside) for p in outside.rglob("*")) == before  # no .lock made there either
    assert not (cache / SLUG / "real" / "model.pt.part").exists()  # the cache's own leftovers did go
    assert os.path.islink(cache / SLUG / "real" / "linked.pt.part")


def test_a_cache_folder_swapped_after_the_plan_loses_nothing_outside(tmp_path: Path) -> None:
    from mckpt.hygiene.cache_admin import execute
    from mckpt.hygiene.cache_admin import plan_prune as plan_cache_prune
    from mckpt.io.cachedir import mark

    cache, outside = tmp_path / "cache", tmp_path / "outside"
    cache.mkdir()
    mark(cache)
    rev = cache / SLUG / "main"
    _leftovers(rev)
    plan = plan_cache_prune(cache)
    assert {r.path.name for r in plan.removals} == {"model.pt.part", "model.pt.part.json", "model.pt.json"}
    shutil.copytree(rev, outside, copy_function=shutil.copy2)  # look-alikes: same names, sizes, mtimes
    rev.rename(tmp_path / "moved")
    rev.symlink_to(outside, target_is_directory=True)
    execute(plan)
    assert _names(outside) == {"model.pt.part", "model.pt.part.json", "model.pt.json"}  # and no lock made there
    assert all("left alone" in (r.result or "") for r in plan.removals)


def test_the_cache_root_is_marked_when_mckpt_creates_it_or_holds_only_its_layout(tmp_path: Path) -> None:
    from mckpt.io.cachedir import SIGNATURE, is_marked, prepare_root

    new = tmp_path / "new"
    prepare_root(new)
    assert is_marked(new) and (new / "CACHEDIR.TAG").read_text().startswith(SIGNATURE)
    old = tmp_path / "old"  # an older mckpt's cache: only its layout
    _leftovers(old / SLUG / "main")
    (old / "results").mkdir()
    assert not is_marked(old)
    prepare_root(old)
    assert is_marked(old)
    mixed = tmp_path / "mixed"
    _leftovers(mixed / SLUG / "main")
    (mixed / "thesis.tex").write_text("mine")
    prepare_root(mixed)
    assert not is_marked(mixed)
    r = run_cli("cache", "prune", "-y", "--cache-dir", str(old))
    assert r.returncode == 0 and not (old / SLUG / "main" / "model.pt.part").exists()


# --- the walk ----------------------------------------------------------------------------------------

def test_a_folder_chain_deeper_than_the_stack_is_walked_with_a_warning(real: Path, tmp_path: Path) -> None:
    top = tmp_path / "deep"
    _run_folder(real, top, range(4, 5))
    fd = os.open(top, os.O_RDONLY)
    for _ in range(1100):  # by descriptor: a path this long is past what os.makedirs recurses through
        os.mkdir("d", dir_fd=fd)
        nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.close(fd)
    (top / "loop").symlink_to(".", target_is_directory=True)
    try:
        for cmd in (["list", "-r"], ["results", "-r", "--no-cache"], ["verify", "-r"], ["prune", "-r", "-n"]):
            r = run_cli(*cmd, str(top))
            assert r.returncode == 0, (cmd, r.stderr[-500:])
            assert "RecursionError" not in r.stderr and "not looked into, more than 256 folders" in r.stderr, cmd
        assert (top / f"{PARENT}_4.pt").exists()
    finally:
        _flatten(top / "d")


def _flatten(chain: Path) -> None:
    """Remove a chain of nested `d` folders from the top, one level at a time (pytest's cleanup
    would recurse through it)."""
    while (chain / "d").is_dir():
        (chain / "d").rename(chain.parent / "next")
        shutil.rmtree(chain)
        (chain.parent / "next").rename(chain)
    shutil.rmtree(chain)


@pytest.mark.parametrize("kind", BROKEN)
def test_list_acc_reads_the_newest_file_that_reads(real: Path, tmp_path: Path, kind: str) -> None:
    import json

    ck = _run_folder(real, tmp_path / "ck")
    _break(ck / f"{PARENT}_3.pt", kind)
    r = run_cli("list", "--acc", "--json", str(ck))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    (run,) = data["runs"]
    assert "error" not in run and run["metrics"]["class_il"]["final_avg"] is not None
    assert [o["path"] for o in data["other"]] == [str(ck / f"{PARENT}_3.pt")]


# --- what a run folder or uid stands for (inspect, verify, diff, load, convert) --------------------

def _last_with(real: Path, folder: Path, task: int) -> str:
    """A `_last` file, named after every task file, that holds the tasks of the real `_task`."""
    name = f"{PARENT}_last.pt"
    shutil.copy(real / f"{PARENT}_{task}.pt", folder / name)
    return name


def _case(real: Path, tmp_path: Path, kind: str, position: str) -> tuple[Path, str]:
    """`tmp_path/checkpoints` holding one run with a broken file (`kind`) at `position`, and the name
    of the file that reads with the most tasks.

    newest: good `_0`–`_2`, broken `_3` (newest by name) → `_2`.
    middle: good `_0`, `_1`, broken `_2`, and a `_last` holding one task → `_1` (two tasks)."""
    ck = tmp_path / "checkpoints"
    if position == "newest":
        _run_folder(real, ck, range(4))
        _break(ck / f"{PARENT}_3.pt", kind)
        return ck, f"{PARENT}_2.pt"
    _run_folder(real, ck, range(3))
    _break(ck / f"{PARENT}_2.pt", kind)
    _last_with(real, ck, 0)
    return ck, f"{PARENT}_1.pt"


def _chosen(command: str, spec: str, cwd: Path) -> str:
    """The file `command` took for `spec`, from its JSON (run in `cwd`, where uids are looked up)."""
    import json

    good = str(cwd / "checkpoints" / f"{PARENT}_0.pt")
    argv = {"inspect": ["inspect", "--json", spec], "verify": ["verify", "--json", spec],
            "diff": ["diff", "--json", spec, good], "load": ["load", "--dry-run", "--json", spec],
            "convert": ["convert", "--dry-run", "--json", "--to", "backbone", spec]}[command]
    r = run_cli(*argv, cwd=cwd)
    assert r.returncode in (0, 1) and r.stdout, r.stderr  # verify/diff exit 1 on findings, still JSON
    data = json.loads(r.stdout)
    path = {"inspect": lambda: data["path"], "verify": lambda: data["files"][0]["path"],
            "diff": lambda: data["a"]["path"], "load": lambda: data["plan"]["file"],
            "convert": lambda: data["source"]}[command]()
    return os.path.basename(path)


SPECS = [(c, s) for c in ("inspect", "verify", "diff", "load", "convert") for s in ("uid", "folder")
         if (c, s) != ("verify", "folder")]  # verify of a folder checks every file in it


@pytest.mark.parametrize(("command", "spec"), SPECS)
@pytest.mark.parametrize("position", ["newest", "middle"])
@pytest.mark.parametrize("kind", BROKEN)
def test_a_run_stands_for_its_newest_readable_file(real: Path, tmp_path: Path, command: str, spec: str,
                                                   position: str, kind: str) -> None:
    _, want = _case(real, tmp_path, kind, position)
    assert _chosen(command, "9acd4744" if spec == "uid" else "checkpoints", tmp_path) == want


@pytest.mark.parametrize("kind", BROKEN)
@pytest.mark.parametrize("position", ["newest", "middle"])
def test_the_resolver_ranks_by_contents(real: Path, tmp_path: Path, kind: str, position: str) -> None:
    from mckpt.locate.resolve import resolve_checkpoint
    from mckpt.locate.targets import expand

    ck, want = _case(real, tmp_path, kind, position)
    assert os.path.basename(resolve_checkpoint(str(ck)).path) == want
    assert os.path.basename(resolve_checkpoint("9acd4744", [ck]).path) == want
    assert os.path.basename(expand(["9acd4744", str(ck)], "verify").newest_file("9acd4744")) == want


def test_a_last_file_with_fewer_tasks_loses_to_a_task_file_with_more(real: Path, tmp_path: Path) -> None:
    from mckpt.locate.resolve import resolve_checkpoint

    ck = _run_folder(real, tmp_path / "checkpoints", range(4))
    _last_with(real, ck, 1)  # two tasks; `_3` holds four
    assert os.path.basename(resolve_checkpoint(str(ck)).path) == f"{PARENT}_3.pt"
    assert _chosen("load", "9acd4744", tmp_path) == f"{PARENT}_3.pt"


def test_a_run_none_of_whose_files_reads_is_a_one_line_error(real: Path, tmp_path: Path) -> None:
    ck = _run_folder(real, tmp_path / "checkpoints", range(2))
    _break(ck / f"{PARENT}_0.pt", "empty")
    _break(ck / f"{PARENT}_1.pt", "truncated")
    for spec in ("9acd4744", "checkpoints"):
        r = run_cli("inspect", spec, cwd=tmp_path)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        first = r.stderr.splitlines()[0]
        assert "no checkpoint of run 9acd4744 reads" in first and f"{PARENT}_1.pt" in first, r.stderr


@pytest.mark.parametrize("kind", BROKEN)
def test_list_acc_counts_no_broken_file_in_the_run(real: Path, tmp_path: Path, kind: str) -> None:
    import json

    ck = _run_folder(real, tmp_path / "ck", range(4))
    _break(ck / f"{PARENT}_1.pt", kind)
    _last_with(real, ck, 0)
    r = run_cli("list", "--acc", "--json", str(ck))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    (run,) = data["runs"]
    good = [f"{PARENT}_{t}.pt" for t in (0, 2, 3)] + [f"{PARENT}_last.pt"]
    assert sorted(os.path.basename(c["path"]) for c in run["checkpoints"]) == sorted(good)
    assert run["bytes"] == sum((ck / n).stat().st_size for n in good)
    assert run["tasks"] == [0, 2, 3, "last"]
    assert [os.path.basename(o["path"]) for o in data["other"]] == [f"{PARENT}_1.pt"]
    assert run["metrics"]["class_il"]["final_avg"] == 25.0  # from `_3` (four tasks), not `_last` (one: 100)
