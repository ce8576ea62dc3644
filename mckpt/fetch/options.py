"""How to fetch: the options every download and remote read takes, and where their defaults come from.

A module of its own, light on purpose: `inspect s3://…` and `list hf://…` need these options
without the HTTP stack that `download` imports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..io.hfhub import hub_token
from .policy import MIN_RATE, WINDOW

PARALLEL_MIN = 64 << 20  # files this big may come over several ranged connections
_TRUE = ("1", "true", "yes", "on")


@dataclass
class FetchOptions:
    """How to fetch; `from_env` fills in what huggingface_hub users already set.

    Files of `parallel_min` bytes or more may come over several ranged connections. By default
    (`connections` None) a download is one stream, joined by AUTO_CONNECTIONS ranged ones when a
    window of `rate_window` seconds came in below `min_rate` bytes/s (see `policy.py`); a number
    asks for that many connections from the start, 1 for one stream always. `timeout` bounds each
    network wait, `deadline` (`--timeout`) each metadata or ranged read as a whole, retries included.
    """

    token: str | None = None
    endpoint: str | None = None
    cache_dir: str | None = None
    offline: bool = False
    sha256: str | None = None
    revision: str | None = None
    retries: int = 5
    backoff: float = 1.0
    timeout: float = 30.0
    deadline: float = 30.0  # --timeout
    connections: int | None = None
    parallel_min: int = PARALLEL_MIN
    min_rate: float = MIN_RATE
    rate_window: float = WINDOW

    @classmethod
    def from_env(cls, **given: Any) -> FetchOptions:
        """Options given explicitly win; else HF_TOKEN (or the `hf auth login` token file),
        HF_ENDPOINT and HF_HUB_OFFLINE apply."""
        given = {k: v for k, v in given.items() if v is not None}
        if not given.get("token"):
            given["token"] = hub_token()
        if not given.get("offline"):
            given["offline"] = os.environ.get("HF_HUB_OFFLINE", "").lower() in _TRUE
        return cls(**given)


def given_or_env(options: FetchOptions | None, revision: str | None = None) -> FetchOptions:
    """The options a caller gave, else the environment's (with `revision`, `--revision`)."""
    return options or FetchOptions.from_env(revision=revision)
