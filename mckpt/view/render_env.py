"""How `mckpt env` reads: one key/value block, pasteable into an issue as it is."""

from __future__ import annotations

from ..envinfo import EnvReport
from .output import Output, human_bytes


def render_env(out: Output, report: EnvReport) -> None:
    cache = report.cache
    m = report.mammoth
    if m.root is None:
        mammoth = f"not found ({m.problem})"
    else:
        commit = m.commit or "unknown (not a git checkout)"
        mammoth = f"{m.root} ({m.layout} layout, found by {m.found_by}), commit {commit}"
    pairs = [("mckpt", report.mckpt), ("python", f"{report.python} ({report.executable})"),
             ("platform", report.platform)]
    pairs += [(name, version or "not installed") for name, version in report.packages.items()]
    pairs += [
        ("cache", f"{cache.path} ({human_bytes(cache.bytes)} in {cache.files} file(s))" if cache.exists
         else f"{cache.path} (not created yet)"),
        ("mammoth", mammoth),
    ]
    pairs += [(name, value) for name, value in report.environment.items()] or [("environment", "(none set)")]
    out.fields(pairs)
