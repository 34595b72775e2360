"""Composition root: builds store, sources, notifiers, pipeline and delivery from settings.

The only module that knows every class, and (with `daemon`) the only one that reads the real
clock: everything below receives `now`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config import FeedSettings, FolderSettings, Settings
from monitor.delivery import Deliverer, DeliveryReport
from monitor.errors import ExtractError, SourceError
from monitor.extract import extract
from monitor.match import Matcher, Verdict, find_warnings
from monitor.models import Article, Outcome, Poll, SourceHealth, Watchlist
from monitor.pipeline import IngestReport, Pipeline
from monitor.plugins import Notifier
from monitor.sources.feed import FeedSource
from monitor.sources.folder import FolderSource
from monitor.sources.http import USER_AGENT, Fetcher, FetchLimits
from monitor.store import Store

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FeedReport:
    """One feed poll: what the source said and what the pipeline did with it."""

    feed: str
    outcome: Outcome
    status: int | None = None
    error: str | None = None
    ingest: IngestReport = field(default_factory=IngestReport)


@dataclass
class RunReport:
    """One pass over every source and the due deliveries (`monitor run --once`)."""

    ingest: IngestReport = field(default_factory=IngestReport)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    failed_sources: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exit status 0: no source failed as a whole, no delivery failed in this pass."""
        return not self.failed_sources and not self.delivery.failed and not self.delivery.dead


