"""The layering the code promises (io → torchfile → domain → operations → view → cli), checked on
the package's own import statements, so a new import that runs up the layers fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mckpt"


def imports(path: Path) -> set[str]:
    """Every module `path` imports, as absolute dotted names (relative imports resolved)."""
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    here = list(rel.parts[:-1])  # the module's package (a package's __init__ is in its own)
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # `from . import x` names a module too
    return out


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))


def _name(p: Path) -> str:
    return ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts)


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_only_the_reader_imports_its_engine(path: Path) -> None:
    """The value types live in torchfile.values; torchfile.unpickler is the reader's own engine."""
    if path.parent.name == "torchfile":
        return
    assert "mckpt.torchfile.unpickler" not in imports(path)


@pytest.mark.parametrize("path", [p for p in MODULES if p.parent.name in ("io", "torchfile")], ids=_name)
def test_the_bottom_layers_import_nothing_above_them(path: Path) -> None:
    """io and torchfile use only themselves, the errors and the version leaf: never the package face."""
    allowed = ("mckpt.io", "mckpt.torchfile", "mckpt.errors", "mckpt.version")
    if path.parent.name == "io":
        allowed = ("mckpt.io", "mckpt.errors", "mckpt.version")
    ours = {m for m in imports(path) if m == "mckpt" or m.startswith("mckpt.")}
    assert {m for m in ours if not m.startswith(allowed)} == set()


def test_the_version_has_one_source() -> None:
    import mckpt
    from mckpt.version import __version__

    assert mckpt.__version__ == __version__
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert f'version = "{__version__}"' in pyproject
