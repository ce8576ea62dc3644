"""Mammoth's results log (`logs.pyd`) in `results`, `plot` and `list`: the safe reader, runs from logs
beside checkpoints, each counted once, and published numbers (`--against`).

Logs come from real Mammoth (the shared fixtures) and from `mammoth_log`, a transcription of
Mammoth's `Logger.write` with real numpy (1 and 2 reprs) and torch values; expected metrics are
computed here with Mammoth's own `utils/metrics.py` code and compared exactly."""

from __future__ import annotations

import ast
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, fixtures_missing, run_cli
from mammoth_log import Run, backward_transfer, forgetting, make_run, write_runs

from mckpt.domain.published import compare, read_published
from mckpt.domain.results import RunResult
from mckpt.domain.results_log import MAX_LINE_BYTES, BadLine, parse_line, read_log_file
from mckpt.locate.run_sources import collect_results


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCKPT_CACHE", str(tmp_path / "cache"))


def _literal(line: str) -> dict[str, Any]:
    """A line read independently of mckpt's reader: reprs rewritten, then ast.literal_eval."""
    line = re.sub(r"np\.(?:float64|float32|int64)\(([^()]*)\)", r"\1", line)
    line = re.sub(r"device\(type='(\w+)'(?:, index=(\d+))?\)", lambda m: repr(m[1] + (f":{m[2]}" if m[2] else "")),
                  line)
    return ast.literal_eval(line.replace("nan", "float('nan')") if "nan" in line else line)  # type: ignore[no-any-return]


def _matrix(values: dict[str, Any]) -> list[list[float]]:
    n = max(int(k.rpartition("task")[2]) for k in values if k.startswith("accuracy_"))
    return [[float(values[f"accuracy_{j}_task{i}"]) for j in range(1, n + 1) if f"accuracy_{j}_task{i}" in values]
            for i in range(1, n + 1)]


def _expected(values: dict[str, Any]) -> tuple[float, float | None, float | None]:
    """(final average, forgetting, BWT) as the line's own values give them, by Mammoth's definitions."""
    n = max(int(k.removeprefix("accmean_task")) for k in values if k.startswith("accmean_task"))
    m = _matrix(values)
    if len(m) < 2:
        return float(values[f"accmean_task{n}"]), None, None
    return float(values[f"accmean_task{n}"]), float(forgetting(m)), float(backward_transfer(m))


def _check_run(r: RunResult, lines: dict[tuple[str, int], str]) -> None:
    """Every metric of `r` equals what its log lines give, exactly, in each setting they hold."""
    for rec in r.records:
        if rec["source"] != "log":
            continue
        values = _literal(lines[(rec["path"], rec["line"])])
        slot = "task_il" if rec["setting"] == "task-il" else "class_il"
        final, forg, bwt = _expected(values)
        got = r.metrics[slot]
        assert (got.final_avg, got.forgetting, got.bwt) == (final, forg, bwt), (rec, got)


def _lines_of(folder: Path) -> dict[tuple[str, int], str]:
    return {(str(p), i): line for p in folder.rglob("logs.pyd")
            for i, line in enumerate(p.read_text().splitlines(), 1)}


# --- the reader ------------------------------------------------------------------------------------

def test_reader_takes_mammoths_reprs_and_nothing_else() -> None:
    v = parse_line("{'a': np.float64(33.333333333333336), 'b': np.float32(1.5), 'c': np.int64(-3), "
                   "'d': device(type='cpu'), 'e': device(type='cuda', index=1), 'f': '100.0', 'g': [1, (2, 3)], "
                   "'h': None, 'i': True, 'j': -inf, 'k': np.float64(nan), 'l': {'x': 1e-06}}")
    assert v["a"] == 33.333333333333336 and v["b"] == 1.5 and v["c"] == -3 and type(v["c"]) is int
    assert (v["d"], v["e"], v["f"], v["g"], v["h"], v["i"], v["l"]) == ("cpu", "cuda:1", "100.0", [1, [2, 3]], None,
                                                                       True, {"x": 1e-06})
    assert v["j"] == float("-inf") and v["k"] != v["k"]
    for bad in ("{'a': __import__('os').system('echo hi')}", "{'a': np.float64(np.float64(1))}", "{'a': os.sep}",
                "{'a': np.save(1)}", "{'a': eval('1')}", "{'a': 1 + 2}", "{'a': [x for x in ()]}", "{'a': b'x'}",
                "{'a': lambda: 1}", "{**{'a': 1}}", "[1, 2]", "{'a': device(type=open('f'))}", "{'a': {1, 2}}",
                "{1: 2}", "{'a': 1j}", "{'a': np.float64(1, 2)}", "{'a': device('cpu')}", "{'a': ...}"):
        with pytest.raises(BadLine):
            parse_line(bad)


