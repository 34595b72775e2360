"""Transport micro-benchmark (issue 3): CPU per request of monitor's `Fetcher` by transport.

Fetches the loopback feeds of bench/poll.py (same server, its own process) through
`monitor.sources.http.Fetcher` with the shipped limits (concurrency 20, per_host 4), so the
address checks, deadline, own gzip decoding and redirect loop are all in the measured path;
only the transport under httpx changes:

    monitor default     what monitor ships: the fetcher's direct `get` on monitor's own
                        aiohttp transport (monitor/sources/transport.py), 20 connections
    monitor via httpx   the same transport, reached through httpx.Request and httpx.Response
                        (as an injected transport is): what the direct path saves
    httpx default       httpx's own transport (httpcore), pool of 20 connections (shipped
                        until 2026-12-02)
    httpx pool 200      the same transport with room to keep one connection per host alive
    httpx sharded       one small httpx pool (4 connections) per host, picked by host name
    httpx-aiohttp       `httpx_aiohttp.AiohttpTransport` under the same httpx.AsyncClient
    aiohttp (floor)     a bare aiohttp.ClientSession, no Fetcher: the reference floor

Each pass fetches every feed once: 200s first, then 304s (If-None-Match). CPU is the process's
user+sys per request (medians of --rounds).

    .venv/bin/pip install -c constraints.txt -e '.[bench]'   # aiohttp, httpx-aiohttp
    .venv/bin/python bench/transport.py                   # 1,000 feeds over 50 hosts, 3 rounds
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from poll import Server, _cpu, feed_url

from monitor.sources.http import Fetcher, FetchLimits


class ShardedTransport(httpx.AsyncBaseTransport):
    """One small httpx pool per host name: each pool scans only its own few connections."""

    def __init__(self, per_pool: int) -> None:
        self.per_pool = per_pool
        self.pools: dict[str, httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = request.url.host
        pool = self.pools.get(key)
        if pool is None:
            limits = httpx.Limits(max_connections=self.per_pool)
            pool = self.pools[key] = httpx.AsyncHTTPTransport(limits=limits)
        return await pool.handle_async_request(request)

    async def aclose(self) -> None:
        for pool in self.pools.values():
            await pool.aclose()


def _aiohttp_transport() -> httpx.AsyncBaseTransport:
    from httpx_aiohttp import AiohttpTransport

    return AiohttpTransport(limits=httpx.Limits(max_connections=20))


def _monitor_transport(fetcher: Fetcher) -> httpx.AsyncBaseTransport:
    from monitor.sources.http import _aiohttp_transport

    return _aiohttp_transport(fetcher)


TRANSPORTS: dict[str, Callable[[], httpx.AsyncBaseTransport | None]] = {
    "monitor default": lambda: None,
    "monitor via httpx": lambda: None,  # built in fetch_all: it needs the fetcher
    "httpx default": lambda: httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=20)
    ),
    "httpx pool 200": lambda: httpx.AsyncHTTPTransport(
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200)
    ),
    "httpx sharded": lambda: ShardedTransport(4),
    "httpx-aiohttp": _aiohttp_transport,
}


async def fetch_all(
    name: str, urls: list[str], etags: dict[str, str | None]
) -> tuple[int, dict[int, int]]:
    statuses: dict[int, int] = {}
    now = datetime.now(UTC)
    if name == "aiohttp (floor)":
        import aiohttp

        connector = aiohttp.TCPConnector(limit=20, limit_per_host=4)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            semaphore = asyncio.Semaphore(20)

            async def one_aiohttp(url: str) -> None:
                headers = {"If-None-Match": e} if (e := etags.get(url)) else {}
                async with semaphore, session.get(url, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    etags[url] = response.headers.get("etag")

            await asyncio.gather(*(one_aiohttp(u) for u in urls))
        return len(urls), statuses
    if name == "monitor via httpx":
        fetcher = Fetcher(FetchLimits())
        fetcher.transport = _monitor_transport(fetcher)  # injected: no direct path
    else:
        fetcher = Fetcher(FetchLimits(), transport=TRANSPORTS[name]())

    async def one(url: str) -> None:
        result = await fetcher.fetch(url, etag=etags.get(url), allow_private_network=True, now=now)
        statuses[result.status] = statuses.get(result.status, 0) + 1
        etags[url] = result.headers.get("etag")

    try:
        await asyncio.gather(*(one(u) for u in urls))
    finally:
        await fetcher.aclose()
    return len(urls), statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--port", type=int, default=18090)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--only", help="one transport name")
    args = parser.parse_args()
    urls = [feed_url(i, args.hosts, args.port) for i in range(args.feeds)]
    names = [*TRANSPORTS, "aiohttp (floor)"]
    if args.only:
        names = [args.only]
    server = Server(args.feeds, args.hosts, args.port, args.gzip)
    print(
        f"{args.feeds} feeds over {args.hosts} hosts, concurrency 20, per_host 4, "
        f"{'gzip' if args.gzip else 'identity'}; medians of {args.rounds} rounds"
    )
    print(f"{'transport':<16} {'pass':<5} {'req/s':>7} {'CPU ms/req':>10} {'srv ms/req':>10}")
    try:
        for name in names:
            for kind in ("200", "304"):
                rows: list[tuple[float, float, float]] = []
                for _ in range(args.rounds):
                    etags: dict[str, Any] = {}
                    if kind == "304":  # first learn the validators, untimed
                        asyncio.run(fetch_all(name, urls, etags))
                    served = server.control(mode="validators")["cpu"]
                    cpu, wall = _cpu(), time.perf_counter()
                    count, statuses = asyncio.run(fetch_all(name, urls, etags))
                    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
                    served = server.control()["cpu"] - served
                    assert statuses == {int(kind): count}, statuses
                    rows.append((count / wall, cpu * 1000 / count, served * 1000 / count))
                rate, cpu_ms, srv_ms = (statistics.median(c) for c in zip(*rows, strict=True))
                print(f"{name:<16} {kind:<5} {rate:7.0f} {cpu_ms:10.2f} {srv_ms:10.2f}")
    finally:
        server.close()


if __name__ == "__main__":
    main()
