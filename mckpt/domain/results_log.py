"""Reading Mammoth's results log (`logs.pyd`) safely: one `str(dict)` line per finished run.

A line is Python literal syntax plus the reprs Mammoth's values print as: `np.float64(33.3)`,
`np.float32(…)`, `np.int64(…)` (numpy 2), `device(type='cpu')` (a torch device), bare `nan` and
`inf`. Strings holding numbers (`'100.0'`, tasks restored by `--loadcheck`) stay strings; readers
take numbers leniently. Nothing is ever evaluated: a line is parsed by `ast.parse(mode='eval')`
and only the node shapes above are turned into values; any other node (a call of anything else,
a name, an operator, a comprehension) refuses the line.

`ast.parse` recurses on nesting and builds a node per token, so a line's cost is bounded *before*
it is parsed: its length (MAX_LINE_BYTES), its bracket depth (MAX_DEPTH) and its number of items
(MAX_ITEMS), counted by C-speed scans with string literals cut out. A line over a bound is refused
with its number; the other lines of the file are still read. A file is read line by line, so a
100 MB line costs one bounded buffer, not 100 MB.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import MckptError
from ..io.sources import ByteSource

MAX_LINE_BYTES = 1 << 20  # a real line is ~3 KB (a 20-task, 50-epoch run's ~20 KB)
MAX_DEPTH = 16  # a real line nests 2 deep (the dict, a list of memory usages)
MAX_ITEMS = 60_000  # values, keys and brackets: bounds the parser's nodes (a real line has ~300)
CHUNK = 1 << 20  # bytes read at a time from a file or a store

# The reprs Mammoth's values take in `str(dict)`: numpy 2 scalars and a torch device.
NUMPY_SCALARS: dict[str, Callable[[Any], Any]] = {"float64": float, "float32": float, "int64": int}
_STRINGS = re.compile(r"""'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*\"""")
_BRACKETS = re.compile(r"[\[\](){}]")
_ITEM = re.compile(r"[,:\[({]")
_OPEN = frozenset("[({")
_NAMES = {"nan": math.nan, "inf": math.inf}
_NUMBER = r"-?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|nan|inf)"
_FAST = re.compile(r"'(?P<single>[^'\\\n]*)'|\"(?P<double>[^\"\\\n]*)\""
                   r"|np\.(?P<np>float64|float32|int64)\((?P<number>" + _NUMBER + r")\)"
                   r"|device\(type='(?P<kind>\w+)'(?:, index=(?P<index>\d+))?\)"
                   r"|(?<![\w.])(?P<word>[A-Za-z_]\w*)|(?P<paren>[()])")
_JSON_WORDS = {"None": "null", "True": "true", "False": "false", "nan": "NaN", "inf": "Infinity",
               "-nan": "NaN", "-inf": "-Infinity"}
_CONSTANTS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
# The quickest path (a line with no `"`, backslash or NUL: every string is '…' with no quote inside):
# strings are cut out with str.split("'"), the code between them rewritten by C-speed substitutions
# with no per-string Python call. Bare words JSON would take but Python would not refuse it.
_MARK = "\x00"
_JSON_ONLY_WORDS = re.compile(r"true|false|null|NaN|Infinity")
_QUICK_DEVICE = re.compile(r"device\(type=\x00\)")
_QUICK_NUMPY = re.compile(r"np\.(?:float64|float32)\((-?(?:\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|nan|inf))\)"
                          r"|np\.int64\((-?\d+)\)")
_QUICK_WORDS = (("None", "null"), ("True", "true"), ("False", "false"), ("nan", "NaN"), ("inf", "Infinity"))


class BadLine(ValueError):
    """A line that is not what Mammoth writes; the message says why (no line number: the caller adds it)."""


@dataclass(frozen=True)
class LogLine:
    """One run's line: its 1-based number in the file and its values."""

    number: int
    values: dict[str, Any]


