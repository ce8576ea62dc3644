"""A stand-in for Mammoth's training entrypoint, following its command-line contract (tests only).

Copied by the tests into a temporary checkout as `main.py` (current layout) or `utils/main.py`
(the older layout, which does not restore saved args and loads with torch.load's default
weights_only). It trains nothing: each "task" appends a row of accuracies, and it writes real
`torch.save` checkpoints named and shaped as MAMMOTH_FORMAT.md says, logs Mammoth's lines, writes
`checkpoints/paused/<uuid>.pt` on SIGINT/SIGTERM (saying so on stderr first, as Mammoth does, so a
broken stderr costs the paused file), and records each call (with its pid) in `calls.jsonl`.
Extra test-only flags: --exit_code, --wait_in_task K (block in task K until a signal, or until a
file `release` appears in its working folder), --slow_save, --worker 1 (start a helper process in
its process group, as a DataLoader worker is, which notes each signal it gets in `worker_signals`).
"""

import argparse
import json
import os
import signal
import sys
import time
import uuid

OLD = os.path.basename(os.path.dirname(os.path.abspath(__file__))) == "utils"
N_TASKS = {"seq-mnist": 5, "seq-cifar10": 5, "seq-cifar100": 10}
LOGGER_KEYS = (
    "accs",
    "fullaccs",
    "fwt",
    "bwt",
    "forgetting",
    "fwt_mask_classes",
    "bwt_mask_classes",
    "forgetting_mask_classes",
    "accs_mask_classes",
    "fullaccs_mask_classes",
)
DEFAULTS = {"n_epochs": 1, "batch_size": 32, "joint": 0, "exit_code": 0}
if not OLD:
    DEFAULTS.update(save_checkpoint_mode="safe", save_after_interrupt=1, checkpoint_path="checkpoints")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


INT_FLAGS = (
    "buffer_size minibatch_size n_epochs batch_size seed joint start_from stop_after nowand num_workers"
)
TEST_FLAGS = "exit_code wait_in_task slow_save worker"


def parse():
    p = argparse.ArgumentParser(allow_abbrev=False)
    for name in ("loadcheck", "ckpt_name"):
        p.add_argument(f"--{name}")
    for name in ("model", "dataset"):
        p.add_argument(f"--{name}", required=OLD)  # current Mammoth can take them from --loadcheck
    p.add_argument("--lr", type=float, required=OLD)
    for name in f"{INT_FLAGS} {TEST_FLAGS}".split():
        p.add_argument(f"--{name}", type=int)
    p.add_argument("--savecheck", choices=["task", "last"])
    if not OLD:
        p.add_argument("--dataset_config")
        p.add_argument("--checkpoint_path")
        p.add_argument("--save_after_interrupt", type=int)
        p.add_argument("--save_checkpoint_mode", choices=["safe", "old_pickle"])
    return p.parse_args()


WORKER = """
import signal, sys, time
def noted(signum, frame):
    with open("worker_signals", "a") as f:
        f.write(signal.Signals(signum).name + "\\n")
    sys.exit(0)
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, noted)
open("worker_ready", "w").close()
time.sleep(120)
"""


def wait_for(name, limit=120):
    """Block until the file `name` exists (at most `limit` seconds); a signal's handler ends it sooner."""
    deadline = time.monotonic() + limit
    while not os.path.exists(name) and time.monotonic() < deadline:
        time.sleep(0.05)


