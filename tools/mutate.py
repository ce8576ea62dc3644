"""Put each bug of tools/mutations.py into a copy of the tree, one at a time, and run its tests.

    python tools/mutate.py                 # every mutation; exit 1 if one survives
    python tools/mutate.py -k metrics      # those whose name contains "metrics"
    python tools/mutate.py --list

The working tree is never touched: the tracked and new (not ignored) files are copied into a
temporary folder, each mutation is written there and undone after its run. First the listed tests
run on the unmutated copy (a baseline that fails makes every later "caught" meaningless). A
mutation is caught when its tests fail (pytest exit 1); it survives when they pass; a mutation
whose original snippet is not in its file exactly once is stale (the code moved on).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))

from mutations import MUTATIONS, Mutation  # noqa: E402


def copy_tree(dest: Path) -> None:
    """The files git knows of (tracked, or new and not ignored), as they are now."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[int, list[str], str]:
    """(pytest's exit code, the failing test ids, the output's tail) of `tests` in `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    fixtures = REPO.parent / "shared" / "fixtures" / "mammoth"
    if "MCKPT_FIXTURES" not in env and fixtures.is_dir():  # the copy has no ../shared beside it
        env["MCKPT_FIXTURES"] = str(fixtures)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests], cwd=tree,
                       env=env, capture_output=True, text=True, timeout=1800)
    failed = re.findall(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", r.stdout, re.M)
    return r.returncode, failed, (r.stdout + r.stderr)[-2000:]


def apply(tree: Path, m: Mutation) -> str | None:
    """Write the mutation into `tree`; the file's original text, or None when the snippet is stale."""
    path = tree / m.file
    text = path.read_text() if path.is_file() else ""
    if text.count(m.original) != 1:
        return None
    path.write_text(text.replace(m.original, m.mutated))
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", dest="select", help="only the mutations whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run on the unmutated copy")
    opts = parser.parse_args()
    chosen = [m for m in MUTATIONS if not opts.select or opts.select in m.name]
    if opts.list:
        for m in chosen:
            print(f"{m.name}\n    {m.file}: {m.why}\n    tests: {' '.join(m.tests)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="mckpt-mutate-") as tmp:
        tree = Path(tmp) / REPO.name
        copy_tree(tree)
        if not opts.no_baseline:
            everything = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
            code, failed, tail = run_tests(tree, everything)
            if code != 0:
                print(f"baseline: the tests fail without any mutation (exit {code}): {failed}\n{tail}")
                return 2
            print(f"baseline: {len(everything)} test files pass unmutated")
        caught = 0
        for m in chosen:
            original = apply(tree, m)
            if original is None:
                print(f"STALE     {m.name}: the snippet is not exactly once in {m.file}")
                continue
            try:
                code, failed, tail = run_tests(tree, m.tests)
            finally:
                (tree / m.file).write_text(original)
            if code == 1:
                caught += 1
                print(f"CAUGHT    {m.name}\n          by {', '.join(failed[:3])}")
            elif code == 0:
                print(f"SURVIVED  {m.name}: {' '.join(m.tests)} pass with it ({m.why})")
            else:
                print(f"ERROR     {m.name}: pytest exit {code}\n{tail}")
        print(f"\ncaught {caught}/{len(chosen)}")
        return 0 if caught == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