def test_hostile_lines_are_refused_by_number_and_the_others_read(tmp_path: Path) -> None:
    good = "{'model': 'er', 'accmean_task1': np.float64(50.0), 'accuracy_1_task1': 50.0}\n"
    canary = tmp_path / "canary"
    lines = [good,
             "[" * 200_000 + "\n",  # ast.parse would recurse and crash: refused before parsing
             "{'a': " + "[" * 50 + "]" * 50 + "}\n",
             "{'a': [" + "print(1), " * 20_000 + "]}\n",  # a line full of calls
             "{'a': [" + "np.float64(1), " * 40_000 + "]}\n",  # allowed calls, too many of them
             f"{{'a': __import__('pathlib').Path({str(canary)!r}).touch()}}\n",
             "{'a': '\xff'}\n".encode("latin-1").decode("latin-1"),
             good]
    log = tmp_path / "logs.pyd"
    with open(log, "w", encoding="latin-1") as f:
        f.writelines(lines[:6])
    with open(log, "ab") as f:
        f.write(b"{'a': '\xff'}\n")
        f.write(b"{'a': '" + b"x" * (100 << 20) + b"'}\n")  # a 100 MB line: skipped, never held
        f.write(good.encode())
    read = read_log_file(str(log))
    assert [ln.number for ln in read.lines] == [1, 9]
    assert not canary.exists()
    why = {int(w.split(":")[1]): w for w in read.warnings}
    assert sorted(why) == [2, 3, 4, 5, 6, 7, 8]
    assert all(w.startswith(f"{log}:") and "line left out" in w for w in why.values())
    assert "items" in why[2] and "nested" in why[3] and "call" in why[4] and "items" in why[5]
    assert "UTF-8" in why[7] and f"{MAX_LINE_BYTES:,} bytes" in why[8]


def test_hostile_log_in_results_is_a_warning_and_the_log_still_counts(tmp_path: Path) -> None:
    results = tmp_path / "data" / "results"
    run = make_run(random.Random(1), tasks=3)
    write_runs(results, [run])
    log = results / "class-il" / "seq-cifar10" / "er" / "logs.pyd"
    with open(log, "a") as f:
        f.write("[" * 200_000 + "\n")
    r = run_cli("results", str(tmp_path), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["groups"]) == 1 and doc["groups"][0]["runs"][0]["source"] == "log"
    assert any(w.startswith(f"{log}:2: line left out") for w in doc["warnings"])
    r = run_cli("results", str(tmp_path))
    assert r.returncode == 0 and f"{log}:2: line left out" in r.stderr and "Traceback" not in r.stderr


# --- runs from logs: Mammoth's numbers, exactly ---------------------------------------------------

