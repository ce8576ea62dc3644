"""Figures for a paper: accuracy after each task per group, and one run's accuracy matrix.

matplotlib is imported here only, inside the functions (`mckpt plot` pays ~1 s for it; no other
command does). Defaults are the ones a figure in a paper needs: a colour-blind-safe palette that
reads on white (Okabe-Ito, its yellow left out and its light colours darkened) with a distinct
marker per group (so it reads in black and white too), readable font sizes, a compact legend below
the axes that names each group by the set args that differ between groups, vector output for
svg/pdf (text kept as text in svg), and exactly the size asked for (no tight bounding box).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..domain.results import Group, Results
from ..domain.where import show_value
from ..errors import MckptError, UsageError
from .text import clean

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common colour deficiency.
# Their yellow (#F0E442, contrast 1.3:1 on white) is left out; their orange and sky blue (2.3:1)
# are darkened to #A87400 and #3D8FC0; a grey takes the eighth place. Every colour has at least the
# 3:1 contrast on white that WCAG asks of graphics (MIN_CONTRAST, checked by the tests).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#000000", "#CC79A7", "#A87400", "#3D8FC0", "#7A7A7A")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINESTYLES = ("solid", "dashed", "dashdot", "dotted")  # with the markers: groups apart in black and white
MIN_CONTRAST = 3.0
FORMATS = ("png", "svg", "pdf")
SETTING_TITLES = {"class_il": "Class-IL", "task_il": "Task-IL"}
LABEL_MAX = 80  # characters of file text in a legend entry or title (mathtext cost grew with length)
LEGEND_MAX_HEIGHT = 0.25  # of the figure: a taller legend below the axes goes to their right instead
LEGEND_MAX_WIDTH = 0.35  # of the figure, for a legend on the right; else it stays below, smaller


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


def _file_texts(fig: Any) -> list[Any]:
    """The figure's texts drawn literally (see `literal`): those `_save` may have to escape."""
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if not t.get_parse_math()]


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


def group_labels(res: Results, renames: Sequence[str] = ()) -> list[str]:
    """Each group's legend label: the args that differ between groups and are set in it, compact
    (`er, buffer_size=200`; an arg a group leaves at None is not shown), then `renames`.

    A rename is `OLD=NEW`: OLD is a label as drawn without renames (the `(n=…)` count left out) or
    a group's number (1 is the first group); NEW replaces it, as written. The number of runs,
    `(n=3)`, follows an automatic label when the groups' counts differ. Labels may hold `=`
    themselves: OLD is the part before the `=` that makes it a label. An OLD that names no group is
    a usage error listing the labels."""
    labels = [_compact_label(g, res.varying) for g in res.groups]
    if len(set(labels)) < len(labels):  # values that print alike (1 and "1"): say every arg
        labels = [g.label(res.varying) for g in res.groups]
    labels = [literal(x) for x in labels]
    named = list(labels)
    for rename in renames:
        i, new = _rename_target(rename, labels)
        named[i] = literal(new)
    counts = {len(g.runs) for g in res.groups}
    if len(counts) == 1:  # every group has as many runs: no count to compare, none shown
        return named
    return [x if x != labels[i] else x + (f" (n={len(g.runs)})" if len(g.runs) > 1 else "")
            for i, (x, g) in enumerate(zip(named, res.groups, strict=True))]


def _compact_label(g: Group, varying: Sequence[str]) -> str:
    parts = [show_value(g.key[k]) if k == "model" else f"{k}={show_value(g.key[k])}"
             for k in varying if g.key.get(k) is not None]
    return ", ".join(parts) or "defaults"


def _rename_target(rename: str, labels: list[str]) -> tuple[int, str]:
    cuts = [i for i, c in enumerate(rename) if c == "="]
    for cut in cuts:
        old, new = rename[:cut], rename[cut + 1:]
        if old in labels:
            return labels.index(old), new
        if old.isdigit() and 1 <= int(old) <= len(labels):
            return int(old) - 1, new
    if not cuts:
        raise UsageError(f"{rename!r}: expected OLD=NEW, OLD a group's label or number", param="label")
    raise UsageError(f"{rename!r}: names no group; the groups are "
                     + "; ".join(f"{i}: {x}" for i, x in enumerate(labels, 1)), param="label")


def curves_figure(res: Results, spec: FigureSpec, settings: tuple[str, ...] = ("class_il", "task_il"),
                  renames: Sequence[str] = ()) -> Any:
    """The figure `plot_curves` writes, not yet drawn to a file: a library caller (and the tests)
    can read its lines, colours and legend. Close it with `matplotlib.pyplot.close`."""
    if not res.groups:
        raise MckptError("nothing to plot: no run matches",
                         hint="`mckpt results` with the same filters shows what is read")
    if len(res.groups) > len(PALETTE):
        raise UsageError(f"{len(res.groups)} groups are more than a readable figure holds "
                         f"({len(PALETTE)} at most)",
                         hint="narrow the runs (where, model, dataset) or keep the best groups (sort, top)")
    labels = group_labels(res, renames)
    plt = _pyplot()
    spec.format  # noqa: B018 - refuse a bad extension before drawing anything
    fig, axes = plt.subplots(1, len(settings), figsize=spec.size, sharey=True, layout="constrained")
    axes = list(axes) if len(settings) > 1 else [axes]
    n_tasks = max((len(g.curve(s)) for g in res.groups for s in settings), default=0)
    for ax, setting in zip(axes, settings, strict=True):
        for i, g in enumerate(res.groups):
            _draw_group(ax, g, setting, i, labels[i])
        ax.set_title(SETTING_TITLES.get(setting, setting))
        ax.set_xlabel("after task")
        ax.set_xticks(range(1, n_tasks + 1))
        ax.set_xlim(0.7, n_tasks + 0.3)
    axes[0].set_ylabel("average accuracy (%)")
    axes[0].set_ylim(0, 102)
    _place_legend(fig, *axes[0].get_legend_handles_labels())
    if spec.title:
        fig.suptitle(spec.title)
    return fig


