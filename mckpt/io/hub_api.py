"""GET JSON from the hub's API (`/api/models/...`, tree listings), with the token, proxies and retries.

The one entry point for code that asks the hub questions rather than downloading bytes: the
token goes to the hub endpoint only, the environment's proxies and CA bundle apply (see
transport.py), transient failures are retried with backoff, and each answer is bounded in size and
time. Errors are one-line MckptErrors whose hint does not promise a resume.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from ..errors import MckptError
from .hfhub import hub_token
from .transport import RETRY_HINT, Http, RetryBudget, with_retries
from .urls import hub_endpoint, origin


def hub_client(endpoint: str | None = None, token: str | None = None, timeout: float = 30.0) -> Http:
    """An Http for the hub: `token` (default: HF_TOKEN or the saved token) scoped to the endpoint."""
    return Http(token=token or hub_token(), token_origin=origin(hub_endpoint(endpoint)), timeout=timeout)


def hub_json(path: str, *, params: dict[str, str] | None = None, endpoint: str | None = None,
             token: str | None = None, http: Http | None = None, retries: int = 3, backoff: float = 0.5,
             deadline: float = 120.0) -> Any:
    """The JSON answer to GET `<endpoint>/<path>` (e.g. `api/models/owner/repo/tree/main`).

    Pass `http` to reuse one client (and its connections) for many calls.
    """
    client = http or hub_client(endpoint, token)
    url = f"{hub_endpoint(endpoint)}/{path.lstrip('/')}"
    try:
        budget = RetryBudget(retries, backoff, hint=RETRY_HINT)
        return with_retries(lambda: client.get_json(url, params=params, deadline=deadline), budget, url=url)
    finally:
        if http is None:
            client.close()


def hub_json_pages(path: str, *, params: dict[str, str] | None = None, endpoint: str | None = None,
                   token: str | None = None, retries: int = 3, backoff: float = 0.5, deadline: float = 30.0,
                   max_pages: int = 10_000, limit: int = 64 << 20, max_values: int | None = None
                   ) -> Iterator[Any]:
    """Each page of a paginated hub answer (the tree API), following `Link: <…>; rel="next"` over one
    client, one page in memory at a time. A next link to another server, or more than `max_pages`
    pages, is an error: the answer is untrusted, and the token must not follow it elsewhere. Each
    page is at most `limit` bytes and `max_values` JSON values, and comes within `deadline`
    seconds, retries included (`Http.deadline`)."""
    base = hub_endpoint(endpoint)
    url: str | None = f"{base}/{path.lstrip('/')}"
    with hub_client(endpoint, token, timeout=min(30.0, deadline)) as client:
        for _ in range(max_pages):
            if url is None:
                return
            if origin(url) != origin(base):
                raise MckptError("the hub's next-page link points to another server", path=url)
            get = partial(client.get_json_page, url, params=params, deadline=deadline, limit=limit,
                          max_values=max_values)
            with client.deadline(deadline, url):
                page, url = with_retries(get, RetryBudget(retries, backoff, hint=RETRY_HINT), url=url)
            params = None  # the next link carries its own query
            yield page
    raise MckptError(f"the hub's answer has more than {max_pages} pages", path=base)
