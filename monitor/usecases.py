"""The use cases behind the CLI's one-shot commands: explain, replay, feed probing and
notifier tries. They build what they need from settings and write nothing unless asked
(`replay --send`); the daemon never calls them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.app import App, utc_now
from monitor.config import DedupeSettings, FolderSettings
from monitor.errors import ExtractError, NotifyError, SourceError
from monitor.extract import extract
from monitor.match import Matcher, Verdict
from monitor.models import (
    Alert,
    Article,
    Delivery,
    DeliveryStatus,
    Outcome,
    Poll,
    TopicRef,
    Watchlist,
)
from monitor.near import NearCheck, signature
from monitor.pipeline import alert_id, delivery_id
from monitor.plugins import Notifier, SourceResources
from monitor.sources.feed import FeedSource
from monitor.sources.folder import FolderSource
from monitor.sources.http import Fetcher, FetchLimits
from monitor.store import Store
from monitor.text import content_hash


async def _await(result: Any) -> Any:
    return await result


# --- explain -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Explained:
    """`monitor explain` for one file: the article (or why there is none) and every verdict."""

    target: str  # the file, feed entry or stored article explained
    article: Article | None
    error: str | None
    verdicts: tuple[Verdict, ...]
    near: NearNote | None = None  # the story it copies (or would copy, if stored now)


@dataclass(frozen=True)
class NearNote:
    """`explain`: a near-duplicate's root and the matched topics it does not alert for."""

    story_id: str
    root_hash: str
    root_source: str
    root_first_seen: datetime
    similarity: float
    suppressed: tuple[str, ...]


def add_near_notes(
    results: Sequence[Explained], store: Store, dedupe: DedupeSettings, now: datetime
) -> list[Explained]:
    """Each explained article with its near-duplicate note: for a stored article what was
    decided when it was stored, for a file or feed entry what storing it now would decide.
    Reads only."""
    out = []
    for result in results:
        if result.article is None:
            out.append(result)
            continue
        matched = frozenset(v.topic.id for v in result.verdicts if v.matched)
        stored = store.near_match_of(result.article.content_hash)
        if stored is not None:
            story, match = stored
            if match is None:
                out.append(result)
                continue
            alerted = store.alerted_topics(result.article.content_hash)
            suppressed = tuple(sorted(matched - alerted))
        else:
            alert_anyway = frozenset(
                v.topic.id for v in result.verdicts if v.topic.near_duplicates == "alert"
            )
            check = NearCheck(
                signature(result.article.text), dedupe.threshold, now - dedupe.window,
                matched, alert_anyway & matched,
            )  # fmt: skip
            found = store.find_near(check)
            if found is None:
                out.append(result)
                continue
            match, story, suppressed_set = found
            suppressed = tuple(sorted(suppressed_set))
        note = NearNote(
            story, match.content_hash, match.source, match.first_seen, match.similarity,
            suppressed,
        )  # fmt: skip
        out.append(dataclasses.replace(result, near=note))
    return out


def explain_files(
    paths: Sequence[Path], watchlist: Watchlist, folders: Sequence[FolderSettings] = ()
) -> list[Explained]:
    """Parse and match files exactly as the folder source and pipeline would; writes nothing.

    A file inside a configured folder uses that folder's options (end markers); any other
    file uses the options of the first folder, if there is one.
    """
    matcher = Matcher(watchlist)
    results = []
    for path in paths:
        folder = _folder_for(path, folders)
        source = folder.source if folder else FolderSource("explain", path=path.parent)
        assert isinstance(source, FolderSource)
        try:
            item = source.read_file(path, utc_now())
            article = extract(item)
        except (ExtractError, SourceError) as e:
            results.append(Explained(str(path), None, str(e), ()))
            continue
        tags = folder.tags if folder else ()
        verdicts = tuple(
            matcher.explain(article.title, article.text, source=article.source, tags=tags)
        )
        results.append(Explained(str(path), article, None, verdicts))
    return results


