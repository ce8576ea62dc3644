"""`mckpt load` never lets a checkpoint's saved args become Mammoth options (issue 9, item 1).

Older Mammoth does not restore saved args, so `load` repeats them on its command line: every name
and value there comes from the file. The stand-in here is an older Mammoth at its loosest
(argparse abbreviations on, unknown arguments ignored, `torch.load(..., weights_only=False)`), and
next to the checkpoint sits a real hostile pickle that creates a marker file when loaded. The
tests build the injections themselves (every abbreviation of mckpt's flags, names that smuggle a
flag, values that would start options, control characters, bulk data) and check that the marker
never appears and that Mammoth was told exactly what mckpt's plan says.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli
from save_load_support import env_for, make_checkout, read_calls, run_args, write_checkpoint

from mckpt.errors import MckptError, UsageError
from mckpt.train.mammoth_args import OWN_FLAGS, UnsafeArgs
from mckpt.train.mammoth_env import find_mammoth
from mckpt.train.resume import UNSAFE_ENV, plan_resume

LOOSE_MAIN = Path(__file__).parents[1] / "fake_mammoth" / "loose_old_main.py"
D2 = "sgd_seq-mnist_0_1_20240701-080910_1a2b3c4d"


class _Touch:
    """Unpickling this opens (creates) a file: what a hostile pickle's code would do, harmlessly."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture
def trap(tmp_path: Path) -> tuple[Path, Path]:
    """(the hostile checkpoint outside the checkout, the marker its pickle creates when loaded)."""
    import torch

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    evil, marker = elsewhere / "evil.pt", elsewhere / "PWNED"
    torch.save({"model": {}, "args": _Touch(marker), "results": [[], [], {}]}, evil)
    return evil, marker


@pytest.fixture
def loose(tmp_path: Path) -> Path:
    """An older-layout checkout whose `utils/main.py` is the loosest parser."""
    root = make_checkout(tmp_path / "old-mammoth", layout="old")
    shutil.copy(LOOSE_MAIN, root / "utils" / "main.py")
    return root


def _old_args(**extra: object) -> dict[str, object]:
    base = {k: v for k, v in run_args(ckpt_name=D2).items() if k not in ("dataset_config", "save_checkpoint_mode")}
    return {**base, **extra}


def _write(root: Path, saved: dict[object, object], n: int = 0, tasks: int = 1) -> Path:
    """An old-pickle checkpoint (Namespace args, as older Mammoth wrote) with these saved args."""
    return write_checkpoint(root / "checkpoints" / f"{D2}_{n}.pt", saved, tasks, old_pickle=True)


def _run_fake(root: Path, argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "utils/main.py", *argv], cwd=root, env=env, text=True,
                          capture_output=True, timeout=120)


def test_the_trap_is_real(loose: Path, trap: tuple[Path, Path]) -> None:
    """The stand-in honours abbreviations and the last value, and the hostile file runs its code:
    so a marker-free result below means mckpt kept the file's words from acting as options."""
    evil, marker = trap
    good = _write(loose, _old_args())
    for argv in ([f"--loadcheck={evil}"], [f"--loadcheck={good}", "--loadchec", str(evil)],
                 ["--notes", "1", "--loadc", str(evil)]):
        r = _run_fake(loose, argv)
        assert r.returncode == 0, r.stderr
        assert marker.exists(), argv
        marker.unlink()
    assert read_calls(loose)[1]["loaded"] == str(evil)


def _name_variants(evil: Path) -> list[tuple[str, object]]:
    """Saved-arg names that would reach one of mckpt's flags, or be no plain name at all."""
    out: list[tuple[str, object]] = []
    for flag in (*OWN_FLAGS, "help"):
        value: object = True if flag == "help" else str(evil) if flag == "loadcheck" else "0"
        out += [(flag[:n], value) for n in range(1, len(flag))]  # every abbreviation argparse takes
    smuggled = [f"loadcheck={evil}", "-loadcheck", "--loadcheck", f"x --loadcheck {evil}", "loadcheck ",
                "loadcheck\n", "loadcheck\x00", "l\u043eadcheck", "", "1st", "ok-name", "\x1b[2Jnotes",
                "notes\r\nwarning: forged", "start_from=0"]
    out += [(name, str(evil)) for name in smuggled]
    out += [(name, True) for name in smuggled[:3]]
    return out


