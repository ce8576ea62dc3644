"""One output layer for every command: Rich on a terminal, plain text in a pipe, JSON, tabulate.

Commands describe *what* to show (tables, key/value blocks, JSON documents); this module decides
*how* from the user's flags and the terminal: `--json` prints one document, `--format F` prints
tables in any tabulate format (`github`, `latex`, `tsv`…), a pipe gets plain text, and a terminal
gets colour unless NO_COLOR is set. Rich and tabulate are imported only when used.

Every string passes through `view.text` on its way out, in every mode: text from a checkpoint (arg
names and values, warnings, paths) can hold terminal escapes, and this is the one place they are
made inert.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from .text import clean, clean_json, clean_lines

LATEX_FORMATS = ("latex", "latex_booktabs")  # written by `latex_table` (booktabs, escaped, aligned)

TABLE_FORMATS = (
    "plain", "simple", "github", "grid", "simple_grid", "rounded_grid", "fancy_grid", "pipe", "orgtbl",
    "jira", "presto", "pretty", "psql", "rst", "mediawiki", "moinmoin", "youtrack", "html", "latex",
    "latex_raw", "latex_booktabs", "latex_longtable", "textile", "tsv", "csv", "asciidoc",
)


def _json_default(o: Any) -> Any:
    if hasattr(o, "isoformat"):
        return o.isoformat()
    return str(o)


@dataclass(frozen=True)
class Cell:
    """A table cell that shows one text and means one value: `1.7 MiB` is 1782580 bytes, `-` is nothing.

    Human formats print `text`; csv/tsv print `value` (empty for None), so one row serves a reader
    and a script. `latex` is the cell as LaTeX source when it needs markup (`71.01 $\\pm$ 2.31`);
    otherwise `text` is escaped.
    """

    text: str
    value: Any = None
    latex: str | None = None

    def __str__(self) -> str:
        return self.text


def _clean_cell(c: Any) -> Any:
    """A cell with every text a file could have put in it escaped (see `text.clean`); a Cell keeps
    its raw value for machine formats, its strings escaped too."""
    if c is None:
        return ""
    if isinstance(c, Cell):
        value = clean(c.value) if isinstance(c.value, str) else c.value
        return Cell(clean(c.text), value, c.latex)
    return clean(str(c))


def cell_value(c: Any) -> Any:
    """What a cell means, for machine formats: a Cell's value, else the cell itself."""
    return c.value if isinstance(c, Cell) else c


