"""The fetcher's aiohttp transport against real loopback servers: what a failing server looks
like in the fetch error, cookies kept for one fetch, connections reused, and the proxy variables."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import trustme

from monitor.sources.http import (
    Fetcher,
    FetchError,
    FetchLimits,
    FetchResult,
    _aiohttp_transport,
    proxy_mounts,
)

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> tuple[asyncio.Server, int, list[str]]:
    """A raw HTTP/1.1 server on 127.0.0.1 running `handler` per connection; also returns the
    list each accepted connection's peer is appended to."""
    connections: list[str] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(str(writer.get_extra_info("peername")))
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], connections


async def read_head(reader: asyncio.StreamReader) -> list[str]:
    return (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")[:-2]


def answer(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def fetch(url: str, fetcher: Fetcher | None = None, **kwargs: object) -> FetchResult:
    fetcher = fetcher or Fetcher(FetchLimits(deadline=5, read_timeout=2))
    try:
        return await fetcher.fetch(url, allow_private_network=True, now=NOW, **kwargs)  # type: ignore[arg-type]
    finally:
        await fetcher.aclose()


async def failure(handler: Handler) -> str:
    server, port, _ = await serve(handler)
    async with server:
        with pytest.raises(FetchError) as caught:
            await fetch(f"http://127.0.0.1:{port}/feed")
    return caught.value.reason


def test_a_server_that_hangs_up_is_not_reported_as_a_timeout() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)

    reason = asyncio.run(failure(hang_up))
    assert "timeout" not in reason.lower() and "disconnected" in reason.lower(), reason


def test_an_oversized_header_line_is_a_fetch_error_naming_it() -> None:
    async def huge_header(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(answer(FEED, "X-Junk: " + "a" * 70_000))
        await writer.drain()

    reason = asyncio.run(failure(huge_header))
    assert reason.startswith("RemoteProtocolError") and "bytes" in reason, reason


def test_a_stalled_body_is_a_read_timeout() -> None:
    async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<rss")
        await writer.drain()
        await asyncio.sleep(4)

    reason = asyncio.run(failure(stall))
    assert "timeout" in reason.lower(), reason


def test_a_refused_connection_names_the_address() -> None:
    async def go() -> str:
        server, port, _ = await serve(read_head)  # type: ignore[arg-type]
        server.close()
        await server.wait_closed()
        with pytest.raises(FetchError) as caught:
            await fetch(f"http://127.0.0.1:{port}/feed")
        return caught.value.reason

    reason = asyncio.run(go())
    assert reason.startswith("ConnectError") and "127.0.0.1" in reason, reason


def test_gzip_arrives_raw_and_is_decoded_once_by_the_fetcher() -> None:
    body = gzip.compress(FEED)

    async def gzipped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        assert any(h.lower() == "accept-encoding: gzip, deflate" for h in head), head
        writer.write(answer(body, "Content-Encoding: gzip"))
        await writer.drain()

    async def go() -> FetchResult:
        server, port, _ = await serve(gzipped)
        async with server:
            return await fetch(f"http://127.0.0.1:{port}/feed")

    assert asyncio.run(go()).body == FEED


def test_the_direct_path_sends_and_reads_what_the_httpx_path_does() -> None:
    """A fetch goes straight to the aiohttp transport (no httpx request or response objects);
    the same transport behind httpx's objects (as with an injected transport) must send the same
    request and give the same result: header names lower-cased, a repeated header's values
    joined with ", ", validators sent as stored."""
    heads: list[list[str]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await read_head(reader))
        writer.write(
            answer(
                FEED,
                'ETag: "v2"',
                "Cache-Control: max-age=60",
                "cache-control: public",
                "X-Note: caf\xe9",
                status="200 OK",
            )
        )
        await writer.drain()

    async def go() -> list[FetchResult]:
        server, port, _ = await serve(handler)
        results = []
        async with server:
            for direct in (True, False):
                fetcher = Fetcher(FetchLimits(deadline=5, read_timeout=2))
                if not direct:
                    fetcher.transport = _aiohttp_transport(fetcher)
                url = f"http://127.0.0.1:{port}/feed"
                results.append(await fetch(url, fetcher, etag='"v1"', headers={"X-Api": "k"}))
        return results

    direct, through_httpx = asyncio.run(go())
    assert direct.headers == through_httpx.headers, (direct.headers, through_httpx.headers)
    assert direct == through_httpx
    assert direct.headers["cache-control"] == "max-age=60, public"
    assert direct.headers["etag"] == '"v2"' and direct.headers["x-note"] == "caf\xe9"

    def sent(head: list[str]) -> list[str]:
        return sorted(h.lower() for h in head[1:])

    assert sent(heads[0]) == sent(heads[1])
    assert 'if-none-match: "v1"' in sent(heads[0]) and "x-api: k" in sent(heads[0])
    assert [h.split(":")[0].lower() for h in heads[0]].count("host") == 1


def test_cookies_live_for_one_fetch_and_connections_are_kept_alive() -> None:
    """A cookie set by a redirect goes with the next hop of the same fetch, once (aiohttp's jar
    must not add a second copy); no cookie outlives its fetch, so the next poll starts clean
    (what feedparser, Miniflux and rss2email do) and a feed's tracking cookie is not handed back
    on every poll; the fetches share one kept-alive connection."""
    heads: list[list[str]] = []

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await read_head(reader)
            except asyncio.IncompleteReadError:
                return
            heads.append(head)
            if head[0].startswith("GET /feed "):
                reply = answer(
                    b"", "Set-Cookie: session=abc; Path=/", "Location: /checked", status="302 Found"
                )
            else:
                reply = answer(FEED, "Set-Cookie: tracker=42; Path=/")
            writer.write(reply)
            await writer.drain()

    async def go() -> tuple[list[str], list[FetchResult]]:
        server, port, connections = await serve(keep_alive)
        fetcher = Fetcher(FetchLimits(deadline=5))
        results = []
        async with server:
            for _ in range(2):
                results.append(
                    await fetcher.fetch(
                        f"http://127.0.0.1:{port}/feed", allow_private_network=True, now=NOW
                    )
                )
            await fetcher.aclose()
        return connections, results

    connections, results = asyncio.run(go())
    assert [r.body for r in results] == [FEED, FEED]
    assert len(connections) == 1, "four sequential requests share one kept-alive connection"
    sent = [
        (head[0].split()[1], [h for h in head if h.lower().startswith("cookie:")]) for head in heads
    ]
    assert sent == [
        ("/feed", []),
        ("/checked", ["Cookie: session=abc"]),
        ("/feed", []),
        ("/checked", ["Cookie: session=abc"]),
    ]


def test_the_proxy_variables_send_fetches_through_the_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTP_PROXY is honoured (the README promises it): the request reaches the proxy in
    absolute form; the feed's own host is still vetted (here: a stub DNS answer that is public)."""
    request_lines: list[str] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await read_head(reader)
        request_lines.append(head[0])
        writer.write(answer(FEED))
        await writer.drain()

    async def go() -> FetchResult:
        server, port, _ = await serve(proxy)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        fetcher = Fetcher(FetchLimits(deadline=5), resolver=lambda host, port: ["93.184.216.34"])
        async with server:
            try:
                return await fetcher.fetch("http://news.example/feed.xml", now=NOW)
            finally:
                await fetcher.aclose()

    assert asyncio.run(go()).body == FEED
    assert request_lines == ["GET http://news.example/feed.xml HTTP/1.1"]


def test_a_proxied_fetch_still_refuses_an_internal_feed_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def go() -> str:
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        fetcher = Fetcher(FetchLimits(deadline=5), resolver=lambda host, port: ["10.1.2.3"])
        try:
            with pytest.raises(FetchError) as caught:
                await fetcher.fetch("https://intranet.example/feed", now=NOW)
        finally:
            await fetcher.aclose()
        return caught.value.reason

    reason = asyncio.run(go())
    assert "refused" in reason and "10.1.2.3" in reason, reason


def test_no_proxy_entries_bypass_the_proxy() -> None:
    mounts = proxy_mounts(
        {
            "https_proxy": "proxy.corp:3128",
            "NO_PROXY": "internal.example, .corp.example,10.0.0.0/8",
        },
        httpx.Limits(),
    )
    client = httpx.AsyncClient(mounts=mounts)

    def proxied(url: str) -> bool:
        return client._transport_for_url(httpx.URL(url)) is not client._transport

    assert proxied("https://news.example/feed")
    assert not proxied("http://news.example/feed"), "HTTPS_PROXY only carries https"
    assert not proxied("https://internal.example/feed")
    assert not proxied("https://a.corp.example/feed")
    assert proxy_mounts({"HTTP_PROXY": "http://p:1", "no_proxy": "*"}, httpx.Limits()) == {}
    assert proxy_mounts({}, httpx.Limits()) == {}


def _tls_server_for_loopback(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context with a certificate for 127.0.0.1 from a throwaway CA, and that
    CA's certificate file."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return server_context, ca_file


def test_https_feeds_are_verified_against_the_trusted_certificates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A certificate from an unknown authority is refused; the same one is accepted once
    SSL_CERT_FILE names its authority (httpx's trust_env rules, applied to the context the
    transport makes on its first https fetch)."""
    server_context, ca_file = _tls_server_for_loopback(tmp_path)

    async def feed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_head(reader)
        writer.write(answer(FEED))
        await writer.drain()

    async def go() -> tuple[str, FetchResult]:
        server = await asyncio.start_server(feed, "127.0.0.1", 0, ssl=server_context)
        url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}/feed"
        async with server:
            with pytest.raises(FetchError) as refused:
                await fetch(url)
            monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
            return refused.value.reason, await fetch(url)

    reason, accepted = asyncio.run(go())
    assert "certificate" in reason.lower(), reason
    assert accepted.status == 200 and accepted.body == FEED
