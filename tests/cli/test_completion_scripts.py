"""The files generated from the CLI (the scripts in mckpt/completions/, the direct-start table) must match it."""

from __future__ import annotations

from pathlib import Path

from mckpt.cli.app import app
from mckpt.cli.completion_spec import Values, describe
from tests.conftest import REPO, run_cli
from tools.completion_scripts import render_all
from tools.generate import generated, main


def test_committed_files_match_the_cli(tmp_path: Path) -> None:
    """Drift: regenerate into a temp folder and compare with what is committed."""
    assert main([str(tmp_path)]) == 0
    rels = sorted(generated())
    assert "mckpt/cli/direct_table.py" in rels and "mckpt/completions/_mckpt" in rels
    for rel in rels:
        committed = REPO / rel
        assert committed.exists(), f"{committed} is missing: run `python tools/generate.py`"
        assert (tmp_path / rel).read_text() == committed.read_text(), (
            f"{committed} is out of date: run `python tools/generate.py` and commit it")


def test_check_mode_reports_stale_scripts(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())  # --check writes nothing
    main([str(tmp_path)])
    assert main([str(tmp_path), "--check"]) == 0


def test_description_follows_the_command_tree() -> None:
    root = describe(app)
    subs = {c.name: c for c in root.subcommands}
    assert {"list", "inspect", "diff"} <= set(subs)
    assert any("--version" in o.names for o in root.options)
    assert any("--install-completion" in o.names for o in root.options)
    opts = {n: o for o in subs["list"].options for n in o.names}
    assert opts["-m"].values == Values("model") and opts["--dataset"].values == Values("dataset")
    assert opts["--recursive"].values is None  # a flag
    assert opts["--format"].values is not None and "github" in opts["--format"].values.choices
    assert [(a.name, a.variadic, a.values.kind) for a in subs["list"].arguments] == [("paths", True, "file")]
    assert [a.values.kind for a in subs["diff"].arguments] == ["run", "run"]
    top = {n: o for o in subs["diff"].options for n in o.names}["--top"]
    assert top.values == Values("none")  # an integer: nothing to offer


def test_every_command_and_option_reaches_every_script() -> None:
    root = describe(app)
    scripts = render_all(root)
    for cmd in root.walk()[1:]:
        for text in scripts.values():
            assert cmd.name in text
        for opt in cmd.options:
            for name in opt.long:
                assert all(name in t or f"-l {name[2:]}" in t for t in scripts.values()), name


def test_typer_completion_still_works() -> None:
    # What --show-completion prints for bash, asked for directly: --show-completion itself detects the
    # shell from the parent process, which is not a shell under every test runner.
    shown = run_cli(env={"_MCKPT_COMPLETE": "source_bash"})
    assert shown.returncode == 0 and "_MCKPT_COMPLETE=complete_bash" in shown.stdout
    proc = run_cli(env={"_MCKPT_COMPLETE": "complete_bash", "COMP_WORDS": "mckpt di", "COMP_CWORD": "1"})
    assert proc.returncode == 0 and proc.stdout.split() == ["diff"]