def strict_json(data: Any) -> Any:
    """`data` with every NaN and ±inf replaced by None, so `--json` prints strict JSON.

    A checkpoint may hold them (an arg, a scheduler's state, a diverged loss); Python's json would
    write `NaN` / `Infinity`, which jq, JavaScript and most parsers refuse.
    """
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: strict_json(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [strict_json(v) for v in data]
    return data


@dataclass
class Output:
    """Where and how a command prints. `json` wins over `fmt`; `quiet` keeps only errors."""

    json: bool = False
    fmt: str | None = None
    quiet: bool = False
    stream: TextIO | None = None

    def __post_init__(self) -> None:
        self.stream = self.stream or sys.stdout
        self._console: Any = None
        self._tables_written = 0

    @property
    def rich(self) -> bool:
        """True when output goes to a terminal in human mode (colours, boxes)."""
        return not self.json and self.fmt is None and _isatty(self.stream)

    @property
    def color(self) -> bool:
        return self.rich and colour_allowed()

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False, no_color=not self.color,
                                    soft_wrap=False)
        return self._console

    @property
    def can_ask(self) -> bool:
        """True when a question can be put to a person: human output on a terminal, typed on one."""
        return self.rich and _isatty(sys.stdin)

    def confirm(self, question: str) -> bool:
        """Ask yes/no (default no) with Rich's prompt; False without asking when nobody can answer."""
        if not self.can_ask:
            return False
        from rich.prompt import Confirm

        try:
            return Confirm.ask(question, console=self.console, default=False)
        except EOFError:  # Ctrl-D: no answer is no
            self.console.print()
            return False

    def emit_json(self, data: Any) -> None:
        text = json.dumps(strict_json(data), indent=2, default=_json_default, ensure_ascii=False, allow_nan=False)
        self.stream.write(clean_json(text) + "\n")

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.quiet:
            return
        text = clean_lines(text)
        if self.rich:
            self.console.print(self._hanging(text), style=style, markup=False)
        else:
            self.stream.write(text + "\n")

    def _hanging(self, text: str) -> Any:
        """An indented or bulleted line too long for the screen wraps under its own text, not at
        the left margin (load's reasons, convert's notes, paths)."""
        from rich.cells import cell_len

        body = text.lstrip(" ")
        for bullet in ("- ", "! "):
            if body.startswith(bullet):
                body = body[len(bullet):]
                break
        head = text[: len(text) - len(body)]
        if not head or cell_len(text) <= self.console.width:
            return text
        from rich.table import Table
        from rich.text import Text

        grid = Table.grid()
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        grid.add_row(head, Text(body))
        return grid

    def note(self, text: str) -> None:
        """A message about the output rather than part of it: on stderr when stdout is csv/tsv, so
        a script reading the table never meets it; a comment in LaTeX; else a line like any other."""
        if self.quiet:
            return
        if self.fmt in ("csv", "tsv"):
            sys.stderr.write(f"note: {clean(text)}\n")
        elif self.fmt in LATEX_FORMATS:
            self.stream.write(f"% {clean(text)}\n")  # pasted with the table, it stays out of the document
        else:
            self.line(text)

    def heading(self, text: str) -> None:
        if self.quiet:
            return
        text = clean(text)
        if self.rich:
            self.console.print(f"\n[bold]{_escape(text)}[/bold]")
        else:
            self.stream.write(f"\n{text}\n")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None,
              styles: Sequence[Sequence[str | None]] | None = None,
              justify: Sequence[str] | None = None, optional: Sequence[int] = ()) -> None:
        """A table: Rich with per-cell styles on a terminal, tabulate (`--format`, or `simple`) otherwise.

        `optional` lists columns (indices, least useful first) a terminal too narrow for the whole
        table may hide, with a note saying so; pipes and formats always get every column.
        """
        if self.quiet:
            return
        headers = [clean(str(h)) for h in headers]
        rows = [[_clean_cell(c) for c in r] for r in rows]
        title = clean(title) if title else title
        if self.fmt in ("csv", "tsv"):
            # Machine formats: no padding, proper quoting (tabulate pads its tsv cells).
            import csv

            w = csv.writer(self.stream, delimiter="," if self.fmt == "csv" else "\t", lineterminator="\n")
            w.writerow(headers)
            w.writerows([["" if (v := cell_value(c)) is None else v for c in r] for r in rows])
            return
        if self.fmt in LATEX_FORMATS:
            # Pasted into a paper: a title is a comment, never text that would land in the document.
            self.stream.write(("\n" if self._tables_written else "") + (f"% {title}\n" if title else ""))
            self._tables_written += 1
            self.stream.write(latex_table(headers, rows, justify))
            return
        if self.fmt is not None:
            from tabulate import tabulate

            align = list(justify) if justify else None
            text = tabulate([["" if c is None else str(c) for c in r] for r in rows], headers=list(headers),
                            tablefmt=self.fmt, disable_numparse=True, colalign=align)
            if self._tables_written:
                # Tables after the first are set apart and named (two Markdown tables that touch merge
                # into one); a lone table stays pasteable as it is.
                self.stream.write(f"\n{title}\n\n" if title else "\n")
            self._tables_written += 1
            self.stream.write(text + "\n")
            return
        if not self.rich:
            if title:
                self.stream.write(f"\n{title}\n")
            self.stream.write(plain_table(headers, rows, justify))
            return
        if title:
            self.heading(title)
        hidden = _columns_to_hide(headers, rows, optional, self.console.width)
        keep = [i for i in range(len(headers)) if i not in hidden]
        for n, cols in enumerate(_column_chunks(headers, rows, keep, self.console.width)):
            if n:
                self.console.print()
            self.console.print(_rich_table(headers, rows, styles, justify, cols))
        if hidden:
            self.console.print(f"[dim]hidden to fit the window: {', '.join(hidden.values())} "
                               "(a wider window or a pipe shows them)[/dim]")

    @contextlib.contextmanager
    def progress(self, description: str) -> Iterator[Callable[[int, int], None]]:
        """A transient progress bar on stderr, shown only when stderr is a terminal and not `-q`;
        yields `update(done, total)`, safe to call from worker threads."""
        if self.quiet or not _isatty(sys.stderr):
            yield lambda _done, _total: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                       console=Console(stderr=True, no_color=not colour_allowed()), transient=True)
        task = bar.add_task(description, total=None)
        with bar:
            yield lambda done, total: bar.update(task, completed=done, total=total)

    def fields(self, pairs: Sequence[tuple[str, Any]], title: str | None = None) -> None:
        """A key/value block (run identity, summaries)."""
        if self.quiet:
            return
        pairs = [(clean(str(k)), _clean_cell(v)) for k, v in pairs]
        if self.rich:
            if title:
                self.heading(title)
            from rich.table import Table

            # A grid, so a long value wraps under itself rather than back at the left margin.
            grid = Table.grid(padding=(0, 0, 0, 2), pad_edge=True)
            grid.add_column(style="dim", no_wrap=True)
            grid.add_column(overflow="fold")
            for k, v in pairs:
                grid.add_row(k, str(v))
            self.console.print(grid, markup=False)
            return
        if self.fmt:
            self.table(["field", "value"], [[k, v] for k, v in pairs], title=title)
            return
        if title:
            self.stream.write(f"\n{title}\n")
        width = max((len(k) for k, _ in pairs), default=0)
        for k, v in pairs:
            self.stream.write(f"  {k.ljust(width)}  {v}\n")


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "×": r"$\times$",
    "→": r"$\to$", "←": r"$\leftarrow$", "‖": r"$\|$", "Δ": r"$\Delta$", "…": r"\ldots{}", "≠": r"$\neq$",
}


