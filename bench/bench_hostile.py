"""Benchmark of the reader against hostile files (issues 9, 21): every crafted file of
tests/hostile_files.py (under 64 KB; the inflate class's under 8 MiB) through `mckpt inspect`, and
the classes where verify reads more (lookup, inflate, deflate, layout) through `mckpt verify`,
each measured with `/usr/bin/time -v`. Targets: peak RSS < 256 MiB and wall < 5 s for every file,
one error line at most and no traceback. `inspect` of a small good checkpoint is measured in the
same run, so the worst file can be quoted as a ratio of it; `mckpt list` of a folder holding every
file (a paused/ folder included) is measured too.

`--against REF` also runs a git revision of mckpt (exported to bench/out/) on each file, with a
per-file timeout, to show what the files did before.

Run by hand: `python bench/bench_hostile.py [--against REF] [--timeout 30]`. Needs GNU time
(Debian: `apt-get install -y time`). Files go to bench/out/hostile (ignored by git).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out" / "hostile"
sys.path.insert(0, str(REPO / "tests"))

from hostile_files import build_all, torch_zip  # noqa: E402

TIME = "/usr/bin/time"


VERIFIED = ("lookup/", "inflate/", "deflate/", "layout/")  # classes also run through `verify`


@dataclass
class Run:
    wall: float
    rss_mib: float
    exit: int
    timed_out: bool = False
    error_lines: int = 0
    traceback: bool = False


def timed(cmd: list[str], pythonpath: Path, timeout: float) -> Run:
    """One command under GNU time: its own wall clock and peak RSS (the child, not `time`)."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "NO_COLOR": "1"}
    # cwd too: `python -m` puts the current folder before PYTHONPATH on sys.path. A session of its
    # own, so a timeout stops mckpt itself, not only `time`.
    p = subprocess.Popen([TIME, "-v", *cmd], env=env, cwd=pythonpath, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        return Run(timeout, float("nan"), -1, timed_out=True)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", err)
    if not (rss and wall):
        raise RuntimeError(f"no GNU time report for {cmd}: {err[-300:]}")
    h, m, s = wall.groups()
    own = err.split("\tCommand being timed:")[0]  # mckpt's stderr, before GNU time's report
    lines = [line for line in own.splitlines() if line.strip() and not line.startswith("Command exited")]
    return Run(int(h or 0) * 3600 + int(m) * 60 + float(s), int(rss.group(1)) / 1024, p.returncode,
               error_lines=sum(line.startswith("error:") for line in lines), traceback="Traceback" in own)


def export(ref: str) -> Path:
    """`ref`'s mckpt package, exported beside the benchmark's other output."""
    dest = HERE / "out" / f"mckpt-{re.sub(r'[^A-Za-z0-9._-]', '_', ref)}"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "mckpt"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", help="a git revision to run side by side (e.g. the commit before the fix)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per file before it counts as hung")
    opts = ap.parse_args()
    if not Path(TIME).exists():
        sys.exit(f"{TIME} is missing: apt-get install -y time")
    shutil.rmtree(OUT, ignore_errors=True)
    marker = OUT / "pwned"
    files = build_all(OUT / "files", marker)
    good = OUT / "good.pt"
    good.write_bytes(torch_zip(b"\x80\x02}(X\x05\x00\x00\x00model}X\x04\x00\x00\x00args}X\x07\x00\x00\x00"
                               b"results(]]}tu."))
    py = [sys.executable, "-m", "mckpt"]
    trees = {"this tree": REPO}
    if opts.against:
        trees[opts.against] = export(opts.against)
    baseline = {name: min((timed([*py, "inspect", str(good)], tree, opts.timeout) for _ in range(3)),
                          key=lambda r: r.wall) for name, tree in trees.items()}
    results: dict[str, dict[str, Run]] = defaultdict(dict)
    for f in files:
        for name, tree in trees.items():
            results[f.name][name] = timed([*py, "inspect", str(f.path)], tree, opts.timeout)
            if f.name.startswith(VERIFIED):
                results[f"verify {f.name}"][name] = timed([*py, "verify", str(f.path)], tree, opts.timeout)
    if marker.exists():
        print("!! a payload ran: the marker file exists")
    print(f"{len(files)} hostile files, all < 8 MiB; inspect of a good 1 KB checkpoint: "
          + ", ".join(f"{n} {b.wall:.2f} s / {b.rss_mib:.0f} MiB" for n, b in baseline.items()))
    for name in trees:
        by_class: dict[str, list[tuple[str, Run]]] = defaultdict(list)
        for fname, runs in results.items():
            by_class[fname.split("/", 1)[0]].append((fname, runs[name]))
        print(f"\n{name}")
        print(f"{'class':14} {'files':>5} {'worst wall':>11} {'worst RSS':>10} {'hung':>5} {'noisy':>5} "
              f"{'exit 0':>6}  worst file")
        for cls, rows in by_class.items():
            worst_wall = max(rows, key=lambda r: r[1].wall)
            ok = [r for _, r in rows if not r.timed_out]
            worst_rss = max((r.rss_mib for r in ok), default=float("nan"))
            hung = sum(r.timed_out for _, r in rows)
            noisy = sum(r.error_lines > 1 or r.traceback for _, r in rows)  # more than one error line
            accepted = sum(r.exit == 0 for _, r in rows)  # read (inspect) or passed (verify), not refused
            print(f"{cls:14} {len(rows):5} {worst_wall[1].wall:9.2f} s {worst_rss:6.0f} MiB {hung:5} {noisy:5} "
                  f"{accepted:6}  {worst_wall[0]}")
        runs = [r[name] for r in results.values()]
        ok = [r for r in runs if not r.timed_out]
        wall, rss = max(r.wall for r in runs), max((r.rss_mib for r in ok), default=float("nan"))
        b = baseline[name]
        print(f"worst: {wall:.2f} s ({wall / b.wall:.1f}x the good file), {rss:.0f} MiB "
              f"({rss / b.rss_mib:.1f}x); over 5 s: {sum(r.wall >= 5 for r in runs)}, "
              f"over 256 MiB: {sum(r.rss_mib >= 256 for r in ok)}, hung: {len(runs) - len(ok)}, "
              f"tracebacks: {sum(r.traceback for r in runs)}, over one error line: "
              f"{sum(r.error_lines > 1 for r in runs)}")
    folder = OUT / "checkpoints"
    (folder / "paused").mkdir(parents=True)
    for i, f in enumerate(files):
        shutil.copy(f.path, folder / "paused" / f"{uuid.UUID(int=i)}.pt" if i % 2 else folder / f"x{i}.pt")
    shutil.copy(good, folder / "sgd_seq-mnist_None_0_1_20250101-000000_aaaaaaa1_0.pt")
    for name, tree in trees.items():
        r = timed([*py, "list", str(folder)], tree, opts.timeout * 10)
        print(f"\nlist of all {len(files)} files ({name}): "
              + ("hung" if r.timed_out else f"{r.wall:.2f} s, {r.rss_mib:.0f} MiB, exit {r.exit}"))


if __name__ == "__main__":
    main()
