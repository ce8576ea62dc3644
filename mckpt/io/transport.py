"""All of mckpt's HTTP: one httpx client with proxies, TLS, timeouts, retries and a scoped token.

Everything that talks HTTP (fetch, remote inspect, hub API calls) goes through `Http`. What it
takes from the environment, as curl and huggingface_hub users expect on a cluster:

- proxies: `http_proxy`/`https_proxy`/`all_proxy` (either case), credentials in the proxy URL
  (`http://user:pw@proxy:3128`), `https://` proxies; plain-http targets are sent to the proxy in
  absolute form (no CONNECT, which Squid refuses by default), https targets through CONNECT.
  `NO_PROXY` takes host names, `.domain` suffixes, `host:port`, IP addresses, CIDR blocks
  (`10.0.0.0/8`) and `*`. httpx's own NO_PROXY matching has no CIDR, so routing is done here.
- TLS: `SSL_CERT_FILE`, `SSL_CERT_DIR`, and `REQUESTS_CA_BUNDLE`/`CURL_CA_BUNDLE` (what
  huggingface_hub and curl users already set); otherwise the system store plus certifi's bundle.

Redirects are followed here, not by httpx, because the token rule is ours: the bearer token goes
to the hub endpoint's origin only, never to the CDN a `resolve` URL redirects to, nor anywhere
else. Bodies are requested with `Accept-Encoding: identity`; a compressed answer is refused by the
callers, never stored.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlsplit
from urllib.request import getproxies

from ..errors import MckptError, NotFound
from ..version import __version__
from .urls import origin


def _import_httpx_without_its_cli() -> None:
    """httpx's package imports its command-line client (`httpx._main`: click, pygments,
    rich.syntax) whenever those happen to be installed: 0.1 s measured on every fetch and remote
    inspect, for a client mckpt never runs. The import is held off while httpx loads (httpx then
    defines a stub `main`, as it does without those packages) and released right after, so an
    explicit `import httpx._main` elsewhere still works."""
    if "httpx" in sys.modules:
        return
    sys.modules["httpx._main"] = None  # type: ignore[assignment]
    try:
        import httpx  # noqa: F401
    finally:
        del sys.modules["httpx._main"]


_import_httpx_without_its_cli()

import httpcore  # noqa: E402
import httpx  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Iterator

T = TypeVar("T")
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10
USER_AGENT = f"mckpt/{__version__}"
RESUME_HINT = "check the network; rerunning the same command resumes"
RETRY_HINT = "check the network and the URL, then try again"
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class TransientError(Exception):
    """A failure worth retrying: a dropped or refused connection, a timeout, a 5xx answer."""


class DeadlineExceeded(MckptError):
    """An exchange ran past its total deadline (`Http.deadline`): not retried."""


@dataclass
class Reply:
    """The last response of a request, after redirects; `hub_headers` are the first hop's."""

    url: str
    status: int
    headers: httpx.Headers
    response: httpx.Response
    hub_headers: httpx.Headers

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def _ssl_context() -> ssl.SSLContext:
    """The CA store the environment names, else the system's plus certifi's."""
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if path := os.environ.get(var):
            try:
                return ssl.create_default_context(cafile=path)
            except (OSError, ssl.SSLError) as e:
                raise MckptError(f"cannot load the CA bundle named by {var}: {e}", path=path) from None
    if path := os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context(capath=path)
    ctx = ssl.create_default_context()
    try:
        import certifi

        ctx.load_verify_locations(certifi.where())
    except (ImportError, OSError, ssl.SSLError):  # the system store alone is still a valid store
        pass
    return ctx


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """curl's NO_PROXY rules, plus CIDR blocks: does `host` skip the proxy?"""
    host = host.strip("[]").lower()
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, want_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if want_port and want_port.isascii() and want_port.isdigit() and int(want_port) != port:
            continue
        name = name.strip("[]")
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(name, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = name.lstrip(".").removeprefix("*.")
        if host == name or host.endswith("." + name):
            return True
    return False


def proxy_for(url: str) -> str | None:
    """The proxy URL the environment gives for `url`, or None for a direct connection."""
    env = getproxies()
    scheme, host, port = origin(url)
    if _bypassed(host, port, env.get("no", "")):
        return None
    proxy = env.get(scheme) or env.get("all")
    if proxy and "://" not in proxy:
        proxy = f"http://{proxy}"
    return proxy or None


class _Routing(httpx.BaseTransport):
    """Sends each request direct or through the proxy `proxy_for` names (one pool per route).

    The CA store is loaded only for a route that speaks TLS (0.06-0.2 s measured, most of a
    plain-http fetch's setup); a plain route gets a context with no CA at all, so a TLS
    handshake there could only fail, never pass unverified.
    """

    def __init__(self, limits: httpx.Limits) -> None:
        self._limits = limits
        self._ssl: ssl.SSLContext | None = None
        self._routes: dict[tuple[str | None, bool], httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def _route(self, proxy: str | None, tls_target: bool) -> httpx.HTTPTransport:
        tls_proxy = bool(proxy and proxy.startswith("https://"))
        key = (proxy, tls_target or tls_proxy)
        with self._lock:
            transport = self._routes.get(key)
            if transport is None:
                if key[1] and self._ssl is None:
                    self._ssl = _ssl_context()
                ctx = self._ssl if key[1] else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                try:
                    via = httpx.Proxy(proxy, ssl_context=ctx if tls_proxy else None) if proxy else None
                    transport = httpx.HTTPTransport(verify=ctx, proxy=via, limits=self._limits)
                except (ValueError, ImportError, httpx.InvalidURL) as e:
                    raise MckptError(f"cannot use the proxy from the environment: {e}",
                                     path=_redact(proxy or ""),
                                     hint="check HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (http:// or https://)"
                                     ) from None
                self._routes[key] = transport
            return transport

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        route = self._route(proxy_for(str(request.url)), request.url.scheme == "https")
        return route.handle_request(request)

    def close(self) -> None:
        for transport in self._routes.values():
            transport.close()
        self._routes.clear()


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}" if parts.username else url


class Http:
    """The client; `token` is sent only to `token_origin` (scheme, host, port).

    Thread-safe: parallel ranged downloads share one instance (one connection pool per route).
    `deadline` bounds a whole exchange (metadata and ranged reads), for one caller at a time.
    """

    def __init__(self, token: str | None = None, token_origin: tuple[str, str, int] | None = None,
                 timeout: float = 30.0, connections: int = 8) -> None:
        self.token, self.token_origin, self.timeout = token, token_origin, timeout
        limits = httpx.Limits(max_connections=connections + 2, max_keepalive_connections=connections + 2)
        self._client = httpx.Client(
            transport=_Routing(limits), trust_env=False, follow_redirects=False,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        self._sockets: list[socket.socket] = []  # the connections this client opened (see `deadline`)
        self._running: DeadlineExceeded | None = None  # the deadline of the exchange under way
        self._expired: DeadlineExceeded | None = None  # …once it has passed
        self._sockets_lock = threading.Lock()

    @contextmanager
    def deadline(self, seconds: float, url: str) -> Iterator[None]:
        """Everything inside (requests, redirects, retries and their waits, reading the body) ends
        within `seconds`, or DeadlineExceeded (a MckptError, not retried) is raised.

        A per-read timeout cannot do this: a server sending one byte a second satisfies every
        read's timeout forever, in its headers as in its body. So a timer shuts down the sockets
        this client opened when time is up (shutdown, not close: the file descriptor stays ours
        until httpcore closes it, so no other file can take its number); the blocked read then
        ends at once, and whatever error it raises is reported as the deadline it is.
        """
        expired = DeadlineExceeded(f"{urlsplit(url).hostname} sent too slowly: no full answer within {seconds:g} s",
                                   path=url, hint="a slow link may need more time: --timeout SECONDS (from Python: "
                                                  "FetchOptions(deadline=…))")
        timer = threading.Timer(seconds, self._expire, (expired,))
        timer.daemon = True
        with self._sockets_lock:
            self._running, self._expired = expired, None
        timer.start()
        try:
            yield
        except (TransientError, MckptError):
            if self._expired is not None:
                raise self._expired from None
            raise
        finally:
            timer.cancel()
            with self._sockets_lock:  # a timer firing just now finds this exchange over
                self._running, self._expired = None, None

    def _expire(self, error: DeadlineExceeded) -> None:
        with self._sockets_lock:
            if self._running is not error:
                return
            self._expired = error
            for sock in self._sockets:
                # Closed already (fd -1), or not connected: nothing to stop there.
                with suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain call, also on a TLS socket

    def _trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: note each connection's socket as it is made (TLS replaces the
        plain socket it wraps, which is then detached)."""
        if event.endswith(("connect_tcp.complete", "start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with self._sockets_lock:
                    self._sockets = [s for s in self._sockets if s.fileno() != -1] + [sock]

    def _send(self, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
        if self._expired is not None:
            raise self._expired
        hdrs = dict(headers)
        if self.token and origin(url) == self.token_origin:
            hdrs["Authorization"] = f"Bearer {self.token}"
        try:
            request = self._client.build_request(method, url, headers=hdrs, extensions={"trace": self._trace})
        except (httpx.InvalidURL, ValueError) as e:
            raise MckptError(f"malformed URL ({e})", path=url) from None
        try:
            resp = self._client.send(request, stream=True)
        except httpx.ProxyError as e:
            raise _proxy_error(str(e), url) from None
        except httpx.UnsupportedProtocol as e:
            raise MckptError(f"unsupported URL ({e})", path=url) from None
        except httpx.ConnectError as e:
            if "CERTIFICATE_VERIFY_FAILED" in str(e) or "SSL" in str(e):
                raise MckptError(f"TLS certificate check failed for {urlsplit(url).hostname}: "
                                 f"{_reason(e)}", path=url,
                                 hint="point SSL_CERT_FILE (or SSL_CERT_DIR) at the CA bundle your "
                                      "site uses") from None
            raise TransientError(describe(e, url)) from None
        except httpx.RemoteProtocolError as e:
            if "location header" in str(e).lower():  # httpx parses Location even when not following
                raise MckptError(f"the server redirected to a malformed URL ({_reason(e)})", path=url) from None
            raise TransientError(describe(e, url)) from None
        except httpx.TransportError as e:
            raise TransientError(describe(e, url)) from None
        if resp.status_code == 407:
            resp.close()
            raise _proxy_error("407 Proxy Authentication Required", url)
        return resp

    def open(self, method: str, url: str, headers: dict[str, str] | None = None, *,
             stop: Callable[[Reply], bool] | None = None) -> Reply:
        """Send a request and follow redirects; `stop(reply)` may end the chain at a redirect.

        The body is not read: the caller streams it from `reply.response` and closes it (`discard`).
        """
        headers = headers or {}
        hub_headers = None
        for _ in range(MAX_REDIRECTS):
            resp = self._send(method, url, headers)
            hub_headers = hub_headers or resp.headers
            reply = Reply(url, resp.status_code, resp.headers, resp, hub_headers)
            location = resp.headers.get("Location")
            if resp.status_code not in REDIRECTS or not location or (stop and stop(reply)):
                if resp.status_code >= 500 or resp.status_code == 429:
                    resp.close()
                    raise TransientError(f"server busy or failing: HTTP {resp.status_code} from "
                                         f"{urlsplit(url).hostname}")
                return reply
            resp.close()
            url = _redirect_target(url, location)
        raise MckptError(f"more than {MAX_REDIRECTS} redirects", path=url)

    def get_json(self, url: str, *, params: dict[str, str] | None = None, limit: int = 64 << 20,
                 deadline: float = 120.0) -> Any:
        """GET a JSON document (a hub API answer), within `limit` bytes and `deadline` seconds.

        Raises MckptError for HTTP errors (one line, hub-aware) and TransientError for network ones;
        wrap in `with_retries` to retry.
        """
        return self.get_json_page(url, params=params, limit=limit, deadline=deadline)[0]

    def get_json_page(self, url: str, *, params: dict[str, str] | None = None, limit: int = 64 << 20,
                      deadline: float = 120.0, max_values: int | None = None) -> tuple[Any, str | None]:
        """`get_json`, and the next page's URL from `Link: <…>; rel="next"` (None on the last page),
        resolved against `url` (paginated hub listings such as the tree API). With `max_values`, an
        answer that would parse into more values than that is refused before it is parsed."""
        if params:
            url = str(httpx.URL(url, params=params))
        reply = self.open("GET", url, {"Accept": "application/json"})
        try:
            if reply.status != 200:
                raise status_error(reply, url, hub=origin(url) == self.token_origin)
            body = read_body(reply, limit, deadline, url)
            link = reply.header("Link") or ""
        finally:
            reply.response.close()
        if max_values is not None and json_values(body) > max_values:
            raise MckptError(f"the server's answer holds more than {max_values} JSON values", path=url)
        try:
            data = json.loads(body)
        except ValueError:
            raise MckptError("the server's answer is not JSON", path=url) from None
        m = _NEXT_LINK.search(link)
        return data, urljoin(url, m[1]) if m else None

    def discard(self, reply: Reply) -> None:
        """Close a response we are done with (its connection goes back to the pool if complete)."""
        reply.response.close()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def json_values(body: bytes) -> int:
    """At least how many values (keys included) `json.loads(body)` would build, counted without
    building anything: every value but the first of a container follows a `,`, every key has a
    `:` after it, every container opens with `[` or `{`. Those characters inside strings count
    too, so this may overcount, never undercount. A page of `[{},{},…]` costs ~90 bytes of Python
    objects per 3 bytes of JSON: counting first keeps that from becoming hundreds of MiB."""
    return body.count(b",") + body.count(b":") + body.count(b"[") + body.count(b"{") + 1


def _redirect_target(url: str, location: str) -> str:
    """The absolute URL a Location header names; a malformed one is the server's error, not ours."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in location):
        raise MckptError(f"the server redirected to a malformed URL ({location!r})", path=url)
    try:
        target = httpx.URL(url).join(location)
        scheme = target.scheme
        origin(str(target))  # the port range check httpx does not make
    except (httpx.InvalidURL, ValueError) as e:
        raise MckptError(f"the server redirected to a malformed URL ({location!r}: {e})", path=url) from None
    if scheme not in ("http", "https") or not target.host:
        raise MckptError(f"the server redirected to an unsupported URL ({location!r})", path=url)
    return str(target)


def _proxy_error(message: str, url: str) -> MckptError:
    proxy = _redact(proxy_for(url) or "")
    if "407" in message:
        return MckptError(f"the proxy {proxy} wants credentials (HTTP 407 Proxy Authentication Required)",
                          path=url, hint="put them in the proxy URL: HTTPS_PROXY=http://user:password@host:port "
                                         "(percent-encode special characters)")
    return MckptError(f"the proxy {proxy} refused the connection ({message})", path=url,
                      hint="check HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, or list the host in NO_PROXY")


def _reason(e: BaseException) -> str:
    text = str(e).strip()
    return text.rsplit("] ", 1)[-1][:200] if text else type(e).__name__


def describe(e: BaseException, url: str) -> str:
    """One line about a network failure talking to `url`'s host."""
    host = urlsplit(url).hostname
    text = str(e)
    if isinstance(e, httpx.TimeoutException | httpcore.TimeoutException):
        return f"timed out talking to {host}"
    if isinstance(e, httpx.ConnectError):
        if "Name or service not known" in text or "nodename nor servname" in text or "resolution" in text:
            return f"cannot resolve {host}"
        if "refused" in text.lower():
            return f"connection refused by {host}"
        return f"cannot connect to {host}: {_reason(e)}"
    if isinstance(e, httpx.RemoteProtocolError | httpx.ReadError | httpcore.NetworkError):
        return f"connection to {host} dropped mid-transfer"
    return f"{type(e).__name__} talking to {host}: {_reason(e)}"


# A whole 1 GiB fetch (read, write, hash) took 2.5 s of CPU with 128 KiB reads, 2.45 s with 256 KiB
# and 2.3 s with 512 KiB to 1 MiB (medians of 3, loopback): larger gains nothing but memory.
BULK_READ = 512 << 10


def iter_body(reply: Reply, url: str, *, bulk: bool = False) -> Iterator[bytes]:
    """The raw body as it arrives; network failures become TransientError.

    `bulk` (a download, read to its end or abandoned): a body framed by Content-Length is read
    straight off the connection in BULK_READ blocks, through httpcore's documented
    `network_stream` response extension (plain, TLS and proxied connections alike). httpx's own
    path hands out httpcore's 64 KiB reads after h11 copied each of them three more times: 1 GiB
    cost 2.4 s of CPU there against 0.5 s here, measured on loopback, where a Python client
    competes with the server for the CPU. The connection is then not reused (h11 never saw
    the body end), so small reads on a connection worth keeping (ranges, JSON) keep the default.
    """
    resp = reply.response
    length = resp.headers.get("Content-Length", "")
    stream = resp.extensions.get("network_stream")
    direct = (bulk and length.isascii() and length.isdigit() and stream is not None
              and "Transfer-Encoding" not in resp.headers and resp.http_version in ("HTTP/1.1", "HTTP/1.0"))
    try:
        if not direct:
            yield from resp.iter_raw()
            return
        # h11 hands over everything it buffered with the headers as the first piece (or reads once
        # when it had nothing): from then on the body's next byte is the connection's next byte.
        # `raw` stays referenced: closing it (as collecting it would) closes the connection.
        raw = resp.iter_raw()
        first = next(raw, b"")
        yield first
        left = int(length) - len(first)
        timeout = resp.request.extensions.get("timeout", {}).get("read")
        while left > 0:
            block = stream.read(min(BULK_READ, left), timeout)
            if not block:
                raise TransientError(f"connection to {urlsplit(url).hostname} dropped mid-transfer")
            left -= len(block)
            yield block
    except (httpx.TransportError, httpcore.NetworkError, httpcore.TimeoutException) as e:
        raise TransientError(describe(e, url)) from None


def read_body(reply: Reply, limit: int, deadline: float, url: str) -> bytes:
    """At most `limit` bytes of the body, within `deadline` seconds: a small answer, bounded."""
    end = time.monotonic() + deadline
    out = bytearray()
    for chunk in iter_body(reply, url):
        out += chunk
        if len(out) > limit:
            raise MckptError(f"the server's answer is larger than {limit} bytes", path=url)
        if time.monotonic() > end:
            raise TransientError(f"{urlsplit(url).hostname} sent too slowly (no full answer in {deadline:.0f} s)")
    return bytes(out)


_NOT_FOUND = {"RepoNotFound": "the repo does not exist (or is private)",
              "RevisionNotFound": "the revision does not exist",
              "EntryNotFound": "the file is not in this revision"}


def status_error(reply: Reply, name: str, hub: bool, token_flag: bool = False) -> MckptError:
    """One line for an HTTP status the user must act on (auth, missing file, anything odd);
    `token_flag`: the command has a --token option to suggest."""
    status = reply.status
    code = reply.hub_headers.get("X-Error-Code") or reply.headers.get("X-Error-Code")
    if status in (401, 403):
        if hub:
            how = "set HF_TOKEN, run `hf auth login`" + (", or pass --token" if token_flag else "")
            return MckptError(f"access denied (HTTP {status}{', ' + code if code else ''}): "
                              "the repo is gated or private", path=name,
                              hint=f"{how} with a token that may read it, and accept the repo's terms on "
                                   "its hub page")
        return MckptError(f"access denied (HTTP {status})", path=name)
    if status == 404:
        if hub:
            what = _NOT_FOUND.get(code or "", "check the repo, revision and path")
            return NotFound(f"not found (HTTP 404): {what}", path=name)
        return NotFound("not found (HTTP 404)", path=name)
    return MckptError(f"unexpected answer HTTP {status} {reply.response.reason_phrase}", path=name)


def retry_delays(retries: int, backoff: float) -> list[float]:
    """Exponential backoff with jitter, capped at 30 s; MCKPT_RETRY_BACKOFF scales it (tests)."""
    base = float(os.environ.get("MCKPT_RETRY_BACKOFF", backoff))
    return [min(30.0, base * 2**i) * random.uniform(0.75, 1.25) for i in range(retries)]


class RetryBudget:
    """How many more failures a whole operation may have, shared by its attempts and threads.

    The budget starts over only when `progress(high_water)` reports bytes beyond any seen before:
    a link that drops every few minutes still finishes a long download, but a server that keeps
    sending the same short answer, or a restart that re-downloads the same bytes, runs it out.
    """

    def __init__(self, retries: int, backoff: float, hint: str = RESUME_HINT,
                 note: Callable[[str], None] = lambda _m: None) -> None:
        self.retries, self.backoff, self.hint, self.note = retries, backoff, hint, note
        self._delays = retry_delays(retries, backoff)
        self._high = 0
        self._lock = threading.Lock()

    def progress(self, high_water: int) -> None:
        with self._lock:
            if high_water > self._high:
                self._high = high_water
                self._delays = retry_delays(self.retries, self.backoff)

    def spend(self, error: TransientError, url: str | None) -> None:
        """Wait before the next try, or raise the error as a MckptError if none is left."""
        with self._lock:
            delay = self._delays.pop(0) if self._delays else None
        if delay is None:
            tries = "retry" if self.retries == 1 else "retries"
            raise MckptError(f"{error} (gave up after {self.retries} {tries})", path=url, hint=self.hint)
        self.note(f"{error}; retrying in {delay:.1f} s")
        time.sleep(delay)


def with_retries(call: Callable[[], T], budget: RetryBudget, url: str | None = None) -> T:
    """Run `call`, retrying TransientError while `budget` lasts."""
    while True:
        try:
            return call()
        except TransientError as e:
            budget.spend(e, url)