def latex_escape(text: str) -> str:
    """Text as LaTeX source that pdflatex prints as it reads (specials and the symbols mckpt uses)."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def latex_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], justify: Sequence[str] | None = None
                ) -> str:
    """A booktabs `tabular`, numeric (right-justified) columns right-aligned, every cell escaped."""
    spec = "".join({"right": "r", "center": "c"}.get(justify[i] if justify else "left", "l")
                   for i in range(len(headers)))

    def tex(c: Any) -> str:
        if isinstance(c, Cell) and c.latex is not None:
            return c.latex
        return latex_escape("" if c is None else str(c))

    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule", " & ".join(tex(h) for h in headers) + r" \\",
             "\\midrule"]
    lines += [" & ".join(tex(c) for c in r) + r" \\" for r in rows]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], justify: Sequence[str] | None = None
                ) -> str:
    """Aligned columns under a dashed rule (tabulate's `simple` look, without its import cost)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(headers))]
    right = [bool(justify) and justify[i] == "right" for i in range(len(headers))]

    def fmt(r: list[str]) -> str:
        return "  ".join((c.rjust(w) if rj else c.ljust(w)) for c, w, rj in zip(r, widths, right, strict=False)
                         ).rstrip()

    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]]
    return "\n".join(lines) + "\n"


