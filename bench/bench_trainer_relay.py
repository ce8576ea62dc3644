"""How much `mckpt save`'s output relay costs against running Mammoth straight.

A chatty stand-in child prints LINES progress lines (like tqdm bars, ~100 bytes each) to stdout
and stderr. Peers: the same child with its output sent straight to /dev/null (buffered, and
unbuffered as mckpt runs it for live output), and through `| cat`, the bare pipe relay; mckpt's is
`mckpt.train.trainer.run_mammoth` relaying both pipes to /dev/null and scanning them for Mammoth's log
lines. Each variant runs REPEAT times in a fresh process under /usr/bin/time; medians reported.

    python bench/bench_trainer_relay.py [LINES] [REPEAT]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHILD = """
import sys
line = ("Task 3 - Epoch 7: |" + "#" * 60 + "| 12.3 it/s [loss: 0.123456] ").encode()
out, err = sys.stdout.buffer, sys.stderr.buffer
for i in range({lines}):
    (err if i % 4 == 0 else out).write(line + (b"\\r" if i % 8 else b"\\n"))
    if i == {lines} // 2:
        err.write(b"Saving checkpoint into: sgd_seq-mnist_None_0_1_20260101-101010_1a2b3c4d\\n")
"""
RELAY = """
import sys
from pathlib import Path
from mckpt.train.trainer import run_mammoth
devnull = open("/dev/null", "w")
r = run_mammoth([sys.executable, {child!r}], Path({tmp!r}), Path({tmp!r}) / "checkpoints",
                stdout=devnull, stderr=devnull)
assert r.run_name, "the log line was not seen"
"""


def timed(cmd: list[str], stdout: object = None) -> tuple[float, int]:
    res = subprocess.run(
        ["/usr/bin/time", "-f", "%e %M", *cmd],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
        cwd=REPO,
    )
    wall, rss = res.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss)


VARIANTS = (
    ("direct, buffered", "{py} {child} >/dev/null 2>&1"),
    ("direct, PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=1 {py} {child} >/dev/null 2>&1"),
    ("unbuffered child | cat", "PYTHONUNBUFFERED=1 {py} {child} 2>&1 | cat >/dev/null"),
)
MCKPT = "relayed by run_mammoth"


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    runs: dict[str, list[tuple[float, int]]] = {label: [] for label, _ in VARIANTS}
    runs[MCKPT] = []
    with tempfile.TemporaryDirectory() as tmp, open("/dev/null", "w") as devnull:
        child = Path(tmp) / "child.py"
        child.write_text(CHILD.format(lines=lines))
        relay = RELAY.format(child=str(child), tmp=tmp)
        for _ in range(repeat):
            for label, shell in VARIANTS:
                runs[label].append(timed(["sh", "-c", shell.format(py=sys.executable, child=child)]))
            runs[MCKPT].append(timed([sys.executable, "-c", relay], stdout=devnull))
    print(f"{lines:,} lines (~{lines * 100 / 2**20:.0f} MiB), median wall of {repeat}, max peak RSS")
    walls = {label: statistics.median(w for w, _ in r) for label, r in runs.items()}
    for label, r in runs.items():
        print(f"  {label:<28} {walls[label]:6.2f} s  {max(m for _, m in r) / 1024:5.0f} MiB")
    for peer in ("direct, buffered", "direct, PYTHONUNBUFFERED=1", "unbuffered child | cat"):
        print(f"  ratio mckpt / {peer}: {walls[MCKPT] / walls[peer]:.2f}")


if __name__ == "__main__":
    main()
