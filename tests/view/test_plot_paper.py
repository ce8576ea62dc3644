"""`mckpt plot` figures fit for a paper (issue 25, item 7), checked on the figure objects themselves
(`curves_figure` / `matrix_figure`, no pixels): legend labels by the set args that differ, colours
with enough contrast on white, markers that tell groups apart in black and white, a legend outside
the axes that leaves them most of the figure, `--label`, the printed tasks-differ warning, and a
readable `--matrix` title."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run_cli
from results_support import write_run

from mckpt.domain.results import Query
from mckpt.errors import UsageError
from mckpt.locate.run_sources import collect_results

pytest.importorskip("matplotlib")

from matplotlib.colors import to_rgb
from matplotlib.pyplot import close

from mckpt.view.plot import MIN_CONTRAST, FigureSpec, curves_figure, group_labels, matrix_title

SEVEN = [("sgd", 0, {}), ("er", 200, {}), ("er", 500, {}), ("derpp", 500, {"alpha": 0.1, "beta": 0.5}),
         ("derpp", 200, {"alpha": 0.3, "beta": 0.5}), ("xder", 500, {"alpha": 0.3, "beta": 0.9}),
         ("agem", 200, {})]


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCKPT_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def seven(tmp_path: Path) -> Path:
    """Seven groups, two seeds each; derpp and xder set alpha and beta, the others leave them None."""
    folder = tmp_path / "runs"
    hour = iter(range(100))
    for model, buffer_size, extra in SEVEN:
        for seed in (0, 1):
            write_run(folder, model, buffer_size, seed, hour=next(hour), **extra)
    return folder


def _contrast_on_white(colour: str) -> float:
    """WCAG 2.1 contrast ratio of a colour against white."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 1.05 / (luminance + 0.05)


def test_contrast_formula_matches_known_values() -> None:
    assert _contrast_on_white("#000000") == pytest.approx(21.0)
    assert _contrast_on_white("#FFFFFF") == pytest.approx(1.0)
    assert _contrast_on_white("#F0E442") < 1.5  # Okabe-Ito's yellow: the near invisible line


def test_seven_groups_read_on_white_in_colour_and_in_black_and_white(seven: Path, tmp_path: Path) -> None:
    res = collect_results([str(seven)])
    assert len(res.groups) == 7
    fig = curves_figure(res, FigureSpec(str(tmp_path / "f.png")))
    try:
        for ax in fig.axes:
            lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
            assert len(lines) == 7
            for line in lines:
                assert _contrast_on_white(line.get_color()) >= MIN_CONTRAST, (line.get_label(), line.get_color())
            assert len({to_rgb(line.get_color()) for line in lines}) == 7
            assert len({line.get_marker() for line in lines}) == 7  # apart without colour too
            assert len({line.get_linestyle() for line in lines}) == 4  # dashes cycle: more cues in grey
        fig.canvas.draw()
        (legend,) = fig.legends
        box = legend.get_window_extent()
        height = fig.get_figheight() * fig.dpi
        for ax in fig.axes:
            assert not box.overlaps(ax.get_window_extent()), "the legend covers an axes"
            assert ax.get_position().height >= 0.5, "the legend takes more than half the figure"
        assert box.height <= 0.3 * height
    finally:
        close(fig)


def test_legend_names_groups_by_the_set_args_that_differ(seven: Path) -> None:
    res = collect_results([str(seven)])
    assert {"alpha", "beta", "buffer_size", "model"} <= set(res.varying)
    labels = group_labels(res)
    assert not any("None" in x for x in labels), labels
    assert "er, buffer_size=200" in labels and "sgd, buffer_size=0" in labels
    assert "derpp, buffer_size=500, alpha=0.1, beta=0.5" in labels
    assert not any("n=" in x for x in labels)  # every group has two runs: no count to compare
    assert len(set(labels)) == len(labels)


