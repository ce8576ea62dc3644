"""The output domain's rough edges, each tried as a new user would, through the real CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import REPO, run_cli

from mckpt.demo import write_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's checkpoints folder (real torch.save files, three settings, a resumed run)."""
    root = tmp_path_factory.mktemp("demo")
    write_demo(root)
    return root / "checkpoints"


def _last_two(demo: Path) -> list[str]:
    return [str(p) for p in sorted(demo.glob("*_last.pt"))[:2]]


@pytest.mark.parametrize("command", ["list", "inspect", "diff", "results"])
def test_json_with_a_format_is_a_usage_error(demo: Path, command: str) -> None:
    args = {"list": [str(demo)], "inspect": _last_two(demo)[:1], "diff": _last_two(demo), "results": [str(demo)]}
    r = run_cli(command, *args[command], "--json", "-f", "csv")
    assert r.returncode == 2 and r.stdout == "", r
    assert r.stderr.startswith("error: --json and --format csv both choose the output") and "Traceback" not in r.stderr


def test_list_quiet_exits_1_when_nothing_matched(demo: Path, tmp_path: Path) -> None:
    matched = run_cli("list", str(demo), "-q", "--model", "er")
    assert (matched.returncode, matched.stdout, matched.stderr) == (0, "", "")
    for args in (["--model", "no-such-model"], ["--dataset", "seq-cifar100"]):
        r = run_cli("list", str(demo), "-q", *args)
        assert (r.returncode, r.stdout, r.stderr) == (1, "", ""), r
    (tmp_path / "empty").mkdir()
    assert run_cli("list", str(tmp_path / "empty"), "-q").returncode == 1
    # without -q an empty answer is still an answer (exit 0), as before
    assert run_cli("list", str(demo), "--model", "no-such-model").returncode == 0


def test_list_sort_acc_is_best_first(demo: Path) -> None:
    runs = json.loads(run_cli("list", str(demo), "--sort", "acc", "--json").stdout)["runs"]
    accs = [r["metrics"]["class_il"]["final_avg"] for r in runs]
    assert len(accs) > 3 and accs == sorted(accs, reverse=True)


@pytest.mark.parametrize("args", [["list"], ["list", "--acc"], ["results"], ["inspect"], ["diff"]])
def test_output_in_a_pipe_never_starts_with_a_blank_line(demo: Path, args: list[str]) -> None:
    where = {"inspect": _last_two(demo)[:1], "diff": _last_two(demo)}.get(args[0], [str(demo)])
    r = run_cli(args[0], *where, *args[1:])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() and not r.stdout.startswith("\n"), r.stdout[:200]


def test_demo_quiet_writes_and_says_nothing(tmp_path: Path) -> None:
    r = run_cli("demo", str(tmp_path / "d"), "-q")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert len(list((tmp_path / "d" / "checkpoints").rglob("*.pt"))) == 13


@pytest.fixture
def no_torch(tmp_path: Path) -> dict[str, str]:
    """An environment whose `import torch` fails as it does where torch is not installed."""
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    return {"PYTHONPATH": f"{blocker.parent}{os.pathsep}{REPO}"}


def _says_torch_is_needed(r: object, what: str) -> None:
    assert r.returncode == 1 and r.stdout == "", r  # type: ignore[attr-defined]
    error, hint = r.stderr.splitlines()  # type: ignore[attr-defined]
    assert error.startswith(f"error: {what} needs torch") and "internal error" not in r.stderr, r.stderr  # type: ignore[attr-defined]
    assert hint.startswith("hint: install it with: pip install torch")


def test_without_torch_demo_and_diff_weights_say_how_to_install_it(demo: Path, tmp_path: Path,
                                                                    no_torch: dict[str, str]) -> None:
    _says_torch_is_needed(run_cli("demo", str(tmp_path / "d"), env=no_torch), "writing the example checkpoints")
    assert not (tmp_path / "d" / "checkpoints").exists() or not any((tmp_path / "d").rglob("*.pt"))
    _says_torch_is_needed(run_cli("diff", "--weights", *_last_two(demo), env=no_torch), "comparing weights")
    # what needs no torch still works there
    assert run_cli("diff", *_last_two(demo), env=no_torch).returncode == 0
    assert run_cli("list", str(demo), "--acc", env=no_torch).returncode == 0


def test_without_torch_the_library_load_raises_a_clear_error(demo: Path, no_torch: dict[str, str]) -> None:
    import subprocess
    import sys

    code = ("import sys, mckpt\nfrom mckpt.errors import MckptError\n"
            "try:\n    mckpt.load(sys.argv[1], tensors=True)\n"
            "except MckptError as e:\n    print(e, '|', e.hint)\n")
    r = subprocess.run([sys.executable, "-c", code, _last_two(demo)[0]], env={**os.environ, **no_torch},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith("loading tensors needs torch"), r
    assert "pip install torch" in r.stdout
