"""A command shows its result one way: `out.show(document, render)` (or `confirm.carry_out` for a
destructive plan, which calls it), never its own `if json: … else: render`."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "mckpt" / "cli"


def test_no_command_prints_its_json_document_by_hand() -> None:
    by_hand = []
    for path in sorted(CLI.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("emit_json"):
                    by_hand.append(f"{path.name}:{node.lineno} in {func.name}")
    # The one exception: save/load's document for an error raised inside the `with JsonDocument`
    # block (there is no result to show, only the refusal, in the same document shape).
    assert by_hand and all(h.startswith("mammoth_run.py:") and h.endswith(" in __exit__") for h in by_hand), by_hand
