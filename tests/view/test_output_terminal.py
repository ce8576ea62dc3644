"""What a terminal shows: Rich tables that fit the window, key/value blocks that wrap in place."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from mckpt.domain.runs import scan
from mckpt.view.output import Output
from mckpt.view.render_list import render_listing

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class Terminal(io.StringIO):
    """A stream that says it is a terminal, so Output draws with Rich."""

    def isatty(self) -> bool:
        return True


def _draw(width: int, monkeypatch: pytest.MonkeyPatch, draw: Callable[[Output], object]) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("NO_COLOR", "1")
    stream = Terminal()
    out = Output(stream=stream)
    assert out.rich
    draw(out)
    return ANSI.sub("", stream.getvalue())


HEADERS = ["uid", "model", "dataset", "config", "buffer", "epochs", "started", "tasks", "size", "class-IL"]
ROW = ["e3e70682", "derpp", "seq-mnist", "-", 500, 1, "2026-11-28 09:30", "paused", "880.6 KiB", "93.12"]


def test_wide_table_keeps_every_value_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    # 97 cells wide with two spaces between columns: fits 100 columns as it is.
    text = _draw(100, monkeypatch, lambda out: out.table(HEADERS, [ROW], optional=[3, 5]))
    assert "e3e70682  derpp  seq-mnist  -" in text
    assert "2026-11-28 09:30  paused  880.6 KiB" in text
    assert "hidden" not in text


def test_narrow_table_hides_optional_columns_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _draw(80, monkeypatch, lambda out: out.table(HEADERS, [ROW], optional=[3, 5, 4, 8]))
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    # No value cut short: what is shown is whole, and the note names what is not.
    for value in ("e3e70682", "derpp", "seq-mnist", "2026-11-28 09:30", "paused", "93.12"):
        assert value in text
    assert "epochs" not in lines[0] and "config" not in lines[0]
    assert "hidden to fit the window: config, epochs" in " ".join(lines)


def _folder_of(tmp_path: Path, *names: str) -> Path:
    """A checkpoints folder of one-byte files with these names (list reads names only)."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes(b"x")
    return folder


def test_list_on_an_80_column_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder_of(tmp_path, "derpp_seq-mnist_None_500_1_20261128-093000_e3e70682_last.pt",
                        "myprefix_er_ace_seq-mnist_50_1_20261128-174912_0.pt")
    listing = scan([str(folder)])
    text = _draw(80, monkeypatch, lambda out: render_listing(out, listing))
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "e3e70682" in text and "2026-11-28 09:30" in text and "er_ace" in text


def test_list_at_80_columns_hides_started_before_buffer_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two ER runs of one setting told apart only by their buffer size: that column must survive.
    folder = _folder_of(tmp_path, "er_seq-cifar10_None_500_50_20261128-093000_e3e70682_last.pt",
                        "er_seq-cifar10_None_5120_50_20261128-174912_0a1b2c3d_last.pt")
    text = _draw(80, monkeypatch, lambda out: render_listing(out, scan([str(folder)]), acc=True))
    header = text.splitlines()[1]
    assert "buffer" in header and "started" not in header, text
    assert "5120" in text and "hidden to fit the window: config, epochs, started" in " ".join(text.split())


def test_fields_wrap_under_their_value(monkeypatch: pytest.MonkeyPatch) -> None:
    long = "SGD · 1 group(s) · lr 0.1, momentum 0.0, weight_decay 0.0, nesterov False, dampening 0"
    text = _draw(60, monkeypatch, lambda out: out.fields([("optimizer", long), ("scheduler", "none")],
                                                          title="Training state"))
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0] == "Training state"
    assert lines[1].startswith("  optimizer  SGD")
    # The continuation starts in the value column, not at the left margin.
    assert lines[2].startswith(" " * len("  optimizer  ")) and lines[2].strip()
    assert lines[3].startswith("  scheduler  none")


def test_table_title_sits_above_its_table(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _draw(80, monkeypatch, lambda out: (out.fields([("a", 1)], title="First"),
                                               out.table(["x", "y"], [[1, 2]], title="Second")))
    lines = text.splitlines()
    i = lines.index("Second")
    assert lines[i - 1] == "" and lines[i + 1].startswith("x  y")


def test_long_bullet_lines_wrap_under_their_text(monkeypatch: pytest.MonkeyPatch) -> None:
    note = "  - buffer: pickled utils.buffer.Buffer → dict of its tensors (examples, labels), as Buffer." \
           "serialize() writes it; its other attributes are not part of Mammoth's safe layout"
    text = _draw(60, monkeypatch, lambda out: (out.line(note), out.line("  short"), out.line("plain " * 15)))
    lines = text.splitlines()
    assert lines[0].startswith("  - buffer: pickled")
    i = 1
    while not lines[i].startswith("  short"):
        assert lines[i].startswith("    ") and lines[i].strip(), lines  # under the text, not the margin
        i += 1
    assert i > 1 and all(len(x) <= 60 for x in lines)
    assert lines[i + 1].startswith("plain plain")  # unindented text wraps as before


@pytest.mark.parametrize(("value", "coloured"), [("1", False), ("", True)])
def test_no_color_follows_the_convention(monkeypatch: pytest.MonkeyPatch, value: str, coloured: bool) -> None:
    # no-color.org: NO_COLOR disables colour when set *and not empty*; an empty one was treated as set.
    monkeypatch.setenv("NO_COLOR", value)
    stream = Terminal()
    Output(err=stream).error("boom")
    assert ("\x1b[" in stream.getvalue()) is coloured
    assert Output(stream=Terminal()).color is coloured


def test_a_matrix_wider_than_the_window_prints_in_column_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 10
    headers = ["after", *[f"T{j + 1}" for j in range(n)], "avg"]
    rows = [[f"task {i + 1}", *[f"{50 + i + j / 100:.2f} → {60 + j:.2f}" if j <= i else "" for j in range(n)],
             f"{70 + i:.2f}"] for i in range(n)]
    text = _draw(80, monkeypatch, lambda out: out.table(headers, rows, title="Class-IL accuracy (A → B)"))
    lines = text.splitlines()
    assert all(len(x) <= 80 for x in lines), text
    # Rich used to squeeze every column, cutting "59.09 → 69.00" to "59.09 → 6"; now each value is whole
    for r in rows:
        for cell in r[1:]:
            assert cell in text, cell
    blocks = [x for x in lines if x.startswith("after")]
    assert len(blocks) > 1 and "T10" in text and "avg" in blocks[-1]  # the key column leads every block


def test_field_values_are_text_not_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    text = _draw(80, monkeypatch, lambda out: out.fields([("file", "runs/[bold]best[/bold].pt")]))
    assert "runs/[bold]best[/bold].pt" in text
