"""Writing a planned conversion safely: temporary file, read-back check, fsync, rename.

Nothing the user had is lost: an existing output is replaced only with `force`, the inputs never,
and a crash or SIGKILL mid-write leaves no file under the final name.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CorruptCheckpoint, MckptError
from ..io.atomic import PartialFile, make_folder, remove_stale_partials
from ..io.progress import Progress
from ..io.sources import FileSource
from ..torchfile.archive import data_offset, open_archive
from ..torchfile.archive_writer import write_torch_archive
from ..torchfile.torch_pickle import dumps
from .plan import Plan, file_stem


@dataclass
class WriteResult:
    path: str
    bytes: int
    storages: int
    checks: list[str]
    removed_partials: list[tuple[str, int]] = field(default_factory=list)  # (path, bytes) of killed writers

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "storages": self.storages, "checks": self.checks,
                "removed_partials": [{"path": p, "bytes": n} for p, n in self.removed_partials]}


def write_plan(plan: Plan, *, force: bool = False, progress: Progress | None = None) -> WriteResult:
    """Write the planned file next to its final name, check it, fsync, then rename it into place.

    A crash or SIGKILL at any point leaves at most a hidden `.<name>.<random>.partial` file, never a
    file under the final name; the next conversion into that folder removes it (its writer's lock
    died with it). An existing output, or one that appears meanwhile, is replaced only with `force`.
    """
    if plan.obj is None or plan.problems:  # a taken output is checked below, with this call's `force`
        raise MckptError(f"{'; '.join(plan.problems) or 'nothing planned'}; nothing written",
                         path=plan.source, hint="the plan says what does not fit: the template must match "
                         "the backbone (or {allow_partial=True})", spelled=True)
    final = Path(plan.output)
    inputs = [Path(p) for p in (plan.source, plan.template) if p]
    if any(final.exists() and final.samefile(p) for p in inputs):
        raise MckptError("the output would overwrite an input; choose another {output}", path=str(final), spelled=True)
    if final.exists() and not force:
        raise MckptError("already exists; not overwritten", path=str(final),
                         hint="pass {force=True} to replace it", spelled=True)
    make_folder(final.parent, hint="choose another place with {output}")
    removed = remove_stale_partials(final.parent)
    try:
        partial = PartialFile(final)
    except OSError as e:
        raise MckptError(f"cannot write here: {e.strerror}", path=str(final.parent),
                         hint="choose another place with {output}", spelled=True) from None
    done = False
    try:
        size = write_torch_archive(partial.fd, file_stem(str(final)), dumps(plan.obj), plan.storages,
                                   plan.byteorder, progress)
        # The disk flush and the read-back check overlap: fsync waits on the device while the
        # check reads the same bytes from the page cache (both release the GIL). Measured on a
        # 337 MiB file this takes the write from 0.60 s to about 0.42 s.
        with ThreadPoolExecutor(1) as pool:
            flushed = pool.submit(os.fsync, partial.fd)
            checks = verify_written(str(partial.path), plan, progress)
            flushed.result()
        partial.publish(force)
        done = True
    except FileExistsError:
        raise MckptError("appeared while converting; not overwritten", path=str(final),
                         hint="pass {force=True} to replace it", spelled=True) from None
    except OSError as e:  # a full disk, a vanished input: one line for the user, no partial file
        raise MckptError(f"writing failed: {e.strerror or e}", path=str(final)) from None
    finally:
        partial.close(discard=not done)
    return WriteResult(str(final), size, len(plan.storages), checks, removed)


def verify_written(path: str, plan: Plan, progress: Progress | None = None) -> list[str]:
    """Re-read the new file with mckpt's reader: index, record sizes, every CRC, the pickle.

    torch is not imported (that alone costs more than the conversion); the tests prove torch reads
    what passes here.
    """
    with FileSource(path) as src:
        arch = open_archive(src)
        by_name = {m.name: m for m in arch.members}
        for rec in plan.storages:
            m = by_name.get(f"{arch.prefix}data/{rec.key}")
            if m is None or m.size != rec.nbytes or m.method != 0:
                raise CorruptCheckpoint(f"verification failed: record data/{rec.key} is missing or has the "
                                        "wrong size", path=path)
        view = memoryview(bytearray(8 << 20))
        fd = os.open(path, os.O_RDONLY)
        try:
            for m in arch.members:
                if _crc_of(fd, data_offset(src, m), m.size, view, progress) != m.crc32:  # -1: truncated
                    raise CorruptCheckpoint(f"verification failed: {m.name} is truncated or fails its CRC",
                                            path=path)
        finally:
            os.close(fd)
        unloadable = arch.tensor_problems(limit=1)
        if unloadable:
            raise CorruptCheckpoint(f"verification failed: {unloadable[0]}", path=path)
        if dumps(arch.obj) != dumps(plan.obj):
            raise CorruptCheckpoint("verification failed: the pickle does not read back as written",
                                    path=path)
    return [f"{len(arch.members)} zip records and their CRC-32s", "storage record sizes",
            "every tensor's view inside its storage", "the pickle reads back to the planned tree"]


def _crc_of(fd: int, offset: int, nbytes: int, view: memoryview, progress: Progress | None) -> int:
    """CRC-32 of a byte range of `fd`, read through the caller's reused buffer (-1 if it is cut short)."""
    crc = 0
    while nbytes:
        n = os.preadv(fd, [view[: min(nbytes, len(view))]], offset)
        if n <= 0:
            return -1
        crc = zlib.crc32(view[:n], crc)
        offset, nbytes = offset + n, nbytes - n
        if progress is not None:
            progress.advance(n)
    return crc
