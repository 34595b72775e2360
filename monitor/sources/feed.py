"""Feed source: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed 1.0/1.1 parsed here.

Owns feedparser. The body is handed over as `io.BytesIO` (feedparser opens a local file when
given path-shaped bytes: RELIABILITY.md F3), after any `<!ENTITY` declaration has been refused
(feedparser's fallback parser re-expands entities without limit: F2). Sanitizing is off: it
costs ~60 % of parse time and is no barrier anyway (F4); entries become plain text in
`extract`, and no feed HTML ever reaches a notifier.
"""

from __future__ import annotations

import asyncio
import calendar
import functools
import hashlib
import io
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

from monitor.errors import SourceError
from monitor.models import FEED_ENTRY, Outcome, Poll, RawItem
from monitor.plugins import Source, SourceResources
from monitor.sources.http import Fetcher, FetchError, FetchResult

log = logging.getLogger(__name__)

DEFAULT_MAX_ENTRIES = 1000
_ENTITY_DECLARATIONS = (
    b"<!entity",
    "<!ENTITY".encode("utf-16-le").lower(),
    "<!ENTITY".encode("utf-16-be").lower(),
    "<!ENTITY".encode("utf-32-le").lower(),
    "<!ENTITY".encode("utf-32-be").lower(),
)
# Query parameters that track readers and make one article look like many.
_TRACKING = re.compile(
    r"^(utm_[a-z_]+|maca|fbclid|gclid|dclid|mc_[ce]id|igshid|_hsenc|_hsmi|yclid)$"
)
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)")
_URL_STRIPPED = re.compile(r"[\t\n\r]")
_URL_UNSAFE = re.compile(
    r"[\x00-\x20\x7f-\xa0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff\ud800-\udfff]"
)


@dataclass(frozen=True)
class Entry:
    """One feed entry, before text extraction."""

    title: str
    link: str | None
    guid: str | None
    published: datetime | None
    html: str


