"""Feed fetching and parsing, precisely, with respx at the httpx boundary."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import respx

from monitor.models import Outcome, Poll
from monitor.sources.feed import FeedSource, clean_link
from monitor.sources.http import Fetcher, FetchLimits, is_public_address

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
URL = "https://feeds.example/rss"


def rss(*items: tuple[str, str], ttl: int | None = None) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid>"
        f"<pubDate>Mon, 23 Nov 2026 07:00:00 GMT</pubDate>"
        f"<description>&lt;p&gt;{title} 內文，普丁訪問北韓。&lt;/p&gt;</description></item>"
        for title, link in items
    )
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://feeds.example/</link>{ttl_tag}{entries}</channel></rss>"
    ).encode()


def source(**options: object) -> FeedSource:
    feed = FeedSource("f", url=URL, **options)  # type: ignore[arg-type]
    feed.fetcher = Fetcher(FetchLimits(deadline=5), resolver=lambda host, port: ["93.184.216.34"])
    return feed


def poll(feed: FeedSource, state: object = None) -> Poll:
    async def run() -> Poll:
        try:
            return await feed.poll(state, NOW)
        finally:
            assert feed.fetcher is not None
            await feed.fetcher.aclose()

    return asyncio.run(run())


@respx.mock
def test_entries_become_raw_items() -> None:
    respx.get(URL).respond(200, content=rss(("普丁訪問北韓", "/a?utm_source=x&id=1&maca=zh-rss")))
    result = poll(source())
    assert result.outcome is Outcome.OK
    (item,) = result.items
    assert item.meta["title"] == "普丁訪問北韓"
    assert item.meta["url"] == "https://feeds.example/a?id=1"  # resolved, tracking removed
    assert item.meta["published"] == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert b"<p>" in item.content


@respx.mock
def test_etag_round_trip_and_304_costs_no_parse() -> None:
    route = respx.get(URL)
    route.side_effect = [
        httpx.Response(
            200,
            content=rss(("a", "/a")),
            headers={"ETag": '"v1"', "Last-Modified": "Mon, 23 Nov 2026 07:00:00 GMT"},
        ),
        httpx.Response(304),
    ]
    first = poll(source())
    assert first.state["etag"] == '"v1"'
    second = poll(source(), first.state)
    assert second.outcome is Outcome.NOT_MODIFIED and second.items == ()
    sent = route.calls[1].request.headers
    assert sent["If-None-Match"] == '"v1"'
    assert sent["If-Modified-Since"] == "Mon, 23 Nov 2026 07:00:00 GMT"


@respx.mock
def test_a_feeds_headers_replace_ours_whatever_their_case() -> None:
    """`headers = {"user-agent" = …}` replaces monitor's User-Agent: one header goes out, the
    feed's (a second one beside ours would leave the server to pick)."""
    route = respx.get(URL).respond(200, content=rss(("a", "/a")))
    poll(source(headers={"user-agent": "Newsroom/2", "Authorization": "Bearer t"}))
    sent = route.calls[0].request.headers
    assert sent.get_list("user-agent") == ["Newsroom/2"]
    assert sent["authorization"] == "Bearer t"
    assert sent["accept-encoding"] == "gzip, deflate"


@respx.mock
def test_unchanged_body_without_validators_is_not_parsed_again() -> None:
    respx.get(URL).respond(200, content=rss(("a", "/a")))
    first = poll(source())
    second = poll(source(), first.state)
    assert second.outcome is Outcome.NOT_MODIFIED and second.items == ()


@respx.mock
def test_permanent_redirect_updates_the_url_temporary_does_not() -> None:
    respx.get(URL).respond(301, headers={"Location": "https://new.example/rss"})
    respx.get("https://new.example/rss").respond(200, content=rss(("a", "/a")))
    moved = poll(source())
    assert moved.outcome is Outcome.OK and moved.moved_to == "https://new.example/rss"
    assert moved.state["url"] == "https://new.example/rss"

    respx.get("https://new.example/rss").respond(302, headers={"Location": "https://tmp.example/x"})
    respx.get("https://tmp.example/x").respond(200, content=rss(("b", "/b")))
    temporary = poll(source(), moved.state)
    assert temporary.moved_to is None and temporary.state["url"] == "https://new.example/rss"


@respx.mock
def test_a_changed_config_url_starts_fresh() -> None:
    respx.get(URL).respond(200, content=rss(("a", "/a")), headers={"ETag": '"x"'})
    state = {"config_url": "https://old.example/rss", "url": "https://old.example/rss",
             "etag": '"old"'}  # fmt: skip
    result = poll(source(), state)
    assert result.outcome is Outcome.OK
    assert "If-None-Match" not in respx.calls.last.request.headers


@respx.mock
def test_redirect_loop_fails() -> None:
    respx.get(URL).respond(302, headers={"Location": URL})
    result = poll(source())
    assert result.outcome is Outcome.FAILED and "redirects" in (result.reason or "")


@respx.mock
def test_410_gone() -> None:
    respx.get(URL).respond(410)
    assert poll(source()).outcome is Outcome.GONE


@pytest.mark.parametrize("status", [429, 503])
@respx.mock
def test_retry_after_is_honoured(status: int) -> None:
    respx.get(URL).respond(status, headers={"Retry-After": "120"})
    result = poll(source())
    assert result.outcome is Outcome.FAILED and result.reason == f"HTTP {status}"
    assert result.not_before == NOW + timedelta(seconds=120)


@respx.mock
@respx.mock
def test_recoverable_broken_xml_still_yields_entries() -> None:
    respx.get(URL).respond(200, content=b"<rss><channel><item><title>broken")
    result = poll(source())
    assert result.outcome is Outcome.OK and len(result.items) == 1


