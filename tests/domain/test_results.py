"""`mckpt results` and `mckpt plot` on real torch.save runs: groups, means and stds checked against
values computed here, independently, from `torch.load(weights_only=True)`."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import statistics
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import run_cli
from results_support import write_run
from typer.testing import CliRunner

from mckpt.cli.app import app
from mckpt.domain.results import Query
from mckpt.domain.where import Where
from mckpt.locate.run_sources import collect_results

runner = CliRunner()


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test has its own results cache (subprocesses inherit the variable)."""
    monkeypatch.setenv("MCKPT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    ck = tmp_path / "checkpoints"
    h = iter(range(24))
    for seed in (0, 1, 2):
        write_run(ck, "er", 200, seed, hour=next(h))
    write_run(ck, "er", 200, 0, lr=0.03, hour=next(h))
    for seed in (0, 1):
        write_run(ck, "derpp", 500, seed, hour=next(h))
    write_run(ck, "derpp", 500, 2, tasks=3, hour=next(h))  # an unfinished seed: 3 tasks beside 5
    for seed in (0, 1):
        write_run(ck, "sgd", 0, seed, hour=next(h))
    return ck


# --- the values, computed here from torch.load, as Mammoth's utils/metrics.py does ----------------

def _forgetting(m: list[list[float]]) -> float:
    n = len(m)
    best = [max(m[t][i] for t in range(i, n)) for i in range(n - 1)]
    return statistics.fmean(best[i] - m[-1][i] for i in range(n - 1))


def _bwt(m: list[list[float]]) -> float:
    return statistics.fmean(m[-1][i] - m[i][i] for i in range(len(m) - 1))


def truth(folder: Path, keep: Any = lambda a: True, key: Any = lambda a: (a["model"], a["buffer_size"], a["lr"]),
          files: Any = lambda f: True) -> dict[Any, dict[str, list[float]]]:
    groups: dict[Any, dict[str, list[float]]] = {}
    for f in sorted(folder.rglob("*.pt")):
        if not files(f):
            continue
        obj = torch.load(f, weights_only=True)
        args, (cil, til, _) = obj["args"], obj["results"]
        if not keep(args):
            continue
        g = groups.setdefault(key(args), {"class_il": [], "task_il": [], "class_il_forgetting": [],
                                          "class_il_bwt": [], "task_il_forgetting": [], "seeds": [], "tasks": []})
        g["class_il"].append(statistics.fmean(cil[-1]))
        g["task_il"].append(statistics.fmean(til[-1]))
        if len(cil) > 1:  # forgetting and BWT need two tasks
            g["class_il_forgetting"].append(_forgetting(cil))
            g["task_il_forgetting"].append(_forgetting(til))
            g["class_il_bwt"].append(_bwt(cil))
        g["seeds"].append(args["seed"])
        g["tasks"].append(len(cil))
    return groups


def _agg(doc_group: dict[str, Any], name: str) -> dict[str, Any]:
    setting, _, metric = name.partition("_il")
    return doc_group["aggregates"][setting + "_il"][metric.lstrip("_") or "final_avg"]


def _json(*args: str) -> dict[str, Any]:
    r = runner.invoke(app, ["results", *args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_groups_means_and_sample_stds_match_torch_load(runs: Path) -> None:
    doc = _json(str(runs))
    expected = truth(runs)
    # Grouped by every saved arg but the seed and bookkeeping (host, uid, device, workers differ per seed).
    assert doc["varying"] == ["model", "buffer_size", "lr"]
    got = {(g["key"]["model"], g["key"]["buffer_size"], g["key"]["lr"]): g for g in doc["groups"]}
    assert set(got) == set(expected)
    for key, g in got.items():
        e = expected[key]
        assert sorted(g["seeds"]) == sorted(e["seeds"]) and len(g["runs"]) == len(e["seeds"])
        if len(set(e["tasks"])) > 1:
            continue
        for name in ("class_il", "task_il", "class_il_forgetting", "task_il_forgetting", "class_il_bwt"):
            agg = _agg(g, name)
            assert agg["n"] == len(e[name])
            assert agg["mean"] == pytest.approx(statistics.fmean(e[name]), abs=0.005), (key, name)
            if len(e[name]) > 1:
                assert agg["std"] == pytest.approx(statistics.stdev(e[name]), abs=0.005), (key, name)  # n - 1
            else:
                assert agg["std"] is None
        for run in g["runs"]:  # per-run values are there too, exactly as computed from the file
            obj = torch.load(run["path"], weights_only=True)
            row = obj["results"][0][-1]
            assert run["metrics"]["class_il"]["final_avg"] == sum(row) / len(row)


def test_mismatched_task_counts_are_flagged_not_averaged(runs: Path) -> None:
    doc = _json(str(runs))
    (derpp,) = [g for g in doc["groups"] if g["key"]["model"] == "derpp"]
    assert derpp["mismatched"] is True and derpp["tasks"] == [3, 5] and derpp["aggregates"] is None
    text = runner.invoke(app, ["results", str(runs)]).stdout
    assert "3 ≠ 5 !" in text and "derpp, buffer_size=500, lr=0.1: runs did different numbers of tasks" in text
    assert "--tasks 5" in text
    # --tasks keeps the finished runs, which are then averaged
    doc = _json(str(runs), "--tasks", "5", "--model", "derpp")
    (g,) = doc["groups"]
    e = truth(runs, keep=lambda a: a["model"] == "derpp" and a["seed"] < 2)
    (vals,) = e.values()
    assert not g["mismatched"] and _agg(g, "class_il")["mean"] == pytest.approx(statistics.fmean(vals["class_il"]),
                                                                               abs=0.005)


def test_where_and_by_select_what_they_say(runs: Path) -> None:
    def keys(doc: dict[str, Any], *names: str) -> set[tuple[Any, ...]]:
        return {tuple(g["key"][n] for n in names) for g in doc["groups"]}

    assert keys(_json(str(runs), "--where", "buffer_size>=300"), "model") == {("derpp",)}
    assert keys(_json(str(runs), "--where", "buffer_size<200"), "model") == {("sgd",)}
    assert keys(_json(str(runs), "-w", "model=er,sgd"), "model", "lr") == {("er", 0.1), ("er", 0.03), ("sgd", 0.1)}
    assert keys(_json(str(runs), "-w", "model!=er", "-w", "lr=0.1"), "model") == {("derpp",), ("sgd",)}
    assert keys(_json(str(runs), "-w", "lr<0.05"), "model", "lr") == {("er", 0.03)}
    doc = _json(str(runs), "--dataset", "seq-cifar10", "--model", "ER")
    assert keys(doc, "model") == {("er",)}
    # --by: the two er learning rates fall into one group of 4 runs
    doc = _json(str(runs), "--by", "model")
    assert doc["by"] == ["model"] and doc["varying"] == ["model"]
    (er,) = [g for g in doc["groups"] if g["key"] == {"model": "er"}]
    e = truth(runs, key=lambda a: a["model"])["er"]
    assert len(er["runs"]) == 4 and _agg(er, "class_il")["mean"] == pytest.approx(statistics.fmean(e["class_il"]),
                                                                                  abs=0.005)
    assert _agg(er, "class_il")["std"] == pytest.approx(statistics.stdev(e["class_il"]), abs=0.005)
    doc = _json(str(runs), "--by", "model,buffer_size", "--by", "lr")
    assert doc["by"] == ["model", "buffer_size", "lr"]


def test_filter_and_option_errors_are_one_line(runs: Path) -> None:
    for argv, text in ((["--where", "bufer_size=5"], "no run has an arg of that name"),
                       (["--where", "lr>=abc"], "compares numbers"),
                       (["--where", "=5"], "expected ARG=VALUE"),
                       (["--by", "modle"], "did you mean model"),
                       (["--sort", "nope"], "--sort 'nope': not a column")):
        r = run_cli("results", str(runs), *argv)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (argv, r.stderr)
        assert text in r.stderr, (argv, r.stderr)
    r = runner.invoke(app, ["results", str(runs), "--where", "buffer_size=123"])
    assert r.exit_code == 0 and "no run matches the filters (of 9 run(s) found)" in r.stdout


def test_sort_best_first_and_top(runs: Path) -> None:
    def order(*argv: str) -> list[str]:
        return [f"{g['key']['model']}/{g['key']['lr']}" for g in _json(str(runs), "--tasks", "5", *argv)["groups"]]

    e = {f"{k[0]}/{k[2]}": v for k, v in truth(runs, keep=lambda a: not (a["model"] == "derpp" and a["seed"] == 2)
                                                ).items()}
    by_acc = sorted(e, key=lambda k: -statistics.fmean(e[k]["class_il"]))
    assert order("--sort", "class_il") == by_acc
    assert order("--sort", "class_il_forgetting") == sorted(e, key=lambda k: statistics.fmean(
        e[k]["class_il_forgetting"]))  # less forgetting is better
    assert order("--sort", "class_il", "--top", "2") == by_acc[:2]
    assert order("--sort", "runs")[0] == "er/0.1"


def test_resumed_run_counts_once_as_its_final_file(tmp_path: Path) -> None:
    ck = tmp_path / "checkpoints"
    parent = write_run(ck, "er", 200, 0, tasks=2, hour=1)
    p = torch.load(parent, weights_only=True)
    child = write_run(ck, "er", 200, 0, tasks=5, hour=2, prefix=parent.name[: -len("_last.pt")] + "_",
                      parent_results=p["results"][:2])
    other_seed = write_run(ck, "er", 200, 1, hour=3)
    doc = _json(str(ck))
    (g,) = doc["groups"]
    assert sorted(r["path"] for r in g["runs"]) == sorted([str(child), str(other_seed)])
    assert g["tasks"] == [5] and not g["mismatched"] and doc["superseded"] == [parent.name[: -len("_last.pt")]]


def test_cache_serves_unchanged_files_and_rereads_changed_ones(runs: Path, own_cache: Path) -> None:
    cold = _json(str(runs))
    (index,) = (own_cache / "results").glob("*.json")
    assert len(json.loads(index.read_text())["files"]) == 9
    assert _json(str(runs)) == cold  # served from the cache: the same document
    # a file rewritten in place (another seed's results) is read again, not served stale
    target = next(runs.glob("sgd_*.pt"))
    obj = torch.load(target, weights_only=True)
    obj["results"][0][-1] = [10.0] * len(obj["results"][0][-1])
    torch.save(obj, target)
    doc = _json(str(runs), "--model", "sgd")
    (run,) = [r for g in doc["groups"] for r in g["runs"] if r["path"] == str(target)]
    assert run["metrics"]["class_il"]["final_avg"] == 10.0
    assert _json(str(runs), "--model", "sgd", "--no-cache") == doc
    # a cache that cannot be written is a warning, never a wrong or missing table
    index.unlink()
    (own_cache / "results").rmdir()
    (own_cache / "results").write_text("a file in the way")
    r = run_cli("results", str(runs), "--model", "er")
    assert r.returncode == 0 and r.stderr.startswith("warning: could not update the results cache")
    assert "warning" not in r.stdout  # stdout holds the table alone
    assert "84." in r.stdout or "±" in r.stdout


def test_real_mammoth_fixtures(mammoth_fixtures: Path) -> None:
    ck = mammoth_fixtures / "checkpoints"
    safe = lambda f: "40ccd05b" not in f.name  # noqa: E731 - the old-pickle run: weights_only cannot load it
    res = collect_results([str(ck)], Query(where=[Where.parse("save_checkpoint_mode=safe")]))
    by_model = {}
    for g in res.groups:
        by_model.setdefault(g.key["model"], []).append(g)
    # the five files of the sgd run are one run (its newest file); the joint and paused runs differ in args
    expected = truth(ck, keep=lambda a: a.get("savecheck") is not None, key=lambda a: (a["model"], a["joint"]),
                     files=safe)
    sgd = next(g for g in by_model["sgd"] if g.key["joint"] == 0 and g.key["n_epochs"] == 1)
    files = truth(ck, keep=lambda a: a["model"] == "sgd" and a["joint"] == 0 and a["n_epochs"] == 1,
                  key=lambda a: a["ckpt_name"], files=safe)
    (five,) = [v for v in files.values() if max(v["tasks"]) == 5]
    assert len(sgd.runs) == 1 and sgd.runs[0].tasks_done == 5
    stat = sgd.stat(next(c for c in __import__("mckpt.domain.results", fromlist=["COLUMNS"]).COLUMNS
                         if c.name == "class_il_forgetting"))
    assert stat is not None and stat.mean == pytest.approx(max(five["class_il_forgetting"]))
    (er,) = by_model["er"]
    assert len(er.runs) == 1 and expected[("er", 0)]["class_il"] == [er.runs[0].metrics["class_il"].final_avg]
    # all runs, old pickle included: the two er runs (same args, seed 0) form one group, flagged as
    # one config run twice rather than averaged as two seeds (issue 22)
    doc = _json(str(ck), "--model", "er")
    (g,) = doc["groups"]
    assert len(g["runs"]) == 2 and g["seeds"] == [0, 0]
    assert g["duplicate_seeds"] == [0] and g["aggregates"] is None


def test_csv_has_raw_numbers_in_mean_and_std_columns(runs: Path) -> None:
    r = run_cli("results", str(runs), "--tasks", "5", "-f", "csv", "--sort", "class_il")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows and all(len(x) == len(rows[0]) for x in rows)
    assert {"class_il_mean", "class_il_std", "class_il_n", "task_il_bwt_mean", "runs", "seeds", "tasks"} <= set(rows[0])
    doc = _json(str(runs), "--tasks", "5", "--sort", "class_il")
    for row, g in zip(rows, doc["groups"], strict=True):
        std = _agg(g, "class_il")["std"]  # a table: at Mammoth's precision, where JSON is exact
        assert float(row["class_il_mean"]) == round(_agg(g, "class_il")["mean"], 2)
        assert row["class_il_std"] == ("" if std is None else str(round(std, 2)))
        assert int(row["runs"]) == len(g["runs"]) and int(row["tasks"]) == 5
        assert row["buffer_size"] == str(g["key"]["buffer_size"])
    assert "±" not in r.stdout and "same in every group" in r.stderr  # notes stay off the table


def test_latex_is_paste_ready(runs: Path, tmp_path: Path) -> None:
    r = run_cli("results", str(runs), "-f", "latex")
    assert r.returncode == 0, r.stderr
    tex = r.stdout
    body = [x for x in tex.splitlines() if x and not x.startswith("%")]
    assert body[0] == r"\begin{tabular}{lllrlrrrrrrr}"  # model, buffer, lr left; numbers right
    assert body[1] == r"\toprule" and r"\midrule" in body and body[-2:] == [r"\bottomrule", r"\end{tabular}"]
    table = "\n".join(body)
    assert r"buffer\_size" in table and "buffer_size" not in table.replace(r"buffer\_size", "")
    assert re.search(r"\d+\.\d\d \$\\pm\$ \d+\.\d\d", tex)
    assert "±" not in table and "≠" not in table and r"3 $\neq$ 5 !" in table
    assert all(x.startswith("%") for x in tex.splitlines() if "same in every group" in x)  # notes are comments
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed: structure checked above")
    doc = tmp_path / "t.tex"
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage[margin=1cm,landscape]{geometry}\n"
                   "\\begin{document}\n" + tex + "\\end{document}\n")
    p = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    if "booktabs.sty' not found" in p.stdout:
        pytest.skip("pdflatex has no booktabs package here: structure checked above")
    assert p.returncode == 0, p.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 0


def test_rich_table_highlights_the_best_value(runs: Path) -> None:
    from mckpt.view.output import Output
    from mckpt.view.render_results import render_results

    res = collect_results([str(runs)], Query(tasks=5, sort="class_il"))
    buf = io.StringIO()
    buf.isatty = lambda: True  # type: ignore[method-assign]
    out = Output(stream=buf)
    out.console.width = 250
    render_results(out, res)
    text = buf.getvalue()
    best = f"{res.groups[0].stat(next(c for c in __import__('mckpt.domain.results', fromlist=['x']).COLUMNS)).mean:.2f}"
    assert re.search(r"\x1b\[1;32m" + re.escape(best), text), text


# --- plot -----------------------------------------------------------------------------------------

def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("ext", ["png", "svg", "pdf"])
def test_plot_writes_a_valid_file_of_the_asked_size(runs: Path, tmp_path: Path, ext: str) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / f"fig.{ext}"
    r = run_cli("plot", str(runs), "-o", str(out), "--size", "6x3", "--dpi", "100", "--tasks", "5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"wrote {out}"
    if ext == "png":
        assert _png_size(out) == (600, 300)
    elif ext == "svg":
        head = out.read_text()[:2000]
        assert re.search(r'<svg[^>]*width="432pt"[^>]*height="216pt"', head, re.S), head
        assert "er, buffer_size=200, lr=0.1 (n=3)" in out.read_text()  # legend names groups by what differs
    else:
        data = out.read_bytes()
        assert data.startswith(b"%PDF-") and b"%%EOF" in data[-64:]
        (box,) = set(re.findall(rb"/MediaBox \[\s*([\d. ]+)\]", data))
        assert [float(x) for x in box.split()] == [0, 0, 432, 216]
    again = run_cli("plot", str(runs), "-o", str(out))
    assert again.returncode == 1 and "exists" in again.stderr and "--force" in again.stderr


def test_plot_matrix_and_errors(runs: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    f = next(runs.glob("er_*.pt"))
    out = tmp_path / "m.png"
    r = run_cli("plot", "--matrix", str(f), "-o", str(out), "--size", "5x2.5", "--dpi", "80")
    assert r.returncode == 0, r.stderr
    assert _png_size(out) == (400, 200)
    r = run_cli("plot", str(runs), "-o", str(tmp_path / "x.jpg"))
    assert r.returncode == 2 and "must end in .png, .svg or .pdf" in r.stderr
    r = run_cli("plot", str(runs), "-o", str(tmp_path / "x.png"), "--size", "big")
    assert r.returncode == 2 and "WIDTHxHEIGHT" in r.stderr
    r = run_cli("plot", str(runs))
    assert r.returncode == 2 and "name one with --output" in r.stderr


def test_notes_from_file_values_stay_comments_and_inert(tmp_path: Path) -> None:
    """A saved arg with a newline and LaTeX, or escape codes, cannot leave the `%` comment of a
    latex note, nor reach the terminal raw in a csv note on stderr."""
    forged = "x\n\\input{/etc/hostname}\x1b]0;PWN\x07\r"
    for seed in (0, 1):
        write_run(tmp_path, "er", 500, seed, dataset_config=forged)
    latex = run_cli("results", str(tmp_path), "-f", "latex")
    assert latex.returncode == 0, latex.stderr
    assert not any(line.startswith("\\input") for line in latex.stdout.splitlines()), latex.stdout
    assert "\x1b" not in latex.stdout and "\r" not in latex.stdout
    csv_run = run_cli("results", str(tmp_path), "-f", "csv")
    assert csv_run.returncode == 0 and "\x1b" not in csv_run.stderr and "\x07" not in csv_run.stderr
    assert csv_run.stderr.count("same in every group") <= 1  # one note, not a raw second copy
