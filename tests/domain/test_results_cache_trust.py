"""The results cache is checked, not trusted (issue 21, item 5).

An entry of the wrong shape is a miss (the file is read again, the entry rewritten, a notice
said); a cache folder another user owns or others may write is not read and not written; the
folder is created 0700 whatever the umask.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from results_support import write_run

from mckpt.domain.record_cache import RecordCache, valid_entry
from mckpt.locate.run_sources import collect_results


def _finals(doc: dict[str, Any]) -> dict[str, float]:
    return {r["path"]: r["metrics"]["class_il"]["final_avg"] for g in doc["groups"] for r in g["runs"]}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, dict[str, float]]:
    runs = tmp_path / "runs"
    write_run(runs, "er", 200, 0)
    write_run(runs, "er", 200, 1, hour=1)
    cache = tmp_path / "cache"
    truth = _finals(collect_results([str(runs)]).to_json())
    collect_results([str(runs)], cache=RecordCache(cache))  # fills the cache
    return runs, cache, truth


def _index(cache: Path) -> Path:
    (index,) = (cache / "results").glob("*.json")
    return index


BAD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=5), st.floats(),
                       st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                            max_size=2),
                       st.just([[float("nan")]]), st.just([["87.5"]]), st.just([[True]]), st.just([1.0]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(["stat", "args", "class_il", "task_il", "extra", "missing", "entry"]),
       value=BAD_VALUES)
def test_a_malformed_entry_is_a_miss_rebuilt_with_a_notice(setup: tuple[Path, Path, dict[str, float]],
                                                           field: str, value: Any) -> None:
    runs, cache, truth = setup
    index = _index(cache)
    good = index.read_text()
    doc = json.loads(good)
    name = sorted(doc["files"])[0]
    entry = doc["files"][name]
    if field == "entry":
        doc["files"][name] = value
    elif field == "missing":
        del entry["args"]
    elif field == "extra":
        entry["extra"] = value
    else:
        entry[field] = value
    if valid_entry(doc["files"][name]):  # a generated value of the right shape (a list of ints for stat…)
        return
    index.write_text(json.dumps(doc))
    try:
        rc = RecordCache(cache)
        res = collect_results([str(runs)], cache=rc)
        assert _finals(res.to_json()) == truth
        assert any("malformed" in n and name in n for n in res.warnings), res.warnings
        rebuilt = json.loads(index.read_text())["files"][name]
        assert valid_entry(rebuilt)
        again = collect_results([str(runs)], cache=RecordCache(cache))
        assert again.warnings == [] and _finals(again.to_json()) == truth
    finally:
        index.write_text(good)


def test_wrong_type_entry_via_the_cli_is_one_notice_not_an_internal_error(
        setup: tuple[Path, Path, dict[str, float]]) -> None:
    runs, cache, truth = setup
    index = _index(cache)
    doc = json.loads(index.read_text())
    for e in doc["files"].values():
        e["class_il"] = "87.5"
    index.write_text(json.dumps(doc))
    r = run_cli("results", str(runs), "--json", env={"MCKPT_CACHE": str(cache)})
    assert r.returncode == 0, r.stderr
    assert _finals(json.loads(r.stdout)) == truth
    assert "malformed" in r.stderr and "internal error" not in r.stderr and "Traceback" not in r.stderr


def _forge(cache: Path) -> str:
    """Every entry edited to say 99.99 (stat kept): what a writer of the cache could do."""
    index = _index(cache)
    doc = json.loads(index.read_text())
    for e in doc["files"].values():
        e["class_il"] = [[99.99] * (t + 1) for t in range(len(e["class_il"]))]
    text = json.dumps(doc)
    index.write_text(text)
    return text


@pytest.mark.parametrize("open_to", ["root folder", "results folder", "index file"])
def test_a_cache_others_may_write_is_not_read_nor_written(setup: tuple[Path, Path, dict[str, float]],
                                                          open_to: str) -> None:
    runs, cache, truth = setup
    forged = _forge(cache)
    target = {"root folder": cache, "results folder": cache / "results", "index file": _index(cache)}[open_to]
    os.chmod(target, os.stat(target).st_mode | 0o002)
    r = run_cli("results", str(runs), "--json", env={"MCKPT_CACHE": str(cache)})
    assert r.returncode == 0, r.stderr
    got = _finals(json.loads(r.stdout))
    assert got == truth and 99.99 not in got.values()
    assert "not used" in r.stderr and "others may write" in r.stderr
    if open_to != "index file":  # a refused folder is not written; a refused file is replaced by ours
        assert _index(cache).read_text() == forged
    else:
        assert _index(cache).read_text() != forged and not os.stat(_index(cache)).st_mode & 0o022


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a folder to another user needs root")
def test_a_cache_another_user_owns_is_not_read(setup: tuple[Path, Path, dict[str, float]]) -> None:
    runs, cache, truth = setup
    forged = _forge(cache)
    os.chown(cache / "results", 12345, 12345)
    res = collect_results([str(runs)], cache=RecordCache(cache))
    assert _finals(res.to_json()) == truth
    assert any("another user" in w for w in res.warnings)
    assert _index(cache).read_text() == forged


def test_cache_folders_are_created_0700_whatever_the_umask(tmp_path: Path) -> None:
    write_run(tmp_path / "runs", "er", 200, 0)
    cache = tmp_path / "deep" / "cache"
    old = os.umask(0)
    try:
        res = collect_results([str(tmp_path / "runs")], cache=RecordCache(cache))
    finally:
        os.umask(old)
    assert res.warnings == []
    for folder in (tmp_path / "deep", cache, cache / "results"):
        assert os.stat(folder).st_mode & 0o777 == 0o700, folder
    assert not os.stat(_index(cache)).st_mode & 0o022
    served = RecordCache(cache)
    again = collect_results([str(tmp_path / "runs")], cache=served)
    assert again.warnings == [] and copy.deepcopy(again.to_json()) == res.to_json()
