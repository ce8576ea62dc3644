"""Library errors name the parameter whose value is wrong; the CLI names its flag (one message)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from conftest import run_cli

from mckpt.cli.app import app
from mckpt.cli.completion_spec import describe
from mckpt.cli.outcome import flag
from mckpt.domain.where import Where
from mckpt.errors import MckptError, UsageError, braced
from mckpt.io.urls import parse_source

PACKAGE = Path(__file__).resolve().parents[2] / "mckpt"
LIBRARY = sorted(p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts)


def _error_calls() -> list[tuple[Path, ast.Call]]:
    calls = []
    for path in LIBRARY:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "").endswith(("Error", "NotFound")):
                calls.append((path, node))
    return calls


def _leading_text(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return str(node.values[0].value)
    return ""


# Words of Mammoth's own command line (what `load` passes after `--`) are flags in any caller's terms.
MAMMOTH_ARGV = {"mammoth_args.py"}


def test_no_library_message_starts_with_a_flag() -> None:
    flags = [f"{p.name}:{c.lineno}" for p, c in _error_calls()
             if p.name not in MAMMOTH_ARGV and c.args and _leading_text(c.args[0]).startswith("-")]
    assert flags == []


def test_every_named_parameter_has_its_flag_in_the_cli() -> None:
    params = {kw.value.value for _, c in _error_calls() for kw in c.keywords
              if kw.arg == "param" and isinstance(kw.value, ast.Constant)}
    assert {"where", "size", "revision", "overrides"} <= params
    options = {n for cmd in describe(app).walk() for o in cmd.options for n in o.names}
    assert {p: flag(p) for p in params if flag(p) not in options} == {}


@pytest.mark.parametrize(("call", "library", "cli"), [
    (lambda: Where.parse("lr"), "where 'lr': expected ARG=VALUE", ["results", ".", "--where", "lr"]),
    (lambda: parse_source("https://example.org/a.pt", revision="main"), "https://example.org/a.pt: revision applies",
     ["fetch", "https://example.org/a.pt", "--revision", "main"]),
])
def test_one_message_two_spellings(call, library: str, cli: list[str], tmp_path: Path) -> None:
    with pytest.raises(MckptError) as e:
        call()
    assert str(e.value).startswith(library)
    (tmp_path / "checkpoints").mkdir()
    r = run_cli(*cli, cwd=tmp_path)
    param = e.value.param
    assert r.returncode == e.value.exit_code
    assert r.stderr.startswith("error: " + str(e.value).replace(param, flag(param), 1)), r.stderr


def test_a_flag_spelling_for_json() -> None:
    err = UsageError("'x': expected WIDTHxHEIGHT", param="size")
    assert err.to_json()["param"] == "size" and err.describe(flag) == "--size 'x': expected WIDTHxHEIGHT"


_SPELLED = re.compile(r"\{([a-z_]+)(?:=[A-Za-z0-9_.-]+)?\}")
# Messages about Mammoth's own command line (what `load` runs) name Mammoth's flags in any terms.
MAMMOTH_COMMAND_LINE = {"mammoth_args.py", "resume.py", "save.py"}
_FLAG = re.compile(r"(?:^|[\s(/`])(--?[a-z][a-z0-9-]*)")


def _texts(call: ast.Call) -> list[str]:
    """The literal parts of an error's message and hint."""
    nodes = [*call.args[:1], *(kw.value for kw in call.keywords if kw.arg == "hint")]
    out = []
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            out.append(node.value)
        elif isinstance(node, ast.JoinedStr):  # an interpolated value stands as NUL
            out.append("".join(str(v.value) if isinstance(v, ast.Constant) else "\0" for v in node.values))
    return out


def test_spelled_names_are_cli_options() -> None:
    options = {n for cmd in describe(app).walk() for o in cmd.options for n in o.names}
    named = {m for _, c in _error_calls() if any(kw.arg == "spelled" for kw in c.keywords)
             for text in _texts(c) for m in _SPELLED.findall(text)}
    assert {"to", "like", "overrides", "output", "force"} <= named
    assert {n: flag(n) for n in named if flag(n) not in options} == {}


def test_no_library_error_names_a_flag_of_mckpt() -> None:
    """Flags appear only inside a whole command line the user may copy (`mckpt convert --to safe …`)."""
    found = []
    for path, call in _error_calls():
        if path.name in MAMMOTH_COMMAND_LINE:
            continue
        for text in _texts(call):
            for m in _FLAG.finditer(text.split("mckpt ", 1)[0]):
                found.append(f"{path.name}:{call.lineno}: {m[1]}")
    assert found == []


def test_text_from_elsewhere_is_never_read_as_a_parameter() -> None:
    url = "http://x/{force=True}/{{a}}"
    err = MckptError("offline ({offline=True})", hint=f"run: mckpt fetch {braced(url)}", spelled=True)
    assert err.describe(flag) == "offline (--offline)" and str(err) == "offline (offline=True)"
    assert err.spelled_hint(flag) == err.hint == f"run: mckpt fetch {url}"