@pytest.mark.parametrize("numpy_major", [1, 2])
def test_generated_logs_give_mammoths_metrics_exactly(tmp_path: Path, numpy_major: int) -> None:
    rng = random.Random(numpy_major)
    runs: list[Run] = []
    for i in range(40):
        tasks = rng.choice([1, 2, 5, 10, 20])
        runs.append(make_run(rng, model=rng.choice(["er", "derpp", "er-ace"]), tasks=tasks, seed=i,
                             restored=rng.randint(0, tasks - 1), dataset=rng.choice(["seq-cifar10", "seq-cifar100"])))
    results = tmp_path / "results"
    write_runs(results, runs, numpy_major=numpy_major)
    if numpy_major == 2:
        assert "np.float64(" in next(results.rglob("logs.pyd")).read_text()
    res = collect_results([str(results)])
    got = [r for g in res.groups for r in g.runs]
    assert len(got) == 40 and not res.skipped and not res.warnings
    lines = _lines_of(results)
    by_uid = {r.jobnum.split("-")[0]: r for r in runs}
    for r in got:
        assert r.source == "log" and {rec["setting"] for rec in r.records} == {"class-il", "task-il"}
        _check_run(r, lines)
        # and the twin pairing is right: the class-IL and task-IL matrices are this run's
        assert r.class_il == by_uid[r.uid].accs and r.task_il == by_uid[r.uid].accs_mask_classes


def test_real_mammoth_logs_give_their_own_numbers(mammoth_fixtures: Path) -> None:
    results = mammoth_fixtures / "results"
    res = collect_results([str(results)])
    lines = _lines_of(results)
    runs = [r for g in res.groups for r in g.runs]
    uids = {r.uid for r in runs}
    # 21 line pairs: 2 are not runs (a check-only line, evaluations), 4 are continued by resumed runs
    assert {s["reason"].split(" ")[0] for s in res.skipped} == {"no", "an"}
    check_only = [s for s in res.skipped if "no task accuracies" in s["reason"]]
    assert [s["path"].rsplit("/", 4)[1:] for s in check_only] == [["class-il", "seq-mnist", "er", "logs.pyd:5"]]
    evaluations = {s["path"].rsplit(":", 1)[1] for s in res.skipped if "inference_only" in s["reason"]}
    assert len(evaluations) == 3
    assert len(runs) + len(res.skipped) + len(res.superseded) == 21
    # resumed runs stand for their parents: 51f74d75 (stop_after 3) is continued by 4959f3b1
    assert "51f74d75" not in uids and "4959f3b1" in uids
    assert any(s.endswith("51f74d75") for s in res.superseded)
    for r in runs:
        assert len(r.records) == 2  # class-IL and task-IL lines of the run, paired
        a, b = (_literal(lines[(x["path"], x["line"])]) for x in r.records)
        assert a["conf_jobnum"] == b["conf_jobnum"] and r.uid == a["conf_jobnum"][:8]
        _check_run(r, lines)


def test_pairing_by_jobnum_then_line_order(tmp_path: Path) -> None:
    rng = random.Random(5)
    runs = [make_run(rng, seed=i) for i in range(4)]
    results = tmp_path / "results"
    write_runs(results, runs)
    til = results / "task-il" / "seq-cifar10" / "er" / "logs.pyd"
    lines = til.read_text().splitlines(keepends=True)
    til.write_text("".join(reversed(lines)))  # twins found by conf_jobnum, wherever they are
    got = {r.uid: r for g in collect_results([str(results)]).groups for r in g.runs}
    assert all(got[r.jobnum[:8]].task_il == r.accs_mask_classes for r in runs)
    # without conf_jobnum (older Mammoth): by order, when the args agree
    for path in results.rglob("logs.pyd"):
        path.write_text(re.sub(r"'conf_jobnum': '[^']*', ", "", path.read_text()))
    til.write_text("".join(reversed(til.read_text().splitlines(keepends=True))))
    got_runs = [r for g in collect_results([str(results)]).groups for r in g.runs]
    assert sorted(r.task_il for r in got_runs) == sorted(r.accs_mask_classes for r in runs)
    assert all(r.uid is None for r in got_runs)


def test_domain_il_log_has_one_setting(tmp_path: Path) -> None:
    rng = random.Random(7)
    runs = [make_run(rng, model="si", dataset="perm-mnist", seed=s, buffer_size=0) for s in (0, 1)]
    write_runs(tmp_path / "results", runs, setting="domain-il")
    res = collect_results([str(tmp_path / "results")])
    (g,) = res.groups
    assert [r.task_il for r in g.runs] == [[], []]
    lines = _lines_of(tmp_path / "results")
    for r in g.runs:
        _check_run(r, lines)
        assert r.records[0]["setting"] == "domain-il"
    assert g.averaged and g.stat(next(c for c in __import__("mckpt.domain.results", fromlist=["x"]).COLUMNS
                                      if c.name == "class_il")).n == 2  # type: ignore[union-attr]


