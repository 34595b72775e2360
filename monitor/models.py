"""Frozen dataclasses that travel between the layers. Datetimes are UTC-aware.

No behaviour lives here beyond trivial derived values: the stages that produce these
(`sources`, `extract`, `match`, `pipeline`, `delivery`) own the logic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

# RawItem.content_type of a feed entry: `content` is the entry's HTML, `meta` holds title, url,
# guid and published as the feed gave them.
FEED_ENTRY = "application/x-monitor-feed-entry"


@dataclass(frozen=True)
class RawItem:
    """Bytes as a source found them, before any parsing."""

    source: str
    location: str  # file name relative to its folder, or the item URL
    content: bytes
    content_type: str  # "text/plain", "text/markdown", "text/html" or a feed entry type
    fetched_at: datetime
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Article:
    """One story, reduced to plain text; identified by `content_hash`."""

    source: str
    location: str
    url: str | None
    guid: str | None
    title: str
    text: str
    published: datetime | None
    content_hash: str


FIELDS = ("title", "text")


@dataclass(frozen=True)
class Topic:
    """One watched topic; terms are as the user wrote them (normalization happens in `match`)."""

    id: str
    title: str
    all: tuple[tuple[str, ...], ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    notify: tuple[str, ...] | None = None  # None: every notifier
    # (term, spellings): a hit of the term inside one of these spellings does not count.
    exceptions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    sources: tuple[str, ...] = ()  # source ids; empty: every source
    tags: tuple[str, ...] = ()  # the article's source needs one of these tags; empty: any
    fields: tuple[str, ...] = FIELDS  # which parts of the article are matched
    min_hits: int = 1  # distinct alias classes / terms / regexes that must hit
    regex: tuple[str, ...] = ()  # RE2 patterns over the normalized text; each like an `any` term
    query: str | None = None  # the query language (`monitor.query`), as written
    max_alerts_per_hour: int | None = None  # beyond it, deliveries wait for the hour to end
    muted_until: datetime | None = None  # no alerts before this instant (UTC-aware)
    near_duplicates: str = "suppress"  # or "alert": near-duplicates of its stories alert too


@dataclass(frozen=True)
class Watchlist:
    """Alias classes (each a set of equivalent spellings) and topics."""

    aliases: tuple[tuple[str, ...], ...]
    topics: tuple[Topic, ...]


@dataclass(frozen=True)
class Match:
    """Why one topic fired on one article."""

    topic_id: str
    matched: tuple[str, ...]  # watchlist terms that hit
    found: tuple[str, ...]  # spellings as they appear in the article
    snippet: str  # original text around the first hit


@dataclass(frozen=True)
class TopicRef:
    id: str
    title: str


@dataclass(frozen=True)
class Alert:
    """One (article, topic) pair; its id is derived from both, so it can only exist once."""

    id: str
    topic: TopicRef
    article: Article
    matched: tuple[str, ...]
    found: tuple[str, ...]
    snippet: str
    created_at: datetime
    story_id: str | None = None  # the near-duplicate story of its article, when known


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


@dataclass(frozen=True)
class Notice:
    """An operator notice, not a topic alert: `source.failing` / `source.recovered`.

    Goes through the same outbox to the notifiers marked `operator = true`.
    """

    id: str  # notice_ + 32 hex
    event: str  # "source.failing" | "source.recovered"
    source: str
    created_at: datetime
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Delivery:
    """One (alert, notifier) pair: the outbox row. Its id is what receivers dedupe on.

    A delivery of an operator notice has `notice` set; its `alert` is then a plain-text
    rendering of the notice, so notifiers that only know alerts still say something useful.
    """

    id: str
    alert: Alert
    notifier: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None
    notice: Notice | None = None


class Outcome(StrEnum):
    """What a poll tells the daemon to act on."""

    OK = "ok"
    NOT_MODIFIED = "not_modified"  # 304, or the same bytes as last time: nothing parsed
    FAILED = "failed"  # retry later (backoff, or not before `not_before`)
    GONE = "gone"  # 410: disable the source until an operator re-enables it


@dataclass(frozen=True)
class Poll:
    """The result of `Source.poll`: new items, the opaque state for next time, and the outcome."""

    items: tuple[RawItem, ...]
    state: Any
    outcome: Outcome = Outcome.OK
    reason: str | None = None
    not_before: datetime | None = None  # Retry-After, Cache-Control max-age, Expires, RSS ttl
    moved_to: str | None = None  # every redirect hop was permanent: poll this URL from now on
    status: int | None = None  # HTTP status, for logs
    # What `SourceResources.preparer`'s function returned for `items`, run by the source in
    # the worker process that parsed them (one trip across the process boundary, not two);
    # None when the source did not run it.
    prepared: Any = None


@dataclass(frozen=True)
class SourceHealth:
    """A source's row: schedule, lease and health (`monitor status`, `feeds list`)."""

    id: str
    kind: str
    url: str | None
    active: bool
    disabled_reason: str | None
    state: Any
    next_poll_at: datetime
    hold_until: datetime | None
    last_poll_at: datetime | None
    last_result: str | None
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    failing_since: datetime | None = None
    failing_notified_at: datetime | None = None
    origin: str = "config"  # "config" (monitor.toml) or "database" (`monitor feeds add`)
    options: Mapping[str, Any] | None = None  # a database source's settings (TOML keys)
