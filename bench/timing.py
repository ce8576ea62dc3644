"""Whole-process timing for the benchmarks: wall time and peak RSS of a command, per run.

Benchmarks compare mckpt with a peer measured in the same run, alternating the two so drift on a
shared machine hits both alike; report ratios of medians, not absolute numbers.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Sample:
    wall: float
    peak_rss_mib: float


TIME = shutil.which("time", path="/usr/bin:/bin")  # GNU time: `%M` is the peak RSS of the command alone


def measure_peak(cmd: Sequence[str], env: dict[str, str] | None = None) -> Sample:
    """Wall time and the command's own peak RSS.

    The peak is read by GNU time, which forks it from a small process: Linux gives a child the
    high-water mark of the memory it was forked from, and Python's subprocess starts children
    with vfork, so `wait4` on a direct child reported the benchmark's own peak as the floor of
    every command's (every mckpt row showed the same 17.3 MiB).
    """
    if TIME is None:
        raise SystemExit("the benchmarks need GNU time (/usr/bin/time) for each command's peak memory")
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t0 = time.perf_counter()
        proc = subprocess.Popen([TIME, "-f", "%M", "-o", rss.name, *cmd], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env)
        _, status, _ = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-500:]}")
        peak_kib = int(rss.read().split()[-1])
    return Sample(wall, peak_kib / 1024)


def compare(commands: dict[str, Sequence[str]], runs: int = 5, env: dict[str, str] | None = None
            ) -> dict[str, list[Sample]]:
    """Run each command `runs` times, interleaved; return the samples per command."""
    samples: dict[str, list[Sample]] = {k: [] for k in commands}
    for cmd in commands.values():  # one warm-up each (page cache, pyc files)
        measure_peak(cmd, env)
    for _ in range(runs):
        for name, cmd in commands.items():
            samples[name].append(measure_peak(cmd, env))
    return samples


def report(samples: dict[str, list[Sample]], baseline: str) -> str:
    """A table of median wall, peak RSS and the ratio to `baseline`."""
    base = statistics.median(s.wall for s in samples[baseline])
    lines = [f"{'command':<34} {'median wall':>12} {'min wall':>9} {'peak RSS':>10}  wall vs {baseline}"]
    for name, ss in samples.items():
        med = statistics.median(s.wall for s in ss)
        ratio = med / base
        how = f"{ratio:.2f}×" + (f" ({1 / ratio:.1f}× faster)" if ratio < 1 else "")
        lines.append(f"{name:<34} {med:>10.3f} s {min(s.wall for s in ss):>7.3f} s "
                     f"{max(s.peak_rss_mib for s in ss):>6.1f} MiB  {how}")
    return "\n".join(lines)
