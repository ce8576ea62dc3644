"""A push to the Hugging Face hub through `huggingface_hub` (the optional extra `mckpt[hub]`).

huggingface_hub speaks the hub's commit API (preupload, LFS or Xet transfer, one ndjson commit),
retries, and knows the hub's errors; mckpt gives it the token `fetch` uses (HF_TOKEN, else the file
`hf auth login` wrote) and the endpoint (HF_ENDPOINT). All files and the card land in one commit
whose parent is the commit the plan looked at, so a repo changed meanwhile refuses it and Ctrl-C
before the commit leaves the repo as it was (uploaded LFS blobs are invisible until committed).
The sha256 mckpt computed while verifying each file is handed over, so huggingface_hub does not
read the file again to hash it (it reads it once more to send it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import MckptError
from ..io.hfhub import hub_token
from ..io.urls import hub_endpoint
from .dest import Destination

INSTALL_HINT = "pip install 'mckpt[hub]' (or: pip install huggingface_hub)"


def _hub() -> Any:
    try:
        import huggingface_hub
        from huggingface_hub import errors as _errors  # noqa: F401  (loads the submodule `error` reads)
        from huggingface_hub.utils import disable_progress_bars
    except ImportError:
        raise MckptError("pushing to the hub needs huggingface_hub, which is not installed",
                         hint=INSTALL_HINT) from None
    disable_progress_bars()  # mckpt draws its own bar
    return huggingface_hub


@dataclass
class RepoState:
    commit: str  # the head commit the plan saw
    files: set[str]  # every path in the repo at that commit


class HubTarget:
    """One repo (and folder, revision) on the hub."""

    def __init__(self, dest: Destination) -> None:
        self.dest = dest
        self.hf = _hub()
        self.api = self.hf.HfApi(endpoint=hub_endpoint(), token=hub_token() or False)

    def state(self) -> RepoState:
        """The repo's head commit and files (one request); a missing repo or a refused token is one line."""
        try:
            info = self.api.repo_info(self.dest.repo, repo_type=self.dest.repo_type, revision=self.dest.revision)
        except Exception as e:
            raise self.error(e) from None
        return RepoState(info.sha, {s.rfilename for s in (info.siblings or [])})

    def existing(self, names: list[str], state: RepoState) -> dict[str, str]:
        return {n: "" for n in names if self.dest.path(n) in state.files}

    def commit(self, files: list[tuple[str, str, str]], extra: list[tuple[str, bytes]], parent: str,
               message: str) -> tuple[str, str]:
        """One commit adding `files` ((name, local path, sha256)) and `extra` ((name, bytes)) on top
        of `parent`; returns (commit id, commit URL)."""
        ops = []
        for name, path, sha in files:
            op = self.hf.CommitOperationAdd(path_in_repo=self.dest.path(name), path_or_fileobj=path)
            op.upload_info.sha256 = bytes.fromhex(sha)  # hashed by mckpt's verifying read
            ops.append(op)
        ops += [self.hf.CommitOperationAdd(path_in_repo=self.dest.path(n), path_or_fileobj=b) for n, b in extra]
        try:
            info = self.api.create_commit(self.dest.repo, ops, commit_message=message, repo_type=self.dest.repo_type,
                                          revision=self.dest.revision, parent_commit=parent)
        except Exception as e:
            raise self.error(e) from None
        return info.oid, info.commit_url

    def read_text(self, name: str) -> str | None:
        """A small file of the repo (the card), or None."""
        try:
            path = self.hf.hf_hub_download(self.dest.repo, self.dest.path(name), repo_type=self.dest.repo_type,
                                           revision=self.dest.revision, endpoint=hub_endpoint(),
                                           token=hub_token() or False)
        except Exception:
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def error(self, e: BaseException) -> MckptError:
        """huggingface_hub's error as one line naming the repo."""
        errors = self.hf.errors
        where = f"hub: {self.dest.repo}"
        status = getattr(getattr(e, "response", None), "status_code", None)
        if isinstance(e, errors.RevisionNotFoundError):
            return MckptError(f"{where}: no such revision {self.dest.revision!r}", path=self.dest.text,
                              hint="create the branch first (hf repo branch create)")
        if status == 401 or (isinstance(e, errors.RepositoryNotFoundError) and status == 401):
            return MckptError(f"{where}: the token was refused (HTTP 401)", path=self.dest.text,
                              hint="set HF_TOKEN to a token with write access (or run: hf auth login)")
        if isinstance(e, errors.RepositoryNotFoundError):
            return MckptError(f"{where}: no such {self.dest.repo_type} repo, or the token may not see it",
                              path=self.dest.text, hint=f"create it first: hf repo create {self.dest.repo}")
        if status == 403:
            return MckptError(f"{where}: not allowed to write (HTTP 403)", path=self.dest.text,
                              hint="use a token with write access to this repo")
        if status == 412 or status == 409:
            return MckptError(f"{where}: the repo changed since the plan was made; nothing committed",
                              path=self.dest.text, hint="run the push again")
        first = str(e).strip().split("\n", 1)[0]
        return MckptError(f"{where}: {first[:300]}", path=self.dest.text)
