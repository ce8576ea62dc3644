"""The public Python API: every exported name resolves, lazily."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO

import mckpt


def test_every_export_resolves() -> None:
    for name in mckpt.__all__:
        assert getattr(mckpt, name) is not None, name
    assert set(mckpt.__all__) - {"__version__"} == set(mckpt._EXPORTS)


def test_import_is_light() -> None:
    code = "import sys, mckpt; print(sorted(m for m in sys.modules if m.startswith('mckpt.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(REPO)}).stdout
    assert out.strip() == "['mckpt.version']"  # the version leaf only: it imports nothing
