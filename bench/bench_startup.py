"""Start-up cost of the CLI on several Typer releases, side by side in one run (issue 10).

Each interpreter given is a virtual environment with mckpt installed and one Typer release. For
each: `python -c pass` (the floor), a bare Typer app of 11 no-op commands (Typer's own cost),
`mckpt --version` and `mckpt list` of 1,000 checkpoint names. Every command of every environment
is interleaved in one loop, so drift on a shared machine hits all alike; compare the ratios.

Run by hand: `python bench/bench_startup.py [--runs 10] VENV/bin/python VENV2/bin/python …`
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from bench_read import OUT, write_names
from timing import compare

NOOP_APP = """
import typer
app = typer.Typer()
for i in range(11):
    app.command(f"cmd{i}")(lambda path: None)
app(["cmd0", "x"], standalone_mode=False)
"""


def typer_version(py: str) -> str:
    out = subprocess.run([py, "-c", "import typer; print(typer.__version__)"], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("pythons", nargs="+", help="interpreters of venvs with mckpt and one Typer each")
    a = ap.parse_args()
    names = OUT / "names" / "checkpoints"
    if not names.exists():
        write_names(names)
    commands: dict[str, list[str]] = {}
    labels: list[str] = []
    for py in a.pythons:
        label = f"typer {typer_version(py)}"
        labels.append(label)
        mckpt = str(Path(py).parent / "mckpt")
        commands |= {f"{label} | python -c pass": [py, "-c", "pass"],
                     f"{label} | no-op Typer app (11 cmds)": [py, "-c", NOOP_APP],
                     f"{label} | mckpt --version": [mckpt, "--version"],
                     f"{label} | mckpt list (1,000)": [mckpt, "list", str(names)]}
    samples = compare(commands, runs=a.runs)
    rss = {k: max(s.peak_rss_mib for s in v) for k, v in samples.items()}
    columns = ("python -c pass", "no-op Typer app (11 cmds)", "mckpt --version", "mckpt list (1,000)")
    first = labels[0]
    # Medians, and minima (the least disturbed run: on a loaded machine the steadier figure).
    for stat, pick in (("median", statistics.median), ("min", min)):
        wall = {k: pick(s.wall for s in v) for k, v in samples.items()}
        print(f"\n{stat} wall")
        print(f"{'':<14}{'python -c pass':>16}{'no-op Typer app':>17}{'--version':>11}{'list 1,000':>12}"
              f"{'list/--version':>16}{'--version vs ' + first:>25}{'peak RSS list':>15}")
        for label in labels:
            row = [wall[f"{label} | {c}"] for c in columns]
            print(f"{label:<14}{row[0]:>14.3f} s{row[1]:>15.3f} s{row[2]:>9.3f} s{row[3]:>10.3f} s"
                  f"{row[3] / row[2]:>15.2f}×{row[2] / wall[f'{first} | mckpt --version']:>24.2f}×"
                  f"{rss[f'{label} | mckpt list (1,000)']:>11.1f} MiB")


if __name__ == "__main__":
    sys.exit(main())
