"""`mckpt.load`: a checkpoint from Python, metadata first and tensors only on request.

The metadata comes from the safe reader (no torch, nothing from the pickle runs). Tensors need
torch; they are loaded with `weights_only=True`, memory-mapped when the file is a zip, so a large
checkpoint costs page cache rather than a private copy. Old-pickle files are refused: loading
their tensors would mean running their pickle.
"""

from __future__ import annotations

import os
import shlex
from typing import Any, Literal, overload

from .domain.checkpoint import Checkpoint, read_checkpoint
from .errors import MckptError


@overload
def load(path: str | os.PathLike[str], tensors: Literal[False] = False) -> Checkpoint: ...
@overload
def load(path: str | os.PathLike[str], tensors: Literal[True]) -> tuple[Checkpoint, Any]: ...


def load(path: str | os.PathLike[str], tensors: bool = False) -> Checkpoint | tuple[Checkpoint, Any]:
    """The checkpoint's metadata, or `(metadata, torch.load(...))` with `tensors=True`.

    `path` is anything the CLI takes (see `mckpt.locate.resolve`): a file, a run folder, a run uid
    or a URL; a URL's tensors need the whole file, which is fetched into the cache once."""
    from .locate import local_copy, read, resolve

    if not tensors:
        return read(os.fspath(path))  # a URL's connection is closed once the metadata is read
    ckpt = read_checkpoint(local_copy(resolve(os.fspath(path))).path)
    if ckpt.format == "old_pickle":
        raise MckptError(
            "its tensors load only by running its pickle (an old-pickle file)",
            path=ckpt.path,
            hint=f"convert it first: mckpt convert --to safe {shlex.quote(str(ckpt.path))}",
        )
    import pickle

    from .torch_import import import_torch

    torch = import_torch("loading tensors")

    try:
        data = torch.load(ckpt.path, map_location="cpu", weights_only=True, mmap=ckpt.layout == "zip")
    except (RuntimeError, pickle.UnpicklingError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise MckptError(f"torch.load(weights_only=True) failed: {first}", path=ckpt.path) from None
    return ckpt, data
