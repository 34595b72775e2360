"""HTTP fetching for feeds: bounded, conditional, redirect-aware, and refusing internal targets.

Owns httpx (the API; requests go out through the aiohttp transport of sources/transport.py, or
through httpx's own for a configured proxy). Every fetch has an overall deadline (httpx
timeouts are per operation: RELIABILITY.md F5), decodes gzip/deflate itself from the raw stream
with a cap on the decoded size (httpx would inflate a whole chunk first: F6), follows redirects
one hop at a time and re-checks each target (F7), and refuses private, loopback and link-local
addresses unless the feed opts in, unwrapping IPv4 embedded in IPv6 (F8). Outcomes are
classified in one place.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import ipaddress
import os
import socket
import zlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from monitor import __version__
from monitor.retry_after import parse_retry_after

if TYPE_CHECKING:
    from monitor.sources.transport import AiohttpTransport

USER_AGENT = f"monitor/{__version__} (+https://github.com/monitor-news/monitor; feed reader)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, application/json;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
_REDIRECTS = {301, 302, 303, 307, 308}
_PERMANENT = {301, 308}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# Whether the fetch running in this task may reach non-public addresses (the feed's opt-in);
# read by the transport's resolver, which aiohttp awaits in the requesting task.
_ALLOW_PRIVATE: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "monitor_allow_private", default=False
)


@dataclass(frozen=True)
class FetchLimits:
    """Bounds on one fetch (RELIABILITY.md section 4)."""

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 60.0
    max_body: int = 10 * 1024 * 1024
    max_redirects: int = 5
    concurrency: int = 20
    per_host: int = 4
    user_agent: str = USER_AGENT


@dataclass(frozen=True)
class FetchResult:
    """What came back, after redirects: the final status, headers and decoded body."""

    status: int
    url: str  # the final URL
    headers: Mapping[str, str]
    body: bytes = b""
    permanent_url: str | None = None  # set when every hop was permanent (301/308)
    retry_after: timedelta | None = None


class FetchError(Exception):
    """The fetch failed: DNS, refused, TLS, timeout, too large, refused address, bad redirect."""

    def __init__(self, reason: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class Fetcher:
    """One shared transport with a global and a per-host concurrency limit.

    Requests go straight to the transport, not through `httpx.AsyncClient`: the client's layer
    (merging defaults into every request, auth and redirect generators, a cookie jar parsed
    through `email.message` on every response) cost as much CPU per 304 as the transport
    itself, and the fetcher does its own redirects, headers and timeouts anyway. The client is
    kept only where it does a job, routing to the proxies of the environment (`proxy_mounts`).

    Cookies live for one fetch: those set by a redirect go with the next hops (a feed behind a
    cookie check still works), and none are kept from one fetch or feed to the next (a shared
    jar would hand one feed's tracking cookies back on every later poll, as no peer does).
    """

    limits: FetchLimits = field(default_factory=FetchLimits)
    transport: httpx.AsyncBaseTransport | None = None  # tests inject one
    resolver: object = None  # callable(host, port) -> list[str]; tests stub DNS
    _transport: httpx.AsyncBaseTransport | None = None
    _direct: AiohttpTransport | None = None  # ours, no proxy: requests skip httpx's models
    _proxied: httpx.AsyncClient | None = None  # only when proxy variables are set
    _timeouts: dict[str, float | None] = field(default_factory=dict)
    _global: asyncio.Semaphore | None = None
    _hosts: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def _ensure(self) -> None:
        if self._transport is not None or self._proxied is not None:
            return
        limits = self.limits
        self._timeouts = httpx.Timeout(
            limits.read_timeout, connect=limits.connect_timeout
        ).as_dict()
        self._global = asyncio.Semaphore(limits.concurrency)
        pool_limits = httpx.Limits(
            max_connections=limits.concurrency, max_keepalive_connections=limits.concurrency
        )
        mounts = {} if self.transport else proxy_mounts(os.environ, pool_limits)
        transport = self.transport
        if transport is None:
            transport = _aiohttp_transport(self)
            if not mounts:
                self._direct = transport  # ours alone: requests may skip httpx's models
        if not mounts:
            self._transport = transport
            return
        self._proxied = httpx.AsyncClient(
            transport=transport,
            mounts=mounts,  # a client with its own transport ignores the environment's proxies
            limits=pool_limits,
            follow_redirects=False,
            trust_env=False,
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=())),  # keeps none
        )

    async def aclose(self) -> None:
        if self._proxied is not None:
            await self._proxied.aclose()
            self._proxied = None
        if self._transport is not None:
            await self._transport.aclose()
            self._transport = None
            self._direct = None

    async def fetch(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        allow_private_network: bool = False,
        now: datetime,
    ) -> FetchResult:
        """GET `url` within the deadline; raises `FetchError` for anything but an HTTP answer."""
        self._ensure()
        assert self._global is not None
        host = urlsplit(url).hostname or ""
        per_host = self._hosts.setdefault(host, asyncio.Semaphore(self.limits.per_host))
        request_headers = {"User-Agent": self.limits.user_agent, "Accept-Encoding": "gzip, deflate"}
        _set_headers(request_headers, headers or {})
        _set_headers(request_headers, {"Accept": ACCEPT})
        if etag:
            _set_headers(request_headers, {"If-None-Match": etag})
        if last_modified:
            _set_headers(request_headers, {"If-Modified-Since": last_modified})
        async with self._global, per_host:
            _ALLOW_PRIVATE.set(allow_private_network)  # this task only (asyncio copies context)
            try:
                async with asyncio.timeout(self.limits.deadline):
                    return await self._follow(url, request_headers, allow_private_network, now)
            except TimeoutError as e:
                raise FetchError(f"timed out after {self.limits.deadline:g}s") from e

    async def _send(
        self, url: str, headers: dict[str, str], cookies: httpx.Cookies | None
    ) -> Response:
        """One request, its response still streaming (the caller closes it). Straight to our
        transport when it is the only one and no cookie goes along (every fetch but a
        redirect hop after a Set-Cookie), through httpx's request object otherwise."""
        if self._direct is not None and cookies is None:
            return await self._direct.get(url, headers, self._timeouts)
        request = httpx.Request("GET", url, headers=headers, extensions={"timeout": self._timeouts})
        if cookies is not None:
            cookies.set_cookie_header(request)
        if self._proxied is not None:
            return await self._proxied.send(request, stream=True)
        assert self._transport is not None
        response = await self._transport.handle_async_request(request)
        response.request = request
        return response

    async def _follow(
        self, url: str, headers: dict[str, str], allow_private: bool, now: datetime
    ) -> FetchResult:
        all_permanent = True
        cookies: httpx.Cookies | None = None  # set by this fetch's redirects, for its next hops
        for _hop in range(self.limits.max_redirects + 1):
            await self._check_target(url, allow_private)
            try:
                response = await self._send(url, headers, cookies)
                try:
                    status = response.status_code
                    if status in _REDIRECTS:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchError(f"HTTP {status} without a Location header")
                        if "set-cookie" in response.headers:
                            cookies = cookies if cookies is not None else httpx.Cookies()
                            cookies.extract_cookies(_as_httpx_response(response, url))
                        all_permanent = all_permanent and status in _PERMANENT
                        url = urljoin(url, location)
                        if urlsplit(url).scheme not in ("http", "https"):
                            raise FetchError(f"redirect to a non-HTTP URL: {url[:200]}")
                        continue
                    body = b""
                    if status == 200:
                        body = await _read_body(response, self.limits.max_body)
                    return FetchResult(
                        status=status,
                        url=url,
                        headers=dict(response.headers),
                        body=body,
                        permanent_url=url if all_permanent and _hop > 0 else None,
                        retry_after=parse_retry_after(response.headers.get("retry-after"), now),
                    )
                finally:
                    await response.aclose()
            except httpx.TimeoutException as e:
                raise FetchError(f"timeout ({type(e).__name__})") from e
            except httpx.HTTPError as e:
                raise FetchError(_describe(e)) from e
        raise FetchError(f"more than {self.limits.max_redirects} redirects")

    async def _check_target(self, url: str, allow_private: bool) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise FetchError(f"not an http(s) URL: {url[:200]}")
        if allow_private:
            return
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = await self._resolve(host, port)
        for address in addresses:
            if not is_public_address(address):
                raise FetchError(
                    f"refused: {host} resolves to a non-public address {address} "
                    "(set allow_private_network = true for an internal feed)"
                )

    async def _resolve(self, host: str, port: int) -> list[str]:
        try:
            return [str(ipaddress.ip_address(host))]
        except ValueError:
            pass
        if callable(self.resolver):
            try:
                return list(self.resolver(host, port))
            except OSError as e:
                raise FetchError(f"DNS: cannot resolve {host}: {e}") from e
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise FetchError(f"DNS: cannot resolve {host}: {e.strerror}") from e
        return [str(info[4][0]) for info in infos]


def _set_headers(headers: dict[str, str], more: Mapping[str, str]) -> None:
    """Set `more` in `headers`, each replacing the same name in any case: a feed's
    `user-agent` replaces ours instead of going out beside it."""
    for name, value in more.items():
        folded = name.lower()
        for present in [k for k in headers if k.lower() == folded]:
            del headers[present]
        headers[name] = value


def preload_transport() -> None:
    """Start importing the transport (aiohttp) in a thread, in a process about to fetch.

    aiohttp builds two TLS contexts as it is imported, each loading the system's CA bundle
    (~40 ms in all), in OpenSSL with the GIL released: in a thread, that overlaps with the
    main thread's imports and config loading instead of delaying the first fetch (a twentieth
    of an all-304 `run --once`). The modules both threads need are imported first, here, so
    the two never wait on each other's half-imported modules. A failure is left to the import
    that needs the module, which raises it where it belongs.
    """
    import contextlib
    import importlib
    import ssl  # noqa: F401  (imported before the thread: see above)
    import threading

    def load() -> None:
        with contextlib.suppress(Exception):  # raised again by the import that needs it
            importlib.import_module("monitor.sources.transport")

    threading.Thread(target=load, name="preload-transport", daemon=True).start()


def _aiohttp_transport(fetcher: Fetcher) -> AiohttpTransport:
    """The transport every direct fetch uses: aiohttp underneath, addresses vetted by its
    resolver (sources/transport.py; imported here, when a fetcher first sends, so that loading
    a config of feeds does not import aiohttp)."""
    from monitor.sources.transport import AiohttpTransport, Refused, VettingResolver

    async def resolve(host: str, port: int) -> list[str]:
        try:
            return await fetcher._resolve(host, port)
        except FetchError as e:
            raise Refused(e.reason) from e

    resolver = VettingResolver(resolve, _ALLOW_PRIVATE, is_public_address)
    limits = fetcher.limits
    return AiohttpTransport(
        resolver,
        connections=limits.concurrency,
        per_host=limits.per_host,
        verify=functools.partial(httpx.create_ssl_context, trust_env=True),
    )


def proxy_mounts(
    environ: Mapping[str, str], limits: httpx.Limits
) -> dict[str, httpx.AsyncBaseTransport | None]:
    """httpx mounts for the standard proxy variables (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and
    NO_PROXY, either case), as httpx itself reads them: a client given its own transport, as the
    fetcher is, ignores them otherwise. A proxied fetch still has its feed's host vetted before
    the request (`_check_target`); the proxy resolves and connects, so the proxy is trusted."""
    lowered = {k.lower(): v.strip() for k, v in environ.items() if v and v.strip()}
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for scheme in ("http", "https", "all"):
        url = lowered.get(f"{scheme}_proxy")
        if url:
            if "://" not in url:
                url = f"http://{url}"
            transport = httpx.AsyncHTTPTransport(proxy=url, limits=limits, trust_env=False)
            mounts["all://" if scheme == "all" else f"{scheme}://"] = transport
    if not mounts:
        return {}
    for entry in lowered.get("no_proxy", "").split(","):
        host = entry.strip()
        if not host:
            continue
        if host == "*":
            return {}
        if "://" in host:
            mounts[host] = None
            continue
        try:
            ipaddress.ip_network(host.strip("[]"), strict=False)
            mounts[f"all://{host}"] = None
        except ValueError:
            bare = host.lstrip(".")
            mounts[f"all://{bare}"] = None
            mounts[f"all://*.{bare}"] = None
    return mounts


def is_public_address(text: str) -> bool:
    """True for globally routable unicast addresses, after unwrapping IPv4 embedded in IPv6."""
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or (address.sixtofour if address.sixtofour else None)
        if embedded is None and (address in _NAT64 or address in _NAT64_LOCAL):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is None and int(address) >> 32 == 0 and int(address) > 1:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # ::a.b.c.d (compatible)
        if embedded is not None:
            return is_public_address(str(embedded))
    return address.is_global and not address.is_multicast


class Response(Protocol):
    """What the fetcher reads of a response: an `httpx.Response`, or our transport's `Reply`."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def aiter_raw(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


def _as_httpx_response(response: Response, url: str) -> httpx.Response:
    if isinstance(response, httpx.Response):
        return response
    from monitor.sources.transport import Reply

    assert isinstance(response, Reply)
    return response.as_httpx(url)


async def _read_body(response: Response, limit: int) -> bytes:
    """Decoded body, at most `limit` bytes; decompression is ours so a bomb is cut off early."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        decoder: zlib._Decompress | None = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decoder = zlib.decompressobj()
    elif encoding in ("identity", ""):
        decoder = None
    else:
        raise FetchError(f"unsupported Content-Encoding {encoding!r}")
    chunks: list[bytes] = []
    size = 0
    try:
        async for raw in response.aiter_raw():
            pending = raw
            while pending:
                if decoder is None:
                    piece, pending = pending, b""
                else:
                    # max_length bounds what one call may produce: never more than we may keep.
                    piece = decoder.decompress(pending, limit - size + 1)
                    pending = decoder.unconsumed_tail
                size += len(piece)
                if size > limit:
                    raise FetchError(f"body larger than {limit} bytes (decoded)")
                chunks.append(piece)
                if decoder is not None and not piece and pending:
                    break
        if decoder is not None:
            tail = decoder.flush()
            size += len(tail)
            if size > limit:
                raise FetchError(f"body larger than {limit} bytes (decoded)")
            chunks.append(tail)
    except zlib.error as e:
        raise FetchError(f"corrupt {encoding} body: {e}") from e
    return b"".join(chunks)


def _describe(error: httpx.HTTPError) -> str:
    """A short reason: connection refused, TLS, DNS… without the whole exception chain."""
    text = str(error) or type(error).__name__
    cause = error.__cause__ or error.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return f"{type(error).__name__}: {text}"[:300]
