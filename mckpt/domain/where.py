"""The one `--where` language of `results`, `plot`, `prune` and `list`: a saved arg against what a
user typed. `ARG=V1,V2` (any of), `ARG!=V`, numbers compared with `>`, `>=`, `<`, `<=`; a number
equals its spellings (`lr=0.1` is 0.10), `None`/`null` an unset arg, `true`/`1`/`yes` a True flag,
and Mammoth's name spellings are one (`er-ace` is `er_ace`, as in `list --model`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError

_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*(>=|<=|!=|==|=|>|<)\s*(.*?)\s*$")  # ASCII names


@dataclass(frozen=True)
class Where:
    """`ARG=V1,V2`, `ARG!=V`, or a comparison on numbers (`ARG>=200`)."""

    arg: str
    op: str
    values: tuple[str, ...]

    @staticmethod
    def parse(text: str) -> Where:
        m = _WHERE.match(text)
        if not m:
            raise UsageError(f"{text!r}: expected ARG=VALUE[,VALUE…] or ARG>=NUMBER (also >, <, <=, !=)",
                             param="where")
        arg, op, rhs = m[1], "=" if m[2] == "==" else m[2], m[3]
        values = tuple(v.strip() for v in rhs.split(",")) if op in ("=", "!=") else (rhs,)
        if op not in ("=", "!=") and number(rhs) is None:
            raise UsageError(f"{text!r}: {op} compares numbers, and {rhs!r} is not one", param="where")
        return Where(arg, op, values)

    @property
    def text(self) -> str:
        """The condition as a user types it (`lr<0.1`, `model=derpp,er`)."""
        return f"{self.arg}{self.op}{','.join(self.values)}"

    def matches(self, args: dict[str, Any]) -> bool:
        v = args.get(self.arg)
        if self.op in ("=", "!="):
            hit = any(_equal(v, s) for s in self.values)
            return hit if self.op == "=" else not hit
        x, y = number(v), number(self.values[0])
        if x is None or y is None or isinstance(v, bool):
            return False
        return {">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y}[self.op]


def number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str) and v.isascii():  # float() takes other Unicode digits too (`٥٠٠`): not a number here
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _norm(s: str) -> str:
    return s.replace("-", "_").lower()  # `er_ace` is Mammoth's `er-ace`, as in `list --model`


def _equal(v: Any, s: str) -> bool:
    if v is None:
        return s.lower() in ("none", "null", "")
    if isinstance(v, bool):
        return s.lower() in (("true", "1", "yes") if v else ("false", "0", "no"))
    if isinstance(v, int | float):
        return number(s) == float(v)
    if isinstance(v, str):
        return _norm(v) == _norm(s)
    return show_value(v) == s


def show_value(v: Any) -> str:
    if isinstance(v, list | dict):
        return json.dumps(v, separators=(",", ":"), default=str)
    return "None" if v is None else str(v)


def parse_where(items: Iterable[str] | None) -> tuple[Where, ...]:
    """The conditions of repeated `--where` options (all must hold)."""
    return tuple(Where.parse(w) for w in items or ())
