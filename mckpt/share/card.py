"""The card `push` writes beside a run: a `README.md` with the hub's YAML metadata and
`model-index` results, and what a reader needs to trust and use the files.

Everything in it comes from the files themselves (args, accuracy matrices, sha256), read by the
safe reader; nothing in a file can become markup: every value from a file is a JSON-quoted scalar
in the YAML and escaped in the Markdown. The numbers are the ones `inspect --json` shows
(`metrics.*.final_avg`, `forgetting`, `bwt`, rounded as Mammoth logs them). PyYAML is not
needed: JSON scalars are valid YAML.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from typing import Any

from ..domain.checkpoint import Checkpoint, to_plain
from ..domain.metrics import round_acc
from .dest import Destination

MARKER = "<!-- written by `mckpt push`; `mckpt push --card-only` writes it again -->"
SETTINGS = ("class_il", "task_il")
LABELS = {"class_il": "Class-IL", "task_il": "Task-IL"}
SUMMARY = (("final_avg", "accuracy", "final average accuracy"), ("forgetting", "forgetting", "forgetting"),
           ("bwt", "bwt", "backward transfer (BWT)"))
MAIN_ARGS = ("model", "dataset", "backbone", "buffer_size", "n_epochs", "lr", "batch_size", "optimizer",
             "optim_wd", "optim_mom", "seed", "joint")
_MD = re.compile(r"([\\`*_{}\[\]<>|#])")


@dataclass
class CardFile:
    """One file of the card's table."""

    name: str
    bytes: int
    sha256: str | None  # None in a --dry-run (computed as it is pushed)
    what: str


def md(value: Any) -> str:
    """A value from a file as inert Markdown table text (one line, no markup, no HTML)."""
    text = value if isinstance(value, str) else json.dumps(to_plain(value))
    return _MD.sub(r"\\\1", " ".join(text.split()))[:200]


def y(value: Any) -> str:
    """A YAML scalar: JSON's spelling, which YAML reads as the same string or number."""
    return json.dumps(value, ensure_ascii=False)


def summary(runs: list[Checkpoint]) -> dict[str, dict[str, tuple[float | None, float | None]]]:
    """(value, std) of each setting's final_avg/forgetting/bwt: one run's value, or over several
    runs (seeds) their mean and sample standard deviation; rounded as `inspect` rounds."""
    out: dict[str, dict[str, tuple[float | None, float | None]]] = {}
    for setting in SETTINGS:
        out[setting] = {}
        for key, _, _ in SUMMARY:
            values = [v for ck in runs if (v := ck.metrics[setting].summary_json()[key]) is not None]
            if len(values) != len(runs) or not values:
                out[setting][key] = (None, None)
            elif len(values) == 1:
                out[setting][key] = (values[0], None)
            else:
                out[setting][key] = (round_acc(statistics.fmean(values)), round_acc(statistics.stdev(values)))
    return out


def run_title(ck: Checkpoint) -> str:
    model, dataset = ck.args.get("model"), ck.args.get("dataset")
    if isinstance(model, str) and isinstance(dataset, str):
        return f"{model} on {dataset}"
    return ck.name.stem if ck.name else ck.path.rsplit("/", 1)[-1]


def _metadata(runs: list[Checkpoint], license: str | None, values: dict[str, Any]) -> list[str]:
    first = runs[0]
    dataset = first.args.get("dataset")
    model = first.args.get("model")
    lines = ["---", "library_name: mammoth", "tags:", "- mammoth", "- continual-learning"]
    if isinstance(model, str):
        lines.append(f"- {y(model)}")
    if isinstance(dataset, str):
        lines += ["datasets:", f"- {y(dataset)}"]
    if license:
        lines.append(f"license: {y(license)}")
    results: list[str] = []
    for setting in SETTINGS:
        metrics = [(key, kind, label) for key, kind, label in SUMMARY if values[setting][key][0] is not None]
        if not metrics or not isinstance(dataset, str):
            continue
        results += ["  - task:", "      type: continual-learning", f"      name: {y(LABELS[setting])}",
                    "    dataset:", f"      type: {y(dataset)}", f"      name: {y(dataset)}", "    metrics:"]
        for key, kind, label in metrics:
            results += [f"    - type: {kind}", f"      name: {y(LABELS[setting] + ' ' + label)}",
                        f"      value: {y(values[setting][key][0])}"]
    if results:
        lines += ["model-index:", f"- name: {y(run_title(first))}", "  results:", *results]
    return [*lines, "---"]


