"""One output layer for every command: Rich on a terminal, plain text in a pipe, JSON, tabulate.

Commands describe *what* to show (tables, key/value blocks, JSON documents); this module decides
*how* from the user's flags and the terminal: `--json` prints one document, `--format F` prints
tables in any tabulate format (`github`, `latex`, `tsv`…), a pipe gets plain text, and a terminal
gets colour; `use_colour` says when (`--color`, FORCE_COLOR/CLICOLOR_FORCE, NO_COLOR), and forced
colour gives a pipe the terminal's view. Rich and tabulate are imported only when used.

Every string passes through `view.text` on its way out, in every mode: text from a checkpoint (arg
names and values, warnings, paths) can hold terminal escapes, and this is the one place they are
made inert.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TextIO

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
    """Where and how a command prints, on every stream it has.

    stdout (`stream`) holds the result: `show` (the JSON document or the human view), `line`,
    `table`, `fields`. stderr (`err`) holds what is about the run rather than its result:
    `warning`, `notice`, `error` and `progress`. `json` wins over `fmt`; `quiet` keeps errors and
    warnings only (a warning is about the result being right, so `-q` does not hide it).
    """

    json: bool = False
    fmt: str | None = None
    quiet: bool = False
    stream: TextIO | None = None
    err: TextIO | None = None
    bare: str | None = None  # "ids" or "paths": print only those names, one a line (`--ids`, `--paths`)

    def __post_init__(self) -> None:
        self.stream = self.stream or sys.stdout
        self.err = self.err or sys.stderr
        self._console: Any = None
        self._tables_written = 0
        self._started = False  # anything written to `stream` yet (output never starts with a blank line)
        self._bar: Progress | None = None  # the live progress bar, which stderr messages print above

    def show(self, document: Callable[[], Any], render: Callable[[], None],
             names: Callable[[str], Iterable[str]] | None = None) -> None:
        """A command's result: the JSON document `document()` with --json, `names(bare)` one a line
        with --ids or --paths, else `render()`.

        The document is built only when asked for, so a human view never pays for it.
        """
        if self.json:
            self.emit_json(document())
        elif self.bare and names is not None:
            self.names(names(self.bare))
        else:
            render()

    def names(self, values: Iterable[str]) -> None:
        """Each value alone on a line, nothing else (for `xargs` and `while read`); none with -q."""
        if not self.quiet:
            for value in values:
                self._write(clean(value) + "\n")

    # -- stderr -------------------------------------------------------------------------------------

    def error(self, message: str, hint: str | None = None) -> None:
        """`error: …` (and `hint: …`), red when stderr gets colour (`use_colour`); never quietened."""
        self._say("error", "31;1", message)
        if hint:
            self._say("hint", "33", hint)

    def warning(self, message: str) -> None:
        """`warning: …`, yellow on a terminal: never lost in Mammoth's own output, kept by -q."""
        self._say("warning", "33;1", message)

    def notice(self, message: str) -> None:
        """mckpt's own word while it works (a fetch resuming, Ctrl-C during a run): `mckpt: …`."""
        if not self.quiet:
            self._say("mckpt", None, message)

    def _say(self, label: str, colour: str | None, message: str) -> None:
        head = f"\033[{colour}m{label}:\033[0m" if colour and use_colour(self.err) else f"{label}:"
        text = f"{head} {clean(message)}"
        if self._bar is not None and self._bar._task is not None:
            self._bar.live.console.print(text, markup=False, highlight=False, soft_wrap=True)  # above the bar
        else:
            self.err.write(text + "\n")
            self.err.flush()

    @contextmanager
    def progress(self, description: str, total: int | None = None, *, done: int = 0,
                 unit: Literal["bytes", "items"] = "bytes", draw: bool = True) -> Iterator[Progress]:
        """A progress bar on stderr for the `with` block: `bar.advance(n)`, `bar.total = n`.

        Drawn only on a terminal and without -q: in a pipe or a log the same calls do nothing
        (a line per redraw would bury the output). Bytes are shown in binary units, like every
        size mckpt prints. The bar disappears when the block ends. `draw=False` never draws it
        (work too small for a bar to show anything), so callers need no second code path.
        """
        live = draw and not self.quiet and _isatty(self.err)
        bar = Progress(description, total, done, unit, live=live, err=self.err, notice=self.notice)
        outer, self._bar = self._bar, bar
        try:
            with bar:
                yield bar
        finally:
            self._bar = outer

    @contextmanager
    def spinner(self, text: str) -> Iterator[None]:
        """A spinner and `text` on stderr for the `with` block: for a wait with nothing to count
        (torch loading for seconds). Only on a terminal and without -q; it disappears when done."""
        if self.quiet or not _isatty(self.err):
            yield
            return
        from rich.console import Console

        with Console(file=self.err, no_color=not use_colour(self.err)).status(text):
            yield

    # -- stdout -------------------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        """Text to stdout; the first text of all loses its leading blank lines (a pipe's reader
        would otherwise start on an empty line)."""
        if not self._started:
            text = text.lstrip("\n")
            self._started = bool(text)
        if self._drawing_over():
            self._bar.live.console.print(text, end="", markup=False, highlight=False, soft_wrap=True)
        else:
            self.stream.write(text)

    def _print(self, renderable: Any = "", **kwargs: Any) -> None:
        """A Rich renderable to the terminal, with the same rule for a leading blank line."""
        if not self._started and isinstance(renderable, str):
            renderable = renderable.lstrip("\n")
        self._started = True
        if self._drawing_over():
            self._bar.live.console.print(renderable, **kwargs)
        else:
            self.console.print(renderable, **kwargs)

    def _drawing_over(self) -> bool:
        """True while a bar is drawn and stdout is a terminal too (the same screen): a result line
        (verify's verdict per file) is then printed above the bar, as Rich does with print(), not
        into the middle of it. In a pipe stdout is never touched by the bar."""
        return self._bar is not None and self._bar._task is not None and _isatty(self.stream)

    @property
    def rich(self) -> bool:
        """True when output goes to a terminal in human mode (colours, boxes), or colour is forced
        into a pipe (`mckpt --color always list | less -R` shows what the terminal would)."""
        return not self.json and self.fmt is None and (_isatty(self.stream) or use_colour(self.stream))

    @property
    def color(self) -> bool:
        return self.rich and use_colour(self.stream)

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            # force_terminal: Rich styles a pipe only when told, and must not be told by its own
            # reading of FORCE_COLOR when `--color never` said otherwise.
            self._console = Console(file=self.stream, highlight=False, no_color=not self.color,
                                    force_terminal=self.color or _isatty(self.stream), soft_wrap=False)
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
        self._write(clean_json(text) + "\n")

    def verbatim(self, text: str) -> None:
        """mckpt's own text exactly as it is, on any stream: a file the user saves or sources (a
        completion script), never wrapped, styled or quietened. Never text read from a file."""
        self._write(text)

    def line(self, text: str = "", style: str | None = None) -> None:
        if self.quiet:
            return
        text = clean_lines(text)
        if self.rich:
            self._print(self._hanging(text), style=style, markup=False)
        elif self.fmt in ("csv", "tsv"):  # not part of a table: stdout stays only tables a reader can parse
            self.err.write(text + "\n")
        else:
            self._write(text + "\n")

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
            self._say("note", None, text)
        elif self.fmt in LATEX_FORMATS:
            self._write(f"% {clean(text)}\n")  # pasted with the table, it stays out of the document
        else:
            self.line(text)

    def heading(self, text: str) -> None:
        if self.quiet:
            return
        text = clean(text)
        if self.rich:
            self._print(f"\n[bold]{_escape(text)}[/bold]")
        elif self.fmt in ("csv", "tsv"):
            self.err.write(f"\n{text}\n")
        else:
            self._write(f"\n{text}\n")

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

            if self._tables_written:
                # One table per section: a blank line, then `# title`, then its own header (a lone
                # table stays a plain csv; a reader splits sections on blank lines).
                self._write(f"\n# {title}\n" if title else "\n")
            self._tables_written += 1
            self._started = True
            w = csv.writer(self.stream, delimiter="," if self.fmt == "csv" else "\t", lineterminator="\n")
            w.writerow([inert_csv(h) for h in headers])
            w.writerows([[inert_csv(cell_value(c)) for c in r] for r in rows])
            return
        if self.fmt in LATEX_FORMATS:
            # Pasted into a paper: a title is a comment, never text that would land in the document.
            self._write(("\n" if self._tables_written else "") + (f"% {title}\n" if title else ""))
            self._tables_written += 1
            self._write(latex_table(headers, rows, justify))
            return
        if self.fmt is not None:
            from tabulate import tabulate

            align = list(justify) if justify else None
            text = tabulate([["" if c is None else str(c) for c in r] for r in rows], headers=list(headers),
                            tablefmt=self.fmt, disable_numparse=True, colalign=align)
            if self._tables_written:
                # Tables after the first are set apart and named (two Markdown tables that touch merge
                # into one); a lone table stays pasteable as it is.
                self._write(f"\n{title}\n\n" if title else "\n")
            self._tables_written += 1
            self._write(text + "\n")
            return
        if not self.rich:
            if title:
                self._write(f"\n{title}\n")
            self._write(plain_table(headers, rows, justify))
            return
        if title:
            self.heading(title)
        hidden = _columns_to_hide(headers, rows, optional, self.console.width)
        keep = [i for i in range(len(headers)) if i not in hidden]
        for n, cols in enumerate(_column_chunks(headers, rows, keep, self.console.width)):
            if n:
                self._print()
            self._print(_rich_table(headers, rows, styles, justify, cols))
        if hidden:
            self._print(f"[dim]hidden to fit the window: {', '.join(hidden.values())} "
                               "(a wider window or a pipe shows them)[/dim]")

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
            self._print(grid, markup=False)
            return
        if self.fmt:
            self.table(["field", "value"], [[k, v] for k, v in pairs], title=title)
            return
        if title:
            self._write(f"\n{title}\n")
        width = max((len(k) for k, _ in pairs), default=0)
        for k, v in pairs:
            self._write(f"  {k.ljust(width)}  {v}\n")


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
    "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "±": r"$\pm$", "×": r"$\times$",
    "→": r"$\to$", "←": r"$\leftarrow$", "‖": r"$\|$", "Δ": r"$\Delta$", "…": r"\ldots{}", "≠": r"$\neq$",
}


# A spreadsheet evaluates a cell that starts with one of these as a formula (OWASP's CSV injection list).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")  # ASCII digits only


def inert_csv(value: Any) -> Any:
    """A csv/tsv cell a spreadsheet shows as written: text that starts like a formula (`=HYPERLINK(…)`,
    `+1`, `@SUM`, a tab) gets a leading `'`, which spreadsheets read as "this is text". Numbers, and
    text that is one number (`-38.02`, a BWT), stay as they are; None is the empty cell."""
    if value is None:
        return ""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START) or _NUMBER.fullmatch(value):
        return value
    return "'" + value


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

    def row(cells: Sequence[Any]) -> str:
        # Each row follows `\\` or a rule, which read a `[` after them (spaces skipped) as their
        # optional argument and a `*` as their star: an empty group first ends that look-ahead.
        text = " & ".join(tex(c) for c in cells)
        return ("{}" if text.lstrip().startswith(("[", "*")) else "") + text + r" \\"

    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule", row(headers), "\\midrule"]
    lines += [row(r) for r in rows]
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


_colour_mode = {"mode": "auto"}  # the global `--color`, set once by the CLI (`set_colour_mode`)


def set_colour_mode(mode: str) -> None:
    """Take the global `--color auto|always|never` (`choices.COLORS`) for every stream of this run."""
    from ..choices import COLORS, check_choice

    check_choice("color", mode, COLORS)
    _colour_mode["mode"] = mode


def _env_set(name: str) -> bool:
    """A switch variable that is on: set, not empty, not `0` (CLICOLOR_FORCE=0 means off)."""
    return os.environ.get(name, "") not in ("", "0")


def use_colour(stream: Any) -> bool:
    """Whether `stream` gets colour, as uv and gh decide, first rule that applies:

    1. `--color always` / `--color never`;
    2. FORCE_COLOR or CLICOLOR_FORCE set (not empty, not 0): colour, even in a pipe;
    3. NO_COLOR set and not empty (https://no-color.org): no colour;
    4. colour on a terminal, none in a pipe or a file.
    """
    mode = _colour_mode["mode"]
    if mode != "auto":
        return mode == "always"
    if _env_set("FORCE_COLOR") or _env_set("CLICOLOR_FORCE"):
        return True
    if os.environ.get("NO_COLOR"):
        return False
    return _isatty(stream)


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


class Progress:
    """One progress bar (see `Output.progress`): `advance(n)` as work is done, `total` when it
    becomes known or changes, `reset` to start over (a download that restarts), `note` for a
    line above it. It is the `mckpt.io.progress.Progress` library code takes, as it is.

    Off a terminal the bar is not drawn, so library code reports progress unconditionally; a
    `reset` naming what is now counted is then one line instead (no redraws in a pipe or a log).
    Updates reach Rich at most every 50 ms: it takes a lock per update, and a download or a
    tensor loop calls `advance` far more often than a screen can show.
    """

    FLUSH_SECONDS = 0.05

    def __init__(self, description: str, total: int | None, done: int, unit: Literal["bytes", "items"], *,
                 live: bool, err: TextIO, notice: Callable[[str], None]) -> None:
        self.description = self._title = description
        self.note = notice  # a line above the bar (`Output.notice`: nothing with -q)
        self._total = total
        self.done = done
        self.unit = unit
        self.live: Any = _rich_progress(unit, err) if live else None
        self._task: Any = None  # the Rich task, added when there is something to show
        self._pending = 0
        self._flushed = 0.0

    @property
    def total(self) -> int | None:
        return self._total

    @total.setter
    def total(self, value: int | None) -> None:
        self._total = value
        if self._shown():
            self.live.update(self._task, total=value)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if not self._shown():
            return
        self._pending += n
        now = time.monotonic()
        if now - self._flushed >= self.FLUSH_SECONDS:
            self._flush(now)

    def reset(self, total: int | None, done: int = 0, description: str | None = None) -> None:
        """Start the bar over at `done` of `total` (a restarted or resumed transfer)."""
        self._total, self.done, self._pending = total, done, 0
        self.description = description or self.description
        if description and self.live is None:
            amount = ("unknown size" if total is None else human_bytes(total) if self.unit == "bytes"
                      else f"{total} items")
            self.note(f"{self._title} {description} ({amount})")
        if self._shown():
            self.live.reset(self._task, total=total, completed=done, description=self._label())

    def _shown(self) -> bool:
        """Whether the bar is drawn, starting it on the first news (a fetch found in the cache
        never flashes an empty bar)."""
        if self.live is None:
            return False
        if self._task is None:
            self.live.start()
            self._task = self.live.add_task(self._label(), total=self._total, completed=self.done)
        return True

    def _label(self) -> str:
        """The description, cut in the middle when the terminal is too narrow for it and the numbers:
        size, speed and time left stay whole at 80 columns (a file name can be 100 characters)."""
        return shorten_middle(self.description, max(12, self.live.console.width - _NUMBERS_WIDTH))

    def _flush(self, now: float) -> None:
        self.live.update(self._task, advance=self._pending)
        self._pending, self._flushed = 0, now

    def __enter__(self) -> Progress:
        if self._total is not None:
            self._shown()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._flush(time.monotonic())
            self.live.stop()


# What the columns right of the label take at most: `1023.9/1023.9 MiB`, `1023.9 MiB/s`, `0:00:00`,
# a bar of at least 10 cells, and a space between each.
_NUMBERS_WIDTH = 17 + 12 + 7 + 10 + 5


def shorten_middle(text: str, width: int) -> str:
    """`text` in at most `width` characters, its middle replaced by `…` (a file name keeps its start
    and its task suffix: `er_seq-cifar10_…_deadbeef_4.pt`)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def _rich_progress(unit: Literal["bytes", "items"], err: TextIO) -> Any:
    """Rich's bar with mckpt's columns: bytes as `12.0/288.3 MiB` and `40.1 MiB/s`, or items as `3/200`."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress
    from rich.text import Text

    class BinarySpeed(ProgressColumn):
        """Rich's TransferSpeedColumn speaks decimal units (MB/s); this one the MiB of every size."""

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{human_bytes(int(speed))}/s", style="progress.data.speed")

    count = [DownloadColumn(binary_units=True), BinarySpeed()] if unit == "bytes" else [MofNCompleteColumn()]
    return RichProgress(TextColumn("{task.description}", markup=False), BarColumn(bar_width=None), *count,
                        TimeRemainingColumn(), expand=True,
                        console=Console(file=err, no_color=not use_colour(err)), transient=True)
