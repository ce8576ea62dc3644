"""Counted nouns in messages: `1 tensor`, `2 tensors` (a leaf module: every layer may word counts)."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, in the plural unless `n` is 1 (`plural` for irregular ones, else noun + s)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