def _number(value: float | None, std: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2f} ± {std:.2f}" if std is not None else f"{value:.2f}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(r) + " |" for r in rows)]


def card_text(runs: list[Checkpoint], files: list[CardFile], dest: Destination, license: str | None = None) -> str:
    """The README.md for `runs` (one per seed pushed together; the newest file of each) and `files`."""
    values = summary(runs)
    first = runs[0]
    lines = _metadata(runs, license, values)
    lines += ["", MARKER, "", f"# {md(run_title(first))}", ""]
    seeds = f" over {len(runs)} runs (mean ± standard deviation)" if len(runs) > 1 else ""
    lines += [f"A continual-learning run trained with [Mammoth](https://github.com/aimagelab/mammoth) "
              f"({first.tasks_done} task(s) done), shared with `mckpt push`. Results{seeds}:", ""]
    rows = [[label[0].upper() + label[1:], *(_number(*values[s][key]) for s in SETTINGS)] for key, _, label in SUMMARY]
    lines += _table(["", "Class-IL", "Task-IL"], rows)
    if len(runs) > 1:
        lines += ["", "Each run:", ""]
        lines += _table(["seed", "file", "Class-IL", "Task-IL"], [
            [md(ck.args.get("seed", "–")), md(ck.path.rsplit("/", 1)[-1]),
             _number(ck.metrics["class_il"].summary_json()["final_avg"], None),
             _number(ck.metrics["task_il"].summary_json()["final_avg"], None)] for ck in runs])
    for setting in SETTINGS:
        matrix = getattr(first, setting)
        if matrix:
            n = max(len(r) for r in matrix)
            lines += ["", f"{LABELS[setting]} accuracy (row: after training task t; column: tested on task):", ""]
            lines += _table(["after", *(f"task {i}" for i in range(n))],
                            [[str(t), *(f"{x:.2f}" for x in row), *([""] * (n - len(row)))]
                             for t, row in enumerate(matrix)])
    lines += ["", "## Arguments", ""]
    main = [k for k in MAIN_ARGS if k in first.args]
    lines += _table(["arg", "value"], [[md(k), md(first.args[k])] for k in main])
    rest = sorted(k for k in first.args if k not in main)
    if rest:
        lines += ["", f"<details><summary>The other {len(rest)} args</summary>", ""]
        lines += _table(["arg", "value"], [[md(k), md(first.args[k])] for k in rest])
        lines += ["", "</details>"]
    lines += ["", "## Files", ""]
    lines += _table(["file", "bytes", "sha256", "what"],
                    [[md(f.name), str(f.bytes), f"`{f.sha256}`" if f.sha256 else "(computed when pushed)", md(f.what)]
                     for f in files])
    lines += ["", "## Use it", "", "```bash"]
    main_file = next((f.name for f in files if f.name.endswith(".pt")), files[0].name)
    url = dest.fetch_url(main_file)
    lines += [f"mckpt fetch {url}", f"mckpt verify {main_file}", f"mckpt load {url} --dry-run"]
    if (resolve := dest.resolve_url(main_file)) is not None:
        lines += ["# Mammoth downloads it itself:", f"python main.py --loadcheck {resolve}"]
    else:
        lines += ["# Mammoth loads the fetched file:", f"python main.py --loadcheck {main_file}"]
    lines += ["```", ""]
    return "\n".join(lines)


def manifest(runs: list[Checkpoint], files: list[CardFile], by_file: dict[str, Checkpoint]) -> dict[str, Any]:
    """`manifest.json` beside a store push: each file's name, size, sha256, tasks and metrics."""
    from ..version import __version__

    def entry(f: CardFile) -> dict[str, Any]:
        ck = by_file.get(f.name)
        return {"name": f.name, "bytes": f.bytes, "sha256": f.sha256, "what": f.what,
                "tasks_done": ck.tasks_done if ck else None,
                "metrics": {k: m.summary_json() for k, m in ck.metrics.items()} if ck else None}

    values = summary(runs)
    return {"generated_by": f"mckpt {__version__}", "files": [entry(f) for f in files],
            "runs": len(runs),
            "metrics": {s: {k: {"value": v, "std": sd} for k, (v, sd) in values[s].items()} for s in SETTINGS}}
