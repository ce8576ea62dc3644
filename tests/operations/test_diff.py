"""`mckpt diff`: args, results and weights of two checkpoints, on real Mammoth files and torch.save files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mckpt.diff import IGNORED_ARGS, diff_args, diff_checkpoints
from mckpt.errors import MckptError
from mckpt.locate.resolve import resolve_checkpoint
from tests.conftest import REPO, read_terminal, run_cli

RUN1 = "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744"
ER_SAFE = "er_seq-mnist_None_50_1_20261128-165918_95ed7ced_last.pt"
ER_OLD = "er_seq-mnist_None_50_1_20261128-170019_40ccd05b_last.pt"


def _rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float(torch.linalg.vector_norm(b - a) / torch.linalg.vector_norm(a))


# ---------------------------------------------------------------------------------------------------
# real Mammoth files


def test_two_tasks_of_one_run(mammoth_fixtures: Path) -> None:
    a = mammoth_fixtures / "checkpoints" / f"{RUN1}_1.pt"
    b = mammoth_fixtures / "checkpoints" / f"{RUN1}_3.pt"
    d = diff_checkpoints(str(a), str(b), weights=True)
    assert d.args.equal and d.args.ignored == []
    assert not d.results.equal
    assert len(d.results.class_il.a) == 2 and len(d.results.class_il.b) == 4
    assert d.results.class_il.deltas[0] == [0.0]  # task 1 after task 1: same measurement in both files
    m = d.results.class_il.metric_deltas()["final_avg"]
    assert m["delta"] == pytest.approx(m["b"] - m["a"]) and m["delta"] != 0
    w = d.weights
    assert w is not None and not w.equal and not w.only_a and not w.only_b and not w.shape_changes
    # 16 keys, 6 distinct tensors: the MLP's aliases (net.fc1 = net._features.0 = net.net.0.0) count once
    assert w.compared == 6 and w.identical == 0
    assert sum(1 + len(c.aliases) for c in w.changes) == 16
    sa = torch.load(a, weights_only=True)["model"]
    sb = torch.load(b, weights_only=True)["model"]
    for c in w.changes:
        assert c.rel_l2 == pytest.approx(_rel_l2(sa[c.key], sb[c.key]), rel=1e-9)
        assert c.max_abs == pytest.approx(float((sb[c.key].double() - sa[c.key].double()).abs().max()))
    assert [c.rel_l2 for c in w.changes] == sorted((c.rel_l2 for c in w.changes), reverse=True)


def test_er_safe_against_er_old_pickle(mammoth_fixtures: Path) -> None:
    ck = mammoth_fixtures / "checkpoints"
    d = diff_checkpoints(str(ck / ER_SAFE), str(ck / ER_OLD), weights=True)
    assert (d.a.format, d.b.format) == ("safe", "old_pickle")
    assert d.args.equal  # a Namespace and a dict of the same configuration
    assert set(d.args.ignored) == {"ckpt_name", "conf_jobnum", "conf_timestamp", "save_checkpoint_mode"}
    assert d.results.equal
    shown = diff_args(d.a.args, d.b.args, all=True)
    assert {c.name: (c.a, c.b) for c in shown.changed}["save_checkpoint_mode"] == ("safe", "old_pickle")
    assert d.weights is not None and d.weights.equal  # same seed, same data: the same weights


def test_cli_diff_of_two_runs_by_uid(mammoth_fixtures: Path) -> None:
    proc = run_cli("diff", "95ed7ced", "40ccd05b", "--json", cwd=mammoth_fixtures)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["a"]["path"].endswith(ER_SAFE) and doc["b"]["path"].endswith(ER_OLD)
    assert doc["args"]["equal"] is True and doc["results"]["equal"] is True and doc["weights"] is None
    human = run_cli("diff", "95ed7ced", "40ccd05b", "--all", cwd=mammoth_fixtures)
    assert human.returncode == 0 and "save_checkpoint_mode" in human.stdout and "old_pickle" in human.stdout


def test_bare_backbones_differ_in_keys_only(mammoth_fixtures: Path) -> None:
    bare = mammoth_fixtures / "bare"
    d = diff_checkpoints(str(bare / "sgd_seq-mnist_backbone_net_prefix.pt"),
                         str(bare / "sgd_seq-mnist_backbone_plain.pt"), weights=True)
    assert len(d.notes) == 2 and "bare backbone" in d.notes[0] and d.args is None
    assert d.weights is not None and d.weights.compared == 0
    assert sorted("net." + k for k in d.weights.only_b) == sorted(d.weights.only_a)


def test_cli_run_resolves_to_its_newest_file(mammoth_fixtures: Path) -> None:
    proc = run_cli("diff", "9acd4744", f"checkpoints/{RUN1}_0.pt", "--weights", "--top", "2", "--json",
                   cwd=mammoth_fixtures)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["a"]["path"].endswith(f"{RUN1}_4.pt") and doc["a"]["tasks_done"] == 5
    assert len(doc["weights"]["changes"]) == 2 and doc["weights"]["compared"] == 6
    table = run_cli("diff", "9acd4744", f"checkpoints/{RUN1}_0.pt", "--format", "github",
                    cwd=mammoth_fixtures)
    assert table.returncode == 0 and "| final_avg" in table.stdout


def test_resolve_errors(mammoth_fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(mammoth_fixtures)
    with pytest.raises(MckptError, match="no such file, folder or run"):
        resolve_checkpoint("ffffffff")
    with pytest.raises(MckptError, match="holds 5 runs") as e:
        resolve_checkpoint("checkpoints")
    assert e.value.hint.startswith("name one run by its uid")
    assert resolve_checkpoint("9acd").path.endswith(f"{RUN1}_4.pt")  # a uid prefix is enough when unique
    run_folder = mammoth_fixtures / "one_run"
    run_folder.mkdir()
    for t in (0, 2):
        (mammoth_fixtures / "checkpoints" / f"{RUN1}_{t}.pt").rename(run_folder / f"{RUN1}_{t}.pt")
    assert resolve_checkpoint(str(run_folder)).path == str(run_folder / f"{RUN1}_2.pt")


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    proc = run_cli("diff", "nope.pt", "other.pt", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.startswith("error:") and "Traceback" not in proc.stderr
    assert "nope.pt" in proc.stderr
    bad = run_cli("diff", "a", "b", "--top", "-1", cwd=tmp_path)
    assert bad.returncode == 2


# ---------------------------------------------------------------------------------------------------
# hand-made files: shapes, missing keys, values, layouts


def _save(path: Path, model: dict[str, torch.Tensor], legacy: bool = False, lr: float = 0.1,
          acc: float = 50.0) -> Path:
    obj = {"model": model, "optimizer": None, "scheduler": None,
           "args": {"model": "sgd", "lr": lr, "seed": 1}, "results": [[[acc]], [[60.0]], {}]}
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    big = torch.randn(6, 8, generator=g)
    ma = {
        "w": torch.randn(4, 5, generator=g),
        "half": torch.randn(7, generator=g).half(),
        "bf": torch.randn(3, 3, generator=g).to(torch.bfloat16),
        "count": torch.tensor(3),
        "zero": torch.zeros(4),
        "grow": torch.randn(3, 2, generator=g),
        "gone": torch.ones(2),
        "same": torch.arange(5.0),
        "t": big.t(),  # a non-contiguous view
        "slice": big[2:4],  # a view at an offset into a shared storage
    }
    mb = {k: v.clone() for k, v in ma.items() if k != "gone"}
    mb["w"] = ma["w"] + 0.1 * torch.randn(4, 5, generator=g)
    mb["half"] = (ma["half"].float() * 1.5).half()
    mb["bf"] = (ma["bf"].float() - 0.25).to(torch.bfloat16)
    mb["count"] = torch.tensor(5)
    mb["zero"] = torch.ones(4)
    mb["grow"] = torch.randn(4, 2, generator=g)
    mb["new"] = torch.ones(3)
    big_b = big * 2
    mb["t"], mb["slice"] = big_b.t(), big_b[2:4]
    return (_save(tmp_path / "a.pt", ma), _save(tmp_path / "b.pt", mb, lr=0.05, acc=40.0), ma, mb)


def test_weights_keys_shapes_and_values(pair) -> None:
    a, b, ma, mb = pair
    w = diff_checkpoints(str(a), str(b), weights=True).weights
    assert w is not None
    assert w.only_a == ["gone"] and w.only_b == ["new"]
    assert [(s.key, s.a, s.b) for s in w.shape_changes] == [("grow", (3, 2), (4, 2))]
    by_key = {c.key: c for c in w.changes}
    assert set(by_key) == {"w", "half", "bf", "count", "zero", "same", "t", "slice"}
    for key in ("w", "half", "bf", "count", "t", "slice"):
        assert by_key[key].rel_l2 == pytest.approx(_rel_l2(ma[key], mb[key]), rel=1e-9), key
    assert by_key["same"].rel_l2 == 0.0 and by_key["same"].max_abs == 0.0 and w.identical == 1
    assert math.isinf(by_key["zero"].rel_l2)  # A is all zeros, B is not
    assert w.changes[0].key == "zero"  # biggest first
    assert by_key["t"].rel_l2 == pytest.approx(1.0) and by_key["slice"].rel_l2 == pytest.approx(1.0)
    doc = diff_checkpoints(str(a), str(b), weights=True, top=3).to_json()["weights"]
    assert len(doc["changes"]) == 3 and doc["changes"][0]["a_is_zero"] is True
    json.dumps(doc, allow_nan=False)  # JSON-ready: no inf or nan, which json would write as Infinity/NaN


def test_legacy_layout_streams_too(tmp_path: Path) -> None:
    ma = {"w": torch.randn(10, 3), "b": torch.randn(3)}
    mb = {"w": ma["w"] * 1.1, "b": ma["b"]}
    a = _save(tmp_path / "a.pt", ma, legacy=True)
    b = _save(tmp_path / "b.pt", mb)
    d = diff_checkpoints(str(a), str(b), weights=True)
    assert d.a.layout == "legacy" and d.b.layout == "zip"
    assert {c.key: c.rel_l2 for c in d.weights.changes} == {"w": pytest.approx(0.1), "b": 0.0}


def test_args_diff_changed_added_removed() -> None:
    d = diff_args({"lr": 0.1, "model": "er", "old": 1, "seed": 0},
                  {"lr": 0.05, "model": "er", "new": 2, "seed": 1})
    assert [(c.name, c.a, c.b) for c in d.changed] == [("lr", 0.1, 0.05)]
    assert d.removed == {"old": 1} and d.added == {"new": 2} and d.ignored == ["seed"]
    assert "seed" in IGNORED_ARGS
    assert [c.name for c in diff_args({"seed": 0}, {"seed": 1}, all=True).changed] == ["seed"]


def test_args_and_results_diff_never_import_torch(pair) -> None:
    a, b, _, _ = pair
    code = ("import sys\nfrom mckpt.diff import diff_checkpoints\n"
            f"d = diff_checkpoints({str(a)!r}, {str(b)!r})\n"
            "print(d.args.equal, d.results.equal, 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False", "False"]


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 20])
def test_weights_stream_in_chunks_with_the_same_results(pair, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Every tensor of the pair read a few elements at a time (contiguous runs, row blocks of the
    transposed view, the slice at an offset) gives torch's own numbers, and progress counts every
    byte read, up to what pair_weights announced."""
    import mckpt.diff
    from mckpt.diff import pair_weights
    from mckpt.domain.checkpoint import read_checkpoint
    from mckpt.io.progress import NoProgress

    monkeypatch.setattr(mckpt.diff, "CHUNK_ELEMENTS", chunk)
    a, b, ma, mb = pair
    told: list[int] = []

    class Told(NoProgress):
        def advance(self, n: int = 1) -> None:
            told.append(n)

    with read_checkpoint(a, keep_open=True) as ca, read_checkpoint(b, keep_open=True) as cb:
        total = pair_weights(ca, cb).nbytes(ca)
        w = diff_checkpoints(ca, cb, weights=True, progress=Told()).weights
    assert sum(told) == total and (chunk > 100 or len(told) > len(w.changes))
    by_key = {c.key: c for c in w.changes}
    for key in ("w", "half", "bf", "count", "t", "slice"):
        assert by_key[key].rel_l2 == pytest.approx(_rel_l2(ma[key], mb[key]), rel=1e-9), key
        assert by_key[key].max_abs == float((mb[key].double() - ma[key].double()).abs().max()), key
    assert by_key["same"].max_abs == 0.0 and math.isinf(by_key["zero"].rel_l2)