# --- one run, counted once ------------------------------------------------------------------------

def _checkpoint_of(run: Run, folder: Path, stem: str) -> Path:
    """The run's final checkpoint as Mammoth writes it (`--savecheck last`, safe mode)."""
    import torch

    from mckpt.domain.checkpoint import LOGGER_KEYS

    args = {k: (str(v) if isinstance(v, torch.device) else v) for k, v in run.args.items()}
    args["ckpt_name"] = stem
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}_last.pt"
    torch.save({"model": {"net.fc.weight": torch.zeros(2, 2)}, "optimizer": None, "scheduler": None, "args": args,
                "results": [run.accs, run.accs_mask_classes, {k: [] for k in LOGGER_KEYS}]}, path)
    return path


def _three_runs_one_saved(rng: random.Random, work: Path) -> tuple[tuple[Run, Run, Run], str, Path]:
    """Three runs (seeds 0, 1, 2); the first saved as a checkpoint of `work/checkpoints` under its
    own name (ckpt_name set): (runs, the first's uid, its checkpoint)."""
    first, second, third = (make_run(rng, seed=s) for s in (0, 1, 2))
    uid = first.jobnum[:8]
    stem = f"er_seq-cifar10_None_500_50_20250101-101010_{uid}"
    ckpt = _checkpoint_of(first, work / "checkpoints", stem)
    first.args["ckpt_name"] = stem
    return (first, second, third), uid, ckpt


def test_a_run_in_log_and_checkpoint_is_one_run_and_a_resume_supersedes(tmp_path: Path) -> None:
    rng = random.Random(11)
    work = tmp_path / "mammoth"
    (both, log_only, parent), uid, ckpt = _three_runs_one_saved(rng, work)
    # the parent has only a checkpoint; its resumed child only a log line, whose name carries the lineage
    pstem = f"er_seq-cifar10_None_500_50_20250101-111111_{parent.jobnum[:8]}"
    _checkpoint_of(parent, work / "checkpoints", pstem)
    child = make_run(rng, seed=2)
    child.args["ckpt_name"] = f"{pstem}_er_seq-cifar10_None_500_50_20250101-121212_{child.jobnum[:8]}"
    child.args["loadcheck"] = f"checkpoints/{pstem}_last.pt"
    write_runs(work / "data" / "results", [both, log_only, child])
    r = run_cli("results", str(work), "--json")  # a Mammoth checkout: its logs and its checkpoints
    assert r.returncode == 0, r.stderr
    (g,) = json.loads(r.stdout)["groups"]
    runs = {x["uid"]: x for x in g["runs"]}
    assert sorted(runs) == sorted([uid, log_only.jobnum[:8], child.jobnum[:8]])
    one = runs[uid]
    assert one["source"] == "log" and one["line"] == 1
    assert {(x["source"], Path(x["path"]).name) for x in one["records"]} == {
        ("log", "logs.pyd"), ("checkpoint", ckpt.name)}
    assert json.loads(r.stdout)["superseded"] == [pstem]
    assert g["seeds"] == [0, 1, 2] and g["aggregates"] is not None and g["duplicate_seeds"] == []


def test_duplicate_seeds_are_flagged_not_averaged(tmp_path: Path) -> None:
    rng = random.Random(3)
    runs = [make_run(rng, seed=s) for s in (0, 1, 1)] + [make_run(rng, model="derpp", seed=None) for _ in range(2)]
    write_runs(tmp_path / "results", runs)
    r = run_cli("results", str(tmp_path / "results"), "--json")
    groups = {g["key"]["model"]: g for g in json.loads(r.stdout)["groups"]}
    assert groups["er"]["duplicate_seeds"] == [1] and groups["er"]["aggregates"] is None
    # no seed is Mammoth's default: a fresh random one each run, so not a duplicate
    assert groups["derpp"]["duplicate_seeds"] == [] and groups["derpp"]["aggregates"]["class_il"]["final_avg"]["n"] == 2
    r = run_cli("results", str(tmp_path / "results"))
    assert re.search(r"er\s.*0, 1, 1 !", r.stdout), r.stdout
    assert "seed 1 in more than one run" in r.stdout and "not averaged" in r.stdout


