"""Names Mammoth uses for its models and datasets.

File names alone are ambiguous (`myrun_er_ace_…`: prefix `myrun_er`, model `ace`? or prefix `myrun`,
model `er_ace`?). Known names settle most cases; the parser says when it had to guess.
"""

from __future__ import annotations

MODELS = frozenset(
    """
    agem agem_r attriclip bic bic_v2 ccic cgil clip clip_finetune_baseline clip_finetune_joint cnll
    coda_prompt dap der derpp derpp_ace derpp_casper derpp_cscct derpp_lider derpp_star dualcoop
    dualprompt er er_ace er_ace_aer_abs er_ace_casper er_ace_cscct er_ace_lider er_ace_star
    er_ace_tricks er_star er_tricks ewc_on fdr first_stage_starprompt gdumb gdumb_lider gem gss hal
    icarl icarl_casper icarl_cscct icarl_lider idefics joint joint_dualcoop joint_gcl joint_webvision
    l2p llava lucir lwf lwf_mc mer moe_adapters pnn puridiver ranpac rpc second_stage_starprompt
    sgd si slca starprompt twf xder xder_ce xder_rpc zscl ease apt kac lider
    """.split()
)

DATASETS = frozenset(
    """
    seq-mnist perm-mnist rot-mnist mnist-360 seq-cifar10 seq-cifar10-224 seq-cifar10-224-rs
    seq-cifar100 seq-cifar100-224 seq-cifar100-224-rs seq-tinyimg seq-tinyimg-r seq-cub200
    seq-cub200-rs seq-imagenet-r seq-cars196 seq-chestx seq-cropdisease seq-eurosat-rgb seq-isic
    seq-mit67 seq-resisc45 seq-celeba seq-coco2014 seq-coco2014-448 seq-webvision seq-cifar100-noisy
    seq-cifar10-noisy
    """.split()
)

CHECKPOINTS_DIR = "checkpoints"  # where Mammoth writes, under its working folder

_DATASET_PREFIXES = ("seq-", "perm-", "rot-", "gcl-")


def is_model(token: str) -> bool:
    """True for a known model, typed with underscores or hyphens (Mammoth accepts both)."""
    return token.replace("-", "_") in MODELS


def is_dataset(token: str) -> bool:
    return token in DATASETS


def looks_like_dataset(token: str) -> bool:
    """A name shaped like Mammoth's datasets (hyphenated, a familiar stem), for unknown ones."""
    return token.startswith(_DATASET_PREFIXES) or token.endswith("-mnist") or token.startswith("mnist-")


# Arguments that describe a run's bookkeeping rather than what it trains: MAMMOTH_FORMAT.md's list
# ("Resuming a run") plus the ones Mammoth's own `_check_loaded_args` also skips. Shared by
# `load` (which differences to report) and `diff` (which differences to hide without --all).
BOOKKEEPING_ARGS = frozenset(
    """
    loadcheck start_from stop_after conf_jobnum conf_host conf_timestamp conf_git_commit distributed
    seed savecheck notes non_verbose job_number ckpt_name examples_log examples_full_log
    intensive_savecheck loss_log tensorboard autorelaunch force_compat conf_external_path
    """.split()
)
