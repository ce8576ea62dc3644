"""mckpt: a fast, safe checkpoint manager for the Mammoth continual-learning framework.

The library reads checkpoints without torch and without running code from their pickles::

    import mckpt
    ckpt = mckpt.read_checkpoint("checkpoints/er_seq-cifar10_None_500_50_20250101-101010_1a2b3c4d_4.pt")
    ckpt.tasks_done, ckpt.metrics["class_il"].final_avg, ckpt.args["lr"]
    listing = mckpt.scan(["checkpoints"])
"""

from .checkpoint import Checkpoint, read_checkpoint
from .errors import MckptError
from .loader import load
from .names import ParsedName, parse_name, parse_stem
from .runs import Listing, Run, scan

__version__ = "0.1.0"

__all__ = [
    "Checkpoint",
    "Listing",
    "MckptError",
    "ParsedName",
    "Run",
    "__version__",
    "load",
    "parse_name",
    "parse_stem",
    "read_checkpoint",
    "scan",
]
