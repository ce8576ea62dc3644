"""mckpt's version, in a leaf module: the HTTP layer's User-Agent and `--version` read it without
importing the package face (which would run up the layers)."""

__version__ = "0.1.0"