def _value_variants(evil: Path) -> list[tuple[str, object]]:
    """Values that could start an option, or carry what a command line cannot hold."""
    e = str(evil)
    lists = [["1", "--loadcheck", e], [f"--loadcheck={e}"], ["--loadchec", e], ["-x"], ["3", "-"],
             ["1", "--start_from", "0"], ["-1e-3"], ["ok", "\r--loadcheck"], ["a\x00b"]]
    out: list[tuple[str, object]] = [(name, v) for v in lists for name in ("lr_milestones", "notes")]
    out += [("notes", v) for v in ("a\nb", "x\x00", "\x1b]0;title\x07", "tab\there", "\x9b2J")]
    out += [("lr_milestones", list(range(5000))), ("notes", "A" * 100_000)]
    return out


def test_every_injection_is_refused_before_anything_runs(
    loose: Path, trap: tuple[Path, Path]
) -> None:
    evil, marker = trap
    mammoth = find_mammoth(str(loose), sys.executable, environ={"PATH": "/usr/bin:/bin"})
    variants = _name_variants(evil) + _value_variants(evil)
    assert len(variants) > 80
    for name, value in variants:
        f = _write(loose, _old_args(**{name: value}))
        with pytest.raises(MckptError) as e:
            plan_resume(str(f), mammoth)
        message = str(e.value)
        assert isinstance(e.value, UnsafeArgs), (name, value, message)
        assert e.value.path == str(f) and "refused to resume" in message
        assert message.isprintable(), (name, message)  # the file's words are escaped: one clean line
        assert len(message) < 400
    assert not marker.exists() and read_calls(loose) == []
    # A non-string name (a pickle can hold one) is refused too.
    f = _write(loose, {**_old_args(), 7: str(evil)})
    with pytest.raises(UnsafeArgs, match="not a plain name"):
        plan_resume(str(f), mammoth)


def test_a_refusal_through_the_cli_is_one_line_and_a_json_document(
    loose: Path, trap: tuple[Path, Path]
) -> None:
    evil, marker = trap
    f = _write(loose, _old_args(loadchec=str(evil), lr_milestones=["1", "--loadcheck", str(evil)]))
    r = run_cli("load", str(f), cwd=loose, env=env_for())
    assert r.returncode == 1 and "Traceback" not in r.stderr
    error = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "'loadchec' abbreviates --loadcheck" in error[0]
    assert "'lr_milestones' holds an item Mammoth's parser would read as an option" in error[0]
    j = run_cli("load", str(f), "--json", cwd=loose, env=env_for())
    doc = json.loads(j.stdout)
    assert j.returncode == 1 and doc["plan"] is None and doc["error"]["path"] == str(f)
    assert "abbreviates --loadcheck" in doc["error"]["message"] and doc["error"]["exit_code"] == 1
    assert not marker.exists() and read_calls(loose) == []


def test_values_that_look_like_options_reach_mammoth_as_data(loose: Path, trap: tuple[Path, Path]) -> None:
    """What can be passed safely is passed, as `--name=value`, and Mammoth loads the right file."""
    evil, marker = trap
    e = str(evil)
    hostile = {
        "notes": f"--loadcheck={e}",
        "extra_words": f"1 --loadcheck {e}",
        "extra_flag": "--loadcheck",
        "extra_path": e,
        "extra_start": "--start_from=99",
        "extra_eq": f"=--loadcheck={e}",
        "lr_milestones": ["-1", "-0.5", "3"],
        "loadcheck": e,  # real files carry their parent here: computed, never repeated
        "start_from": 99,
        "stop_after": 0,
        "ckpt_name": f"x --loadcheck {e}",
        "conf_jobnum": f"--loadcheck={e}",
        "PATH": "/elsewhere",  # a name that is an environment variable stays an (unknown) arg
    }
    f = _write(loose, _old_args(**hostile), n=1, tasks=2)
    dry = run_cli("load", str(f), "--dry-run", "--json", "--every", "task", cwd=loose, env=env_for())
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout)["plan"]
    r = run_cli("load", str(f), "--every", "task", cwd=loose, env=env_for())
    assert r.returncode == 0, r.stderr
    assert not marker.exists()
    call = read_calls(loose)[-1]
    assert call["loaded"] == f"checkpoints/{D2}_1.pt"
    assert call["start"] == plan["start_from"] == 2 and call["stop"] is None  # what Mammoth parsed
    assert call["notes"] == f"--loadcheck={e}" and call["lr_milestones"] == ["-1", "-0.5", "3"]
    assert f"--extra_words=1 --loadcheck {e}" in call["unknown"] and "--PATH=/elsewhere" in call["unknown"]
    assert call["force_no_weights_only"] == "1" and call["cwd"] == str(loose)
    assert call["argv"][-3:] == [f"--loadcheck=checkpoints/{D2}_1.pt", "--start_from=2", "--savecheck=task"]
    assert plan["env"] == UNSAFE_ENV and plan["cwd"] == str(loose)
    # --dry-run shows the very command that ran
    assert plan["command"] == [sys.executable, "utils/main.py", *call["argv"]]
    shown = run_cli("load", str(f), "--dry-run", "--every", "task", cwd=loose, env=env_for()).stdout
    assert f" --notes=--loadcheck={e} " in shown and f" '--extra_words=1 --loadcheck {e}' " in shown