def explain_url(
    url: str,
    watchlist: Watchlist,
    *,
    allow_private_network: bool = False,
    limits: FetchLimits | None = None,
    matcher: Matcher | None = None,
) -> list[Explained]:
    """Fetch `url` as a feed (the address checks of feeds; `limits`: `[fetch]`'s, see
    `probe_feed`) and explain every entry. `matcher`: the watchlist already compiled."""
    matcher = matcher or Matcher(watchlist)
    result = probe_feed(
        url, watchlist, allow_private_network=allow_private_network, limits=limits,
        matcher=matcher,
    )  # fmt: skip
    if result.error:
        return [Explained(url, None, result.error, ())]
    return [
        Explained(
            article.url or article.location,
            article,
            None,
            tuple(matcher.explain(article.title, article.text)),
        )
        for article, _topics in result.entries
    ]


def explain_stored(store: Store, hash_prefix: str, watchlist: Watchlist) -> list[Explained]:
    """Explain a stored article found by (a prefix of) its content hash."""
    found = store.find_articles(hash_prefix, limit=2)
    if not found:
        return [Explained(hash_prefix, None, "no stored article has this hash", ())]
    if len(found) > 1:
        return [Explained(hash_prefix, None, "ambiguous hash prefix: give more characters", ())]
    (article,) = found
    verdicts = tuple(Matcher(watchlist).explain(article.title, article.text, source=article.source))
    return [Explained(article.content_hash, article, None, verdicts)]


# --- replay and topics -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayHit:
    article: Article
    topic_id: str
    already_alerted: bool
    near_duplicate: bool = False  # its story matched the topic already: no alert, as in ingest


@dataclass
class ReplayReport:
    scanned: int = 0
    hits: list[ReplayHit] = field(default_factory=list)
    queued: int = 0  # alerts created by --send


