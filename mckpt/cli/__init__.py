"""The command-line layer: thin Typer commands over the library in `mckpt`."""
