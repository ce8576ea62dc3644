"""Which pickle globals `torch.load(weights_only=True)` accepts: what makes a Mammoth file `safe`.

Current Mammoth resumes with `weights_only=True`, so a file naming any other global (an old
pickle's `argparse.Namespace`, `utils.buffer.Buffer`) cannot be `--loadcheck`ed as it is.
"""

from __future__ import annotations

from .values import TORCH_DTYPES

# The globals a `safe` Mammoth file may name (torch.load(weights_only=True) accepts these).
_SAFE_GLOBALS_PREFIXES = ("collections.OrderedDict", "torch._utils._rebuild_tensor", "torch._utils._rebuild_param")


def is_safe_global(name: str) -> bool:
    """Whether `torch.load(weights_only=True)` accepts this global (a safe Mammoth file's only ones)."""
    if name.startswith(_SAFE_GLOBALS_PREFIXES):
        return True
    mod, _, attr = name.rpartition(".")
    if mod == "torch" and attr in TORCH_DTYPES:  # the dtype argument of _rebuild_tensor_v3
        return True
    return mod in ("torch", "torch.storage") and attr.endswith("Storage")
