"""Names built from file contents that become part of a path: one plain component, or refused.

A checkpoint is untrusted input, and its args name the model, the dataset and the run. Whatever
of that ends up in a file name (mckpt's own outputs, or the names Mammoth later derives from the
saved `ckpt_name`) must stay one component inside its folder: a `model` of `../../elsewhere/er`
must not write outside `checkpoints/`, and a leading `-` must not turn into an option. Such text
is refused, not repaired: a repaired name would no longer be the run's name.
"""

from __future__ import annotations

import unicodedata

MAX_COMPONENT_BYTES = 255  # NAME_MAX of every common file system, in bytes of UTF-8

# control characters, and the invisible format ones (bidi overrides) that make a name lie on screen
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def component_problem(text: str) -> str | None:
    """Why `text` cannot be one path component, or None when it can."""
    if not text:
        return "it is empty"
    bad = sorted({c for c in text if c in "/\\" or unicodedata.category(c) in _UNSAFE_CATEGORIES})
    if bad:
        return "it holds " + ", ".join(repr(c) for c in bad)
    if text[0] in "-.":
        return f"it starts with {text[0]!r}"
    if text != text.strip():
        return "it starts or ends with a space"
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_COMPONENT_BYTES:
        return f"it is {size} bytes long, over the {MAX_COMPONENT_BYTES} a file name can be"
    return None