@respx.mock
def test_http_errors_and_network_errors_fail_with_a_reason() -> None:
    respx.get(URL).respond(404)
    assert poll(source()).reason == "HTTP 404"
    respx.get(URL).mock(side_effect=httpx.ConnectTimeout("slow"))
    assert "timeout" in (poll(source()).reason or "")
    respx.get(URL).mock(side_effect=httpx.ConnectError("refused"))
    assert "ConnectError" in (poll(source()).reason or "")


@respx.mock
def test_oversized_body_is_cut_off() -> None:
    respx.get(URL).respond(200, content=b"<rss>" + b"x" * 5000)
    feed = source()
    assert feed.fetcher is not None
    feed.fetcher = Fetcher(FetchLimits(max_body=1000), resolver=lambda h, p: ["93.184.216.34"])
    result = poll(feed)
    assert result.outcome is Outcome.FAILED and "larger than 1000" in (result.reason or "")


@respx.mock
def test_gzip_bomb_is_cut_off_without_inflating_it() -> None:
    bomb = gzip.compress(b"\0" * (200 * 1024 * 1024))  # 200 MiB of zeros, ~200 KiB on the wire
    respx.get(URL).respond(200, content=bomb, headers={"Content-Encoding": "gzip"})
    result = poll(source())
    assert result.outcome is Outcome.FAILED and "larger than" in (result.reason or "")


@respx.mock
def test_gzip_and_deflate_bodies_are_decoded() -> None:
    respx.get(URL).respond(200, content=gzip.compress(rss(("a", "/a"))),
                           headers={"Content-Encoding": "gzip"})  # fmt: skip
    assert len(poll(source()).items) == 1
    respx.get(URL).respond(200, content=zlib.compress(rss(("a", "/a"))),
                           headers={"Content-Encoding": "deflate"})  # fmt: skip
    assert len(poll(source()).items) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"<html><head><title>Login</title></head><body><form>user</form></body></html>",
        b'<?xml version="1.0"?><config><a>1</a></config>',
        b"\x89PNG\r\n\x1a\n garbage",
        b"",
    ],
)
@respx.mock
def test_a_200_that_is_not_a_feed_is_an_error(body: bytes) -> None:
    respx.get(URL).respond(200, content=body, headers={"Content-Type": "text/html"})
    result = poll(source())
    assert result.outcome is Outcome.FAILED and (result.reason or "").startswith("not a feed")
    assert "etag" not in result.state


@respx.mock
def test_entity_declarations_are_refused_before_feedparser() -> None:
    evil = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<rss><channel><item><title>&b;</title></item></channel></rss>")  # fmt: skip
    respx.get(URL).respond(200, content=evil)
    assert "ENTITY" in (poll(source()).reason or "")
    respx.get(URL).respond(200, content=evil.decode().encode("utf-16"))
    assert "ENTITY" in (poll(source()).reason or "")


@respx.mock
def test_json_feed() -> None:
    feed = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "J",
        "items": [
            {"id": "1", "url": "https://j.example/1", "title": "普丁", "content_html": "<p>x</p>",
             "date_published": "2026-11-23T07:00:00Z"},
            {"id": 2, "content_text": "plain text\\n\\nmore", "title": "two"},
            "not an object",
            {"id": None, "title": 5, "url": ["bad"]},
        ],
    }  # fmt: skip
    respx.get(URL).respond(200, json=feed, headers={"Content-Type": "application/feed+json"})
    items = poll(source()).items
    assert [i.meta["guid"] for i in items] == ["1", "2", None]
    assert items[0].meta["published"] == datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    assert items[2].meta["title"] == "" and items[2].meta["url"] is None
    assert b"&lt;" not in items[1].content


@respx.mock
def test_invalid_json_feed_is_not_a_feed() -> None:
    respx.get(URL).respond(200, content=json.dumps({"items": []}).encode(),
                           headers={"Content-Type": "application/json"})  # fmt: skip
    assert "jsonfeed.org" in (poll(source()).reason or "")


@respx.mock
def test_cache_control_and_ttl_set_a_floor() -> None:
    respx.get(URL).respond(200, content=rss(("a", "/a"), ttl=60),
                           headers={"Cache-Control": "max-age=600"})  # fmt: skip
    assert poll(source()).not_before == NOW + timedelta(minutes=60)


@respx.mock
def test_too_many_entries_are_capped() -> None:
    respx.get(URL).respond(200, content=rss(*[(f"t{i}", f"/{i}") for i in range(30)]))
    assert len(poll(source(max_entries=10)).items) == 10


def test_private_addresses_are_refused_unless_allowed() -> None:
    feed = FeedSource("f", url="http://intranet.example/rss")
    feed.fetcher = Fetcher(resolver=lambda h, p: ["10.0.0.5"])
    result = poll(feed)
    assert result.outcome is Outcome.FAILED and "non-public address 10.0.0.5" in (
        result.reason or ""
    )


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254 (F8)
        ("2002:a9fe:a9fe::", False),  # 6to4 of 169.254.169.254 (F8)
        ("::127.0.0.1", False),
        ("2606:4700::1111", True),
        ("224.0.0.1", False),
        ("fe80::1%eth0", False),
    ],
)
def test_address_classification(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_clean_link_drops_other_schemes() -> None:
    assert clean_link("javascript:alert(1)", URL) is None
    assert clean_link("jav\tascript:alert(1)", URL) is None
    assert clean_link("data:text/html,x", URL) is None
    assert clean_link("/x?utm_medium=a#frag", URL) == "https://feeds.example/x"
