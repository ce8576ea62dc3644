"""Every stream goes through `Output`: results on stdout; warnings, notices, errors and progress on
stderr, escaped like the rest, quiet in pipes and with -q; the json-or-render tail."""

from __future__ import annotations

import io
import re

import pytest

from mckpt.view.output import Output

ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stderr_messages_have_one_look_and_are_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    out, err = io.StringIO(), io.StringIO()
    o = Output(stream=out, err=err)
    o.warning("file\x1b[2Jname")
    o.notice("resuming\rat 3")
    o.error("bad\x07", hint="try \x1b]0;x\x07")
    lines = err.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["warning", "mckpt", "error", "hint"]
    assert not any(c in err.getvalue() for c in "\x1b\x07\r")
    assert out.getvalue() == ""


def test_quiet_keeps_errors_and_warnings_only() -> None:
    out, err = io.StringIO(), io.StringIO()
    o = Output(quiet=True, stream=out, err=err)
    o.line("result")
    o.notice("fetching")
    o.warning("the cache was not updated")
    o.error("boom")
    assert out.getvalue() == ""
    assert err.getvalue() == "warning: the cache was not updated\nerror: boom\n"


def test_show_builds_only_what_is_shown() -> None:
    built: list[str] = []

    def document() -> dict[str, int]:
        built.append("json")
        return {"n": 1}

    human = io.StringIO()
    o = Output(stream=human)
    o.show(document, lambda: o.line("one"))
    assert human.getvalue() == "one\n" and built == []
    machine = io.StringIO()
    o = Output(json=True, stream=machine)
    o.show(document, lambda: o.line("one"))
    assert machine.getvalue() == '{\n  "n": 1\n}\n' and built == ["json"]


@pytest.mark.parametrize("fmt", [None, "github", "csv", "latex"])
def test_output_in_a_pipe_never_starts_with_a_blank_line(fmt: str | None) -> None:
    stream = io.StringIO()
    o = Output(fmt=fmt, stream=stream)
    o.heading("Args")
    o.line("\nafter a blank line")
    o.table(["a"], [["1"]], title="second")
    text = stream.getvalue()
    assert text.strip() and not text.startswith("\n"), text
    assert "\n\nafter a blank line" in text or fmt == "csv"  # later blank lines stay


def test_a_terminal_view_never_starts_with_a_blank_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    stream = Terminal()
    o = Output(stream=stream)
    o.heading("Args")
    assert ANSI.sub("", stream.getvalue()).startswith("Args")


def test_progress_in_a_pipe_draws_nothing_but_counts() -> None:
    err = io.StringIO()
    o = Output(err=err)
    with o.progress("copy", 100) as bar:
        bar.advance(40)
        bar.total = 200
        bar.advance(60)
    assert err.getvalue() == "" and bar.live is None
    assert (bar.done, bar.total) == (100, 200)


def test_progress_with_quiet_or_draw_false_stays_off_a_terminal() -> None:
    for o, kwargs in ((Output(quiet=True, err=Terminal()), {}), (Output(err=Terminal()), {"draw": False})):
        with o.progress("copy", 10, **kwargs) as bar:
            bar.advance(10)
        assert bar.live is None and o.err.getvalue() == ""


def test_progress_on_a_terminal_uses_binary_units_and_notices_print_above(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "120")
    err = Terminal()
    o = Output(err=err)
    total = 604_700_000  # the example: 604.7 MB decimal is 576.7 MiB
    with o.progress("copy + check", total) as bar:
        bar.advance(total // 2)
        o.notice("halfway \x1b[31mthere")
        bar.live.refresh()
    text = ANSI.sub("", err.getvalue())
    assert "576.7 MiB" in text and "MB" not in text.replace("MiB", ""), text
    assert "mckpt: halfway [31mthere" not in text and "mckpt: halfway" in text
    assert "\x1b[31m" not in err.getvalue()


def test_an_items_bar_counts_items_and_starts_only_when_news_comes() -> None:
    err = Terminal()
    o = Output(err=err)
    with o.progress("reading", unit="items") as bar:
        assert bar._task is None  # no total, no news: nothing drawn yet (a fetch found in the cache)
        bar.reset(3, description="reading runs")
        bar.advance()
        bar.live.refresh()
    assert "1/3" in ANSI.sub("", err.getvalue())


def test_results_printed_while_a_bar_is_drawn_go_above_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # verify prints a verdict per file while its bar runs: on one screen, above the bar, never through it
    monkeypatch.setenv("NO_COLOR", "1")
    screen = Terminal()
    o = Output(stream=Terminal(), err=screen)
    with o.progress("verifying", 10) as bar:
        o.line("ok  a.pt")
        bar.advance(5)
    assert "ok  a.pt" in ANSI.sub("", screen.getvalue())
    piped = io.StringIO()
    o = Output(stream=piped, err=Terminal())
    with o.progress("verifying", 10):
        o.line("ok  a.pt")
    assert piped.getvalue() == "ok  a.pt\n"  # a pipe gets the line itself, nothing of the bar