def start_worker():
    """A helper process that stays in Mammoth's process group and off its pipes."""
    import subprocess

    subprocess.Popen([sys.executable, "-c", WORKER], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for("worker_ready")


def main():
    import torch

    args = parse()
    given = {k: v for k, v in vars(args).items() if v is not None}
    results = [[], [], {k: ([] if k.startswith(("accs", "fullaccs")) else None) for k in LOGGER_KEYS}]
    loaded = None
    if args.loadcheck:
        # current Mammoth: weights_only=True always; older: torch.load's default (True since torch 2.6)
        obj = torch.load(args.loadcheck, weights_only=True) if not OLD else torch.load(args.loadcheck)
        if "args" in obj:
            saved = obj["args"] if isinstance(obj["args"], dict) else vars(obj["args"])
            if not OLD:
                for k, v in saved.items():  # merge_namespace: saved args are the defaults
                    if getattr(args, k, None) is None:
                        setattr(args, k, v)
            results = obj["results"]
        else:  # a bare backbone: it loads into model.net when its keys keep the `net.` prefix
            missing = [k for k in obj if not k.startswith("net.")]
            if missing:
                log(f"AssertionError: Missing keys: {missing}")
                sys.exit(1)
        loaded = args.loadcheck
        print("Checkpoint Loaded!", flush=True)
    for k, v in DEFAULTS.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    if args.model is None or args.dataset is None:
        log("error: --model and --dataset are required")
        sys.exit(2)
    if args.joint and (args.start_from is not None or args.stop_after is not None):
        log("AssertionError: Joint training does not support start_from and stop_after")
        sys.exit(1)
    uid_full = str(uuid.uuid4())
    args.conf_jobnum = uid_full
    if args.savecheck:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        prefix = f"{args.ckpt_name}_" if (args.ckpt_name and (not OLD or "ckpt_name" in given)) else ""
        buf = args.buffer_size or 0
        if OLD:
            args.ckpt_name = (
                f"{prefix}{args.model}_{args.dataset}_{buf}_{args.n_epochs}_{stamp}_{uid_full[:8]}"
            )
        else:
            args.ckpt_name = (
                f"{prefix}{args.model}_{args.dataset}_{args.dataset_config}_{buf}_"
                f"{args.n_epochs}_{stamp}_{uid_full[:8]}"
            )
        log(f"Saving checkpoint into: {args.ckpt_name}")
    start = args.start_from or 0
    end = 1 if args.joint else (N_TASKS[args.dataset] if args.stop_after is None else args.stop_after)
    folder = getattr(args, "checkpoint_path", "checkpoints")
    with open("calls.jsonl", "a") as f:
        f.write(
            json.dumps(
                {
                    "argv": sys.argv[1:],
                    "layout": "old" if OLD else "current",
                    "start": start,
                    "end": end,
                    "loaded": loaded,
                    "args": {k: v for k, v in vars(args).items() if isinstance(v, (int, float, str))},
                    "force_no_weights_only": os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"),
                    "unbuffered": os.environ.get("PYTHONUNBUFFERED"),
                    "pid": os.getpid(),
                    "ppid": os.getppid(),
                }
            )
            + "\n"
        )

    def save(path, task):
        old_pickle = OLD or args.save_checkpoint_mode == "old_pickle"
        kept = {k: v for k, v in vars(args).items() if k not in TEST_FLAGS.split()}
        obj = {
            "model": {"net.fc.weight": torch.full((2, 3), float(task)), "net.fc.bias": torch.zeros(2)},
            "optimizer": None,
            "scheduler": None,
            "args": argparse.Namespace(**kept) if old_pickle else kept,
            "results": results,
        }
        if args.buffer_size:
            obj["buffer"] = {
                "examples": torch.zeros(args.buffer_size, 3),
                "labels": torch.zeros(args.buffer_size),
            }
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.save(obj, path + ".pt")
        log(f"Checkpoint for task {task} saved at {path}")

    state = {"task": start}
    if args.worker:
        start_worker()

    def on_signal(signum, frame):
        log("SIGINT received. Saving checkpoint and exiting...")
        if args.slow_save:
            time.sleep(120)
        if getattr(args, "save_after_interrupt", 1):
            # fixed at import in Mammoth, before --checkpoint_path is parsed: always under the cwd
            save(os.path.join("checkpoints", "paused", str(uuid.uuid4())), state["task"])
        sys.exit(0)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for t in range(start, end):
        state["task"] = t
        print(
            f"\033[32mTask {t + 1} - training\033[0m" if sys.stdout.isatty() else f"Task {t + 1} - training",
            flush=True,
        )
        if args.wait_in_task == t:
            wait_for("release")  # or the test's signal
        row = [100.0 - t] * (t + 1)
        results[0].append(row)
        results[1].append(list(row))
        results[2]["accs"].append(str(sum(row) / len(row)))
        if args.savecheck == "task" or (args.savecheck == "last" and t == end - 1):
            suffix = "joint" if args.joint else (t if args.savecheck == "task" else "last")
            save(os.path.join(folder, f"{args.ckpt_name}_{suffix}"), t)
    print(f"Accuracy for {end} task(s)", flush=True)
    sys.exit(args.exit_code)


if __name__ == "__main__":
    main()
