"""Figures for a paper: accuracy after each task per group, and one run's accuracy matrix.

matplotlib is imported here only, inside the functions (`mckpt plot` pays ~1 s for it; no other
command does). Defaults are the ones a figure in a paper needs: the Okabe-Ito colour-blind-safe
palette with a distinct marker per group, readable font sizes, a legend that names each group by
the args that differ between groups, vector output for svg/pdf (text kept as text in svg), and
exactly the size asked for (no tight bounding box that would change it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..domain.results import Group, Results
from ..errors import MckptError, UsageError
from .text import clean

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour deficiency.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
FORMATS = ("png", "svg", "pdf")
SETTING_TITLES = {"class_il": "Class-IL", "task_il": "Task-IL"}
LABEL_MAX = 80  # characters of file text in a legend entry or title (mathtext cost grew with length)


@dataclass(frozen=True)
class FigureSpec:
    """Where and how big: `size` in inches (width, height), `dpi` for png (vector formats ignore it)."""

    output: str
    size: tuple[float, float] = (8.0, 3.4)
    dpi: int = 150
    title: str | None = None
    force: bool = False  # replace an existing file (else it is kept, even one written meanwhile)

    @property
    def format(self) -> str:
        ext = os.path.splitext(self.output)[1].lower().lstrip(".")
        if ext not in FORMATS:
            raise UsageError(f"{self.output}: the file name must end in .png, .svg or .pdf", param="output")
        return ext


def parse_size(text: str) -> tuple[float, float]:
    """`8x3.4` (inches) → (8.0, 3.4)."""
    try:
        w, h = (float(x) for x in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise UsageError(f"{text!r}: expected WIDTHxHEIGHT in inches, e.g. 8x3.4", param="size") from None
    if not (0.5 <= w <= 50 and 0.5 <= h <= 50):
        raise UsageError(f"{text!r}: width and height must be between 0.5 and 50 inches", param="size")
    return w, h


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MckptError("plotting needs matplotlib, which is not installed",
                         hint="pip install 'mckpt[plot]'") from None
    matplotlib.use("Agg")  # files only: never a window, works without a display
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
        "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.spines.top": False, "axes.spines.right": False,
        "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6, "lines.linewidth": 1.8,
        "svg.fonttype": "none", "pdf.fonttype": 42, "savefig.facecolor": "white",
    })
    return plt


def literal(text: str) -> str:
    """Text from a file (an arg value, a file name) as a figure shows it: control characters as
    escapes, at most LABEL_MAX characters (then `…`). It is drawn with `parse_math=False` (see
    `_literal_texts`), so `$…$` is two dollar signs, never mathtext: a label like `$\\foo{$` stopped
    the whole figure, and a long valid one cost seconds."""
    text = clean(text)
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def _literal_texts(texts: list[Any]) -> list[Any]:
    for t in texts:
        t.set_parse_math(False)
    return texts


def _save(fig: Any, spec: FigureSpec, file_texts: list[Any], warn: Callable[[str], None]) -> str:
    """Render in memory, then write the file atomically (never a half-written figure); an existing
    file is replaced only with `spec.force`, also one that appeared while the figure was drawn.

    Text from files (`file_texts`) that matplotlib still cannot draw (a lone surrogate from a file
    name, say) is replaced by its ASCII escape and the figure drawn again, with a warning; what
    matplotlib only warns about (a glyph missing from the font) reaches `warn` too, not Python's
    warning printer: a label never fails the figure."""
    import io
    import warnings
    from pathlib import Path

    from ..errors import MckptError
    from ..io.atomic import make_folder, write_atomic

    buf = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fig.savefig(buf, format=spec.format, dpi=spec.dpi, metadata=_metadata(spec.format))
        except (ValueError, TypeError, RuntimeError) as e:
            if not file_texts:
                raise
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
            warn(f"a label from the files could not be drawn as written ({reason}); it is shown escaped")
            for t in file_texts:
                t.set_text(t.get_text().encode("ascii", "backslashreplace").decode("ascii"))
            buf = io.BytesIO()
            fig.savefig(buf, format=spec.format, dpi=spec.dpi, metadata=_metadata(spec.format))
    for message in list(dict.fromkeys(str(w.message) for w in caught))[:3]:
        warn(f"figure: {message}")
    target = Path(spec.output)
    make_folder(target.parent)
    try:
        write_atomic(target, buf.getvalue(), force=spec.force)
    except FileExistsError:
        raise MckptError("exists", path=str(target), hint="{force=True} replaces it", spelled=True) from None
    return spec.output


def _metadata(fmt: str) -> dict[str, Any]:
    # Reproducible files: no creation date, the same bytes for the same figure.
    if fmt == "png":
        return {"Software": "mckpt"}
    if fmt == "svg":
        return {"Date": None, "Creator": "mckpt"}
    return {"CreationDate": None, "Creator": "mckpt"}


def _no_warning(_message: str) -> None:
    """Library callers that do not listen for warnings."""


def plot_curves(res: Results, spec: FigureSpec, settings: tuple[str, ...] = ("class_il", "task_il"),
                warn: Callable[[str], None] = _no_warning) -> str:
    """Average accuracy after each task, one line per group (mean) with a ± std band, a panel per
    setting; `warn` hears of a label drawn escaped (see `_save`)."""
    if not res.groups:
        raise MckptError("nothing to plot: no run matches",
                         hint="`mckpt results` with the same filters shows what is read")
    if len(res.groups) > len(OKABE_ITO):
        raise UsageError(f"{len(res.groups)} groups are more than a readable figure holds "
                         f"({len(OKABE_ITO)} at most)",
                         hint="narrow the runs (where, model, dataset) or keep the best groups (sort, top)")
    plt = _pyplot()
    spec.format  # noqa: B018 - refuse a bad extension before drawing anything
    fig, axes = plt.subplots(1, len(settings), figsize=spec.size, sharey=True, layout="constrained")
    axes = list(axes) if len(settings) > 1 else [axes]
    n_tasks = max((len(g.curve(s)) for g in res.groups for s in settings), default=0)
    for ax, setting in zip(axes, settings, strict=True):
        for i, g in enumerate(res.groups):
            _draw_group(ax, g, setting, OKABE_ITO[i], MARKERS[i], _legend_label(g, res))
        ax.set_title(SETTING_TITLES.get(setting, setting))
        ax.set_xlabel("after task")
        ax.set_xticks(range(1, n_tasks + 1))
        ax.set_xlim(0.7, n_tasks + 0.3)
    axes[0].set_ylabel("average accuracy (%)")
    axes[0].set_ylim(0, 102)
    handles, labels = axes[0].get_legend_handles_labels()
    legend = fig.legend(handles, labels, loc="outside lower center",
                        ncols=_legend_columns(labels, spec.size[0]), frameon=False)
    file_texts = _literal_texts(legend.get_texts())
    if spec.title:
        fig.suptitle(spec.title)
    try:
        return _save(fig, spec, file_texts, warn)
    finally:
        plt.close(fig)


def _legend_columns(labels: list[str], width_in: float) -> int:
    """As many legend columns as fit the figure's width (a 9 pt label is ~13 characters per inch)."""
    entry = max(len(label) for label in labels) + 6  # the line sample and the gap
    return max(1, min(len(labels), 4, int(width_in * 13 // entry)))


def _legend_label(g: Group, res: Results) -> str:
    label = literal(g.label(res.varying))
    n = len(g.runs)
    label += f" (n={n})" if n > 1 else ""
    return label + (" – tasks differ" if g.mismatched else "")


def _draw_group(ax: Any, g: Group, setting: str, colour: str, marker: str, label: str) -> None:
    curve = g.curve(setting)
    xs = [t + 1 for t, s in enumerate(curve) if s.mean is not None]
    means = [s.mean for s in curve if s.mean is not None]
    stds = [s.std or 0.0 for s in curve if s.mean is not None]
    style = "--" if g.mismatched else "-"
    ax.plot(xs, means, style, color=colour, marker=marker, markersize=4.5, label=label)
    if any(stds):
        ax.fill_between(xs, [m - s for m, s in zip(means, stds, strict=True)],
                        [m + s for m, s in zip(means, stds, strict=True)], color=colour, alpha=0.18, linewidth=0)


def plot_matrix(class_il: list[list[float]], task_il: list[list[float]], spec: FigureSpec, name: str,
                warn: Callable[[str], None] = _no_warning) -> str:
    """One run's accuracy matrices as heatmaps (row: after task t, column: task), values in the cells;
    the title is `spec.title`, else the run's `name` (file text, drawn literally)."""
    if not class_il:
        raise MckptError("no task finished yet: there is no accuracy matrix to draw", path=name)
    plt = _pyplot()
    spec.format  # noqa: B018
    import numpy as np

    panels = [(SETTING_TITLES["class_il"], class_il), (SETTING_TITLES["task_il"], task_il)]
    panels = [(t, m) for t, m in panels if m]
    fig, axes = plt.subplots(1, len(panels), figsize=spec.size, layout="constrained")
    axes = list(axes) if len(panels) > 1 else [axes]
    n = max(len(m) for _, m in panels)
    image = None
    for ax, (title, matrix) in zip(axes, panels, strict=True):
        cols = max(len(r) for r in matrix)
        grid = np.full((len(matrix), cols), np.nan)
        for t, row in enumerate(matrix):
            grid[t, : len(row)] = row
        image = ax.imshow(grid, cmap="cividis", vmin=0, vmax=100, aspect="auto")
        ax.grid(False)
        ax.set_title(title)
        ax.set_xlabel("accuracy on task")
        ax.set_ylabel("after training task")
        ax.set_xticks(range(cols), [str(i + 1) for i in range(cols)])
        ax.set_yticks(range(len(matrix)), [str(i + 1) for i in range(len(matrix))])
        size = 9 if n <= 6 else 7 if n <= 10 else 5
        if n <= 20:  # beyond that, numbers would not fit in their cells
            for t, row in enumerate(matrix):
                for j, v in enumerate(row):
                    # cividis is dark below ~55: white text there, black above.
                    ax.text(j, t, f"{v:.1f}", ha="center", va="center", fontsize=size,
                            color="white" if v < 55 else "black")
    fig.colorbar(image, ax=axes, label="accuracy (%)", shrink=0.9)
    title = fig.suptitle(spec.title or literal(name), fontsize=10)
    file_texts = [] if spec.title else _literal_texts([title])
    try:
        return _save(fig, spec, file_texts, warn)
    finally:
        plt.close(fig)