def _rich_table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
                styles: Sequence[Sequence[str | None]] | None, justify: Sequence[str] | None,
                cols: Sequence[int]) -> Any:
    """A Rich table of the columns `cols`, cells styled, in the look every command shares."""
    from rich import box
    from rich.table import Table

    t = Table(box=box.SIMPLE_HEAD, header_style="bold", show_edge=False, pad_edge=False, collapse_padding=True)
    for i in cols:
        # Short columns never wrap; the last one (values, paths) folds when the screen is narrow.
        t.add_column(headers[i], justify=(justify[i] if justify else "left"),  # type: ignore[arg-type]
                     no_wrap=i != len(headers) - 1, overflow="fold")
    for ri, r in enumerate(rows):
        cells = []
        for ci in cols:
            style = styles[ri][ci] if styles and ri < len(styles) and ci < len(styles[ri]) else None
            text = "" if ci >= len(r) or r[ci] is None else str(r[ci])
            cells.append(f"[{style}]{_escape(text)}[/]" if style else _escape(text))
        t.add_row(*cells)
    return t


def _column_chunks(headers: Sequence[str], rows: Sequence[Sequence[Any]], keep: Sequence[int],
                   width: int) -> list[list[int]]:
    """`keep` as one table if it fits `width`, else as several, each led by the first (key) column.

    Wide matrices (a 10-task diff, say) then print in column blocks, as pandas does, instead of
    Rich cutting every value short. The last column folds, so only a little of it must fit.
    """
    widths = _column_widths(headers, rows)
    last = len(headers) - 1

    def need(cols: list[int]) -> int:
        return sum(min(widths[i], 20) if i == last else widths[i] for i in cols) + 2 * (len(cols) - 1)

    if len(keep) < 3 or need(list(keep)) <= width:
        return [list(keep)]
    key, chunks, chunk = keep[0], [], [keep[0]]
    for i in keep[1:]:
        if len(chunk) > 1 and need([*chunk, i]) > width:
            chunks.append(chunk)
            chunk = [key]
        chunk.append(i)
    chunks.append(chunk)
    return chunks


def _columns_to_hide(headers: Sequence[str], rows: Sequence[Sequence[Any]], optional: Sequence[int],
                     width: int) -> dict[int, str]:
    """The optional columns to drop, in order, until the table fits `width` (index → header)."""
    hidden: dict[int, str] = {}
    for i in optional:
        if _table_width(headers, rows, hidden) <= width:
            break
        hidden[i] = headers[i]
    return hidden


def _column_widths(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[int]:
    """Screen cells of each column's widest cell (header included)."""
    from rich.cells import cell_len

    widths = [cell_len(str(h)) for h in headers]
    for r in rows:
        for i, c in enumerate(r[: len(widths)]):
            widths[i] = max(widths[i], cell_len("" if c is None else str(c)))
    return widths


def _table_width(headers: Sequence[str], rows: Sequence[Sequence[Any]], skip: Iterable[int] = ()) -> int:
    """Screen cells a table needs unwrapped: widest cell per column, two between columns."""
    kept = [w for i, w in enumerate(_column_widths(headers, rows)) if i not in set(skip)]
    return sum(kept) + 2 * (len(kept) - 1)


def _escape(text: str) -> str:
    """Rich markup made literal (a trailing backslash too, which `replace("[", …)` missed)."""
    from rich.markup import escape

    return escape(text)


def colour_allowed() -> bool:
    """False when NO_COLOR is set to anything but the empty string (https://no-color.org)."""
    return not os.environ.get("NO_COLOR")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_count(n: int | None) -> str:
    if n is None:
        return "-"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def print_error(message: str, hint: str | None = None, stream: TextIO | None = None) -> None:
    """`error: …` (and `hint: …`) on stderr, red on a terminal unless NO_COLOR."""
    stream = stream or sys.stderr
    color = _isatty(stream) and colour_allowed()
    red, yellow, reset = ("\033[31;1m", "\033[33m", "\033[0m") if color else ("", "", "")
    stream.write(f"{red}error:{reset} {clean(message)}\n")
    if hint:
        stream.write(f"{yellow}hint:{reset} {clean(hint)}\n")