def test_labels_stay_apart_and_count_runs_when_counts_differ(tmp_path: Path) -> None:
    write_run(tmp_path, "er", 200, 0, opt=1)
    write_run(tmp_path, "er", 200, 1, hour=1, opt="1")  # prints as `opt=1` too
    write_run(tmp_path, "er", 200, 2, hour=2, opt="1")
    write_run(tmp_path, "er", 200, 0, hour=3, opt=None)
    labels = group_labels(collect_results([str(tmp_path)], Query(by=["opt"])))
    assert len(set(labels)) == 3, labels
    assert "opt=None" in labels  # when values print alike every arg is said, None too
    assert any(x.endswith("(n=2)") for x in labels)


def test_label_renames_by_label_or_number(seven: Path) -> None:
    res = collect_results([str(seven)])
    auto = group_labels(res)
    first = auto[0]
    renamed = group_labels(res, ["er, buffer_size=200=ER (200)", f"1={first} [x]", "sgd, buffer_size=0=$lower$"])
    assert renamed[auto.index("er, buffer_size=200")] == "ER (200)"
    assert renamed[0] == f"{first} [x]"
    assert renamed[auto.index("sgd, buffer_size=0")] == "$lower$"
    with pytest.raises(UsageError, match=r"names no group; the groups are 1: "):
        group_labels(res, ["er=ER"])
    with pytest.raises(UsageError, match="expected OLD=NEW"):
        group_labels(res, ["ER"])


def test_cli_label_mismatch_warning_and_legend(tmp_path: Path) -> None:
    for seed in (0, 1):
        write_run(tmp_path / "runs", "er", 200, seed, hour=seed)
    write_run(tmp_path / "runs", "derpp", 500, 0, hour=5, alpha=0.3)
    write_run(tmp_path / "runs", "derpp", 500, 1, hour=6, tasks=3, alpha=0.3)  # 3 tasks beside 5
    svg = tmp_path / "f.svg"
    r = run_cli("plot", str(tmp_path / "runs"), "-o", str(svg), "--label", "er, buffer_size=200=Experience Replay")
    assert r.returncode == 0, r.stderr
    text = svg.read_text()
    assert "Experience Replay" in text and "None" not in text
    assert "derpp, buffer_size=500, alpha=0.3 – tasks differ" in text  # both groups have 2 runs: no n
    assert re.search(r"warning: derpp, buffer_size=500, alpha=0\.3: its runs did different numbers "
                     r"of tasks \(3, 5\); drawn with hollow markers", r.stderr), r.stderr
    fig = curves_figure(collect_results([str(tmp_path / "runs")]), FigureSpec(str(svg)))
    try:
        faces = {line.get_label(): line.get_markerfacecolor() for line in fig.axes[0].get_lines()}
        assert faces["derpp, buffer_size=500, alpha=0.3 – tasks differ"] == "white"
        assert faces["er, buffer_size=200"] != "white"
    finally:
        close(fig)
    bad = run_cli("plot", str(tmp_path / "runs"), "-o", str(tmp_path / "g.svg"), "--label", "ER=x")
    assert bad.returncode == 2 and "names no group" in bad.stderr and "Traceback" not in bad.stderr


def test_matrix_title_says_model_dataset_seed_and_run(tmp_path: Path) -> None:
    path = write_run(tmp_path, "derpp", 500, 1)
    svg = tmp_path / "m.svg"
    r = run_cli("plot", "--matrix", str(path), "-o", str(svg))
    assert r.returncode == 0, r.stderr
    uid = path.stem.split("_")[-2]
    assert f"derpp on seq-cifar10, buffer_size=500, seed 1, run {uid}" in svg.read_text()
    assert path.stem not in svg.read_text()
    assert matrix_title({}, "name_of_file") == "name_of_file"
    assert matrix_title({"model": "sgd", "dataset": "seq-mnist", "buffer_size": 0, "seed": None}, "x") == \
        "sgd on seq-mnist"
    assert matrix_title({"model": "a\x1b[31m", "dataset": "$x$"}, "x") == "a\\x1b[31m on $x$"
    r = run_cli("plot", "--matrix", str(path), "-o", str(tmp_path / "n.svg"), "--label", "a=b")
    assert r.returncode == 2 and "no --label" in r.stderr
