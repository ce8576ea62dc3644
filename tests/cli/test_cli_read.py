"""`mckpt list` and `mckpt inspect` from the command line: output modes, errors, imports."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, run_cli
from typer.testing import CliRunner

from mckpt.cli.app import app

runner = CliRunner()


def _ckpt(folder: Path, name: str, tasks: int = 2, **args) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    w = torch.randn(4, 3)
    sd = {"net.fc.weight": w, "net.fc.bias": torch.zeros(4), "net._features.0.weight": w}
    matrix = [[90.0 - 5 * j for j in range(t + 1)] for t in range(tasks)]
    path = folder / name
    torch.save({"model": sd, "optimizer": None, "scheduler": None,
                "args": {"model": "er", "dataset": "seq-cifar10", "lr": 0.1, "n_epochs": 5, **args},
                "results": [matrix, [[99.0] * (t + 1) for t in range(tasks)], {}]}, path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    ck = tmp_path / "checkpoints"
    _ckpt(ck, "er_seq-cifar10_None_500_5_20250101-101010_aaaaaaaa_0.pt", 1)
    _ckpt(ck, "er_seq-cifar10_None_500_5_20250101-101010_aaaaaaaa_1.pt", 2)
    _ckpt(ck, "derpp_seq-cifar100_default_200_50_20250202-101010_bbbbbbbb_last.pt", 3)
    parent = "er_seq-cifar10_None_500_5_20250101-101010_aaaaaaaa"
    _ckpt(ck, f"{parent}_er_seq-cifar10_None_500_5_20250303-101010_cccccccc_2.pt", 3)
    (ck / "notes.txt").write_text("not a checkpoint")
    return ck


def test_list_json_contract(folder: Path) -> None:
    r = runner.invoke(app, ["list", str(folder), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"runs", "other", "skipped", "total"} and data["other"] == [] == data["skipped"]
    assert data["total"] == {"runs": 3, "files": sum(len(x["checkpoints"]) for x in data["runs"]),
                             "bytes": sum(x["bytes"] for x in data["runs"])}
    runs = {x["uid"]: x for x in data["runs"]}
    assert list(runs) == ["aaaaaaaa", "bbbbbbbb", "cccccccc"]  # by start time
    a = runs["aaaaaaaa"]
    for key in ("run", "prefix", "model", "dataset", "dataset_config", "buffer_size", "n_epochs", "timestamp",
                "uid", "dialect", "parent", "checkpoints"):
        assert key in a
    assert (a["model"], a["dataset"], a["dataset_config"], a["buffer_size"], a["n_epochs"]) == (
        "er", "seq-cifar10", None, 500, 5)
    assert a["timestamp"] == "2025-01-01T10:10:10" and a["dialect"] == "D3" and a["parent"] is None
    assert [c["task"] for c in a["checkpoints"]] == [0, 1] and a["tasks"] == [0, 1]  # a list, not "0–1"
    assert all(isinstance(c["bytes"], int) and c["bytes"] > 0 for c in a["checkpoints"])
    assert runs["bbbbbbbb"]["checkpoints"][0]["task"] == "last"
    assert runs["bbbbbbbb"]["dataset_config"] == "default"
    assert runs["cccccccc"]["parent"] == "er_seq-cifar10_None_500_5_20250101-101010_aaaaaaaa"


def test_list_filters_sort_and_acc(folder: Path) -> None:
    r = runner.invoke(app, ["list", str(folder), "--model", "derpp", "--json"])
    assert [x["uid"] for x in json.loads(r.stdout)["runs"]] == ["bbbbbbbb"]
    r = runner.invoke(app, ["list", str(folder), "--dataset", "seq-cifar10", "--sort", "started", "--reverse",
                            "--json"])
    assert [x["uid"] for x in json.loads(r.stdout)["runs"]] == ["cccccccc", "aaaaaaaa"]
    r = runner.invoke(app, ["list", str(folder), "--acc", "--json", "--sort", "acc"])
    runs = json.loads(r.stdout)["runs"]
    # final accuracy has inspect's name and place: metrics.<setting>.final_avg
    accs = {x["uid"]: {k: m["final_avg"] for k, m in x["metrics"].items()} for x in runs}
    assert accs["aaaaaaaa"] == {"class_il": 87.5, "task_il": 99.0}  # after task 2: (90 + 85) / 2
    assert accs["bbbbbbbb"] == {"class_il": 85.0, "task_il": 99.0}
    assert runs[0]["metrics"]["class_il"].keys() == {"final_avg", "forgetting", "bwt"}
    # best first, like every metric sort (results' too); --reverse puts the worst first
    assert [a["class_il"] for a in accs.values()] == sorted((a["class_il"] for a in accs.values()), reverse=True)
    r = runner.invoke(app, ["list", str(folder), "--acc", "--json", "--sort", "acc", "--reverse"])
    worst = [x["metrics"]["class_il"]["final_avg"] for x in json.loads(r.stdout)["runs"]]
    assert worst == sorted(worst) and worst[0] < worst[-1]


def test_list_plain_and_formats(folder: Path) -> None:
    r = runner.invoke(app, ["list", str(folder)])
    assert r.exit_code == 0
    assert "aaaaaaaa" in r.stdout and "0–1" in r.stdout and "resumed from" in r.stdout
    assert "\x1b[" not in r.stdout  # plain text when not a terminal
    r = runner.invoke(app, ["list", str(folder), "--format", "github"])
    assert r.stdout.splitlines()[0].startswith("| uid")
    r = runner.invoke(app, ["list", str(folder), "-f", "latex"])
    assert "\\begin{tabular}" in r.stdout
    r = runner.invoke(app, ["list", str(folder), "-f", "tsv"])
    assert "aaaaaaaa\ter\t" in r.stdout
    r = runner.invoke(app, ["list", str(folder), "-f", "nope"])
    assert r.exit_code == 2 and "must be one of" in r.output


def test_list_errors(tmp_path: Path) -> None:
    r = run_cli("list", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.startswith("error: checkpoints: no ./checkpoints folder here")
    assert "hint:" in r.stderr
    r = run_cli("list", str(tmp_path / "missing"))
    assert r.returncode == 1 and "no such folder" in r.stderr
    r = run_cli("list", "--sort", "bogus", str(tmp_path))
    assert r.returncode == 2 and "must be one of: started, model" in r.stderr


def test_list_defaults_to_checkpoints_and_recurses(folder: Path) -> None:
    nested = folder.parent / "more" / "deep"
    _ckpt(nested, "sgd_seq-mnist_None_0_1_20250404-101010_dddddddd_0.pt", 1)
    r = run_cli("list", "--json", cwd=folder.parent)
    assert r.returncode == 0 and len(json.loads(r.stdout)["runs"]) == 3
    r = run_cli("list", "-r", "--json", str(folder.parent))
    assert {x["uid"] for x in json.loads(r.stdout)["runs"]} == {"aaaaaaaa", "bbbbbbbb", "cccccccc", "dddddddd"}


def test_inspect_views(folder: Path) -> None:
    path = folder / "derpp_seq-cifar100_default_200_50_20250202-101010_bbbbbbbb_last.pt"
    r = runner.invoke(app, ["inspect", str(path)])
    assert r.exit_code == 0
    out = r.stdout
    for text in ("Mammoth checkpoint (safe)", "Class-IL accuracy", "Task-IL accuracy", "Metrics", "forgetting",
                 "Model tensors", "1 alias", "bbbbbbbb", "optimizer", "none"):
        assert text in out, text
    r = runner.invoke(app, ["inspect", str(path), "--tensors"])
    assert "net._features.0.weight" in r.stdout and "= net.fc.weight" in r.stdout
    r = runner.invoke(app, ["inspect", str(path), "--args-only"])
    assert "Class-IL" not in r.stdout
    rows = [line.split() for line in r.stdout.splitlines()]
    for arg, value in (("model", "er"), ("dataset", "seq-cifar10"), ("lr", "0.1"), ("n_epochs", "5")):
        # each arg on its own row with its value ("lr" alone would match any line naming an LR)
        assert any(row[-2:] == [arg, value] for row in rows), (arg, r.stdout)
    r = runner.invoke(app, ["inspect", str(path), "--args-only", "--json"])
    assert json.loads(r.stdout) == {"model": "er", "dataset": "seq-cifar10", "lr": 0.1, "n_epochs": 5}
    r = runner.invoke(app, ["inspect", str(path), "--json", "--tensors"])
    data = json.loads(r.stdout)
    assert data["tasks_done"] == 3 and data["tensors"]["storages"] == 2 and data["tensors"]["parameters"] == 16
    assert [t["alias_of"] for t in data["tensors"]["list"]] == [None, None, "net.fc.weight"]
    r = runner.invoke(app, ["inspect", str(path), "-f", "github"])
    assert "| after" in r.stdout


def test_inspect_bare_backbone(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pt"
    torch.save({"conv.weight": torch.zeros(8, 3, 3, 3), "bn.running_mean": torch.zeros(8)}, path)
    r = runner.invoke(app, ["inspect", str(path), "--json"])
    data = json.loads(r.stdout)
    assert (data["kind"], data["format"], data["tasks_done"]) == ("backbone", "backbone", 0)
    assert data["tensors"]["parameters"] == 8 * 27 + 8
    # The human view says what to do with it in Mammoth (plain keys: the `net.` form via convert).
    text = runner.invoke(app, ["inspect", str(path)]).stdout
    assert "Use with Mammoth" in text and f"mckpt convert {path} --to backbone" in text
    net = tmp_path / "net.pt"
    torch.save({"net.conv.weight": torch.zeros(2)}, net)
    text = runner.invoke(app, ["inspect", str(net)]).stdout
    assert "--loadcheck takes it as it is" in text and "--to backbone" not in text


def test_inspect_missing_and_folder(tmp_path: Path) -> None:
    r = run_cli("inspect", str(tmp_path / "nope.pt"))
    assert r.returncode == 1 and r.stderr == f"error: {tmp_path / 'nope.pt'}: no such file\n"
    r = run_cli("inspect", str(tmp_path))
    assert r.returncode == 1 and "is a folder without Mammoth checkpoints" in r.stderr
    spaced = tmp_path / "my runs"
    spaced.mkdir()
    r = run_cli("inspect", str(spaced))
    assert r.stderr.splitlines()[1].endswith(f": `mckpt list '{spaced}'`")  # pastes as is
    r = run_cli("--debug", "inspect", str(tmp_path / "nope.pt"))
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_read_commands_never_import_torch_or_httpx(folder: Path) -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = sys.argv[1:]\n"
        "try:\n    runpy.run_module('mckpt', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'httpx', 'numpy', 'matplotlib') if m in sys.modules)\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
    )
    import subprocess

    path = folder / "er_seq-cifar10_None_500_5_20250101-101010_aaaaaaaa_1.pt"
    for argv in (["list", str(folder), "--acc"], ["inspect", str(path)], ["inspect", str(path), "--json"],
                 ["list", str(folder), "-f", "github"], ["results", str(folder)], ["results", str(folder), "--json"],
                 ["results", str(folder), "-f", "latex"], ["--version"]):
        r = subprocess.run([sys.executable, "-c", code, "mckpt", *argv], capture_output=True, text=True,
                           env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                "MCKPT_CACHE": str(folder.parent / "cache")})
        assert "HEAVY=\n" in r.stderr, (argv, r.stderr)


def test_version_and_module_entry() -> None:
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("mckpt ")


def test_inspect_module_table_names_every_column(folder: Path) -> None:
    path = folder / "derpp_seq-cifar100_default_200_50_20250202-101010_bbbbbbbb_last.pt"
    r = runner.invoke(app, ["inspect", str(path), "-f", "csv"])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert "module,tensors,params,aliases" in lines  # a header for the alias count, not an empty cell
    assert "net._features,1,0,1" in lines and "net.fc,2,16,0" in lines  # counts are numbers, 0 included


def test_format_keeps_tables_apart_and_named(folder: Path) -> None:
    path = folder / "derpp_seq-cifar100_default_200_50_20250202-101010_bbbbbbbb_last.pt"
    r = runner.invoke(app, ["inspect", str(path), "-f", "github"])
    assert r.exit_code == 0, r.output
    # Two Markdown tables that touch merge into one: each table after the first has a blank line
    # and its title before it.
    assert "\n\nClass-IL accuracy (%)\n\n| after" in r.stdout
    blocks = [b for b in r.stdout.split("\n\n") if b.startswith("|")]
    assert all(b.splitlines()[1].startswith("|--") for b in blocks)  # each block is one whole table
    r = runner.invoke(app, ["list", str(folder), "-f", "github"])
    assert r.stdout.splitlines()[0].startswith("| uid")  # a lone table stays pasteable as is


def test_diff_names_each_section_once(folder: Path) -> None:
    a = folder / "er_seq-cifar10_None_500_5_20250101-101010_aaaaaaaa_0.pt"
    b = _ckpt(folder.parent / "other", "er_seq-cifar10_None_500_5_20250101-101010_dddddddd_0.pt", 1, lr=0.5)
    r = runner.invoke(app, ["diff", str(a), str(b)])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    # One line names the args section and says what differs (it used to be "Args", then "Args: 1 differ").
    assert [x for x in lines if x.lower().startswith("args")] == ["Args: 1 differ"]
    assert f"A  {a}  (safe, 1 task)" in r.stdout  # not "1 tasks"
    r = runner.invoke(app, ["diff", str(a), str(a)])
    lines = r.stdout.splitlines()
    assert lines[lines.index("Args") + 1] == "identical"
    assert lines[lines.index("Results") + 1] == "identical"


def test_list_says_a_renamed_checkpoint_is_one(folder: Path, tmp_path: Path) -> None:
    src = folder / "er_seq-cifar10_None_500_5_20250101-101010_aaaaaaaa_1.pt"
    renamed = tmp_path / "kept" / "best model.pt"
    renamed.parent.mkdir()
    renamed.write_bytes(src.read_bytes())
    r = runner.invoke(app, ["list", str(renamed.parent), "--json"])
    assert r.exit_code == 0, r.output
    (other,) = json.loads(r.stdout)["other"]
    # It was listed as "not a Mammoth checkpoint (3 tensors)", which is false.
    assert other["reason"].startswith("a Mammoth checkpoint")


def test_inspect_more_args_hint_is_a_command_to_paste(tmp_path: Path) -> None:
    path = _ckpt(tmp_path / "my runs", "er_seq-cifar10_None_500_5_20250101-101010_aaaaaaaa_0.pt", 1,
                 conf_jobnum="aaaaaaaa-1", num_workers=4)
    r = runner.invoke(app, ["inspect", str(path)])
    assert r.exit_code == 0, r.output
    (hint,) = [x for x in r.stdout.splitlines() if "more (run bookkeeping" in x]
    assert hint.endswith(f"mckpt inspect --args-only '{path}'")  # names the file, quoted for the shell


def test_list_says_when_filters_leave_no_run(folder: Path) -> None:
    r = runner.invoke(app, ["list", str(folder), "--model", "lwf"])
    assert r.exit_code == 0
    # It printed nothing at all: the user could not tell a typo from an empty folder.
    assert r.stdout.strip() == "no run matches --model lwf (of 3 run(s) found)"


def test_internal_error_hint_gives_a_debug_command_that_works(monkeypatch: pytest.MonkeyPatch,
                                                              folder: Path) -> None:
    import mckpt.cli.bodies as bodies

    def broken(_source: object, **_options: object) -> None:  # stands for a bug: no real input is known to cause one
        raise RuntimeError("boom")

    monkeypatch.setattr(bodies, "read", broken)
    r = runner.invoke(app, ["inspect", str(folder / "x.pt")])
    assert r.exit_code == 1 and "internal error: RuntimeError: boom" in r.stderr
    # "rerun with --debug" led to `mckpt inspect x.pt --debug`: "No such option '--debug'".
    assert "mckpt --debug <command>" in r.stderr and "MCKPT_DEBUG=1" in r.stderr


def test_csv_carries_raw_data_and_latex_aligns_numbers(folder: Path) -> None:
    r = run_cli("list", str(folder), "--acc", "-f", "csv")
    rows = {x["uid"]: x for x in csv.DictReader(io.StringIO(r.stdout))}
    a = rows["aaaaaaaa"]
    files = [folder / f"er_seq-cifar10_None_500_5_20250101-101010_aaaaaaaa_{t}.pt" for t in (0, 1)]
    assert a["size"] == str(sum(f.stat().st_size for f in files))  # bytes, not "1.7 KiB"
    assert a["tasks"] == "0 1" and rows["bbbbbbbb"]["tasks"] == "last"  # numbers, not "0–1"
    assert a["config"] == "" and a["started"] == "2025-01-01T10:10:10"  # empty for none, not "-"
    assert a["class-IL"] == "87.5"
    r = run_cli("list", str(folder), "--acc", "-f", "latex")
    lines = r.stdout.splitlines()
    assert lines[0].startswith("% ") and lines[1] == r"\begin{tabular}{llllrrllrrrl}"  # title is a comment
    path = folder / "derpp_seq-cifar100_default_200_50_20250202-101010_bbbbbbbb_last.pt"
    r = run_cli("inspect", str(path), "-f", "latex")
    assert r.returncode == 0 and "% Class-IL accuracy (%)" in r.stdout.replace(r"\%", "%")
    assert r"\begin{tabular}{lrrrr}" in r.stdout  # after, T1..T3, avg
    assert not [x for x in r.stdout.splitlines() if x and not x.startswith(("%", "\\")) and "&" not in x]
    r = run_cli("inspect", str(path), "-f", "tsv")
    assert "size\t" + str(path.stat().st_size) in r.stdout


def test_list_csv_is_only_the_table(folder: Path) -> None:
    torch.save({"fc.weight": torch.zeros(2)}, folder / "backbone.pt")  # not a run: an "other" file
    r = run_cli("list", str(folder), "-f", "csv")
    assert r.returncode == 0
    rows = list(csv.reader(io.StringIO(r.stdout)))
    # The "other files" section used to follow the rows on stdout, breaking every CSV reader.
    assert rows[0][:2] == ["uid", "model"] and len(rows) == 4 and all(len(x) == len(rows[0]) for x in rows)
    assert "1 other file(s)" in r.stderr and "--json" in r.stderr
    r = run_cli("list", str(folder), "-f", "github")
    assert "\n1 other file(s)\n\n| path" in r.stdout


def test_json_output_is_strict_when_a_file_holds_nan_or_inf(tmp_path: Path) -> None:
    # Python's json writes NaN/Infinity, which jq and JavaScript refuse: --json writes null instead.
    path = _ckpt(tmp_path, "sgd_seq-mnist_None_0_1_20250101-101010_aaaaaaaa_1.pt", lr=float("nan"),
                 optim_wd=float("inf"), lr_min=float("-inf"))
    r = runner.invoke(app, ["inspect", str(path), "--args-only", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"{c} in --json output"))
    assert (doc["lr"], doc["optim_wd"], doc["lr_min"]) == (None, None, None)