class FeedSource(Source):
    """Polls one feed URL. State: current URL, ETag, Last-Modified, hash of the last body."""

    default_first_poll: ClassVar[str] = "skip"  # a new feed's backlog is stored, not alerted
    parses_in_workers: ClassVar[bool] = True

    def __init__(
        self,
        id: str,
        *,
        url: str,
        headers: Mapping[str, str] | None = None,
        allow_private_network: bool = False,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> None:
        super().__init__(id)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url: must be an http(s) URL, got {url!r}")
        if max_entries < 1:
            raise ValueError("max_entries: must be positive")
        self.url = url
        self.headers = dict(headers or {})
        self.allow_private_network = allow_private_network
        self.max_entries = max_entries
        self.fetcher: Fetcher | None = None  # shared client, set by the app
        # Parsing is CPU work (feedparser ~2 ms per 30 KB feed): the app may hand it to a
        # process pool so that polls use every core. None: parse in this thread.
        self.executor: Executor | None = None
        self.preparer: Callable[[str], Callable[[Sequence[RawItem]], Any] | None] | None = None

    def use(self, resources: SourceResources) -> None:
        self.fetcher = resources.fetcher
        self.executor = resources.executor
        self.preparer = resources.preparer

    def target(self) -> str:
        return self.url

    async def poll(self, state: Any, now: datetime) -> Poll:
        state = dict(state or {})
        if state.get("config_url") != self.url:
            state = {"config_url": self.url}  # a changed URL starts fresh
        url = state.get("url") or self.url
        fetcher = self.fetcher or Fetcher()
        try:
            result = await fetcher.fetch(
                url,
                headers=self.headers,
                etag=state.get("etag"),
                last_modified=state.get("last_modified"),
                allow_private_network=self.allow_private_network,
                now=now,
            )
        except FetchError as e:
            retry = now + e.retry_after if e.retry_after else None
            return Poll((), state, Outcome.FAILED, e.reason, not_before=retry)
        finally:
            if self.fetcher is None:
                await fetcher.aclose()
        decided = self._classify_status(result, state, now)
        if decided is not None:
            return decided
        job = functools.partial(
            parse_items, result.body, dict(result.headers), result.url, self.id, now,
            self.max_entries,
        )  # fmt: skip
        if self.executor is None:
            parsed = job()
        else:
            # The pipeline's next step runs in the same job: the items need not come back
            # here only to cross again (feed bodies are ~30 KB).
            then = self.preparer(self.id) if self.preparer is not None else None
            loop = asyncio.get_running_loop()
            parsed = await loop.run_in_executor(self.executor, functools.partial(job, then=then))
        return self._from_parsed(result, state, now, parsed)

    def _classify(self, result: FetchResult, state: dict[str, Any], now: datetime) -> Poll:
        """`poll` after the fetch, in one synchronous call (tests, the fixture corpus)."""
        decided = self._classify_status(result, state, now)
        if decided is not None:
            return decided
        parsed = parse_items(
            result.body, result.headers, result.url, self.id, now, self.max_entries
        )
        return self._from_parsed(result, state, now, parsed)

    def _classify_status(
        self, result: FetchResult, state: dict[str, Any], now: datetime
    ) -> Poll | None:
        """Every HTTP outcome decided in one place (after miniflux's response handler);
        None: a new 200 body, to be parsed."""
        status = result.status
        moved = result.permanent_url
        if moved:
            state["url"] = moved
        not_before = _cache_floor(result, now)
        if status == 304:
            return Poll((), state, Outcome.NOT_MODIFIED, None, not_before, moved, status)
        if status == 410:
            return Poll((), state, Outcome.GONE, "HTTP 410 Gone", None, moved, status)
        if status in (429, 503):
            retry = now + result.retry_after if result.retry_after else None
            return Poll((), state, Outcome.FAILED, f"HTTP {status}", retry, moved, status)
        if status != 200:
            return Poll((), state, Outcome.FAILED, f"HTTP {status}", None, moved, status)
        body_hash = hashlib.sha256(result.body).hexdigest()
        state["etag"] = result.headers.get("etag")
        state["last_modified"] = result.headers.get("last-modified")
        if body_hash == state.get("body_hash"):
            return Poll((), state, Outcome.NOT_MODIFIED, None, not_before, moved, status)
        state["new_body_hash"] = body_hash
        return None

    def _from_parsed(
        self, result: FetchResult, state: dict[str, Any], now: datetime, parsed: Parsed | str
    ) -> Poll:
        status = result.status
        moved = result.permanent_url
        not_before = _cache_floor(result, now)
        body_hash = state.pop("new_body_hash")
        if isinstance(parsed, str):
            state.pop("etag", None)  # never let a validator pin a broken body
            state.pop("last_modified", None)
            return Poll((), state, Outcome.FAILED, parsed, None, moved, status)
        state["body_hash"] = body_hash
        if parsed.ttl:
            floor = now + parsed.ttl
            not_before = max(not_before, floor) if not_before else floor
        if parsed.entries > self.max_entries:
            log.warning(
                "entries capped feed=%s entries=%d max_entries=%d",
                self.id, parsed.entries, self.max_entries,
            )  # fmt: skip
        return Poll(
            parsed.items, state, Outcome.OK, None, not_before, moved, status, parsed.prepared
        )


@dataclass(frozen=True)
class Parsed:
    """A feed body parsed: its first `max_entries` entries as items, how many entries it
    had, the RSS <ttl>, and what `then` made of the items (`Poll.prepared`)."""

    items: tuple[RawItem, ...]
    entries: int
    ttl: timedelta | None
    prepared: Any = None


def parse_items(
    body: bytes,
    headers: Mapping[str, str],
    url: str,
    source: str,
    now: datetime,
    max_entries: int,
    then: Callable[[Sequence[RawItem]], Any] | None = None,
) -> Parsed | str:
    """The body's entries as `source`'s items, and `then` applied to them; or why it is not
    a feed (a plain reason: this runs in a worker process, and its result crosses back)."""
    try:
        entries, ttl = parse_feed(body, headers, url)
    except SourceError as e:
        return e.reason
    items = tuple(entry_item(entry, source, url, now) for entry in entries[:max_entries])
    return Parsed(items, len(entries), ttl, then(items) if then is not None and items else None)


def entry_item(entry: Entry, source: str, feed_url: str, now: datetime) -> RawItem:
    """One entry as `source`'s raw item: its link cleaned (`clean_link`), its HTML as bytes."""
    link = clean_link(entry.link, feed_url)
    return RawItem(
        source=source,
        location=link or (f"{feed_url}#{entry.guid}" if entry.guid else feed_url),
        content=entry.html.encode("utf-8", errors="replace"),
        content_type=FEED_ENTRY,
        fetched_at=now,
        meta={
            "title": entry.title,
            "url": link,
            "guid": entry.guid,
            "published": entry.published,
        },
    )


def parse_feed(
    body: bytes, headers: Mapping[str, str], url: str
) -> tuple[list[Entry], timedelta | None]:
    """Entries (newest first as the feed lists them) and the RSS <ttl>; `SourceError` if no feed."""
    lowered = body.lower()
    if any(marker in lowered for marker in _ENTITY_DECLARATIONS):
        raise SourceError(url, "refused: the document declares XML entities (<!ENTITY)")
    content_type = headers.get("content-type", "").lower()
    if "json" in content_type or body.lstrip()[:1] == b"{":
        return parse_json_feed(body, url), None
    feedparser = _feedparser()
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers={
                "content-type": content_type or "application/xml",
                "content-location": url,
            },
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except (ValueError, OverflowError, LookupError, RecursionError) as e:
        # feedparser's loose parser raises on character references it cannot represent:
        # &#xD800; (UnicodeEncodeError), &#x110000; (ValueError), huge numbers (OverflowError).
        raise SourceError(url, f"not a feed: parser failed ({type(e).__name__})") from e
    if not parsed.get("version"):
        reason = parsed.get("bozo_exception")
        detail = f": {str(reason)[:200]}" if reason else ""
        raise SourceError(url, f"not a feed{detail}")
    entries = [_entry(e) for e in parsed.entries]
    ttl = None
    raw_ttl = parsed.feed.get("ttl")
    if isinstance(raw_ttl, str) and raw_ttl.strip().isdigit():
        ttl = timedelta(minutes=min(int(raw_ttl.strip()), 24 * 60))
    return entries, ttl


@functools.cache
def _feedparser() -> ModuleType:
    """feedparser, with `make_safe_absolute_uri` memoized where its parser calls it.

    At every start tag feedparser resolves the element's xml:base against the current base,
    which is nearly always `make_safe_absolute_uri(feed_url, feed_url)`: a urljoin and a
    scheme check, ~20 % of parsing our feeds. The function is pure (its only other input,
    ACCEPTABLE_URI_SCHEMES, is a constant we never change), so a cache gives the same
    result; tests/sources/test_feed_corpus.py compares every fixture parsed both ways. A
    feedparser whose parser no longer calls it by that name is left as it is.
    """
    import feedparser
    import feedparser.mixin
    import feedparser.urls

    name = "make_safe_absolute_uri"
    original = getattr(feedparser.urls, name, None)
    if getattr(feedparser.mixin, name, None) is not original or original is None:
        return feedparser
    setattr(feedparser.mixin, name, functools.lru_cache(maxsize=256)(original))
    return feedparser


def _entry(entry: Any) -> Entry:
    content = entry.get("content") or []
    html = next((c.get("value", "") for c in content if c.get("value")), "")
    html = html or entry.get("summary", "") or ""
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    published = datetime.fromtimestamp(calendar.timegm(stamp), UTC) if stamp else None
    return Entry(
        title=str(entry.get("title", "")),
        link=entry.get("link") or None,
        guid=entry.get("id") or entry.get("link") or None,
        published=published,
        html=str(html),
    )


def parse_json_feed(body: bytes, url: str) -> list[Entry]:
    """JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1); wrong types are skipped, not fatal."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError(url, f"not a feed: invalid JSON ({e})") from e
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith("https://jsonfeed.org/version/"):
        raise SourceError(url, "not a feed: JSON without a jsonfeed.org version")
    items = document.get("items")
    if not isinstance(items, list):
        raise SourceError(url, "not a feed: JSON Feed without an items list")
    entries = []
    for item in items:
        if not isinstance(item, dict):
            continue
        html = _string(item.get("content_html"))
        if not html:
            text = _string(item.get("content_text")) or _string(item.get("summary"))
            html = "<p>" + _escape(text).replace("\n\n", "</p><p>") + "</p>" if text else ""
        item_id = item.get("id")
        guid = (
            str(item_id)
            if isinstance(item_id, (str, int)) and not isinstance(item_id, bool)
            else None
        )
        entries.append(
            Entry(
                title=_string(item.get("title")),
                link=_string(item.get("url")) or _string(item.get("external_url")) or None,
                guid=guid,
                published=_iso(item.get("date_published")) or _iso(item.get("date_modified")),
                html=html,
            )
        )
    return entries


def _string(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def clean_link(link: str | None, base: str) -> str | None:
    """Absolute http(s) link without tracking parameters; None for any other scheme (F4)."""
    if not link:
        return None
    # As browsers do (WHATWG URL): tab and newlines removed; other controls and bidi/zero-width
    # formatting percent-encoded, so no link can carry an escape sequence to a terminal.
    link = _URL_UNSAFE.sub(
        lambda m: quote(m.group(0).encode("utf-8", "replace")), _URL_STRIPPED.sub("", link.strip())
    )
    absolute = urljoin(base, link)
    parts = urlsplit(absolute)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING.match(k.lower())
    ]
    return urlunsplit((parts.scheme.lower(), parts.netloc, parts.path, urlencode(query), ""))


def _cache_floor(result: FetchResult, now: datetime) -> datetime | None:
    """Cache-Control max-age or Expires: the server asks us not to come back before then."""
    control = result.headers.get("cache-control", "").lower()
    if "no-cache" in control or "no-store" in control:
        return None
    match = _MAX_AGE.search(control)
    if match:
        return now + timedelta(seconds=min(int(match[1]), 86400))
    expires = result.headers.get("expires")
    if expires:
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(expires)
        except (TypeError, ValueError):
            return None
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if when > now:
            return min(when, now + timedelta(days=1))
    return None
