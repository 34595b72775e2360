"""G12: 30 non-public address forms × (direct URL, a redirect hop, a host name resolving to
them): every one refused before any connection (RELIABILITY.md NET-5, F7, F8).

"Before connect" is proven twice: the direct and host-name cases use the real transport, so a
miss would try to connect and the suite's socket guard (tests/netguard.py) would fail the test;
the redirect case counts what reached a mock transport (only the first, public hop may).
DNS is a stub resolver: numeric spellings go through the C library exactly as in production
(`getaddrinfo` with AI_NUMERICHOST: 2130706433, 0177.0.0.1 and 0x7f.1 all mean 127.0.0.1),
names come from a table.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

import httpx
import pytest

from monitor.sources.http import (
    Fetcher,
    FetchError,
    FetchLimits,
    FetchResult,
    is_public_address,
)
from tests import netguard

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
PUBLIC = "93.184.216.34"

# (URL host as written, what it means) — 30 forms.
FORMS = [
    ("127.0.0.1", "loopback"),
    ("127.1", "loopback, short form"),
    ("2130706433", "loopback, decimal integer"),
    ("0177.0.0.1", "loopback, octal"),
    ("0x7f.1", "loopback, hex + short"),
    ("0x7f000001", "loopback, hex integer"),
    ("017700000001", "loopback, octal integer"),
    ("localhost", "loopback by name"),
    ("[::1]", "IPv6 loopback"),
    ("[::]", "IPv6 unspecified"),
    ("0.0.0.0", "unspecified"),
    ("0", "unspecified, integer"),
    ("10.0.0.1", "RFC 1918"),
    ("172.16.0.1", "RFC 1918"),
    ("192.168.1.1", "RFC 1918"),
    ("169.254.169.254", "link-local: cloud metadata"),
    ("100.64.0.1", "CGNAT"),
    ("[::ffff:127.0.0.1]", "IPv4-mapped loopback"),
    ("[::ffff:a9fe:a9fe]", "IPv4-mapped metadata"),
    ("[::127.0.0.1]", "IPv4-compatible loopback"),
    ("[2002:a9fe:a9fe::]", "6to4 of metadata"),
    ("[2002:7f00:1::1]", "6to4 of loopback"),
    ("[64:ff9b::a9fe:a9fe]", "NAT64 of metadata"),
    ("[64:ff9b:1::a00:1]", "local-use NAT64 of 10.0.0.1"),
    ("[fc00::1]", "unique local"),
    ("[fd12:3456:789a::1]", "unique local"),
    ("[fe80::1]", "IPv6 link-local"),
    ("[fe80::1%25lo]", "IPv6 link-local with a zone"),
    ("224.0.0.1", "multicast"),
    ("255.255.255.255", "broadcast"),
]
assert len(FORMS) == 30

_NAMES = {"localhost": ["127.0.0.1", "::1"], "feed.example": [PUBLIC]}


def canonical(host: str) -> str:
    """The address a form means, as the C library reads it (numeric only, no DNS)."""
    bare = host.strip("[]").replace("%25", "%")
    if bare in _NAMES:
        return _NAMES[bare][0]
    info = socket.getaddrinfo(bare, 80, flags=socket.AI_NUMERICHOST, type=socket.SOCK_STREAM)
    return str(info[0][4][0])


class StubDNS:
    """Numeric hosts as the C library reads them; names from a table; anything else fails."""

    def __init__(self, names: dict[str, list[str]] | None = None) -> None:
        self.names = {**_NAMES, **(names or {})}
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host in self.names:
            return list(self.names[host])
        info = socket.getaddrinfo(host, port, flags=socket.AI_NUMERICHOST, type=socket.SOCK_STREAM)
        return [str(i[4][0]) for i in info]


def fetch(fetcher: Fetcher, url: str) -> FetchResult | FetchError:
    async def go() -> FetchResult | FetchError:
        try:
            return await fetcher.fetch(url, now=NOW)
        except FetchError as e:
            return e
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize(("host", "meaning"), FORMS, ids=[f[0] for f in FORMS])
def test_every_form_is_non_public(host: str, meaning: str) -> None:
    assert not is_public_address(canonical(host)), meaning


@pytest.mark.parametrize(("host", "meaning"), FORMS, ids=[f[0] for f in FORMS])
def test_direct_url_is_refused_before_connect(host: str, meaning: str) -> None:
    outcome = fetch(
        Fetcher(FetchLimits(deadline=5), resolver=StubDNS()), f"http://{host}:8080/feed"
    )
    assert isinstance(outcome, FetchError), meaning
    assert "refused" in outcome.reason, outcome.reason
    assert not netguard.violations


@pytest.mark.parametrize(("host", "meaning"), FORMS, ids=[f[0] for f in FORMS])
def test_redirect_hop_is_refused_before_connect(host: str, meaning: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.host))
        if request.url.host == "feed.example":
            return httpx.Response(302, headers={"Location": f"http://{host}/latest.xml"})
        return httpx.Response(200, content=b"<rss/>")

    fetcher = Fetcher(FetchLimits(deadline=5), transport=httpx.MockTransport(handler),
                      resolver=StubDNS())  # fmt: skip
    outcome = fetch(fetcher, "http://feed.example/feed.xml")
    assert isinstance(outcome, FetchError), meaning
    # httpx itself rejects some spellings in a Location header (octal IPv4): not followed either.
    assert "refused" in outcome.reason or "Invalid URL in location" in outcome.reason, (
        outcome.reason
    )
    assert seen == ["feed.example"], "only the public first hop may be requested"


@pytest.mark.parametrize(("host", "meaning"), FORMS, ids=[f[0] for f in FORMS])
def test_name_resolving_to_the_form_is_refused_before_connect(host: str, meaning: str) -> None:
    dns = StubDNS({"news.example": [canonical(host)]})
    outcome = fetch(Fetcher(FetchLimits(deadline=5), resolver=dns), "https://news.example/feed")
    assert isinstance(outcome, FetchError), meaning
    assert "refused" in outcome.reason and "news.example" in outcome.reason, outcome.reason


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    dns = StubDNS({"mixed.example": [PUBLIC, "10.0.0.7", "2606:4700::1"]})
    outcome = fetch(Fetcher(resolver=dns), "http://mixed.example/feed")
    assert isinstance(outcome, FetchError) and "10.0.0.7" in outcome.reason


def test_dns_rebinding_cannot_swap_in_an_internal_address() -> None:
    """The address that is checked is the one connected to: a resolver answering public on the
    first query and loopback on the next never gets a connection to loopback (nor a second,
    unchecked lookup by the HTTP library, which the socket guard would catch)."""

    class Rebinding(StubDNS):
        def __call__(self, host: str, port: int) -> list[str]:
            self.calls.append(host)
            return [PUBLIC] if len(self.calls) == 1 else ["127.0.0.1"]

    dns = Rebinding()
    outcome = fetch(Fetcher(FetchLimits(deadline=5), resolver=dns), "http://rebind.example/")
    assert isinstance(outcome, FetchError)
    assert "refused" in outcome.reason and "127.0.0.1" in outcome.reason, outcome.reason
    assert dns.calls == ["rebind.example", "rebind.example"]


def test_resolver_failure_is_a_fetch_error_not_a_crash() -> None:
    outcome = fetch(Fetcher(resolver=StubDNS()), "http://unknown.example/feed")
    assert isinstance(outcome, FetchError) and outcome.reason.startswith("DNS:")