def test_weights_of_a_closed_checkpoint_are_refused_clearly(pair) -> None:
    from mckpt.domain.checkpoint import read_checkpoint

    a, b, _, _ = pair
    with pytest.raises(ValueError, match="read after close"):
        diff_checkpoints(read_checkpoint(a), read_checkpoint(b), weights=True)


def test_cli_weights_diff_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    """`diff --weights` of large files draws a progress bar on stderr when it is a terminal (a real pty);
    with --json (as with convert) none, and stdout stays the one JSON document."""
    import os

    g = torch.Generator().manual_seed(0)
    w = torch.randn(6_000_000, generator=g)  # 2 x 24 MiB to read: above the bar's 32 MiB floor
    a = _save(tmp_path / "a.pt", {"w": w})
    b = _save(tmp_path / "b.pt", {"w": w * 1.5})
    master, slave = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "mckpt", "diff", str(a), str(b), "--weights"],
                            stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen = read_terminal(master)
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 0 and b"w" in out
    assert b"compare weights" in seen
    piped = run_cli("diff", str(a), str(b), "--weights", "--json")
    assert piped.returncode == 0 and "compare weights" not in piped.stderr
    assert json.loads(piped.stdout)["weights"]["changes"][0]["rel_l2"] == pytest.approx(0.5)
