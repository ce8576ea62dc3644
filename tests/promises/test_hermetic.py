"""The suite is sealed from the developer's machine, and mckpt finds the hub token where
huggingface_hub does.

- `hf_home()` / the token file / the hub cache follow huggingface_hub's `constants.py`
  (HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface; HF_TOKEN_PATH;
  HF_HUB_CACHE), checked against huggingface_hub itself where it is installed.
- Representative test files run in a child pytest with hostile AWS_*/HF_*/GOOGLE_*/AZURE_*/XDG_*
  variables set and HOME pointed at a sentinel folder: they pass, and the folder is untouched.
- Under CI a skip outside `conftest.ALLOWED_SKIPS` fails the run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from mckpt.io.hfhub import hf_home, hub_cache, hub_token

# (variables set, expected (HF_HOME, token file, hub cache)) with HOME=/h
LOOKUPS: list[tuple[dict[str, str], tuple[str, str, str]]] = [
    ({}, ("/h/.cache/huggingface", "/h/.cache/huggingface/token", "/h/.cache/huggingface/hub")),
    ({"XDG_CACHE_HOME": "/x"}, ("/x/huggingface", "/x/huggingface/token", "/x/huggingface/hub")),
    ({"XDG_CACHE_HOME": "/x", "HF_HOME": "/hf"}, ("/hf", "/hf/token", "/hf/hub")),
    ({"HF_HOME": "~/hf"}, ("/h/hf", "/h/hf/token", "/h/hf/hub")),
    ({"HF_TOKEN_PATH": "/t/tok", "HF_HUB_CACHE": "/c"}, ("/h/.cache/huggingface", "/t/tok", "/c")),
    ({"XDG_CACHE_HOME": "/x", "HUGGINGFACE_HUB_CACHE": "/old"}, ("/x/huggingface", "/x/huggingface/token", "/old")),
]

HF_REFERENCE = """
import importlib, json, os, sys
import huggingface_hub.constants as c
out = []
for env in json.loads(sys.argv[1]):
    for k in ("HF_HOME", "XDG_CACHE_HOME", "HF_TOKEN_PATH", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        os.environ.pop(k, None)
    os.environ.update(env)
    importlib.reload(c)
    out.append([c.HF_HOME, c.HF_TOKEN_PATH, c.HF_HUB_CACHE])
print(json.dumps(out))
"""


def mckpt_token_path() -> str:
    return os.path.expanduser(os.environ.get("HF_TOKEN_PATH") or str(hf_home() / "token"))


@pytest.mark.parametrize(("env", "expected"), LOOKUPS, ids=lambda v: ",".join(v) if isinstance(v, dict) else "")
def test_hub_folders_are_found_where_huggingface_hub_looks(env: dict[str, str], expected: tuple[str, str, str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("XDG_CACHE_HOME", "HF_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/h")
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert (str(hf_home()), mckpt_token_path(), str(hub_cache())) == expected


def test_the_lookup_is_huggingface_hubs_own() -> None:
    """The same table, answered by huggingface_hub's constants (when it is installed: it is the
    optional extra of `push`; without it the table above is the reference)."""
    code = "import importlib.util, sys; sys.exit(importlib.util.find_spec('huggingface_hub') is None)"
    if subprocess.run([sys.executable, "-c", code]).returncode != 0:
        return
    envs = [env for env, _ in LOOKUPS]
    r = subprocess.run([sys.executable, "-c", HF_REFERENCE, json.dumps(envs)], capture_output=True, text=True,
                       env={**os.environ, "HOME": "/h"}, timeout=120)
    assert r.returncode == 0, r.stderr
    assert [tuple(x) for x in json.loads(r.stdout)] == [expected for _, expected in LOOKUPS]


def test_the_token_saved_under_xdg_cache_home_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "xdg" / "huggingface").mkdir(parents=True)
    (tmp_path / "xdg" / "huggingface" / "token").write_text("hf_xdg\n")
    (tmp_path / ".cache" / "huggingface").mkdir(parents=True)
    (tmp_path / ".cache" / "huggingface" / "token").write_text("hf_other_user\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hub_token() == "hf_xdg"


def test_every_test_has_its_own_home_and_no_credentials(tmp_path_factory: pytest.TempPathFactory) -> None:
    assert not [n for n in os.environ if n.startswith(("AWS_", "GOOGLE_", "AZURE_", "HF_", "HUGGING"))]
    home = Path(os.environ["HOME"])
    assert home.is_relative_to(tmp_path_factory.getbasetemp()) and not any(home.iterdir())
    assert Path(os.path.expanduser("~")) == home
    for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        assert Path(os.environ[name]).is_relative_to(home)


# --- the suite against a hostile shell ---------------------------------------------------------

# Files that reach the places a shell's settings redirect: S3 and hub listings (endpoints, keys,
# profiles, tokens), the results cache under HOME (test_exit_paths), fetch's cache and hub token.
REPRESENTATIVE = ["tests/remote/test_scale.py", "tests/promises/test_exit_paths.py", "tests/fetch/test_fetch_urls.py",
                  "tests/remote/test_remote_s3.py::test_access_denied_by_a_server_that_checks_keys",
                  "tests/remote/test_remote_s3.py::test_an_object_named_by_url_costs_two_requests"]


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_the_suite_passes_with_a_hostile_shell_and_leaves_home_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_access_key_id = HOSTILE\n"
                                               "aws_secret_access_key = HOSTILE\n")
    (home / ".aws" / "config").write_text("[default]\nendpoint_url = http://127.0.0.1:9\nregion = xx-hostile-1\n")
    (home / ".cache" / "huggingface").mkdir(parents=True)
    (home / ".cache" / "huggingface" / "token").write_text("hf_REAL_TOKEN_MUST_NOT_BE_READ\n")
    (home / ".cache" / "mckpt").mkdir()
    before = snapshot(home)
    hostile_file = str(home / ".aws" / "credentials")
    hostile = {
        "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"), "XDG_CONFIG_HOME": str(home / ".config"),
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "HOSTILE", "AWS_SECRET_ACCESS_KEY": "HOSTILE", "AWS_SESSION_TOKEN": "HOSTILE",
        "AWS_PROFILE": "hostile", "AWS_REGION": "xx-hostile-1", "AWS_SHARED_CREDENTIALS_FILE": hostile_file,
        "AWS_CONFIG_FILE": hostile_file, "AWS_WEB_IDENTITY_TOKEN_FILE": hostile_file, "AWS_CA_BUNDLE": hostile_file,
        "HF_TOKEN": "hf_HOSTILE", "HF_HOME": str(home / ".cache" / "huggingface"), "HF_TOKEN_PATH": hostile_file,
        "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(home / "hub"),
        "HUGGING_FACE_HUB_TOKEN": "hf_HOSTILE", "GOOGLE_APPLICATION_CREDENTIALS": hostile_file,
        "AZURE_STORAGE_ACCOUNT_KEY": "HOSTILE", "MCKPT_CACHE": str(home / ".cache" / "mckpt"),
    }
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *REPRESENTATIVE],
                       cwd=REPO, env={**env, **hostile}, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout
    assert snapshot(home) == before


# --- CI cannot pass by skipping -----------------------------------------------------------------

SKIPPING = """
import pytest

def test_runs():
    assert True

def test_skips():
    pytest.skip("nothing installed for this")
"""


@pytest.mark.parametrize("ci", ["1", ""])
def test_an_unexpected_skip_fails_under_ci(tmp_path: Path, ci: str) -> None:
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    env = {**os.environ, "CI": ci, "PYTHONPATH": f"{REPO / 'tests'}{os.pathsep}{REPO}"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "conftest", "-p", "no:cacheprovider",
                        "test_skipping.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    if ci:
        assert r.returncode == 1, r.stdout
        assert "test_skipping.py::test_skips: Skipped: nothing installed for this" in r.stdout
    else:
        assert r.returncode == 0, r.stdout