@dataclass
class LogFile:
    """A `logs.pyd` as read: the lines that parsed, and a warning per line that did not."""

    path: str
    lines: list[LogLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _check_shape(text: str) -> None:
    """Refuse a line whose parse would cost too much, before parsing it."""
    bare = _STRINGS.sub("''", text)
    if len(_ITEM.findall(bare)) > MAX_ITEMS:
        raise BadLine(f"more than {MAX_ITEMS:,} items")
    depth = 0
    for b in _BRACKETS.findall(bare):
        if b in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise BadLine(f"nested more than {MAX_DEPTH} deep")
        else:
            depth -= 1


def _number(node: ast.expr) -> float | int:
    """A numeric literal, signed or a bare nan/inf (what a numpy scalar's repr holds)."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value  # type: ignore[no-any-return]
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        x = _number(node.operand)
        return -x if isinstance(node.op, ast.USub) else x
    raise BadLine(f"not a number: {type(node).__name__}")


def _call(node: ast.Call) -> Any:
    f = node.func
    if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "np"
            and f.attr in NUMPY_SCALARS and len(node.args) == 1 and not node.keywords):
        return NUMPY_SCALARS[f.attr](_number(node.args[0]))
    if isinstance(f, ast.Name) and f.id == "device" and not node.args:
        kw = {k.arg: k.value for k in node.keywords}
        kind, index = kw.pop("type", None), kw.pop("index", None)
        if kw or not (isinstance(kind, ast.Constant) and isinstance(kind.value, str)):
            raise BadLine("a device() that is not device(type=…[, index=…])")
        if index is None:
            return kind.value
        i = _number(index)
        if not isinstance(i, int):
            raise BadLine("a device() whose index is not an integer")
        return f"{kind.value}:{i}"
    raise BadLine("a call that is not np.float64/float32/int64(…) or device(…)")


def _value(node: ast.expr) -> Any:
    t = type(node)
    if t is ast.Constant:
        v = node.value  # type: ignore[attr-defined]
        if isinstance(v, bytes | complex) or v is Ellipsis:
            raise BadLine(f"a {type(v).__name__} literal")
        return v
    if t is ast.Dict:
        d: dict[Any, Any] = {}
        for k, v in zip(node.keys, node.values, strict=True):  # type: ignore[attr-defined]
            if k is None:
                raise BadLine("a ** in a dict")
            key = _value(k)
            if isinstance(key, list | dict):
                raise BadLine("a dict key that is a list or dict")
            d[key] = _value(v)
        return d
    if t is ast.List or t is ast.Tuple:
        return [_value(x) for x in node.elts]  # type: ignore[attr-defined]
    if t is ast.Call:
        return _call(node)  # type: ignore[arg-type]
    return _number(node)


def _as_json(m: re.Match[str]) -> str:
    g = m.lastgroup
    if g == "single":
        return '"' + m["single"].replace('"', '\\"') + '"'
    if g == "double":
        return m[0]
    if g == "number":  # a numpy scalar: the number group closes last
        number = m["number"]
        if m["np"] != "int64":
            return _JSON_WORDS.get(number) or (number if any(c in number for c in ".eE") else number + ".0")
        if not number.lstrip("-").isdigit():
            raise _NotJson
        return number
    if g in ("kind", "index"):
        return f'"{m["kind"]}:{m["index"]}"' if m["index"] else f'"{m["kind"]}"'
    if g == "word" and m["word"] in _JSON_WORDS:
        return _JSON_WORDS[m["word"]]
    raise _NotJson


class _NotJson(Exception):
    """The line has something the JSON fast path does not take: the full parser decides."""


def _quick_json(text: str) -> str | None:
    """The line as JSON text when its strings hold no quote, backslash or NUL; else None."""
    if '"' in text or "\\" in text or _MARK in text:
        return None
    parts = text.split("'")
    code = _MARK.join(parts[0::2])
    if len(parts) % 2 == 0 or _JSON_ONLY_WORDS.search(code):
        return None
    code = _QUICK_NUMPY.sub(r"\1\2", _QUICK_DEVICE.sub(_MARK, code))
    for word, json_word in _QUICK_WORDS:
        code = code.replace(word, json_word)
    parts[0::2] = code.split(_MARK)
    return '"'.join(parts)


def _fast(text: str) -> dict[str, Any] | None:
    """The common line read at C speed: its strings, numbers, None/True/False, numpy scalars and
    devices rewritten as JSON, then `json.loads` (which takes only data, and stops deep nesting
    with a RecursionError). None when the line holds anything else (a backslash in a string, a
    tuple, a non-string key, an unknown name): the full parser then reads it, or says why not."""
    for rewrite in (_quick_json, _json_by_token):
        try:
            json_text = rewrite(text)
            doc = None if json_text is None else json.loads(json_text, parse_constant=_CONSTANTS.__getitem__)
        except (_NotJson, ValueError, RecursionError, KeyError):
            continue
        if doc is not None:
            return doc if isinstance(doc, dict) else None
    return None


def _json_by_token(text: str) -> str:
    """Any line as JSON text, token by token (a Python call per string: the slower way)."""
    return _FAST.sub(_as_json, text)


def parse_line(text: str) -> dict[str, Any]:
    """One line's dict. Raises BadLine (why) for anything but what Mammoth's `Logger.write` prints."""
    if len(text) > MAX_LINE_BYTES:
        raise BadLine(f"longer than {MAX_LINE_BYTES:,} bytes")
    if text.count("[") + text.count("{") > MAX_DEPTH:  # could nest deeper than Mammoth's lines: measure
        _check_shape(text)
    doc = _fast(text)
    return doc if doc is not None else parse_literal(text)


def parse_line_slow(text: str) -> dict[str, Any]:
    """`parse_line` without the JSON fast path: the full parser under its bounds (tests compare the two)."""
    if len(text) > MAX_LINE_BYTES:
        raise BadLine(f"longer than {MAX_LINE_BYTES:,} bytes")
    return parse_literal(text)


def parse_literal(text: str) -> dict[str, Any]:
    """The full parser: bounded, then `ast.parse` and the node whitelist."""
    _check_shape(text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise BadLine(f"not Python literal syntax ({type(e).__name__})") from None
    if not isinstance(tree.body, ast.Dict):
        raise BadLine("not a dict")
    values = _value(tree.body)
    if not all(isinstance(k, str) for k in values):
        raise BadLine("a key that is not a string")
    return values  # type: ignore[no-any-return]


def iter_lines(read: Callable[[int, int], bytes], size: int) -> Iterator[tuple[int, bytes | None]]:
    """(number, line bytes) of a file read by `read(offset, n)`, CHUNK bytes at a time; a line over
    MAX_LINE_BYTES comes as None (its bytes are skipped, never held)."""
    number, offset, buf, too_long = 0, 0, b"", False
    while offset < size:
        chunk = read(offset, min(CHUNK, size - offset))
        if not chunk:
            break
        offset += len(chunk)
        buf += chunk
        start = 0
        while (end := buf.find(b"\n", start)) >= 0:
            number += 1
            yield number, None if too_long or end - start > MAX_LINE_BYTES else buf[start:end]
            too_long, start = False, end + 1
        buf = buf[start:]
        if len(buf) > MAX_LINE_BYTES:
            too_long, buf = True, b""
    if buf or too_long:
        yield number + 1, None if too_long else buf


def read_log(source: ByteSource, path: str | None = None) -> LogFile:
    """Every line of a results log; a bad line is a warning naming the file and the line."""
    log = LogFile(path or source.name)
    for number, raw in iter_lines(source.read_at, source.size):
        if raw is not None and not raw.strip():
            continue
        try:
            if raw is None:
                raise BadLine(f"longer than {MAX_LINE_BYTES:,} bytes")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise BadLine("not UTF-8 text") from None
            log.lines.append(LogLine(number, parse_line(text)))
        except BadLine as e:
            log.warnings.append(f"{log.path}:{number}: line left out: {e}")
    return log


def read_log_file(path: str) -> LogFile:
    """A local `logs.pyd`."""
    from ..io.sources import FileSource

    try:
        with FileSource(path) as src:
            return read_log(src, path)
    except MckptError as e:
        e.path = e.path or path
        raise
