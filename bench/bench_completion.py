"""Per-TAB latency of mckpt's shell completion on a folder of 1,000 checkpoints.

Run by hand from the repo root:  python bench/bench_completion.py [--runs 15] [--files 1000]

A folder gets 1,000 Mammoth-named (empty) checkpoints: 200 runs x 5 tasks, mixed models and
datasets. Each case is a fresh process, as a TAB press is; the median wall time and the peak RSS
(from /usr/bin/time, or getrusage when it is missing) are printed, with the ratio to peers
measured in the same run: `mckpt --version` (the Typer app starting) and Typer's own completion
protocol (`_MCKPT_COMPLETE=complete_bash`), which is what `--install-completion` sets up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODELS = ["sgd", "er", "er_ace", "derpp", "lwf_mc", "icarl", "xder_rpc", "gdumb"]
DATASETS = ["seq-mnist", "seq-cifar10", "seq-cifar100", "seq-tinyimg", "perm-mnist"]


def make_folder(root: Path, n_files: int) -> None:
    ck = root / "checkpoints"
    ck.mkdir(parents=True)
    runs = max(1, n_files // 5)
    for r in range(runs):
        model, dataset = MODELS[r % len(MODELS)], DATASETS[r % len(DATASETS)]
        stem = f"{model}_{dataset}_None_500_50_20250101-{r // 60:02d}{r % 60:02d}00_{r:08x}"
        for t in range(5):
            (ck / f"{stem}_{t}.pt").write_bytes(b"")


def make_executable(bin_dir: Path) -> None:
    """An `mckpt` like pip's console script, running this checkout."""
    bin_dir.mkdir()
    exe = bin_dir / "mckpt"
    exe.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(REPO)!r})\n"
                   "from mckpt.cli.entry import main\nmain()\n")
    exe.chmod(0o755)


def bash_case(words: list[str]) -> list[str]:
    script = (f"source {REPO / 'completions' / 'mckpt.bash'}\n"
              'COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _mckpt\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    return ["bash", "--norc", "-c", script, "bash", *words]


def measure(cmd: list[str], cwd: Path, env: dict[str, str], runs: int) -> tuple[float, int, int]:
    """(median seconds, peak RSS KiB, candidates printed) over `runs` fresh processes."""
    timer = shutil.which("time") and Path("/usr/bin/time").exists()
    walls, peaks, lines = [], [], 0
    for _ in range(runs):
        full = ["/usr/bin/time", "-f", "%M", *cmd] if timer else cmd
        t0 = time.perf_counter()
        proc = subprocess.run(full, cwd=cwd, env=env, capture_output=True, text=True)
        walls.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr}")
        if timer:
            peaks.append(int(proc.stderr.strip().splitlines()[-1]))
        lines = len([x for x in proc.stdout.splitlines() if x])
    return statistics.median(walls), max(peaks) if peaks else 0, lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--files", type=int, default=1000)
    opts = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_folder(root, opts.files)
        make_executable(root / "bin")
        env = {"PATH": f"{root / 'bin'}:{os.environ['PATH']}", "HOME": tmp, "LANG": "C.UTF-8"}
        cases = [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
            ("mckpt --version (peer: Typer app)", ["mckpt", "--version"]),
            ("Typer's own protocol: mckpt inspect che<TAB>",
             ["env", "_MCKPT_COMPLETE=complete_bash", "COMP_WORDS=mckpt inspect che", "COMP_CWORD=2",
              "mckpt"]),
            ("helper: mckpt __complete run ''", ["mckpt", "__complete", "run", ""]),
            ("helper: mckpt __complete model ''", ["mckpt", "__complete", "model", ""]),
            ("bash: mckpt in<TAB> (static)", bash_case(["mckpt", "in"])),
            ("bash: mckpt inspect checkpoints/sgd<TAB> (files)",
             bash_case(["mckpt", "inspect", "checkpoints/sgd"])),
            ("bash: mckpt inspect checkpoints/<TAB> (1,000 files)",
             bash_case(["mckpt", "inspect", "checkpoints/"])),
            ("bash: mckpt list --model <TAB> (helper)", bash_case(["mckpt", "list", "--model", ""])),
            ("bash: mckpt diff <TAB> (uids + files)", bash_case(["mckpt", "diff", ""])),
        ]
        if shutil.which("fish"):
            src = f"source {REPO / 'completions' / 'mckpt.fish'}; complete -C"
            cases += [
                ("fish: mckpt inspect checkpoints/<TAB> (1,000 files)",
                 ["fish", "--no-config", "-c", f"{src} 'mckpt inspect checkpoints/'"]),
                ("fish: mckpt list --model <TAB> (helper)",
                 ["fish", "--no-config", "-c", f"{src} 'mckpt list --model '"]),
            ]
        results = []
        for label, cmd in cases:
            wall, peak, n = measure(cmd, root, env, opts.runs)
            results.append((label, wall, peak, n))
        version = results[1][1]
        typer_protocol = results[2][1]
        py = sys.version.split()[0]
        print(f"{opts.files} checkpoints, median of {opts.runs} fresh processes each, Python {py}")
        print(f"{'case':<55} {'wall':>8} {'vs --version':>13} {'vs Typer':>9} {'peak RSS':>9} {'cands':>6}")
        for label, wall, peak, n in results:
            print(f"{label:<55} {wall * 1000:7.1f}ms {wall / version:12.2f}x {wall / typer_protocol:8.2f}x "
                  f"{peak / 1024:7.1f}MiB {n:6d}")


if __name__ == "__main__":
    main()