def replay(
    app: App,
    watchlist: Watchlist,
    *,
    since: datetime | None,
    topic: str | None = None,
    send: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Run `watchlist` over stored articles: what would have alerted (and, with `send`, queue
    the alerts not already recorded: insert-if-absent, so nothing is ever alerted twice).
    """
    matcher = Matcher(watchlist)
    total = app.store.count_articles(since)
    report = ReplayReport()
    now = app.clock()
    near = app.pipeline.near
    topics = {t.id: t for t in watchlist.topics}
    claimed: set[tuple[str, str]] = set()  # (story, topic) matched earlier in this replay
    for article_id, article, alerted in app.store.iter_articles(since):
        report.scanned += 1
        matches = [
            m
            for m in matcher.match(
                article.title,
                article.text,
                source=article.source,
                tags=app.pipeline.tags.get(article.source, ()),
            )
            if topic is None or m.topic_id == topic
        ]
        # The ingest rule: a topic the article's story matched already (recorded at ingest,
        # or earlier in this replay) does not alert again, unless the topic asks for it.
        suppressed: set[str] = set()
        if near is not None and matches:
            story = app.store.story_of(article_id)
            ids = {m.topic_id for m in matches}
            suppressed = {t for t in ids if (story, t) in claimed}
            suppressed |= app.store.story_topics_since(
                story, ids, now - near.window, before=article_id
            )
            suppressed -= set(alerted)
            suppressed = {t for t in suppressed if topics[t].near_duplicates != "alert"}
            claimed.update((story, t) for t in ids)
        report.hits.extend(
            ReplayHit(article, m.topic_id, m.topic_id in alerted, m.topic_id in suppressed)
            for m in matches
        )
        fresh = [m for m in matches if m.topic_id not in alerted and m.topic_id not in suppressed]
        if send and fresh:
            alerts, deliveries = app.pipeline.outbox_rows(article, fresh, matcher, now)
            report.queued += app.store.add_alerts(article_id, alerts, deliveries, now)
        if progress is not None:
            progress(report.scanned, total)
    return report


def _folder_for(path: Path, folders: Sequence[FolderSettings]) -> FolderSettings | None:
    resolved = path.resolve().parent
    for folder in folders:
        if isinstance(folder.source, FolderSource) and folder.source.path.resolve() == resolved:
            return folder
    return folders[0] if folders else None


# --- feeds test ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedProbe:
    """`monitor feeds test URL`: the entries and the topics each would fire; nothing stored."""

    entries: tuple[tuple[Article, tuple[str, ...]], ...] = ()
    skipped: int = 0
    error: str | None = None


def probe_feed(
    url: str,
    watchlist: Watchlist,
    *,
    allow_private_network: bool = False,
    limits: FetchLimits | None = None,
    matcher: Matcher | None = None,
) -> FeedProbe:
    """Poll `url` once as a feed through a fetcher of its own (this runs in its own event
    loop), bounded by `limits`: pass `app.fetch_limits(settings.fetch)` to fetch as the
    daemon's feeds do (body size, deadline, timeouts, User-Agent); None: the defaults."""
    try:
        source = FeedSource("test", url=url, allow_private_network=allow_private_network)
    except ValueError as e:
        return FeedProbe(error=str(e))
    poll = asyncio.run(_poll_once(source, limits or FetchLimits()))
    if poll.outcome is not Outcome.OK:
        return FeedProbe(error=poll.reason or poll.outcome.value)
    matcher = matcher or Matcher(watchlist)
    entries = []
    skipped = 0
    for item in poll.items:
        try:
            article = extract(item)
        except ExtractError:
            skipped += 1
            continue
        # A URL under test is no configured source: `sources`/`tags` filters cannot pass.
        topics = tuple(
            m.topic_id for m in matcher.match(article.title, article.text, source=article.source)
        )
        entries.append((article, topics))
    return FeedProbe(tuple(entries), skipped)


async def _poll_once(source: FeedSource, limits: FetchLimits) -> Poll:
    fetcher = Fetcher(limits)
    source.use(SourceResources(fetcher=fetcher))
    try:
        return await source.poll(None, utc_now())
    finally:
        await fetcher.aclose()


# --- notifiers test ----------------------------------------------------------------------

SAMPLE_TEXT = (
    "（monitor 測試）這是一則示例警報，用來檢查通知設定。北約秘書長週二表示，"
    "This is a sample alert sent by `monitor notifiers test` to check a notifier's settings."
)


def sample_delivery(notifier: str, now: datetime) -> Delivery:
    """A fixed sample alert for `monitor notifiers test`; ids derived exactly as in the pipeline."""
    article = Article(
        source="monitor",
        location="sample-alert.txt",
        url="https://example.org/monitor/sample-alert",
        guid=None,
        title="示例警報：北約秘書長訪問東京 (monitor sample alert)",
        text=SAMPLE_TEXT,
        published=now,
        content_hash=content_hash(SAMPLE_TEXT),
    )
    topic = TopicRef("monitor-test", "monitor test")
    alert = Alert(
        id=alert_id(article.content_hash, topic.id),
        topic=topic,
        article=article,
        matched=("北約",),
        found=("北約",),
        snippet=SAMPLE_TEXT[:200],
        created_at=now,
    )
    return Delivery(
        id=delivery_id(alert.id, notifier),
        alert=alert,
        notifier=notifier,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
    )


def try_notifier(notifier: Notifier, now: datetime) -> None:
    """Send the sample alert through `notifier`; raises `NotifyError` with the exact failure."""
    try:
        result = notifier.send([sample_delivery(notifier.name, now)], now)
        if inspect.isawaitable(result):
            asyncio.run(_await(result))
    except NotifyError:
        raise
    except Exception as e:  # a per-notifier send: the one place failures are contained
        raise NotifyError(notifier.name, f"{type(e).__name__}: {e}") from e
