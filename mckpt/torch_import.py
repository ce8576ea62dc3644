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


def import_torch() -> ModuleType:
    """`import torch`, without torch's warning about a missing numpy."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)
        import torch
    return torch
