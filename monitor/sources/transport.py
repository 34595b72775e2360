"""An httpx transport over aiohttp: half of httpx's own per-request CPU, the same API above it.

httpx stays the API of the fetcher (timeouts, redirect loop, raw streaming, MockTransport in
tests); underneath, each request is sent by one shared `aiohttp.ClientSession`, whose C-accelerated
HTTP/1.1 parser and connection pool cost 0.42 ms CPU per request where httpx's httpcore pool costs
0.89-1.22 ms (`bench/transport.py`, 1,000 loopback feeds, issue 12). The fetcher's everyday
request (no proxy, no cookie to send) skips even httpx's request and response objects: `get`
takes a URL and headers and returns a `Reply` read the same way, with the same errors.

Why our own ~100 lines and not the `httpx-aiohttp` package: that package maps every aiohttp
connection error to `httpx.ConnectTimeout` (a server that hangs up would be logged as a timeout),
lets aiohttp's other errors (an oversized header line) escape as non-httpx exceptions, keeps
aiohttp's cookie jar beside httpx's, and has no place for the address check below.

The address check (RELIABILITY.md NET-5): aiohttp connects to exactly the addresses its resolver
returns, so the resolver here resolves through the fetcher, refuses the host if any address is
not public (unless the running fetch opted in), and hands back only those vetted addresses: what
is checked is what is connected to, and a second DNS answer cannot swap in an internal address.
DNS caching is off so every new connection is vetted under the fetch that opens it.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult

CHUNK = 64 * 1024

# (host, port) -> addresses; raises the fetcher's FetchError-derived `Refused` or OSError.
Resolve = Callable[[str, int], Awaitable[list[str]]]


class Refused(OSError):
    """A host the address policy refuses, or one that does not resolve: `reason` is the whole
    sentence the fetch error carries."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class VettingResolver(AbstractResolver):
    """aiohttp's resolver: the fetcher's lookup, every address vetted unless the fetch allows
    private networks (a context variable of the requesting task, which aiohttp awaits in)."""

    def __init__(
        self, resolve: Resolve, allow_private: ContextVar[bool], is_public: Callable[[str], bool]
    ) -> None:
        self.resolve_addresses = resolve
        self.allow_private = allow_private
        self.is_public = is_public

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self.resolve_addresses(host, port)
        if not addresses:
            raise Refused(f"DNS: {host} has no address")
        if not self.allow_private.get():
            refused = [a for a in addresses if not self.is_public(a)]
            if refused:
                raise Refused(f"refused: {host} resolves to a non-public address {refused[0]}")
        return [_result(host, address, port) for address in addresses]

    async def close(self) -> None:
        """Nothing to release: lookups go through the fetcher."""


