"""Fixed choices come from the library's own tuples, once: --help, validation and completion agree."""

from __future__ import annotations

import pytest
from conftest import run_cli

from mckpt.choices import EVERY, MODES, TARGETS, check_sha256, is_sha256, sha256_of_etag
from mckpt.cli.app import app
from mckpt.cli.completion_spec import CommandSpec, describe
from mckpt.cli.outcome import flag
from mckpt.domain.results import SORT_COLUMNS
from mckpt.domain.runs import SORT_KEYS
from mckpt.errors import UsageError
from mckpt.view.output import TABLE_FORMATS

EXPECTED = {
    ("convert", "--to"): TARGETS,
    ("save", "--every"): EVERY,
    ("load", "--every"): EVERY,
    ("save", "--mode"): MODES,
    ("list", "--sort"): tuple(SORT_KEYS),
    ("results", "--sort"): SORT_COLUMNS,
    ("plot", "--sort"): SORT_COLUMNS,
    **{(c, "--format"): TABLE_FORMATS for c in ("list", "inspect", "diff", "results")},
}


def _options(spec: CommandSpec) -> dict[tuple[str, str], tuple[str, ...]]:
    found = {}
    for sub in spec.subcommands:
        for opt in sub.options:
            if opt.values is not None and opt.values.kind == "choice":
                found[(sub.path[-1], opt.long[0])] = opt.values.choices
    return found


def test_completion_offers_the_library_tuples() -> None:
    found = _options(describe(app))
    for key, choices in EXPECTED.items():
        assert found.get(key) == tuple(choices), key
    assert set(found) == set(EXPECTED)  # no choice option is left out, none is invented


@pytest.mark.parametrize(("argv", "flag"), [
    (["convert", "x.pt", "--to", "bogus"], "'--to'"),
    (["list", "--sort", "bogus"], "'--sort'"),
    (["inspect", "x.pt", "-f", "bogus"], "'--format'"),
])
def test_a_value_outside_the_choices_is_a_usage_error(argv: list[str], flag: str, tmp_path: object) -> None:
    r = run_cli(*argv, cwd=tmp_path)  # type: ignore[arg-type]
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert flag in r.stderr and "must be one of" in r.stderr


# save/load --every/--mode are checked by the library, inside the one --json document those
# commands always print (test_save_load_roundtrip: `save --every epoch --json`).


def test_library_errors_name_parameters_not_flags(tmp_path: object) -> None:
    from mckpt.train.mammoth_env import MammothEnv
    from mckpt.train.save import plan_save

    env = MammothEnv.__new__(MammothEnv)  # never reached: the choice is checked first
    for call, parameter in ((lambda: plan_save(env, [], every="bogus"), "every"),
                            (lambda: plan_save(env, [], mode="bogus"), "mode")):
        with pytest.raises(UsageError) as e:
            call()
        assert str(e.value).startswith(f"{parameter} must be one of") and "--" not in str(e.value)
        assert e.value.param == parameter and e.value.describe(flag).startswith(f"--{parameter} must be one of")


def test_one_sha256_format() -> None:
    """`choices` holds the one sha256 pattern: options, ETags, cache folders and hub blobs use it."""
    digest = "ab" * 32
    assert is_sha256(digest) and not is_sha256(digest.upper()) and not is_sha256(digest[:-1])
    assert check_sha256(digest.upper()) == digest
    with pytest.raises(UsageError, match="wants 64 hexadecimal digits"):
        check_sha256("xyz")
    assert sha256_of_etag(f'W/"{digest.upper()}"') == digest and sha256_of_etag(f'"{digest}"') == digest
    assert sha256_of_etag('"d41d8cd98f00b204e9800998ecf8427e"') is None and sha256_of_etag(None) is None