def test_check_runs_the_command_it_shows(loose: Path, trap: tuple[Path, Path]) -> None:
    evil, marker = trap
    f = _write(loose, _old_args(notes=f"--loadcheck={evil}", start_from=7), n=2, tasks=3)
    dry = json.loads(run_cli("load", str(f), "--check", "--dry-run", "--json", cwd=loose, env=env_for()).stdout)
    r = run_cli("load", str(f), "--check", cwd=loose, env=env_for())
    assert r.returncode == 0, r.stderr
    call = read_calls(loose)[-1]
    assert dry["plan"]["command"][2:] == call["argv"]
    assert (call["start"], call["stop"], call["savecheck"]) == (3, 3, None) and not marker.exists()


def test_the_users_words_win_and_may_not_abbreviate_mckpts_flags(loose: Path, trap: tuple[Path, Path]) -> None:
    evil, marker = trap
    f = _write(loose, _old_args(), n=1, tasks=2)
    r = run_cli("load", str(f), "--", "--start_from", "0", cwd=loose, env=env_for())
    assert r.returncode == 0, r.stderr
    call = read_calls(loose)[-1]
    assert call["start"] == 0 and call["argv"][-2:] == ["--start_from", "0"]
    assert sum(a.startswith("--start_from") for a in call["argv"]) == 1
    for typed in (["--start_fro", "0"], ["--loadc", str(evil)], ["--stop_after", "1", "--savech=task"]):
        bad = run_cli("load", str(f), "--", *typed, cwd=loose, env=env_for())
        assert bad.returncode == 2 and "abbreviates --" in bad.stderr and "spell it out" in bad.stderr
    with pytest.raises(UsageError):
        plan_resume(str(f), find_mammoth(str(loose), sys.executable, environ={"PATH": "/usr/bin"}),
                    ["--loadchec", str(evil)])
    assert len(read_calls(loose)) == 1 and not marker.exists()


def test_a_file_named_like_an_option_is_still_the_loadcheck_value(loose: Path, trap: tuple[Path, Path]) -> None:
    _, marker = trap
    f = _write(loose, _old_args())
    odd = loose / "--start_from=9.pt"
    shutil.move(f, odd)
    r = run_cli("load", "./--start_from=9.pt", cwd=loose, env=env_for())
    assert r.returncode == 0, r.stderr
    call = read_calls(loose)[-1]
    assert call["loaded"] == "--start_from=9.pt" and call["start"] == 1 and not marker.exists()


def test_current_layout_passes_only_mckpts_own_flags(tmp_path: Path, trap: tuple[Path, Path]) -> None:
    """Current Mammoth restores the saved args itself: nothing from the file goes on the line."""
    evil, marker = trap
    root = make_checkout(tmp_path / "checkout")
    stem = "sgd_seq-mnist_None_0_1_20260101-101010_1a2b3c4d"
    hostile = {name: value for name, value in _name_variants(evil)[::3] if name} | {
        "notes": ["1", "--loadcheck", str(evil)], "lr_milestones": [f"--loadcheck={evil}"],
    }
    f = write_checkpoint(root / "checkpoints" / f"{stem}_1.pt", {**run_args(), **hostile}, 2)
    r = run_cli("load", str(f), "--json", cwd=root, env=env_for())
    assert r.returncode == 0, r.stderr
    call = read_calls(root)[-1]
    assert call["argv"] == [f"--loadcheck=checkpoints/{stem}_1.pt", "--start_from=2"]
    assert call["loaded"] == f"checkpoints/{stem}_1.pt"
    assert call["start"] == 2 == json.loads(r.stdout)["plan"]["start_from"]
    assert not marker.exists()
