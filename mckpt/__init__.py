"""mckpt: a fast, safe checkpoint manager for the Mammoth continual-learning framework.

The library reads checkpoints without torch and without running code from their pickles::

    import mckpt
    ckpt = mckpt.read_checkpoint("checkpoints/er_seq-cifar10_None_500_50_20250101-101010_1a2b3c4d_4.pt")
    ckpt.tasks_done, ckpt.metrics["class_il"].final_avg, ckpt.args["lr"]
    listing = mckpt.scan(["checkpoints"])

Names are imported on first use (PEP 562), so `import mckpt.<module>` from a TAB-completion or the
CLI pays only for what it touches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

_EXPORTS = {
    "Checkpoint": "domain.checkpoint",
    "read_checkpoint": "domain.checkpoint",
    "MckptError": "errors",
    "ParsedName": "domain.names",
    "parse_name": "domain.names",
    "parse_stem": "domain.names",
    "Listing": "domain.runs",
    "Run": "domain.runs",
    "scan": "domain.runs",
    "collect_results": "locate.run_sources",
    "Query": "domain.results",
    "diff_checkpoints": "diff",
    "plan_conversion": "convert",
    "write_plan": "convert",
    "load": "torch_load",
    "resolve_checkpoint": "locate.resolve",
}

__all__ = [
    "Checkpoint",
    "Listing",
    "MckptError",
    "ParsedName",
    "Query",
    "Run",
    "__version__",
    "collect_results",
    "diff_checkpoints",
    "load",
    "parse_name",
    "parse_stem",
    "plan_conversion",
    "read_checkpoint",
    "resolve_checkpoint",
    "scan",
    "write_plan",
]

if TYPE_CHECKING:
    from .convert import plan_conversion, write_plan
    from .diff import diff_checkpoints
    from .domain.checkpoint import Checkpoint, read_checkpoint
    from .domain.names import ParsedName, parse_name, parse_stem
    from .domain.results import Query
    from .domain.runs import Listing, Run, scan
    from .errors import MckptError
    from .locate.resolve import resolve_checkpoint
    from .locate.run_sources import collect_results
    from .torch_load import load


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mckpt' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
