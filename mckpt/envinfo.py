"""`mckpt env`: what to paste into a bug report, as `hf env` prints it.

Versions are read from the installed distributions' metadata (importlib.metadata), so torch and
matplotlib are named without being imported (torch alone takes seconds). The Mammoth checkout is
found as `save`/`load` find it (`train.mammoth_env`), and its commit is read from the files under
`.git` rather than by running git (a checkout's git config can name programs to run). Variables
that hold secrets are shown as set, never by value; a proxy's password is masked.
"""

from __future__ import annotations

import os
import platform
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import MckptError
from .io.walk import walk_files
from .version import __version__

# Distributions whose version a bug report needs; None when not installed.
PACKAGES = ("torch", "typer", "rich", "httpx", "obstore", "matplotlib", "numpy", "huggingface_hub")

# The variables mckpt (or the libraries it calls) reads: by prefix, and by name.
PREFIXES = ("MCKPT_", "MAMMOTH_", "HF_", "HUGGING_FACE_", "AWS_", "AZURE_", "GOOGLE_")
NAMES = ("XDG_CACHE_HOME", "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY",
         "NO_PROXY", "https_proxy", "http_proxy", "all_proxy", "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR",
         "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|KEY|CREDENTIAL|SAS", re.IGNORECASE)
NOT_SECRET = re.compile(r"(_FILE|_PATH|_DIR|_ID|_NAME|_ACCOUNT)$", re.IGNORECASE)  # where a secret is, not it
HIDDEN = "<set, hidden>"
_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^@/]*)@")


@dataclass(frozen=True)
class MammothInfo:
    """The checkout `save`/`load` would run, or why none was found."""

    root: str | None
    layout: str | None
    found_by: str | None
    commit: str | None
    problem: str | None = None


@dataclass(frozen=True)
class CacheInfo:
    path: str
    exists: bool
    bytes: int  # distinct files (a hard-linked file once), symlinks not followed
    files: int


@dataclass(frozen=True)
class EnvReport:
    mckpt: str
    python: str
    executable: str
    platform: str
    packages: dict[str, str | None]
    cache: CacheInfo
    mammoth: MammothInfo
    environment: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def package_version(name: str) -> str | None:
    """An installed distribution's version from its metadata (never importing it); None if absent."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def shown_value(name: str, value: str) -> str:
    """An environment variable as `env` prints it: secrets hidden, a URL's credentials masked."""
    if SECRET.search(name) and not NOT_SECRET.search(name):
        return HIDDEN if value else ""
    return _USERINFO.sub(lambda m: f"{m.group(1)}***@", value)


def relevant_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables that change what mckpt does, sorted by name, values as `shown_value` shows them."""
    names = sorted(n for n in environ if n in NAMES or n.startswith(PREFIXES))
    return {n: shown_value(n, environ[n]) for n in names}


def folder_usage(root: Path) -> CacheInfo:
    """Bytes and files under `root`, without following symlinks; a hard-linked file counts once."""
    seen: set[tuple[int, int]] = set()
    total = files = 0
    if not root.is_dir():
        return CacheInfo(str(root), root.exists(), 0, 0)
    # the one iterative walker: links not followed, depth bounded (a cache is shallow)
    for e in walk_files(str(root), lambda e: True, lambda e: e.is_file(follow_symlinks=False)):
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:  # removed meanwhile
            continue
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        total += st.st_size
        files += 1
    return CacheInfo(str(root), True, total, files)


_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_MAX_GIT_FILE = 1 << 20  # HEAD, a ref, a .git file: tiny; packed-refs rarely past a few hundred KiB


def _small_text(path: Path) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read(_MAX_GIT_FILE).decode("utf-8", "replace")
    except OSError:
        return None


def git_commit(root: Path) -> str | None:
    """The commit a checkout is at, read from `.git` (a folder, or a worktree's `gitdir:` file):
    HEAD, then the ref it names, loose or packed. None when not a git checkout or unreadable."""
    git = root / ".git"
    if git.is_file():
        text = _small_text(git) or ""
        if not text.startswith("gitdir:"):
            return None
        git = (root / text[len("gitdir:"):].strip()).resolve()
    head = (_small_text(git / "HEAD") or "").strip()
    if _SHA.fullmatch(head):
        return head  # detached
    if not head.startswith("ref:"):
        return None
    ref = head[4:].strip()
    common = git / ((_small_text(git / "commondir") or "").strip() or ".")  # a worktree's shared refs
    for base in dict.fromkeys((git, common)):
        loose = (_small_text(base / ref) or "").strip()
        if _SHA.fullmatch(loose):
            return loose
        for line in (_small_text(base / "packed-refs") or "").splitlines():
            sha, _, name = line.partition(" ")
            if name.strip() == ref and _SHA.fullmatch(sha):
                return sha
    return None


def find_mammoth_info(environ: Mapping[str, str], cwd: str | os.PathLike[str] | None) -> MammothInfo:
    from .train.mammoth_env import find_root

    try:
        root, layout, found_by = find_root(None, environ, cwd)
    except MckptError as e:
        return MammothInfo(None, None, None, None, problem=e.describe())
    return MammothInfo(str(root), layout, found_by, git_commit(root))


def collect_env(environ: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None,
                cache_dir: str | os.PathLike[str] | None = None) -> EnvReport:
    """Everything `mckpt env` reports, for this process's environment unless `environ` is given."""
    from .fetch.cache import cache_root

    environ = os.environ if environ is None else environ
    return EnvReport(
        mckpt=__version__,
        python=platform.python_version(),
        executable=sys.executable,
        platform=platform.platform(),
        packages={name: package_version(name) for name in PACKAGES},
        cache=folder_usage(cache_root(cache_dir)),
        mammoth=find_mammoth_info(environ, cwd),
        environment=relevant_environment(environ),
    )
