"""The file-name parser over every example of MAMMOTH_FORMAT.md and many more."""

from __future__ import annotations

from datetime import datetime

import pytest

from mckpt.domain.names import parse_name, parse_stem

# name -> (dialect, prefix, model, dataset, config, buffer, epochs, uid, task)
CASES = {
    # the fact sheet's examples
    "sgd_seq-cifar10_0_50_20231226-153012_0.pt": ("D1", None, "sgd", "seq-cifar10", None, 0, 50, None, 0),
    "myrun_derpp_seq-cifar10_500_50_20231226-153012_joint.pt":
        ("D1", "myrun", "derpp", "seq-cifar10", None, 500, 50, None, "joint"),
    "er_ace_seq-tinyimg_200_50_20240701-080910_1a2b3c4d_last.pt":
        ("D2", None, "er_ace", "seq-tinyimg", None, 200, 50, "1a2b3c4d", "last"),
    "er_ace_seq-cifar100_default_2000_50_20250115-235959_deadbeef_9.pt":
        ("D3", None, "er_ace", "seq-cifar100", "default", 2000, 50, "deadbeef", 9),
    "exp_v2_lwf_mc_seq-cifar100_default_0_5_20250115-235959_deadbeef_3.pt":
        ("D3", "exp_v2", "lwf_mc", "seq-cifar100", "default", 0, 5, "deadbeef", 3),
    "derpp_seq-cifar10_er_ace_500_50_20250115-101010_cafebabe_2.pt":
        ("D3", None, "derpp", "seq-cifar10", "er_ace", 500, 50, "cafebabe", 2),
    "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744_0.pt":
        ("D3", None, "sgd", "seq-mnist", None, 0, 1, "9acd4744", 0),
    # the real older files
    "myprefix_er_ace_seq-mnist_50_1_20261128-174912_0.pt":
        ("D1", "myprefix", "er_ace", "seq-mnist", None, 50, 1, None, 0),
    "sgd_seq-mnist_0_1_20261128-174822_39103efa_4.pt": ("D2", None, "sgd", "seq-mnist", None, 0, 1, "39103efa", 4),
    # more of our own
    "derpp_lider_seq-cifar100-224_default_2000_5_20250303-010203_0badf00d_last.pt":
        ("D3", None, "derpp_lider", "seq-cifar100-224", "default", 2000, 5, "0badf00d", "last"),
    "first_stage_starprompt_seq-imagenet-r_default_0_5_20250303-010203_12345678_0.pt":
        ("D3", None, "first_stage_starprompt", "seq-imagenet-r", "default", 0, 5, "12345678", 0),
    "a_b_c_xder_rpc_seq-cub200_online_500_50_20250303-010203_abcdef01_19.pt":
        ("D3", "a_b_c", "xder_rpc", "seq-cub200", "online", 500, 50, "abcdef01", 19),
    "er-ace_seq-cifar10_None_500_50_20250303-010203_abcdef01_1.pt":
        ("D3", None, "er-ace", "seq-cifar10", None, 500, 50, "abcdef01", 1),
    "icarl_perm-mnist_test_cfg_2000_1_20250303-010203_abcdef01_joint.pt":
        ("D3", None, "icarl", "perm-mnist", "test_cfg", 2000, 1, "abcdef01", "joint"),
    "ewc_on_rot-mnist_0_1_20240101-000000_3.pt": ("D1", None, "ewc_on", "rot-mnist", None, 0, 1, None, 3),
    "gdumb_mnist-360_200_1_20240601-120000_feedface_last.pt":
        ("D2", None, "gdumb", "mnist-360", None, 200, 1, "feedface", "last"),
    "my_er_er_seq-mnist_None_0_1_20240601-120000_feedface_2.pt":
        ("D3", "my_er", "er", "seq-mnist", None, 0, 1, "feedface", 2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_parse_examples(name: str) -> None:
    p = parse_name(name)
    assert p is not None
    got = (p.dialect, p.prefix, p.model, p.dataset, p.dataset_config, p.buffer_size, p.n_epochs, p.uid, p.task)
    assert got == CASES[name]
    assert p.guessed == ()
    assert p.stem == name[: -len(f"_{p.task}.pt")]


def test_timestamp_and_paths() -> None:
    p = parse_name("/data/exp/checkpoints/er_seq-mnist_None_50_1_20261128-165918_95ed7ced_last.pt")
    assert p.timestamp == datetime(2026, 11, 28, 16, 59, 18)
    assert p.stem == "er_seq-mnist_None_50_1_20261128-165918_95ed7ced"


def test_resumed_run_has_parent_lineage() -> None:
    parent = "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744"
    p = parse_name(f"{parent}_sgd_seq-mnist_None_0_1_20261128-170042_4d2e1678_1.pt")
    assert (p.dialect, p.model, p.dataset, p.uid, p.task) == ("D3", "sgd", "seq-mnist", "4d2e1678", 1)
    assert p.parent.uid == "9acd4744"
    assert p.parent.stem == "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744"
    assert p.prefix == p.parent.stem
    assert p.timestamp == datetime(2026, 11, 28, 17, 0, 42)


def test_resumed_twice_with_user_prefix() -> None:
    root = "exp_er_ace_seq-cifar10_default_500_50_20250101-000000_aaaaaaaa"
    second = f"{root}_er_ace_seq-cifar10_default_500_50_20250102-000000_bbbbbbbb"
    third = f"{second}_er_ace_seq-cifar10_default_500_50_20250103-000000_cccccccc_4.pt"
    p = parse_name(third)
    assert (p.uid, p.model, p.dataset_config, p.task) == ("cccccccc", "er_ace", "default", 4)
    assert p.parent.uid == "bbbbbbbb" and p.parent.parent.uid == "aaaaaaaa"
    assert p.parent.parent.prefix == "exp"
    assert p.lineage == [root, second]


def test_paused_file() -> None:
    p = parse_name("checkpoints/paused/0b7e6a0e-5c1d-4c52-9f5e-2f1f3c6d9a10.pt")
    assert (p.dialect, p.task, p.model, p.uid) == ("paused", "paused", None, None)


def test_unknown_model_is_a_guess() -> None:
    p = parse_name("mine_newmethod_seq-cifar10_None_0_1_20250101-000000_abcdef01_0.pt")
    assert (p.prefix, p.model) == ("mine", "newmethod")
    assert set(p.guessed) == {"model", "prefix"}


def test_unknown_dataset_shape_is_a_guess() -> None:
    p = parse_name("sgd_seq-newdata_None_0_1_20250101-000000_abcdef01_0.pt")
    assert (p.model, p.dataset, p.dataset_config) == ("sgd", "seq-newdata", None)
    assert p.guessed == ("dataset",)


@pytest.mark.parametrize("name", [
    "backbone.pt", "model_final.pt", "sgd_seq-cifar10_0_50_2023-12-26_0.pt", "sgd_seq-cifar10_0_50_20231226-153012.pt",
    "sgd_seq-cifar10_x_50_20231226-153012_0.pt", "seq-cifar10_0_50_20231226-153012_0.pt", "_0_1_20231226-153012_0.pt",
    "sgd_seq-cifar10_0_50_20231399-153012_0.pt", "paused/not-a-uuid.pt", "",
])
def test_not_mammoth_names(name: str) -> None:
    assert parse_name(name) is None


def test_parse_stem_matches_args_ckpt_name() -> None:
    p = parse_stem("er_seq-mnist_None_50_1_20261128-165918_95ed7ced")
    assert (p.model, p.buffer_size, p.uid, p.dialect) == ("er", 50, "95ed7ced", "D3")
    assert parse_stem("no timestamp here") is None


@pytest.mark.parametrize("extra", ["extra", "None", "default", "my_cfg", "1a2b3c4d"])
@pytest.mark.parametrize("stem", ["sgd_seq-cifar10_{}_0_50_20231226-153012",
                                  "er_ace_seq-mnist_{}_50_1_20240101-000000"])
def test_d1_name_with_an_extra_token_is_still_d1(stem: str, extra: str) -> None:
    # Only a uid after the timestamp makes a name D2/D3; a D1 name with one more token before the
    # buffer (a config-like word, even a hex one) stays D1, and the odd token is marked as a guess.
    p = parse_name(stem.format(extra) + "_3.pt")
    assert p is not None
    assert (p.dialect, p.uid, p.task) == ("D1", None, 3)
    assert "dataset_config" in p.guessed


# --- generated names: every dialect x prefixes x dataset-like tokens x configs ---------------------

GEN_PREFIXES = [None, "exp", "my_run", "a_b_c", "seq-mnist_ablation", "run_seq-cifar10", "perm-mnist",
                "seq-newdata_v2", "x_rot-mnist_y", "sgd_seq-mnist_None_0_1_20261128-165846_9acd4744"]
GEN_MODELS = ["sgd", "er_ace", "derpp_lider", "lwf_mc", "xder_rpc", "icarl"]
GEN_DATASETS = ["seq-cifar10", "seq-mnist", "seq-cifar100-224", "perm-mnist", "mnist-360", "seq-tinyimg"]
GEN_CONFIGS = [None, "default", "best", "er_ace", "test_cfg", "lr_0.1"]
GEN_TASKS: list[int | str] = [0, 3, 19, "last", "joint"]


def generated_names() -> list[tuple[str, tuple[object, ...]]]:
    """(file name, the parts it was built from) for each combination."""
    out = []
    n = 0
    for dialect in ("D1", "D2", "D3"):
        for prefix in GEN_PREFIXES:
            for model in GEN_MODELS:
                for dataset in GEN_DATASETS:
                    for config in GEN_CONFIGS if dialect == "D3" else [None]:
                        n += 1
                        task, buffer, epochs = GEN_TASKS[n % 5], (0, 500, 2000)[n % 3], (1, 50)[n % 2]
                        uid = None if dialect == "D1" else f"{n:08x}"
                        parts = [prefix, model, dataset]
                        if dialect == "D3":
                            parts.append(config or "None")
                        parts += [str(buffer), str(epochs), "20250115-235959", uid, str(task)]
                        name = "_".join(p for p in parts if p is not None) + ".pt"
                        out.append((name, (dialect, prefix, model, dataset, config, buffer, epochs, uid, task)))
    return out


def test_generated_names_parse_to_the_parts_they_were_built_from() -> None:
    names = generated_names()
    assert len(names) > 1000
    wrong = []
    for name, parts in names:
        p = parse_name(name)
        got = None if p is None else (p.dialect, p.prefix, p.model, p.dataset, p.dataset_config, p.buffer_size,
                                      p.n_epochs, p.uid, p.task)
        if got != parts or (p is not None and p.guessed != ()):
            wrong.append((name, got, p and p.guessed))
    assert not wrong, f"{len(wrong)} of {len(names)} parse wrong, e.g. {wrong[:3]}"
