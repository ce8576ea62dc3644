"""Benchmark `mckpt convert` (bare backbone → full checkpoint) against its peers, in one run.

Peers, each a whole process timed from outside, with its peak RSS (GNU time, see timing.measure_peak):
  cp      `cp SRC DST && sync DST` (the floor: the same bytes, copied and flushed)
  mckpt   `python -m mckpt convert SRC --like TEMPLATE -o DST --force -q` (copies raw, checks, fsyncs)
  torch   `torch.load(SRC) + torch.load(TEMPLATE, mmap) + torch.save(...)` + fsync (the obvious script)

The files are made once (a ~340 MB ResNet-like backbone whose layers are registered twice, like
Mammoth's `_features`, and a full checkpoint of the same shapes as the template). Rounds alternate
the tools; medians are reported with the ratios to `cp`. Targets (issue 3): wall ≤ 3× cp, peak
RSS ≤ 100 MiB.

    python bench/bench_convert.py [--dir /tmp/mckpt-bench] [--rounds 3] [--mb 340]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from timing import measure_peak

REPO = Path(__file__).resolve().parents[1]

MAKE = """
import sys, torch
from torch import nn
mb = float(sys.argv[3])
torch.manual_seed(0)
class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        width = 2048
        n = max(1, int(mb * 2**20 / (4 * width * width)))
        self.layers = nn.Sequential(*[nn.Linear(width, width) for _ in range(n)])
        self.bn = nn.BatchNorm1d(width)
        self.classifier = nn.Linear(width, 100)
        self._features = nn.Sequential(self.layers, self.bn)
class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = Backbone()
        self.register_buffer("classes", torch.arange(100))
m = Model()
torch.save({k[4:]: v for k, v in m.state_dict().items() if k.startswith("net.")}, sys.argv[1])
torch.save({"model": m.state_dict(), "optimizer": None, "scheduler": None,
            "args": {"model": "derpp", "dataset": "seq-cifar100", "dataset_config": "default",
                     "buffer_size": 500, "n_epochs": 50}, "results": [[], [], {}]}, sys.argv[2])
"""

TORCH_PEER = """
import os, sys, torch
from collections import OrderedDict
src, tmpl, dst = sys.argv[1:4]
sd = torch.load(src, weights_only=True)
t = torch.load(tmpl, weights_only=True, mmap=True)
model = OrderedDict((k, sd[k[4:]] if k.startswith("net.") else v) for k, v in t["model"].items())
obj = {"model": model, "optimizer": None, "scheduler": None, "args": dict(t["args"]),
       "results": [[], [], {}]}
with open(dst, "wb") as f:
    torch.save(obj, f)
    f.flush()
    os.fsync(f.fileno())
"""


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one process running this checkout."""
    sample = measure_peak(cmd, {**os.environ, "PYTHONPATH": str(REPO)})
    return sample.wall, int(sample.peak_rss_mib * 1024 * 1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/mckpt-bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mb", type=float, default=340)
    a = ap.parse_args()
    a.dir.mkdir(parents=True, exist_ok=True)
    src, tmpl = a.dir / "backbone.pt", a.dir / "template.pt"
    if not src.exists() or not tmpl.exists():
        subprocess.run([sys.executable, "-c", MAKE, str(src), str(tmpl), str(a.mb)], check=True)
    out = a.dir / "out.pt"
    tools = {
        "cp": ["sh", "-c", f'cp "{src}" "{out}" && sync "{out}"'],
        "mckpt": [sys.executable, "-m", "mckpt", "convert", str(src), "--like", str(tmpl), "-o", str(out),
                  "--force", "-q"],
        "torch": [sys.executable, "-c", TORCH_PEER, str(src), str(tmpl), str(out)],
    }
    results: dict[str, list[tuple[float, int]]] = {k: [] for k in tools}
    for _ in range(a.rounds):
        for name, cmd in tools.items():
            out.unlink(missing_ok=True)
            results[name].append(run(cmd))
    out.unlink(missing_ok=True)
    size = src.stat().st_size
    print(f"source {size / 2**20:.0f} MiB, template {tmpl.stat().st_size / 2**20:.0f} MiB, "
          f"{a.rounds} rounds, medians")
    cp_wall = statistics.median(w for w, _ in results["cp"])
    print(f"{'tool':<6} {'wall s':>8} {'× cp':>6} {'peak RSS MiB':>13}")
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        rss = max(r for _, r in runs) / 2**20
        print(f"{name:<6} {wall:8.2f} {wall / cp_wall:6.2f} {rss:13.0f}")


if __name__ == "__main__":
    main()