def _result(host: str, address: str, port: int) -> ResolveResult:
    bare = address.split("%")[0]
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    return ResolveResult(
        hostname=host, host=bare, port=port, family=family, proto=0, flags=socket.AI_NUMERICHOST
    )


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests through one aiohttp session (created on first use, on the loop that
    uses it). Redirects, decompression and cookies stay with the fetcher."""

    def __init__(
        self,
        resolver: AbstractResolver,
        *,
        connections: int,
        per_host: int,
        verify: Callable[[], ssl.SSLContext],
    ) -> None:
        self.resolver = resolver
        self.connections = connections
        self.per_host = per_host
        self._make_tls = verify
        self._tls: ssl.SSLContext | None = None
        self._session: aiohttp.ClientSession | None = None

    def _tls_for(self, url: str) -> ssl.SSLContext | bool:
        """The verifying TLS context for an https URL, made on the first one: loading the
        CA certificates costs ~40 ms, a tenth of a `run --once` whose feeds are all http.
        (For http, aiohttp ignores the value.)"""
        if not url[:6].lower().startswith("https:"):
            return True
        if self._tls is None:
            self._tls = self._make_tls()
        return self._tls

    def _ensure(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.connections,
                limit_per_host=self.per_host,
                resolver=self.resolver,
                use_dns_cache=False,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # the fetcher keeps a fetch's cookies
                auto_decompress=False,  # the fetcher decodes, with its size cap
                trust_env=False,  # proxies are httpx mounts (sources/http.py)
                skip_auto_headers=("Accept-Encoding", "User-Agent", "Accept"),
            )
        return self._session

    async def _request(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]] | dict[str, str],
        content: bytes | None,
        timeout: dict[str, float | None],
    ) -> aiohttp.ClientResponse:
        """Send one request; aiohttp's errors leave as aiohttp's (the callers map them)."""
        return await self._ensure().request(
            method,
            url,
            headers=headers,
            data=content,
            allow_redirects=False,
            ssl=self._tls_for(url),
            timeout=aiohttp.ClientTimeout(
                sock_connect=timeout.get("connect"),
                sock_read=timeout.get("read"),
                connect=timeout.get("pool"),
            ),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        try:
            response = await self._request(
                request.method,
                str(request.url),
                headers,
                request.content or None,
                request.extensions.get("timeout", {}),
            )
        except Exception as e:
            raise _as_httpx(e, request) from e
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_Body(response, request),
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def get(
        self, url: str, headers: dict[str, str], timeout: dict[str, float | None]
    ) -> Reply:
        """A GET without httpx's request and response objects, for the fetcher's direct path:
        building them (URL parsing, two header lists) cost ~40 µs a request, a sixth of what
        the fetcher spends on a 304. Errors are httpx's, as from `handle_async_request`."""
        try:
            response = await self._request("GET", url, headers, None, timeout)
        except Exception as e:
            raise _as_httpx(e, None) from e
        return Reply(response)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class Reply:
    """What the fetcher reads of a response (`status_code`, `headers`, `aiter_raw`, `aclose`,
    as on an `httpx.Response`), straight from aiohttp's. `headers` as `dict(httpx.Headers)`
    gives them: lower-case names, the values of a repeated name joined with ", ", a value
    read as UTF-8 when it is, else as Latin-1."""

    __slots__ = ("headers", "response", "status_code")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.status_code = response.status
        headers: dict[str, str] = {}
        for raw_name, raw_value in response.raw_headers:
            name, value = raw_name.decode("latin-1").lower(), _header_text(raw_value)
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers

    def as_httpx(self, url: str) -> httpx.Response:
        """The same status and headers as an `httpx.Response` (body not included), for what
        needs one: reading the cookies a redirect sets."""
        request = httpx.Request("GET", url)
        return httpx.Response(self.status_code, headers=self.response.raw_headers, request=request)

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return _raw_chunks(self.response, None)

    async def aclose(self) -> None:
        self.response.release()


def _header_text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


class _Body(httpx.AsyncByteStream):
    """The response body as aiohttp hands it over, raw (still compressed), errors as httpx's."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self.response = response
        self.request = request

    def __aiter__(self) -> AsyncIterator[bytes]:
        return _raw_chunks(self.response, self.request)

    async def aclose(self) -> None:
        self.response.release()


async def _raw_chunks(
    response: aiohttp.ClientResponse, request: httpx.Request | None
) -> AsyncIterator[bytes]:
    """The body as aiohttp hands it over, raw (still compressed), its errors as httpx's."""
    try:
        async for chunk in response.content.iter_chunked(CHUNK):
            yield chunk
    except Exception as e:
        raise _as_httpx(e, request) from e


def _as_httpx(error: Exception, request: httpx.Request | None) -> Exception:
    """The httpx exception that says what happened, so the fetcher's one classification holds."""
    if isinstance(error, aiohttp.ClientConnectorError) and isinstance(error.os_error, Refused):
        return httpx.ConnectError(error.os_error.reason, request=request)
    if isinstance(error, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(error) or "connect timed out", request=request)
    if isinstance(error, aiohttp.SocketTimeoutError):
        return httpx.ReadTimeout(str(error) or "read timed out", request=request)
    if isinstance(error, TimeoutError):
        return httpx.TimeoutException(str(error) or "timed out", request=request)
    if isinstance(error, aiohttp.ClientConnectorError):
        return httpx.ConnectError(str(error), request=request)
    if isinstance(error, aiohttp.ClientPayloadError):
        return httpx.ReadError(str(error), request=request)
    if isinstance(error, aiohttp.ClientResponseError):  # a malformed or oversized answer
        return httpx.RemoteProtocolError(error.message or str(error), request=request)
    if isinstance(error, aiohttp.ClientError | OSError):
        return httpx.NetworkError(str(error) or type(error).__name__, request=request)
    return error
