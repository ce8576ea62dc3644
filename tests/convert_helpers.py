"""Small real torch models and checkpoints for the convert tests (made with torch.save, not mocked)."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn


class Backbone(nn.Module):
    """Registers the same layers under several names, as Mammoth's backbones do (`_features`)."""

    def __init__(self, hidden: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, hidden)
        self.bn = nn.BatchNorm1d(hidden)  # buffers, including an int64 num_batches_tracked
        self.classifier = nn.Linear(hidden, 3)
        self._features = nn.Sequential(self.fc1, nn.ReLU())


class ContinualModel(nn.Module):
    """A continual model: backbone under `net`, plus an entry of its own beside it."""

    def __init__(self, hidden: int = 4) -> None:
        super().__init__()
        self.net = Backbone(hidden)
        self.register_buffer("class_means", torch.arange(6.0).reshape(2, 3))


ARGS = {"model": "derpp", "dataset": "seq-mnist", "dataset_config": "default", "buffer_size": 20,
        "n_epochs": 2, "lr": 0.1, "device": "cpu",
        "ckpt_name": "derpp_seq-mnist_default_20_2_20240101-000000_abcdef12",
        "conf_jobnum": "abcdef12-0000-4000-8000-000000000000"}


def make_template(path: Path, seed: int = 0) -> dict[str, torch.Tensor]:
    """A full Mammoth-shaped checkpoint; returns its model state dict."""
    torch.manual_seed(seed)
    model = ContinualModel()
    sd = model.state_dict()
    torch.save({"model": sd, "optimizer": None, "scheduler": None, "args": dict(ARGS),
                "results": [[[50.0]], [[90.0]], {"accs": ["50.0"]}]}, path)
    return sd


def make_backbone(path: Path, prefix: str = "", seed: int = 1, hidden: int = 4, drop: str | None = None,
                  clone: bool = False, legacy: bool = False) -> dict[str, torch.Tensor]:
    """A bare backbone state dict saved under `prefix`; returns the saved dict."""
    torch.manual_seed(seed)
    sd = Backbone(hidden).state_dict()
    kept = {k: v for k, v in sd.items() if not (drop and k.startswith(drop))}
    out = {prefix + k: (v.clone() if clone else v) for k, v in kept.items()}
    torch.save(out, path, _use_new_zipfile_serialization=not legacy)
    return out


def shares(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def raw_storages(path: Path) -> dict[str, bytes]:
    """The raw bytes of every `data/<key>` record of a torch zip file."""
    with zipfile.ZipFile(path) as z:
        return {n.rsplit("/", 1)[-1]: z.read(n) for n in z.namelist() if "/data/" in n}


def load(path: Path | str) -> Any:
    return torch.load(path, weights_only=True)