def default_instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class App:
    """A configured monitor: what `run --once` and the daemon drive."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        pipeline: Pipeline,
        deliverer: Deliverer,
        clock: Callable[[], datetime],
        *,
        instance: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.pipeline = pipeline
        self.deliverer = deliverer
        self.clock = clock
        self.instance = instance or settings.daemon.instance or default_instance()
        self.rng = rng or random.Random()
        self.fetcher: Fetcher | None = None

    @property
    def folders(self) -> tuple[FolderSettings, ...]:
        return self.settings.folders

    @property
    def feeds(self) -> tuple[FeedSettings, ...]:
        return self.settings.feeds

    def start(self) -> None:
        """Apply pending migrations (under the store's lock), then align sources with config."""
        self.store.upgrade()
        self._sync_sources()

    def _sync_sources(self) -> None:
        configured = [(f.id, "folder", str(getattr(f.source, "path", ""))) for f in self.folders]
        configured += [(f.id, "feed", str(getattr(f.source, "url", ""))) for f in self.feeds]
        self.store.sync_sources(configured, self.clock())

    def reconfigure(self, settings: Settings) -> None:
        """Swap in a validated new config: watchlist first (atomic), then sources and notifiers."""
        self.pipeline.set_watchlist(settings.watchlist)
        notifiers = {n.name: n.notifier for n in settings.notifiers}
        self.pipeline.notifiers = tuple(notifiers)
        self.pipeline.tags = settings.source_tags
        self.deliverer.notifiers = notifiers
        self.settings = settings
        if self.fetcher is not None:
            self.use_fetcher(self.fetcher)
        self._sync_sources()

    # --- folders ------------------------------------------------------------------------

    def poll(self, folder: FolderSettings) -> IngestReport:
        """Scan one folder and ingest what it found; `SourceError` if it failed as a whole."""
        now = self.clock()
        started = time.monotonic()
        state = self.store.load_state(folder.id)
        try:
            result: Any = folder.source.poll(state, now)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
        except SourceError as e:
            self.store.record_source_failure(folder.id, now, e.reason)
            raise
        assert isinstance(result, Poll)
        report = self.pipeline.ingest_poll(folder.id, result, now)
        log.info(
            "polled source=%s items=%d new=%d duplicates=%d skipped=%d alerts=%d ms=%d",
            folder.id, len(result.items), report.new, report.duplicates, report.skipped,
            report.alerts, (time.monotonic() - started) * 1000,
        )  # fmt: skip
        return report

    # --- feeds --------------------------------------------------------------------------

    def use_fetcher(self, fetcher: Fetcher) -> None:
        """Share one HTTP client (and its concurrency limits) between all feeds."""
        self.fetcher = fetcher
        for feed in self.feeds:
            if isinstance(feed.source, FeedSource):
                feed.source.fetcher = fetcher

    def make_fetcher(self) -> Fetcher:
        fetch = self.settings.fetch
        return Fetcher(
            FetchLimits(
                connect_timeout=fetch.connect_timeout.total_seconds(),
                read_timeout=fetch.read_timeout.total_seconds(),
                deadline=fetch.deadline.total_seconds(),
                max_body=fetch.max_body,
                max_redirects=fetch.max_redirects,
                concurrency=fetch.concurrency,
                per_host=fetch.per_host,
                user_agent=fetch.user_agent or USER_AGENT,
            )
        )

    @property
    def lease(self) -> timedelta:
        """Long enough for any fetch to finish; a dead instance's feeds are free after it."""
        return self.settings.fetch.deadline + timedelta(seconds=60)

    def claim_feeds(self, *, limit: int, ignore_schedule: bool = False) -> list[SourceHealth]:
        return self.store.claim_sources(
            "feed", self.instance, self.clock(), self.lease, limit=limit,
            ignore_schedule=ignore_schedule,
        )  # fmt: skip

    async def poll_feed(self, row: SourceHealth) -> FeedReport:
        """Poll one claimed feed, ingest its entries off the event loop, record its health."""
        feed = next((f for f in self.feeds if f.id == row.id), None)
        if feed is None:  # removed from the config since it was claimed
            return FeedReport(row.id, Outcome.NOT_MODIFIED)
        started = time.monotonic()
        now = self.clock()
        result: Any = feed.source.poll(row.state, now)
        poll: Poll = await result if inspect.isawaitable(result) else result
        report = FeedReport(feed.id, poll.outcome, poll.status, poll.reason)
        if poll.outcome is Outcome.OK and poll.items:
            silent = feed.first_poll == "skip" and row.last_success_at is None
            alert_after = now - feed.max_age if feed.max_age else None
            report.ingest = await asyncio.to_thread(
                self.pipeline.ingest_items, poll.items, now, silent=silent, alert_after=alert_after
            )
        await asyncio.to_thread(self._record_feed_poll, feed, row, poll, now)
        log.log(
            logging.WARNING if poll.outcome in (Outcome.FAILED, Outcome.GONE) else logging.INFO,
            "polled feed=%s status=%s result=%s new=%d updated=%d unchanged=%d skipped=%d "
            "alerts=%d ms=%d%s",
            feed.id, poll.status or "-", poll.outcome.value, report.ingest.new,
            report.ingest.updated, report.ingest.duplicates, report.ingest.skipped,
            report.ingest.alerts, (time.monotonic() - started) * 1000,
            f" reason={poll.reason!r}" if poll.reason else "",
        )  # fmt: skip
        if poll.moved_to:
            log.warning(
                "feed moved permanently feed=%s url=%s hint=%r",
                feed.id, poll.moved_to, "update url in the config",
            )  # fmt: skip
        return report

    def _record_feed_poll(
        self, feed: FeedSettings, row: SourceHealth, poll: Poll, now: datetime
    ) -> None:
        interval = feed.interval.total_seconds()
        hold_until = None
        disable = None
        error = None
        if poll.outcome in (Outcome.OK, Outcome.NOT_MODIFIED):
            # ±10 % so feeds added together drift apart instead of polling in lockstep.
            delay = interval * self.rng.uniform(0.9, 1.1)
        else:
            error = poll.reason or poll.outcome.value
            failures = row.consecutive_failures + 1
            cap = self.settings.defaults.max_backoff.total_seconds()
            delay = min(interval * 2 ** (failures - 1), max(cap, interval))
            delay *= self.rng.uniform(0.8, 1.2)
            if poll.outcome is Outcome.GONE:
                disable = poll.reason or "gone"
                log.error("feed disabled feed=%s reason=%r hint=%r", feed.id, disable,
                          f"monitor feeds enable {feed.id}")  # fmt: skip
            elif poll.not_before is not None and poll.status in (429, 503):
                hold_until = poll.not_before
        next_poll = now + timedelta(seconds=delay)
        if poll.not_before is not None and poll.not_before > next_poll:
            next_poll = poll.not_before
        self.store.finish_poll(
            feed.id, self.instance, now, state=poll.state, result=poll.outcome.value, error=error,
            next_poll_at=next_poll, hold_until=hold_until, disable_reason=disable,
        )  # fmt: skip

    # --- delivery and one-shot runs -------------------------------------------------------

    def deliver(self, *, retry_now: bool = False) -> DeliveryReport:
        return self.deliverer.deliver_due(self.clock(), retry_now=retry_now)

    def run_once(self, *, retry_now: bool = False) -> RunReport:
        """Poll every active feed and folder once, then deliver what is due.

        Feeds are polled whatever their schedule or backoff, but not when disabled (410) or
        under a Retry-After still in force; leases make this safe beside a running daemon.
        """
        report = RunReport()
        for folder in self.folders:
            try:
                report.ingest.add(self.poll(folder))
            except SourceError as e:
                log.error("poll failed source=%s reason=%r", folder.id, e.reason)
                report.failed_sources.append(folder.id)
        if self.feeds:
            for feed_report in asyncio.run(self._poll_all_feeds()):
                report.ingest.add(feed_report.ingest)
                if feed_report.outcome in (Outcome.FAILED, Outcome.GONE):
                    report.failed_sources.append(feed_report.feed)
            self._log_skipped_feeds()
        report.delivery = self.deliver(retry_now=retry_now)
        return report

    async def _poll_all_feeds(self) -> list[FeedReport]:
        fetcher = self.make_fetcher()
        self.use_fetcher(fetcher)
        try:
            rows = await asyncio.to_thread(
                self.claim_feeds, limit=len(self.feeds), ignore_schedule=True
            )
            return list(await asyncio.gather(*(self.poll_feed(row) for row in rows)))
        finally:
            await fetcher.aclose()
            self.fetcher = None

    def _log_skipped_feeds(self) -> None:
        now = self.clock()
        for row in self.store.list_sources():
            if row.kind != "feed" or row.id not in {f.id for f in self.feeds}:
                continue
            if not row.active:
                log.warning("skipped feed=%s reason=%r", row.id, row.disabled_reason)
            elif row.hold_until and row.hold_until > now:
                log.warning("skipped feed=%s reason=%r until=%s", row.id, "Retry-After in force",
                            row.hold_until.isoformat(timespec="seconds"))  # fmt: skip

    def close(self) -> None:
        for notifier in self.deliverer.notifiers.values():
            notifier.close()
        self.store.close()


def make_app(
    settings: Settings,
    *,
    now: Callable[[], datetime] = utc_now,
    notifiers: Mapping[str, Notifier] | None = None,
    store: Store | None = None,
    instance: str | None = None,
) -> App:
    """Build an `App`; tests pass their own clock, notifiers or store."""
    if notifiers is None:
        notifiers = {n.name: n.notifier for n in settings.notifiers}
    store = store or Store.open(settings.database)
    pipeline = Pipeline(
        store, Matcher(settings.watchlist), list(notifiers), tags=settings.source_tags
    )
    deliverer = Deliverer(store, notifiers, settings.delivery)
    return App(settings, store, pipeline, deliverer, now, instance=instance)


async def _await(result: Any) -> Any:
    return await result


# --- explain -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Explained:
    """`monitor explain` for one file: the article (or why there is none) and every verdict."""

    path: Path
    article: Article | None
    error: str | None
    verdicts: tuple[Verdict, ...]


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
            results.append(Explained(path, None, str(e), ()))
            continue
        tags = folder.tags if folder else ()
        verdicts = tuple(
            matcher.explain(article.title, article.text, source=article.source, tags=tags)
        )
        results.append(Explained(path, article, None, verdicts))
    return results


def _folder_for(path: Path, folders: Sequence[FolderSettings]) -> FolderSettings | None:
    resolved = path.resolve().parent
    for folder in folders:
        if isinstance(folder.source, FolderSource) and folder.source.path.resolve() == resolved:
            return folder
    return folders[0] if folders else None


def watchlist_warnings(watchlist: Watchlist) -> list[str]:
    return find_warnings(watchlist)


# --- feeds test ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedTest:
    """`monitor feeds test URL`: the entries and the topics each would fire; nothing stored."""

    entries: tuple[tuple[Article, tuple[str, ...]], ...] = ()
    skipped: int = 0
    error: str | None = None


def test_feed(url: str, watchlist: Watchlist, *, allow_private_network: bool = False) -> FeedTest:
    try:
        source = FeedSource("test", url=url, allow_private_network=allow_private_network)
    except ValueError as e:
        return FeedTest(error=str(e))
    poll = asyncio.run(_poll_once(source))
    if poll.outcome is not Outcome.OK:
        return FeedTest(error=poll.reason or poll.outcome.value)
    matcher = Matcher(watchlist)
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
    return FeedTest(tuple(entries), skipped)


async def _poll_once(source: FeedSource) -> Poll:
    return await source.poll(None, utc_now())
