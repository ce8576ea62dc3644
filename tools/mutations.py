"""Small, realistic bugs that the test suite must catch: run them with `python tools/mutate.py`.

Each mutation names a file, a snippet that must occur in it exactly once, what it becomes, the
tests that must then fail, and why the bug matters. A mutation whose snippet is gone (the code
moved on) is reported as stale: rewrite it against the new code rather than dropping it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    original: str
    mutated: str
    tests: tuple[str, ...]
    why: str


MUTATIONS = [
    # --- the ten that passed the whole suite in the audit of issue 26 -----------------------------
    Mutation(
        "allow-list: builtins.getattr allowed",
        "mckpt/torchfile/unpickler.py",
        '"float": float, "bool": bool, "object": object,',
        '"float": float, "bool": bool, "object": object, "getattr": getattr,',
        ("tests/torchfile/test_allow_list.py",),
        "getattr reaches any attribute of any object the pickle holds: a wider allow-list is the safety promise "
        "gone.",
    ),
    Mutation(
        "work budget: collisions across SETITEMS batches not charged",
        "mckpt/torchfile/unpickler.py",
        "self.budget.keys(items[0::2], target)",
        "self.budget.keys(items[0::2])",
        ("tests/torchfile/test_allow_list.py",),
        "each batch would count its collisions alone: one colliding key per batch floods a dict for free.",
    ),
    Mutation(
        "names: dataset token searched from the left",
        "mckpt/domain/names.py",
        "for i in range(len(tokens) - 1, 0, -1):  # index 0 is at least the model",
        "for i in range(1, len(tokens)):  # index 0 is at least the model",
        ("tests/domain/test_names.py",),
        "a prefix holding a dataset-like token would become the model and dataset, silently.",
    ),
    Mutation(
        "metrics: forgetting's best accuracy without the last row",
        "mckpt/domain/metrics.py",
        "best = [max(row[i] for row in matrix if len(row) > i) for i in range(n - 1)]",
        "best = [max(row[i] for row in matrix[:-1] if len(row) > i) for i in range(n - 1)]",
        ("tests/domain/test_metrics_reference.py",),
        "Mammoth's forgetting takes the maximum over every row; without the last, positive transfer turns into "
        "negative forgetting.",
    ),
    Mutation(
        "results: grouping keys from the first run only",
        "mckpt/domain/results.py",
        "by = list(query.by) if query.by else sorted({k for r in runs for k in r.args} - GROUP_IGNORED_ARGS)",
        "by = list(query.by) if query.by else sorted(set(runs[0].args if runs else ()) - GROUP_IGNORED_ARGS)",
        ("tests/domain/test_results_properties.py",),
        "runs with different values of an arg the first run lacks would be averaged together.",
    ),
    Mutation(
        "atomic publish: no-clobber as check-then-replace",
        "mckpt/io/atomic.py",
        "            os.link(tmp, final)\n",
        "            if final.exists():\n"
        "                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final))\n"
        "            os.replace(tmp, final)\n"
        "            return\n",
        ("tests/io/test_atomic.py",),
        "a writer that takes the name between the check and the replace loses its file: the race the design "
        "exists to prevent.",
    ),
    Mutation(
        "csv output: a cell's raw string not quoted",
        "mckpt/view/output.py",
        "w.writerows([[inert_csv(cell_value(c)) for c in r] for r in rows])",
        'self.stream.write("".join(",".join(str(inert_csv(cell_value(c))) for c in r) + "\\n" for r in rows))',
        ("tests/view/test_output_streams.py", "tests/domain/test_results.py", "tests/view/test_rough_edges_output.py",
         "tests/cli/test_cli_read.py", "tests/view/test_output_inert.py"),
        "a comma or newline in a run name or arg value shifts every later column of the csv.",
    ),
    Mutation(
        "LaTeX output: ~ and ^ not escaped",
        "mckpt/view/output.py",
        '"~": r"\\textasciitilde{}", "^": r"\\textasciicircum{}", ',
        "",
        ("tests/view/test_output_streams.py", "tests/domain/test_results.py", "tests/view/test_rough_edges_output.py",
         "tests/view/test_output_inert.py"),
        "~ is a non-breaking space and ^ a math superscript: the table breaks the paper's build.",
    ),
    Mutation(
        "direct parser: -m=er read as -m er",
        "mckpt/cli/direct.py",
        'name, eq, attached = word.partition("=") if word.startswith("--") else (word, "", "")',
        'name, eq, attached = word.partition("=")',
        ("tests/cli/test_direct.py",),
        "Click reads `-m=er` as the value `=er`; answering `er` lists other runs than Typer would.",
    ),
    Mutation(
        "S3 listing: only the first page of 1,000 objects",
        "mckpt/remote/objstore.py",
        "chunk_size=1000)), prefix)",
        "chunk_size=1000))[:1], prefix)",  # the first page of 1,000 keys only
        ("tests/remote/test_scale.py",),
        "a bucket of 1,001+ files lists short, and `verify`/`list` report fewer runs than there are.",
    ),
    # --- more of the same classes ------------------------------------------------------------------
    Mutation(
        "allow-list: operator no longer refused by name",
        "mckpt/torchfile/unpickler.py",
        '"shutil socket ctypes code codeop pty webbrowser io _io operator functools itertools types marshal "',
        '"shutil socket ctypes code codeop pty webbrowser io _io functools itertools types marshal "',
        ("tests/torchfile/test_allow_list.py",),
        "operator.attrgetter would become a placeholder instead of a refusal: one step from running code.",
    ),
    Mutation(
        "allow-list: dunder names of unknown modules accepted",
        "mckpt/torchfile/unpickler.py",
        'if top in _DENIED_TOP or "." in name or name.startswith("__"):',
        'if top in _DENIED_TOP or "." in name:',
        ("tests/torchfile/test_allow_list.py",),
        "`utils.buffer.__reduce_ex__` and the like reach Python's object protocol.",
    ),
    Mutation(
        "metrics: BWT averaged over every task, the last included",
        "mckpt/domain/metrics.py",
        "bwt = _mean([final[i] - matrix[i][i] for i in range(n - 1)])",
        "bwt = _mean([final[i] - matrix[i][i] for i in range(n)])",
        ("tests/domain/test_metrics_reference.py",),
        "the last task's zero difference dilutes backward transfer (Mammoth averages over n-1 tasks).",
    ),
    Mutation(
        "hub listing: only the first tree page",
        "mckpt/io/hub_api.py",
        "            params = None  # the next link carries its own query\n            yield page",
        "            params = None  # the next link carries its own query\n            yield page\n            return",
        ("tests/remote/test_scale.py",),
        "a repo folder of more than one page of files would list short.",
    ),
    Mutation(
        "hub token: XDG_CACHE_HOME ignored",
        "mckpt/io/hfhub.py",
        'return _env_path("HF_HOME") or xdg_cache_home() / "huggingface"',
        'return _env_path("HF_HOME") or Path("~/.cache/huggingface").expanduser()',
        ("tests/promises/test_hermetic.py",),
        "a user who moved their caches logged in under $XDG_CACHE_HOME; ~/.cache may hold another token.",
    ),
    Mutation(
        "hermetic tests: AWS_* reaches the tests",
        "tests/conftest.py",
        'HERMETIC_PREFIXES = ("AWS_", "GOOGLE_", "AZURE_", "HF_", "HUGGING_FACE_", "HUGGINGFACE_", "XDG_")',
        'HERMETIC_PREFIXES = ("GOOGLE_", "AZURE_", "HF_", "HUGGING_FACE_", "HUGGINGFACE_", "XDG_")',
        ("tests/promises/test_hermetic.py",),
        "an AWS_ENDPOINT_URL_S3 or AWS_PROFILE in the developer's shell would send the S3 tests elsewhere.",
    ),
    Mutation(
        "CI: skips no longer fail the run",
        "tests/conftest.py",
        "        session.exitstatus = pytest.ExitCode.TESTS_FAILED",
        "        pass",
        ("tests/promises/test_hermetic.py::test_an_unexpected_skip_fails_under_ci",),
        "a test CI did not run would pass CI.",
    ),
    Mutation(
        "direct parser: a value starting with - taken as a value",
        "mckpt/cli/direct.py",
        'if value is None or value.startswith("-") or (choices and value not in choices):',
        "if value is None or (choices and value not in choices):",
        ("tests/cli/test_direct.py",),
        "`-m -r` would read `-r` as the model where Click refuses the line.",
    ),
]
