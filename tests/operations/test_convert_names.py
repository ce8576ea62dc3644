"""Names `convert` builds from file contents stay one path component, or the file is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import run_cli
from convert_helpers import ARGS, ContinualModel, make_backbone

from mckpt.io.path_component import component_problem

HOSTILE = {
    "climbs out": "../../../../elsewhere/er",
    "a folder": "er/x",
    "backslash": "..\\..\\er",
    "nul": "er\x00x",
    "escape": "er\x1b[2J",
    "newline": "er\nerror: forged",
    "bidi override": "er\u202egnp.",
    "option": "-rf",
    "hidden": ".er",
    "dot dot": "..",
    "too long": "e" * 300,
    "trailing space": "er ",
}


def _template(path: Path, **args: object) -> Path:
    torch.manual_seed(0)
    torch.save({"model": ContinualModel().state_dict(), "optimizer": None, "scheduler": None,
                "args": {**ARGS, **args}, "results": [[[50.0]], [[90.0]], {"accs": ["50.0"]}]}, path)
    return path


def _tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


NAME_ARGS = ("model", "dataset", "dataset_config", "buffer_size", "n_epochs")
# every hostile value once (each in another arg), and the escape attempt in every arg
PAIRS = sorted({(c, NAME_ARGS[i % len(NAME_ARGS)]) for i, c in enumerate(sorted(HOSTILE))}
               | {("climbs out", a) for a in NAME_ARGS})


@pytest.mark.parametrize(("case", "arg"), PAIRS)
def test_hostile_name_parts_in_the_template_are_refused(tmp_path: Path, arg: str, case: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    make_backbone(work / "bb.pt")
    template = _template(work / "t.pt", **{arg: HOSTILE[case]})
    before = _tree(tmp_path)
    r = run_cli("convert", "bb.pt", "--like", "t.pt", cwd=work)
    assert r.returncode == 1, r.stdout
    (line, hint) = r.stderr.splitlines()
    assert line.startswith(f"error: t.pt: the template's args.{arg} ") and "cannot be part of a file name: it " in line
    assert hint == f"hint: override it: --set {arg}=VALUE"
    assert "\x1b" not in r.stderr and "\x00" not in r.stderr and "\u202e" not in r.stderr
    assert _tree(tmp_path) == before  # no folder, no partial, nothing outside either
    ok = run_cli("convert", "bb.pt", "--like", str(template), "--set", f"{arg}={ARGS[arg]}", "--json",
                 cwd=work)
    assert ok.returncode == 0, ok.stderr
    out = work / json.loads(ok.stdout)["written"]["path"]
    assert out.parent == work / "checkpoints" / "paused"


def test_hostile_overrides_are_a_usage_error(tmp_path: Path) -> None:
    make_backbone(tmp_path / "bb.pt")
    _template(tmp_path / "t.pt")
    for option in (["--model", "../er"], ["--dataset", "-x"], ["--set", "dataset_config=a/b"]):
        r = run_cli("convert", "bb.pt", "--like", "t.pt", *option, cwd=tmp_path)
        assert r.returncode == 2 and "cannot be part of a file name" in r.stderr.splitlines()[0], r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bb.pt", "t.pt"]


def test_a_run_name_too_long_for_a_file_is_refused(tmp_path: Path) -> None:
    make_backbone(tmp_path / "bb.pt")
    _template(tmp_path / "t.pt", model="m" * 120, dataset="d" * 100)  # each part fine, together too long
    r = run_cli("convert", "bb.pt", "--like", "t.pt", cwd=tmp_path)
    assert r.returncode == 1 and "the run name built from the template's args cannot be a file name" in r.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_component_rules() -> None:
    for good in ("er", "er_ace", "seq-cifar100-224", "None", "500", "résumé", "a b"):
        assert component_problem(good) is None, good
    for bad in HOSTILE.values():
        assert component_problem(bad) is not None, bad
    assert component_problem("") == "it is empty"
