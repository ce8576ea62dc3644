"""Text that came from a file, made safe to print, and short descriptions of file values.

Arg names, values, file names and error messages quoting them reach the terminal: an `ESC[2J`
in an arg clears the screen, `ESC]0;…` sets the window title, a `\\r\\n` forges a line (one that
could hide `load`'s warning), a bidi override reorders what is shown. The output layer passes
every string through :func:`clean` (control and invisible formatting characters become visible
escapes) and JSON through :func:`clean_json` (the same characters as `\\uXXXX`: still exact JSON).
:func:`brief` renders a value of any size in bounded time, never with `repr()`.
"""

from __future__ import annotations

import re
from typing import Any

# C0 controls (tab and newline too: a field is one line), DEL and C1 controls; then the invisible
# formatting characters that reorder or hide text: the Arabic letter mark, zero-width and
# directional marks, line/paragraph separators, bidi embeddings, overrides and isolates, word
# joiners and invisible operators, the byte order mark, interlinear annotation marks.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# In JSON the C0 controls are escaped by json.dumps already; the rest are left raw by
# ensure_ascii=False (kept so names in other scripts stay readable).
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]")


def _visible(m: re.Match[str]) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """`text` with every control or invisible formatting character shown as an escape (`\\x1b`,
    `\\r`, `\\u202e`), so it prints as one inert line whatever a file put in it."""
    return _UNSAFE.sub(_visible, text) if _UNSAFE.search(text) else text


def clean_lines(text: str) -> str:
    """:func:`clean`, keeping the blank lines a caller puts before its own text on purpose."""
    body = text.lstrip("\n")
    return text[: len(text) - len(body)] + clean(body)


def clean_json(document: str) -> str:
    """A JSON document with the characters a terminal could act on written as `\\uXXXX` escapes:
    only strings can hold them, and the escape decodes to the same string, so it stays exact."""
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


def brief(value: Any, limit: int = 72) -> str:
    """A value from a file (converted as `to_plain` converts it) as compact JSON-like text of at most `limit`
    characters, built piece by piece and stopped once full: a value that expands to millions of
    nodes costs no more than a short one."""
    import json

    from ..domain.checkpoint import plain_leaf

    parts: list[str] = []
    size = 0
    stack: list[Any] = [value]
    while stack and size <= limit:
        x = stack.pop()
        x = x if isinstance(x, _Raw) else plain_leaf(x)
        if isinstance(x, _Raw):
            piece = x.text
        elif isinstance(x, dict):
            items = list(x.items())[: limit]
            stack.append(_Raw("}"))
            for i, (k, v) in reversed(list(enumerate(items))):
                stack.extend([v, _Raw(":"), _Raw(json.dumps(str(k)[: limit + 1], ensure_ascii=False))])
                if i:
                    stack.append(_Raw(","))
            piece = "{"
        elif isinstance(x, list | tuple | set | frozenset):
            items = list(x)[: limit] if isinstance(x, set | frozenset) else list(x[: limit])
            stack.append(_Raw("]"))
            for i, v in reversed(list(enumerate(items))):
                stack.append(v)
                if i:
                    stack.append(_Raw(","))
            piece = "["
        elif isinstance(x, str):
            piece = x[: limit + 1] if not parts else json.dumps(x[: limit + 1], ensure_ascii=False)
        elif x is None:
            piece = "None" if not parts else "null"
        elif isinstance(x, bool | int | float):
            piece = str(x) if not isinstance(x, int) or x.bit_length() < 200 else "<a huge int>"
            if parts and isinstance(x, bool):
                piece = piece.lower()
        else:
            piece = f"<{type(x).__name__}>"
        parts.append(piece)
        size += len(piece)
    text = "".join(parts)
    return text if len(text) <= limit and not stack else text[: limit - 1] + "…"


class _Raw:
    """Punctuation queued by :func:`brief` (kept apart from string values, which get quoted)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text
