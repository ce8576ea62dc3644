"""The layering the code promises (io → torchfile → domain → operations → view → cli), checked on
the package's own import statements, so a new import that runs up the layers fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mckpt"


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


# The layers the README's "Code layout" names, lowest first: a module imports only its own layer,
# the layers below it and the leaves. Within the operations layer the packages may use each other
# (prune verifies); `view` renders what the operations return; `cli` may use everything.
LEAVES = ("errors", "version", "choices", "torch_import", "words")
LAYERS: tuple[tuple[str, ...], ...] = (
    ("io",),
    ("torchfile",),
    ("domain",),
    ("fetch",),
    ("remote",),
    ("locate",),
    ("convert", "train", "hygiene", "share", "diff", "verify", "demo", "envinfo", "torch_load", "__init__"),
    ("view",),
    ("cli", "__main__"),
)
# The leaves themselves: each uses at most the error type (version: nothing).
LEAF_USES = {"errors": (), "version": (), "choices": ("errors",), "torch_import": ("errors",), "words": ()}
# The read path (bytes, format, model, downloads, remote reads, naming) never imports torch, not
# even through the leaf that does.
NO_TORCH = ("io", "torchfile", "domain", "fetch", "remote", "locate")


def _top(module: str) -> str:
    """The root entry of mckpt a dotted name belongs to (`mckpt.domain.runs` → `domain`)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _root_entry(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def allowed_for(entry: str) -> set[str]:
    """The root entries a module under `entry` may import."""
    if entry in LEAF_USES:
        return {entry, *LEAF_USES[entry]}
    level = next(i for i, layer in enumerate(LAYERS) if entry in layer)
    allowed = {e for layer in LAYERS[: level + 1] for e in layer} | set(LEAVES)
    if entry in NO_TORCH:
        allowed.discard("torch_import")
    return allowed


def test_every_root_entry_has_a_layer() -> None:
    """A new package or root module must be placed in LAYERS (and the README's layout)."""
    placed = {e for layer in LAYERS for e in layer} | set(LEAVES)
    assert {_root_entry(p) for p in MODULES} - placed == set()


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    entry = _root_entry(path)
    ours = {_top(m) for m in imports(path) if m == "mckpt" or m.startswith("mckpt.")}
    assert ours - allowed_for(entry) == set()


def test_the_domain_imports_only_io_torchfile_and_the_leaves() -> None:
    assert allowed_for("domain") == {"io", "torchfile", "domain", "errors", "version", "choices", "words"}


def test_the_readme_layout_lists_every_package_and_root_module() -> None:
    readme = (PACKAGE.parent / "README.md").read_text()
    layout = readme.split("## Code layout", 1)[1].split("```", 2)[1]
    listed = {line.split()[0].rstrip("/").removesuffix(".py") for line in layout.splitlines()[2:]
              if line.startswith("  ") and not line.startswith("   ")}
    entries = {_root_entry(p) for p in MODULES} - {"__init__", "__main__"}
    assert entries - listed == set()


def test_the_version_has_one_source() -> None:
    import mckpt
    from mckpt.version import __version__

    assert mckpt.__version__ == __version__
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text()
    assert f'version = "{__version__}"' in pyproject


TEST_FOLDERS = {"io", "torchfile", "domain", "fetch", "remote", "locate", "operations", "view", "cli", "promises"}


def test_every_test_file_lives_in_its_layers_folder() -> None:
    """A newcomer finds the test of a module by its layer (README, "Code layout"): no test file at
    the top of tests/, and no folder the README does not name."""
    tests = PACKAGE.parent / "tests"
    assert sorted(p.name for p in tests.glob("test_*.py")) == []
    assert {p.parent.name for p in tests.glob("*/test_*.py")} <= TEST_FOLDERS

