"""The human view of a `.safetensors` file's header (`mckpt inspect FILE.safetensors`)."""

from __future__ import annotations

from ..torchfile.safetensors import SafetensorsFile
from .cells import bytes_cell, count_cell
from .output import Cell, Output

SHOWN = 20  # tensors listed without --tensors


def render_safetensors(out: Output, st: SafetensorsFile, *, tensors: bool = False) -> None:
    dtypes = ", ".join(f"{d} × {n}" for d, n in sorted(st.dtypes.items(), key=lambda kv: -kv[1]))
    out.fields([
        ("file", st.path), ("format", "safetensors (tensors and metadata only: no args, results or training state)"),
        ("size", bytes_cell(st.size)), ("header", bytes_cell(st.header_bytes)),
        ("tensors", len(st.tensors)), ("parameters", count_cell(st.parameters)), ("dtypes", dtypes or "-"),
    ])
    if st.metadata:
        out.table(["key", "value"], [[k, v] for k, v in sorted(st.metadata.items())],
                  title=f"Metadata ({len(st.metadata)})")
    shown = st.tensors if tensors else st.tensors[:SHOWN]
    if shown:
        out.table(["tensor", "dtype", "shape", "parameters"],
                  [[t.name, t.dtype, Cell("×".join(map(str, t.shape)) or "scalar", str(list(t.shape))),
                    count_cell(t.parameters)] for t in shown],
                  title=f"Tensors ({len(st.tensors)})", justify=["left", "left", "left", "right"])
    if len(shown) < len(st.tensors):
        out.note(f"… and {len(st.tensors) - len(shown)} more (--tensors lists them all)")
