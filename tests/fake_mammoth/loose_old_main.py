"""A stand-in for an older Mammoth entrypoint at its loosest (tests only): the worst parser `load` can meet.

Copied by the injection tests into a temporary checkout as `utils/main.py`. Its argparse keeps
`allow_abbrev` at its default (True), so `--loadchec X` sets `--loadcheck`; it ignores unknown
arguments (`parse_known_args`), so an injected flag never stops it early; and it loads the file with
`torch.load(args.loadcheck, weights_only=False)`, so whatever file it is told to load runs its
pickle. It records what it parsed in `calls.jsonl` and trains nothing.
"""

import argparse
import json
import os
import sys


def main():
    import torch

    p = argparse.ArgumentParser()
    p.add_argument("--loadcheck")
    p.add_argument("--start_from", type=int)
    p.add_argument("--stop_after", type=int)
    p.add_argument("--savecheck", nargs="?", const="task")
    for name in ("model", "dataset", "notes", "ckpt_name"):
        p.add_argument(f"--{name}")
    p.add_argument("--lr", type=float)
    p.add_argument("--lr_milestones", nargs="+")
    for name in ("n_epochs", "batch_size", "seed", "buffer_size"):
        p.add_argument(f"--{name}", type=int)
    args, unknown = p.parse_known_args()
    record = {
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),
        "loaded": args.loadcheck,
        "start": args.start_from,
        "stop": args.stop_after,
        "savecheck": args.savecheck,
        "lr_milestones": args.lr_milestones,
        "notes": args.notes,
        "unknown": unknown,
        "force_no_weights_only": os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"),
    }
    with open("calls.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    if args.loadcheck:
        torch.load(args.loadcheck, weights_only=False)
        print("Checkpoint Loaded!", flush=True)


if __name__ == "__main__":
    main()
