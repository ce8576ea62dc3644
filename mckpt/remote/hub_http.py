"""The one HTTP call the hub's tree API needs: GET a JSON document with the hub token.

Kept to a single narrow function on purpose: the HTTP layer (`mckpt.io.transport`) may change
underneath, and only this function then needs re-pointing. The token goes to the hub endpoint's
origin only (the transport's rule); the body is capped, since a server's answer is untrusted.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin

from ..errors import MckptError
from ..io.transport import Http, status_error, with_retries
from ..io.urls import hub_endpoint, origin
from .listing import RemoteNotFound

MAX_JSON = 64 << 20
_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def get_json(url: str, *, token: str | None, endpoint: str | None = None, retries: int = 3,
             name: str | None = None) -> tuple[Any, str | None]:
    """(the parsed JSON body, the `Link: <…>; rel="next"` URL or None); errors as one line."""
    http = Http(token=token, token_origin=origin(hub_endpoint(endpoint)), timeout=30.0)
    try:
        reply = with_retries(lambda: http.open("GET", url, {"Accept": "application/json"}), retries, 0.5, url=url)
        if reply.status != 200:
            http.discard(reply, limit=0)
            err = status_error(reply, name or url, True)
            if reply.status == 404:
                raise RemoteNotFound(err.message, path=err.path, hint=err.hint)
            raise err
        body = reply.response.read(MAX_JSON + 1)
        if len(body) > MAX_JSON:
            raise MckptError(f"the hub's answer is larger than {MAX_JSON >> 20} MiB", path=name or url)
        link = reply.header("Link") or ""
    finally:
        http.close()
    try:
        data = json.loads(body)
    except ValueError:
        raise MckptError("the hub's answer is not JSON", path=name or url) from None
    m = _NEXT.search(link)
    return data, urljoin(url, m[1]) if m else None