def _place_legend(fig: Any, handles: list[Any], labels: list[str]) -> Any:
    """A legend outside the axes, so it never covers a curve, and compact, so the axes keep most of
    the figure: below them in as few rows as the width allows; if that is taller than
    LEGEND_MAX_HEIGHT of the figure, one column on their right when it is narrow enough; else
    below in a smaller font. Sizes are measured, not guessed from the number of characters; a
    label matplotlib cannot measure (it cannot draw it) leaves one row per label below, and
    `_save` escapes it with a warning."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi

    def make(loc: str, ncols: int, fontsize: float | None = None) -> Any:
        legend = fig.legend(handles, labels, loc=loc, ncols=ncols, frameon=False, fontsize=fontsize,
                            columnspacing=1.2, handlelength=2.6, handletextpad=0.5, borderaxespad=0.2,
                            labelspacing=0.3)
        _literal_texts(legend.get_texts())
        return legend

    def below(fontsize: float | None = None) -> Any:
        ncols = len(labels)  # the fewest rows whose width fits
        legend = make("outside lower center", ncols, fontsize)
        while ncols > 1 and legend.get_window_extent(renderer).width > width:
            legend.remove()
            ncols -= 1
            legend = make("outside lower center", ncols, fontsize)
        return legend

    try:
        legend = below()
        if legend.get_window_extent(renderer).height <= LEGEND_MAX_HEIGHT * height:
            return legend
        legend.remove()
        legend = make("outside right upper", 1)
        if legend.get_window_extent(renderer).width <= LEGEND_MAX_WIDTH * width:
            return legend
        legend.remove()
        return below(fontsize=7.5)
    except (ValueError, TypeError, RuntimeError):
        for old in list(fig.legends):
            old.remove()
        return make("outside lower center", 1)


def plot_curves(res: Results, spec: FigureSpec, settings: tuple[str, ...] = ("class_il", "task_il"),
                warn: Callable[[str], None] = _no_warning, renames: Sequence[str] = ()) -> str:
    """Average accuracy after each task, one line per group (mean) with a ± std band, a panel per
    setting (see `curves_figure`); `warn` hears of groups whose runs did different numbers of tasks
    (drawn with hollow markers) and of a label drawn escaped (see `_save`)."""
    fig = curves_figure(res, spec, settings, renames)
    try:
        for g, label in zip(res.groups, group_labels(res, renames), strict=True):
            if g.mismatched:
                warn(f"{label}: its runs did different numbers of tasks "
                     f"({', '.join(map(str, g.task_counts))}); drawn with hollow markers, each point the mean of "
                     "the runs that reached that task")
        return _save(fig, spec, _file_texts(fig), warn)
    finally:
        _pyplot().close(fig)


def _draw_group(ax: Any, g: Group, setting: str, i: int, label: str) -> None:
    """Group `i`: its colour, marker and line style; hollow markers when its runs' tasks differ."""
    curve = g.curve(setting)
    xs = [t + 1 for t, s in enumerate(curve) if s.mean is not None]
    means = [s.mean for s in curve if s.mean is not None]
    stds = [s.std or 0.0 for s in curve if s.mean is not None]
    label += " – tasks differ" if g.mismatched else ""
    colour = PALETTE[i]
    ax.plot(xs, means, color=colour, linestyle=LINESTYLES[i % len(LINESTYLES)], marker=MARKERS[i], markersize=4.5,
            markerfacecolor="white" if g.mismatched else colour, label=label)
    if any(stds):
        ax.fill_between(xs, [m - s for m, s in zip(means, stds, strict=True)],
                        [m + s for m, s in zip(means, stds, strict=True)], color=colour, alpha=0.15, linewidth=0)


def matrix_title(args: dict[str, Any], name: str) -> str:
    """A readable title for one run's matrix: `derpp on seq-cifar10, buffer_size=500, seed 1, run
    17e0aa3c` from the file's saved args (file text, shown literally), the file's `name` when the
    args say neither model nor dataset."""
    model, dataset = args.get("model"), args.get("dataset")
    if model is None and dataset is None:
        return literal(name)
    parts = [" on ".join(show_value(v) for v in (model, dataset) if v is not None)]
    if args.get("buffer_size") not in (None, 0):
        parts.append(f"buffer_size={show_value(args['buffer_size'])}")
    if args.get("seed") is not None:
        parts.append(f"seed {show_value(args['seed'])}")
    uid = str(args.get("conf_jobnum") or "")[:8]
    parts += [f"run {uid}"] if uid else []
    return literal(", ".join(parts))


def matrix_figure(class_il: list[list[float]], task_il: list[list[float]], spec: FigureSpec,
                  name: str) -> Any:
    """The figure `plot_matrix` writes (see `curves_figure`); its title is `spec.title`, else `name`."""
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
    if not spec.title:
        _literal_texts([title])
    return fig


def plot_matrix(class_il: list[list[float]], task_il: list[list[float]], spec: FigureSpec, name: str,
                warn: Callable[[str], None] = _no_warning) -> str:
    """One run's accuracy matrices as heatmaps (row: after task t, column: task), values in the cells;
    the title is `spec.title`, else `name` (file text, drawn literally: see `matrix_title`)."""
    fig = matrix_figure(class_il, task_il, spec, name)
    try:
        return _save(fig, spec, _file_texts(fig), warn)
    finally:
        _pyplot().close(fig)
