"""The mark that says a folder is mckpt's cache, so that removing from it is safe.

A cache root mckpt creates holds a `CACHEDIR.TAG` (the standard one, bford.info/cachedir: backup
tools such as tar --exclude-caches, borg and restic skip the folder) and `mckpt-cache.json`
(which layout version wrote it). `cache rm` and `cache prune` refuse a folder without both: an
`--cache-dir` pointed at an ordinary folder is never planned for deletion.

Caches created by mckpt before the mark existed are marked by the next write (`fetch`, `results`)
when every entry of the folder is one mckpt writes there (a `<name>-<16 hex>` source folder, the
`results/` folder of the record cache, the mark itself); a folder holding anything else is left
unmarked, and `cache rm/prune` keep refusing it.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from ..errors import MckptError
from .atomic import make_folder, write_atomic

TAG = "CACHEDIR.TAG"
SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"
VERSION_FILE = "mckpt-cache.json"
LAYOUT_VERSION = 1
SOURCE_DIR = re.compile(r"[A-Za-z0-9._-]{0,60}-[0-9a-f]{16}", re.ASCII)  # `fetch.cache._slug`
RECORDS_DIR = "results"  # `domain.record_cache`

_TAG_TEXT = (f"{SIGNATURE}\n# This file is a cache directory tag created by mckpt (Mammoth checkpoints).\n"
             "# For information about cache directory tags see https://bford.info/cachedir/\n")


def _regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path, follow_symlinks=False).st_mode)
    except OSError:
        return False


def is_marked(root: Path) -> bool:
    """Whether `root` (itself a real folder, not a link) carries mckpt's mark."""
    try:
        if not stat.S_ISDIR(os.stat(root, follow_symlinks=False).st_mode):
            return False
        if not (_regular(root / TAG) and _regular(root / VERSION_FILE)):
            return False
        with open(root / TAG, "rb") as f:
            if f.read(len(SIGNATURE)) != SIGNATURE.encode():
                return False
        doc = json.loads((root / VERSION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and isinstance(doc.get("mckpt_cache"), int)


def _only_mckpt_layout(root: Path) -> bool:
    """Every entry of `root` is one mckpt writes there (so an older mckpt's cache, or a new one)."""
    try:
        with os.scandir(root) as it:
            return all((e.is_dir(follow_symlinks=False) and (SOURCE_DIR.fullmatch(e.name) or e.name == RECORDS_DIR))
                       or (e.name in (TAG, VERSION_FILE) and e.is_file(follow_symlinks=False)) for e in it)
    except OSError:
        return False


def mark(root: Path) -> None:
    """Write the mark into `root` (atomically: never a half tag)."""
    write_atomic(root / TAG, _TAG_TEXT.encode(), force=True)
    write_atomic(root / VERSION_FILE, json.dumps({"mckpt_cache": LAYOUT_VERSION}).encode() + b"\n", force=True)


def prepare_root(root: Path) -> None:
    """Before mckpt writes into its cache: create the root if needed, and mark it when it is new
    or holds only what mckpt writes (see the module's note on older caches)."""
    make_folder(root, hint="point MCKPT_CACHE or {cache_dir} at a writable folder")
    if not is_marked(root) and _only_mckpt_layout(root):
        mark(root)


def require_marked(root: Path) -> None:
    """Refuse to remove anything from `root` unless it carries the mark (no folder: nothing to remove)."""
    if os.path.lexists(root) and not is_marked(root):
        raise MckptError(f"not an mckpt cache (no {TAG} and {VERSION_FILE} written by mckpt): nothing removed",
                         path=str(root), hint="check {cache_dir} / MCKPT_CACHE; a cache mckpt created is marked "
                                              "by its next `mckpt fetch`", spelled=True)