# --- published numbers ----------------------------------------------------------------------------

def test_against_shows_the_published_number_and_the_difference(tmp_path: Path) -> None:
    rng = random.Random(9)
    runs = [make_run(rng, model="er", seed=s, buffer_size=500, lr=0.1, dataset="seq-cifar10") for s in range(3)]
    runs += [make_run(rng, model="er-ace", seed=s, buffer_size=200, model_config="best") for s in range(2)]
    write_runs(tmp_path / "results", runs)
    pub = tmp_path / "reproduce.json"
    pub.write_text(json.dumps([
        {"model": "er", "setting": "class-il", "result": 63.39,
         "cmd": "--dataset=seq-cifar10 --model=er --buffer_size=500 --lr=0.1 --seed 1993"},
        {"model": "er_ace", "setting": "task-il", "result": 42.6,
         "cmd": "--dataset=seq-cifar10 --model=er_ace --buffer_size=200 --model_config=best --lr_milestones 35 45"},
        {"model": "er", "setting": "class-il", "result": 50.0,
         "cmd": "--dataset=seq-cifar10 --model=er --buffer_size=z500"},
        {"model": "derpp", "setting": "class-il", "result": 1.0},
    ]))
    res = collect_results([str(tmp_path / "results")])
    entries, warnings = read_published(str(pub))
    assert len(entries) == 3
    assert warnings == [f"{pub}: entry 3 left out: not {{model, setting, result (a number), cmd}}"]
    cmp = compare(res, entries)
    assert [(m.entry.index, m.group.key["model"]) for m in cmp.matches] == [(0, "er"), (1, "er-ace")]
    er = [r for g in res.groups for r in g.runs if r.args["model"] == "er"]
    mean = np.mean([r.metrics["class_il"].final_avg for r in er])
    assert cmp.matches[0].difference == pytest.approx(float(mean) - 63.39, abs=1e-9)
    assert [e.index for e in cmp.unmatched] == [2]
    r = run_cli("results", str(tmp_path / "results"), "--against", str(pub), "--json")
    doc = json.loads(r.stdout)["against"]
    assert [m["entry"]["index"] for m in doc["matches"]] == [0, 1] and doc["unmatched"][0]["index"] == 2
    assert doc["matches"][0]["difference"] == round(float(mean) - 63.39, 2)
    assert doc["matches"][0]["stat"]["n"] == 3 and doc["matches"][1]["column"] == "task_il"
    r = run_cli("results", str(tmp_path / "results"), "--against", str(pub))
    assert "published numbers (--against)" in r.stdout and "63.39" in r.stdout
    assert f"{float(mean) - 63.39:+.2f}" in r.stdout
    assert "1 published number(s) match no group here: er (class-il, seq-cifar10: 50.00)" in r.stdout


