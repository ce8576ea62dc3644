"""Importing torch, for the few paths that write or load tensors (reading never imports it).

torch's CPU wheels do not depend on numpy, and without numpy `import torch` warns
`UserWarning: Failed to initialize NumPy: No module named 'numpy'` at the top of whatever the
user ran (`mckpt demo` printed it). mckpt never moves a tensor to or from numpy (it decodes numpy
values in pickles itself), so the warning names nothing a user of mckpt could act on, and numpy is
not a dependency for the sake of silencing it: the warning is filtered here, for this import only.
Code that does call `tensor.numpy()` still gets torch's own clear error.
"""

from __future__ import annotations

import warnings
from types import ModuleType

from .errors import MckptError

INSTALL_HINT = "install it with: pip install torch (reading, listing and converting work without it)"


def import_torch(needed_for: str = "this") -> ModuleType:
    """`import torch`, without torch's warning about a missing numpy.

    torch is an optional dependency: without it (or with one that fails to import) the user is
    told what needs it and how to install it, as an error, not a traceback. `needed_for` names the
    work in the library's words ("comparing weights"), since the library knows no CLI flags.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)
        try:
            import torch
        except ImportError as e:
            raise MckptError(f"{needed_for} needs torch, which cannot be imported here ({e})",
                             hint=INSTALL_HINT) from e
    return torch
