"""What `results` read from each checkpoint, kept per folder, so the next `results` or `plot` of the
same folder reads no pickle at all.

Reading a Mammoth pickle with the guarded pure-Python unpickler costs ~3.5 ms of CPU per file, so
1,000 runs cost 3.5 CPU-seconds cold; with this cache a rerun (another `--where`, `--sort`, a plot)
costs one JSON read. An entry is used only while the file's (device, inode, size, mtime, ctime)
are unchanged: a file rewritten, replaced or touched is read again. One JSON document per folder
under `<cache root>/results/`, replaced atomically; concurrent runs may each write it (the last
wins), and since every entry is checked against the file's stat before use, none is ever stale.
Only plain data is stored (JSON, never a pickle).

The cache is checked, not trusted. Each entry must match the schema (`valid_entry`): one that does
not is a miss, read from the file again and rewritten, with a notice. The folder is created 0700,
and a cache folder (or index file) that another user owns or that others may write is not used at
all: `results` reads every file itself and writes nothing there, with a notice. Otherwise an
edited entry whose stat matched would make `results` report numbers the file does not hold.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from ..errors import MckptError
from ..io.atomic import make_folder, write_atomic
from ..io.cachedir import prepare_root

VERSION = 1
Record = tuple[dict[str, Any], list[list[float]], list[list[float]]]


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _is_matrix(m: Any) -> bool:
    """An accuracy matrix as the reader returns it: rows of finite numbers, row t of t+1 or fewer."""
    return isinstance(m, list) and all(isinstance(row, list) and all(map(_is_number, row)) for row in m)


def valid_entry(entry: Any) -> bool:
    """Whether a cache entry has the shape `put` writes: a stat key of five ints, args an object
    with string keys, and two accuracy matrices of finite numbers."""
    return (isinstance(entry, dict) and set(entry) == {"stat", "args", "class_il", "task_il"}
            and isinstance(entry["stat"], list) and len(entry["stat"]) == 5
            and all(isinstance(x, int) and not isinstance(x, bool) for x in entry["stat"])
            and isinstance(entry["args"], dict) and _is_matrix(entry["class_il"]) and _is_matrix(entry["task_il"]))


def untrusted(path: Path) -> str | None:
    """Why a cache folder or file may not be trusted (another user owns it, or others may write
    it), or None; a missing path is fine (it will be created ours, 0700)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None  # not there (a file where a folder should be is `save`'s to report)
    except OSError as e:
        return f"cannot check it ({e.strerror})"
    if stat.S_ISLNK(st.st_mode):
        return "it is a symbolic link"
    if st.st_uid != os.getuid():
        return f"it belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return f"others may write it (mode {stat.S_IMODE(st.st_mode):o})"
    return None


class RecordCache:
    """Records (args, class-IL, task-IL) of checkpoint files, one index per folder."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "results"
        self._indexes: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self.notices: list[str] = []  # what was not trusted, for the user (see `save`)
        self._refused = next(((p, why) for p in (root, self.dir) if (why := untrusted(p))), None)
        if self._refused:
            self.notices.append(f"the results cache {self._refused[0]} is not used: {self._refused[1]} "
                                "(every file was read itself; make it yours with mode 700 to use it)")

    def _index_file(self, folder: str) -> Path:
        digest = hashlib.sha256(os.path.realpath(folder).encode("utf-8", "surrogateescape")).hexdigest()
        return self.dir / f"{digest[:32]}.json"

    def _index(self, folder: str) -> dict[str, Any]:
        if folder not in self._indexes:
            index = self._index_file(folder)
            doc: Any = {}
            if why := untrusted(index):
                self.notices.append(f"the results cache file {index} is not used: {why}; it is rewritten")
                self._dirty.add(folder)
            else:
                try:
                    doc = json.loads(index.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    doc = {}  # no cache yet, or one cut short: read the files
            ok = isinstance(doc, dict) and doc.get("version") == VERSION and isinstance(doc.get("files"), dict)
            self._indexes[folder] = doc["files"] if ok else {}
        return self._indexes[folder]

    def get(self, path: str, st: os.stat_result) -> Record | None:
        if self._refused:
            return None
        folder, name = os.path.split(path)
        entries = self._index(folder)
        entry = entries.get(name)
        if name in entries and not valid_entry(entry):
            self.notices.append(f"the results cache entry for {path} was malformed: the file is read again")
            del entries[name]
            self._dirty.add(folder)
            return None
        if entry is None or entry["stat"] != _stat_key(st):
            return None
        return entry["args"], entry["class_il"], entry["task_il"]

    def put(self, path: str, st: os.stat_result, record: Record) -> None:
        if self._refused:
            return
        folder, name = os.path.split(path)
        args, class_il, task_il = record
        self._index(folder)[name] = {"stat": _stat_key(st), "args": args, "class_il": class_il, "task_il": task_il}
        self._dirty.add(folder)

    def save(self) -> list[str]:
        """Write the indexes that changed; the notices of this run (what was not trusted, and the
        reason if writing failed: results stay right either way)."""
        try:
            if self._dirty:
                _make_private_folder(self.dir)  # the cache root too, when mckpt creates it (0700)
                prepare_root(self.dir.parent)  # the cache root: marked as mckpt's
            for folder in sorted(self._dirty):
                # files deleted since they were cached leave the index with this write
                files = {n: e for n, e in self._indexes[folder].items() if os.path.exists(os.path.join(folder, n))}
                doc = {"version": VERSION, "folder": os.path.realpath(folder), "files": files}
                write_atomic(self._index_file(folder), json.dumps(doc, separators=(",", ":"), default=str).encode())
        except OSError as e:
            self.notices.append(f"could not update the results cache in {self.dir}: {e.strerror or e}")
        except MckptError as e:  # from make_folder: a file where the folder should be
            self.notices.append(f"could not update the results cache: {e}")
        finally:
            self._dirty.clear()
        return self.notices


def _make_private_folder(folder: Path) -> None:
    """`folder` and the parents mckpt creates for it, created 0700 (never open to others, not even
    for a moment); folders that were there already are left as they are (`untrusted` judges them)."""
    for p in reversed([p for p in (folder, *folder.parents) if not p.exists()]):
        try:
            os.mkdir(p, 0o700)
        except FileExistsError:
            continue  # made meanwhile by another run
        except OSError:
            break  # make_folder says why in one line
    make_folder(folder)
