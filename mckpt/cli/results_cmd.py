"""`mckpt results` and `mckpt plot`: runs grouped by settings, averaged over seeds, as a table or a figure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..domain.results import SORT_COLUMNS, Query, Results
from ..domain.where import Where, parse_where
from ..errors import MckptError, UsageError
from ..io.urls import url_kind
from ..locate.run_sources import collect_results
from ..locate.targets import expand
from .common import (
    DatasetOpt,
    FormatOpt,
    IdsOpt,
    JsonOpt,
    ModelOpt,
    PathsOpt,
    QuietOpt,
    RecursiveOpt,
    WhereOpt,
    add_command,
    choice_option,
    examples,
    handle_errors,
    shown_as,
)
from .outcome import make_output

PathsArg = Annotated[list[str] | None, typer.Argument(
    metavar="[PATH|UID]...", parser=shown_as("path|run"),
    help="Folders or files of checkpoints, or run uids (default: ./checkpoints).")]
ByOpt = Annotated[list[str] | None, typer.Option(
    "--by", metavar="ARGS", help="Group by these saved args (comma-separated, repeatable); default: every "
                                 "arg but the seed and run bookkeeping.")]
TasksOpt = Annotated[int | None, typer.Option(
    "--tasks", metavar="N", min=0, help="Only runs that finished N tasks (e.g. leave out interrupted ones).")]
SortOpt = Annotated[str | None, choice_option(
    "--sort", "-s", choices=SORT_COLUMNS, strict=False, metavar="COLUMN",
    help=f"Best first by: {', '.join(SORT_COLUMNS)}, or a grouping arg.")]
TopOpt = Annotated[int | None, typer.Option("--top", metavar="N", min=1, help="Keep the first N groups.")]


def _query(by: list[str] | None, where: list[str] | None, model: str | None, dataset: str | None,
           tasks: int | None, sort: str | None, top: int | None) -> Query:
    conditions = list(parse_where(where))
    conditions += [Where("model", "=", (model,))] if model else []
    conditions += [Where("dataset", "=", (dataset,))] if dataset else []
    names = [k.strip() for b in by or () for k in b.split(",") if k.strip()] or None
    return Query(by=names, where=conditions, tasks=tasks, sort=sort, top=top)


NoCacheOpt = Annotated[bool, typer.Option(
    "--no-cache", help="Read every file again (unchanged files' records are otherwise kept in the mckpt cache).")]


def _collect(paths: list[str] | None, recursive: bool, query: Query, no_cache: bool = False,
             command: str = "results") -> Results:
    from ..locate.run_sources import default_targets

    if not paths:  # ./checkpoints and ./data/results: runs with a checkpoint and runs with a log line
        targets = default_targets()
        if not targets:
            raise MckptError("no ./checkpoints or ./data/results folder here", path="checkpoints",
                             hint=f"run inside a Mammoth working folder, or pass a folder: mckpt {command} PATH")
    else:
        # a Mammoth working folder whole: its checkpoints/ and its data/results logs (run_sources)
        named = expand(paths, command, remote=True, recursive=recursive, whole=True)
        for url in named.urls:
            if url_kind(url) == "http":
                raise UsageError(f"{command} reads local folders and files, and s3://, gs://, az://, hf:// folders",
                                 path=url,
                                 hint=f"download the runs first: mckpt fetch URL -o DIR, then mckpt {command} DIR")
        # A run named by uid stands for its newest file, as in every other command (see locate.targets).
        targets = named.newest_files()
    from ..domain.record_cache import RecordCache
    from ..fetch.cache import cache_root

    return collect_results(targets, query, recursive=recursive, cache=None if no_cache else RecordCache(cache_root()))


@handle_errors
def results_command(
    paths: PathsArg = None,
    recursive: RecursiveOpt = False,
    by: ByOpt = None,
    where: WhereOpt = None,
    model: ModelOpt = None,
    dataset: DatasetOpt = None,
    tasks: TasksOpt = None,
    sort: SortOpt = None,
    top: TopOpt = None,
    no_cache: NoCacheOpt = False,
    against: Annotated[str | None, typer.Option(
        "--against", metavar="FILE", help="Published numbers (Mammoth's scripts/reproduce.json): show each "
                                          "matching group's difference from them.")] = None,
    json: JsonOpt = False,
    fmt: FormatOpt = None,
    ids: IdsOpt = False,
    paths_only: PathsOpt = False,
    quiet: QuietOpt = False,
) -> int:
    """Final accuracy, forgetting and BWT per group of runs, mean ± std over seeds.

    Reads the newest checkpoint of every run (no torch); a resumed run counts once, as its final
    file. Runs that share every saved arg but the seed and the bookkeeping form a group (--by
    chooses the args). Groups whose runs did different numbers of tasks are flagged, not averaged.
    With -q it prints nothing and exits 1 when no run matched (like grep -q).
    """
    from ..view.render_results import render_results

    out = make_output(json, fmt, quiet, ids=ids, paths=paths_only)
    query = _query(by, where, model, dataset, tasks, sort, top)
    if against is not None:  # issue 22: published numbers, read before the runs (a bad file fails fast)
        from ..domain.published import against_file

        compare_with = against_file(against)
    res = _collect(paths, recursive, query, no_cache)
    for w in res.warnings:
        out.warning(w)  # about the run, not the result: on stderr, with --json too, as plot says it
    if against is None:
        out.show(res.to_json, lambda: render_results(out, res), res.names)
    else:
        from ..view.render_against import render_against

        cmp = compare_with(res)
        out.show(lambda: {**res.to_json(), "against": cmp.to_json()},
                 lambda: (render_results(out, res), render_against(out, cmp)), res.names)
    return 1 if quiet and not res.groups else 0


@handle_errors
def plot_command(
    paths: PathsArg = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", metavar="FILE", help="The figure to write: .png, .svg or .pdf (vector).")] = Path(),
    matrix: Annotated[str | None, typer.Option(
        "--matrix", metavar="CHECKPOINT",
        help="Draw this checkpoint's accuracy matrices as heatmaps instead (file, run or URL).")] = None,
    size: Annotated[str, typer.Option("--size", metavar="WxH", help="Figure size in inches.")] = "8x3.4",
    dpi: Annotated[int, typer.Option("--dpi", metavar="N", min=30, max=1200, help="Resolution of a png.")] = 200,
    title: Annotated[str | None, typer.Option("--title", metavar="TITLE", help="A title above the figure.")] = None,
    label: Annotated[list[str] | None, typer.Option(
        "--label", metavar="OLD=NEW", help="Rename a group in the legend: OLD is its label as drawn (without "
                                           "\"(n=…)\") or its number, 1 first (repeatable).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
    recursive: RecursiveOpt = False,
    by: ByOpt = None,
    where: WhereOpt = None,
    model: ModelOpt = None,
    dataset: DatasetOpt = None,
    tasks: TasksOpt = None,
    sort: SortOpt = None,
    top: TopOpt = None,
    no_cache: NoCacheOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Plot average accuracy after each task per group (mean, ± std band), class-IL and task-IL.

    The groups are those of `mckpt results` with the same options; the legend names each by the
    set args that differ (--label renames). --matrix draws one run's accuracy matrices with the
    values in the cells, titled by its model, dataset, seed and run.
    """
    from ..view.plot import FigureSpec, matrix_title, parse_size, plot_curves, plot_matrix

    out = make_output(quiet=quiet)

    if output == Path():
        raise UsageError("no figure file: name one with {output} (.png, .svg or .pdf)", spelled=True)
    spec = FigureSpec(str(output), parse_size(size), dpi, title, force)
    spec.format  # noqa: B018 - a bad extension is a usage error before any reading
    if output.exists() and not force:
        raise MckptError("exists", path=str(output), hint="--force replaces it")
    if matrix is not None:
        if paths or label:
            raise UsageError("--matrix draws one file: give it no PATH and no --label")
        from ..locate import read

        ck = read(matrix)
        name = matrix_title(ck.args, ck.name.stem if ck.name else Path(ck.path).name)
        written = plot_matrix(ck.class_il, ck.task_il, spec, name, warn=out.warning)
    else:
        res = _collect(paths, recursive, _query(by, where, model, dataset, tasks, sort, top), no_cache, "plot")
        for w in res.warnings:
            out.warning(w)  # folders not walked, or the cache not used or updated: the figures read are right
        written = plot_curves(res, spec, warn=out.warning, renames=label or ())
    out.line(f"wrote {written}")


def register(app: typer.Typer) -> None:
    add_command(app, "results", results_command, epilog=examples(
        "mckpt results --where buffer_size=500 --by model",
        "mckpt results runs/ -f latex --sort class_il > table.tex",
        "mckpt results data/results checkpoints --against mammoth/scripts/reproduce.json",
    ))
    add_command(app, "plot", plot_command, epilog=examples(
        "mckpt plot -o curves.svg --dataset seq-cifar10",
        "mckpt plot --matrix 17e0aa3c -o matrix.png",
    ))
