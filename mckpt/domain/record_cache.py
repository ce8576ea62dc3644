"""What `results` read from each checkpoint, kept per folder, so the next `results` or `plot` of the
same folder reads no pickle at all.

Reading a Mammoth pickle with the guarded pure-Python unpickler costs ~3.5 ms of CPU per file, so
1,000 runs cost 3.5 CPU-seconds cold; with this cache a rerun (another `--where`, `--sort`, a plot)
costs one JSON read. An entry is used only while the file's (device, inode, size, mtime, ctime)
are unchanged: a file rewritten, replaced or touched is read again. One JSON document per folder
under `<cache root>/results/`, replaced atomically; concurrent runs may each write it (the last
wins), and since every entry is checked against the file's stat before use, none is ever stale.
Only plain data is stored (JSON, never a pickle).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import MckptError
from ..io.atomic import make_folder, write_atomic
from ..io.cachedir import prepare_root

VERSION = 1
Record = tuple[dict[str, Any], list[list[float]], list[list[float]]]


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


class RecordCache:
    """Records (args, class-IL, task-IL) of checkpoint files, one index per folder."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "results"
        self._indexes: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()

    def _index_file(self, folder: str) -> Path:
        digest = hashlib.sha256(os.path.realpath(folder).encode("utf-8", "surrogateescape")).hexdigest()
        return self.dir / f"{digest[:32]}.json"

    def _index(self, folder: str) -> dict[str, Any]:
        if folder not in self._indexes:
            try:
                doc = json.loads(self._index_file(folder).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                doc = {}  # no cache yet, or one cut short: read the files
            ok = isinstance(doc, dict) and doc.get("version") == VERSION and isinstance(doc.get("files"), dict)
            self._indexes[folder] = doc["files"] if ok else {}
        return self._indexes[folder]

    def get(self, path: str, st: os.stat_result) -> Record | None:
        folder, name = os.path.split(path)
        entry = self._index(folder).get(name)
        if not isinstance(entry, dict) or entry.get("stat") != _stat_key(st):
            return None
        return entry["args"], entry["class_il"], entry["task_il"]

    def put(self, path: str, st: os.stat_result, record: Record) -> None:
        folder, name = os.path.split(path)
        args, class_il, task_il = record
        self._index(folder)[name] = {"stat": _stat_key(st), "args": args, "class_il": class_il, "task_il": task_il}
        self._dirty.add(folder)

    def save(self) -> str | None:
        """Write the indexes that changed; the reason as text if that failed (results stay right)."""
        try:
            if self._dirty:
                prepare_root(self.dir.parent)  # the cache root: created and marked as mckpt's
                make_folder(self.dir)
            for folder in sorted(self._dirty):
                # files deleted since they were cached leave the index with this write
                files = {n: e for n, e in self._indexes[folder].items() if os.path.exists(os.path.join(folder, n))}
                doc = {"version": VERSION, "folder": os.path.realpath(folder), "files": files}
                write_atomic(self._index_file(folder), json.dumps(doc, separators=(",", ":"), default=str).encode())
        except OSError as e:
            return f"could not update the results cache in {self.dir}: {e.strerror or e}"
        except MckptError as e:  # from make_folder: a file where the folder should be
            return f"could not update the results cache: {e}"
        finally:
            self._dirty.clear()
        return None