def test_against_mammoths_reproduce_json_on_the_fixtures(tmp_path: Path) -> None:
    if not FIXTURES.is_dir():
        fixtures_missing("reproduce.json")
    r = run_cli("results", str(FIXTURES / "results"), "--against", str(FIXTURES / "reproduce.json"), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["against"]
    published = json.loads((FIXTURES / "reproduce.json").read_text())
    assert doc["matches"] == [] and len(doc["unmatched"]) == len(published)  # no seq-mnist sgd/er entry there
    # an entry for the fixtures' own setting matches the sgd group and shows its published number
    pub = tmp_path / "mine.json"
    pub.write_text(json.dumps([{"model": "sgd", "setting": "class-il", "result": 20.0,
                                "cmd": "--model=sgd --dataset=seq-mnist --lr=0.1 --joint=0"}]))
    r = run_cli("results", str(FIXTURES / "results"), "--tasks", "5", "--against", str(pub))
    assert re.search(r"sgd.*class-il\s+20\.00", r.stdout), r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = run_cli("results", str(FIXTURES / "results"), "--against", str(bad))
    assert r.returncode == 1 and "not JSON" in r.stderr and "Traceback" not in r.stderr


# --- where logs are found, and plot ---------------------------------------------------------------

def test_logs_are_found_wherever_checkpoints_are_taken(tmp_path: Path) -> None:
    rng = random.Random(4)
    work = tmp_path / "mammoth"
    write_runs(work / "data" / "results", [make_run(rng, seed=s) for s in range(3)])
    log = work / "data" / "results" / "class-il" / "seq-cifar10" / "er" / "logs.pyd"

    def uids(*argv: str, cwd: Path | None = None) -> list[str]:
        r = run_cli("results", *argv, "--json", cwd=cwd)
        assert r.returncode == 0, r.stderr
        return sorted(x["uid"] for g in json.loads(r.stdout)["groups"] for x in g["runs"])

    expected = uids(str(work))
    assert len(expected) == 3
    for where in (work / "data", work / "data" / "results"):
        assert uids(str(where)) == expected
    assert uids(str(log)) == expected  # a log named directly: its task-IL twin is found beside it
    assert uids(cwd=work) == expected  # no path: ./checkpoints and ./data/results
    assert uids(str(tmp_path), "-r") == expected
    shutil.copy(log, tmp_path / "copy.pyd")
    assert uids(str(log), str(tmp_path / "copy.pyd")) == expected  # a copied log: each run once


def test_plot_draws_runs_from_logs(tmp_path: Path) -> None:
    rng = random.Random(6)
    write_runs(tmp_path / "results", [make_run(rng, seed=s, model=m) for s in range(2) for m in ("er", "sgd")])
    out = tmp_path / "fig.svg"
    r = run_cli("plot", str(tmp_path / "results"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text().count("er") >= 1 and "sgd" in out.read_text()


def test_fast_path_reads_every_line_as_the_full_parser_does(tmp_path: Path) -> None:
    from mckpt.domain.results_log import _fast, parse_line_slow

    rng = random.Random(12)
    for major in (1, 2):
        write_runs(tmp_path / str(major), [make_run(rng, seed=s, restored=1, tasks=3, early_stopping_epsilon=1e-06,
                                                    device=__import__("torch").device("cuda", 1)) for s in range(5)],
                   numpy_major=major)
    lines = [ln for p in tmp_path.rglob("logs.pyd") for ln in p.read_text().splitlines()]
    if FIXTURES.is_dir():
        lines += [ln for p in (FIXTURES / "results").rglob("logs.pyd") for ln in p.read_text().splitlines()]
    lines += ["{'a': np.float64(3), 'b': np.int64(-2), 'c': -inf, 'd': 'say \"hi\"', 'e': \"it's\", 'f': 1E+20}"]
    for line in lines:
        fast = _fast(line)
        assert fast is not None, line[:200]
        assert json.dumps(fast) == json.dumps(parse_line_slow(line))  # types too: 3.0 stays a float
    # what the fast path does not take goes to the full parser (and its verdict)
    for line in ("{'a': (1, 2)}", "{'a': 'x\\\\n'}", "{1: 2}", "{'a': os.sep}", "{'a': np.int64(1.5)}"):
        assert _fast(line) is None


def _agree(line: str) -> bool:
    """The fast path reads `line` as the full parser does, or leaves it to it. True if it read it."""
    from mckpt.domain.results_log import _fast, parse_line_slow

    fast = _fast(line)
    try:
        slow = parse_line_slow(line)
    except BadLine:
        assert fast is None, line
        return False
    assert fast is None or json.dumps(fast) == json.dumps(slow), line
    return fast is not None


def test_quick_path_and_full_parser_agree_on_generated_lines() -> None:
    """Lines with no double quote or backslash take the split-and-substitute path: on tokens Python
    and JSON spell alike or differently (bare true/null, implicit concatenation, 1_0, trailing
    commas, -nan, prefixes, names that hold None/nan/inf), it agrees with the full parser or declines."""
    tokens = ["'a'", "'None'", "'nan inf True'", "'device(type='", "None", "True", "False", "nan", "inf", "-inf",
              "-nan", "true", "null", "NaN", "Infinity", "1", "-0", "1.5", "1e5", "1E+20", "1_0", "01", "1.",
              "np.float64(2.0)", "np.float32(1e-05)", "np.float64(nan)", "np.float64(-inf)", "np.float64(3)",
              "np.int64(7)", "np.int64(-7)", "np.int64(1.5)", "device(type='cpu')", "device(type='cuda', index=0)",
              "[1, 2]", "[1,]", "[]", "(1, 2)", "{'k': 1}", "'x' 'y'", "b'x'", "u'x'", "f'x'", "Nonex", "info",
              "np.float64(np.float64(1.0))", "{1: 2}", "'\t'"]
    rng = random.Random(22)
    read = 0
    for _ in range(3000):
        items = [f"'k{i}': {rng.choice(tokens)}" for i in range(rng.randint(1, 4))]
        read += _agree("{" + ", ".join(items) + rng.choice(["", ",", " "]) + "}")
    assert read > 300  # the quick path did take the lines it can


def test_list_shows_log_runs_beside_checkpoints_each_once(tmp_path: Path) -> None:
    """`list` of a Mammoth checkout: runs from its logs and its checkpoints, a run in both one row."""
    from mckpt.locate.targets import Folder, LocalFile, ResultsLog, classify

    rng = random.Random(21)
    work = tmp_path / "mammoth"
    (both, log_only, ckpt_only), uid, _ = _three_runs_one_saved(rng, work)
    _checkpoint_of(ckpt_only, work / "checkpoints", f"er_seq-cifar10_None_500_50_20250101-111111_"
                                                    f"{ckpt_only.jobnum[:8]}")
    write_runs(work / "data" / "results", [both, log_only])
    log = work / "data" / "results" / "class-il" / "seq-cifar10" / "er" / "logs.pyd"
    assert isinstance(classify(str(log)), ResultsLog)
    assert isinstance(classify(str(next((work / "checkpoints").glob("*.pt")))), LocalFile)
    assert isinstance(classify(str(work)), Folder)

    def listed(*argv: str) -> dict[str, Any]:
        r = run_cli("list", *argv, "--json")
        assert r.returncode == 0, r.stderr
        return {x["uid"]: x for x in json.loads(r.stdout)["runs"]}

    runs = listed(str(work))
    assert {u: x["source"] for u, x in runs.items()} == {
        uid: "checkpoint+log", log_only.jobnum[:8]: "log", ckpt_only.jobnum[:8]: "checkpoint"}
    assert {(Path(x["path"]).parents[2].name, x["setting"], x["line"]) for x in runs[uid]["log"]} == {
        ("class-il", "class-il", 1), ("task-il", "task-il", 1)}
    final, _, _ = _expected(_literal(log.read_text().splitlines()[1]))
    assert runs[log_only.jobnum[:8]]["metrics"]["class_il"]["final_avg"] == final  # the log's own number
    assert runs[log_only.jobnum[:8]]["model"] == "er" and runs[log_only.jobnum[:8]]["checkpoints"] == []
    assert sorted(listed(str(log))) == sorted([uid, log_only.jobnum[:8]])  # a log named: its twin too
    # a checkpoints folder is listed from names as before: no log read, no source column
    plain = run_cli("list", str(work / "checkpoints"))
    assert plain.returncode == 0 and "source" not in plain.stdout and uid in plain.stdout
    table = run_cli("list", str(work), env={"COLUMNS": "250"})
    ends = [line.rsplit(" ", 1)[-1] for line in table.stdout.splitlines()]
    assert sorted(e for e in ends if e in ("checkpoint", "log", "checkpoint+log")) == [
        "checkpoint", "checkpoint+log", "log"]
