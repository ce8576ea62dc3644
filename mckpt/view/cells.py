"""Table cells shared by the views: how an accuracy, a size, a count or an absent value reads.

Each cell carries the text to show and the raw value (for csv/tsv and latex), so every view that
shows the same kind of value shows it the same way.
"""

from __future__ import annotations

from typing import Any

from ..domain.metrics import round_acc
from .output import Cell, human_bytes, human_count
from .text import brief

FOLD = 72


def format_value(v: Any) -> str:
    """A saved value in one line of at most FOLD characters."""
    return brief(v, FOLD)


# Okabe & Ito's colour-blind-safe palette, as `mckpt plot` draws with: sky blue, orange, vermillion
# stay apart with every common colour deficiency, where green/yellow/red do not.
ACC_HIGH, ACC_MID, ACC_LOW = "#56B4E9", "#E69F00", "#D55E00"


def acc_style(x: float | None) -> str | None:
    """The colour an accuracy is shown in: sky blue from 80, orange from 50, else vermillion."""
    if x is None:
        return None
    return ACC_HIGH if x >= 80 else ACC_MID if x >= 50 else ACC_LOW


def percent(x: float | None) -> str:
    """An accuracy as text with two decimals; `-` when there is none."""
    return "-" if x is None else f"{x:.2f}"


def acc_cell(x: float | None) -> Cell:
    """An accuracy: `71.01` to read, 71.01 (Mammoth's precision) in csv, empty when there is none."""
    return Cell(percent(x), round_acc(x))


def bytes_cell(n: int | None) -> Cell:
    return Cell(human_bytes(n), n)


def count_cell(n: int | None) -> Cell:
    return Cell(human_count(n), n)


def opt_cell(value: Any, text: str = "-") -> Cell:
    """A value that may be absent: shown as `text` when None, empty in csv."""
    return Cell(text if value is None else str(value), value)
