"""Composition root: builds store, sources, notifiers, pipeline and delivery from settings.

The only module that knows every class, and (with `daemon`) the only one that reads the real
clock: everything below receives `now`.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
import os
import random
import socket
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from typing import Any

from monitor.config import FeedSettings, FolderSettings, Settings
from monitor.delivery import Deliverer, DeliveryReport
from monitor.errors import SourceError
from monitor.extract import extract_batch
from monitor.housekeeping import PruneReport, prune
from monitor.leases import default_owner
from monitor.match import Matcher
from monitor.metrics import Metrics
from monitor.models import (
    Article,
    Notice,
    Outcome,
    Poll,
    SourceHealth,
)
from monitor.notifiers.payload import iso_utc
from monitor.pipeline import IngestReport, Pipeline, delivery_id
from monitor.plugins import Notifier
from monitor.sources.feed import FeedSource
from monitor.sources.folder import FolderSource
from monitor.sources.http import USER_AGENT, Fetcher, FetchLimits
from monitor.store import NewDelivery, Store
from monitor.text import remember

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
    notice: str | None = None  # the operator notice this poll queued, if any


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
    """The instance name when neither --instance, MONITOR_INSTANCE nor the config set one."""
    return socket.gethostname()


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
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or pipeline.metrics
        self.store = store
        self.pipeline = pipeline
        self.deliverer = deliverer
        self.clock = clock
        self.instance = instance or settings.daemon.instance or default_instance()
        # Leases name the process (host:pid), so a dead one's leases can be recognised.
        self.owner = default_owner()
        self.rng = rng or random.Random()
        self.fetcher: Fetcher | None = None
        self.executor: ProcessPoolExecutor | None = None

    @property
    def folders(self) -> tuple[FolderSettings, ...]:
        """The folders this instance scans: those without `instance`, and its own."""
        return tuple(
            f for f in self.settings.folders if f.instance is None or f.instance == self.instance
        )

    @property
    def feeds(self) -> tuple[FeedSettings, ...]:
        return self.settings.feeds

    def start(self) -> None:
        """Apply pending migrations (under the store's lock), then align sources with config."""
        self.store.upgrade()
        self._sync_sources()

    def _sync_sources(self) -> None:
        configured = [
            (f.id, "folder", str(getattr(f.source, "path", "")), f.instance) for f in self.folders
        ]
        configured += [(f.id, "feed", str(getattr(f.source, "url", "")), None) for f in self.feeds]
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

    def poll(
        self,
        folder: FolderSettings,
        *,
        closed: Collection[str] = (),
        settle: timedelta | None = None,
    ) -> IngestReport:
        """Scan one folder and ingest what it found; `SourceError` if it failed as a whole.

        `closed` and `settle`: see `FolderSource.poll` (the daemon's event-driven scans).
        """
        now = self.clock()
        started = time.monotonic()
        state = self.store.load_state(folder.id)
        try:
            if isinstance(folder.source, FolderSource):
                result: Any = folder.source.poll(state, now, closed=closed, settle=settle)
            else:
                result = folder.source.poll(state, now)
            if inspect.isawaitable(result):
                result = asyncio.run(_await(result))
        except SourceError as e:
            self.store.record_source_failure(folder.id, now, e.reason)
            self.metrics.poll(folder.id, "failed")
            raise
        assert isinstance(result, Poll)
        self.metrics.poll(folder.id, "ok")
        report = self.pipeline.ingest_poll(folder.id, result, now)
        log.info(
            "polled source=%s items=%d new=%d duplicates=%d skipped=%d alerts=%d ms=%d",
            folder.id,
            len(result.items),
            report.new,
            report.duplicates,
            report.skipped,
            report.alerts,
            (time.monotonic() - started) * 1000,
        )
        return report

    # --- feeds --------------------------------------------------------------------------

    def use_fetcher(self, fetcher: Fetcher) -> None:
        """Share one HTTP client (and its concurrency limits) between all feeds, and the
        parsing processes (started on first use, so a feedless config never starts them)."""
        self.fetcher = fetcher
        if self.executor is None and self.feeds and self.settings.fetch.workers != 1:
            workers = self.settings.fetch.workers or min(os.cpu_count() or 1, 4)
            # spawn, not fork: this process has threads (asyncio, SQLite) by now.
            self.executor = ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
        for feed in self.feeds:
            if isinstance(feed.source, FeedSource):
                feed.source.fetcher = fetcher
                feed.source.executor = self.executor

    def stop_workers(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None

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
            "feed",
            self.owner,
            self.clock(),
            self.lease,
            limit=limit,
            ignore_schedule=ignore_schedule,
        )

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
        self.metrics.poll(feed.id, poll.outcome.value)
        if poll.outcome in (Outcome.FAILED, Outcome.GONE):
            self.metrics.fetch_error(feed.id)
        if poll.outcome is Outcome.OK and poll.items:
            silent = feed.first_poll == "skip" and row.last_success_at is None
            alert_after = now - feed.max_age if feed.max_age else None
            extracted = await self._extract(poll.items)
            report.ingest = await asyncio.to_thread(
                self.pipeline.ingest_items,
                poll.items,
                now,
                silent=silent,
                alert_after=alert_after,
                extracted=extracted,
            )
        report.notice = await asyncio.to_thread(self._record_feed_poll, feed, row, poll, now)
        log.log(
            logging.WARNING if poll.outcome in (Outcome.FAILED, Outcome.GONE) else logging.INFO,
            "polled feed=%s status=%s result=%s new=%d updated=%d unchanged=%d skipped=%d "
            "alerts=%d ms=%d%s",
            feed.id,
            poll.status or "-",
            poll.outcome.value,
            report.ingest.new,
            report.ingest.updated,
            report.ingest.duplicates,
            report.ingest.skipped,
            report.ingest.alerts,
            (time.monotonic() - started) * 1000,
            f" reason={poll.reason!r}" if poll.reason else "",
        )
        if poll.moved_to:
            log.warning(
                "feed moved permanently feed=%s url=%s hint=%r",
                feed.id,
                poll.moved_to,
                "update url in the config",
            )
        return report

    async def _extract(self, items: Sequence[Any]) -> list[Article | str] | None:
        """Extract in the worker processes (HTML → text, fold, hash: the CPU of ingest), and
        keep their folded texts so that matching here does not fold them again."""
        if self.executor is None:
            return None
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self.executor, extract_batch, list(items))
        extracted: list[Article | str] = []
        for result in results:
            if isinstance(result, str):
                extracted.append(result)
                continue
            article, title, text = result
            remember(title)
            remember(text)
            extracted.append(article)
        return extracted

    def _record_feed_poll(
        self, feed: FeedSettings, row: SourceHealth, poll: Poll, now: datetime
    ) -> str | None:
        """Store the poll's outcome and schedule the next; returns a notice event, if one
        was queued."""
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
                log.error(
                    "feed disabled feed=%s reason=%r hint=%r",
                    feed.id,
                    disable,
                    f"monitor feeds enable {feed.id}",
                )
            elif poll.not_before is not None and poll.status in (429, 503):
                hold_until = poll.not_before
        next_poll = now + timedelta(seconds=delay)
        if poll.not_before is not None and poll.not_before > next_poll:
            next_poll = poll.not_before
        self.store.finish_poll(
            feed.id,
            self.owner,
            now,
            state=poll.state,
            result=poll.outcome.value,
            error=error,
            next_poll_at=next_poll,
            hold_until=hold_until,
            disable_reason=disable,
        )
        return self._health_notice(feed, row, error, disable is not None, now)

    def _health_notice(
        self, feed: FeedSettings, row: SourceHealth, error: str | None, gone: bool, now: datetime
    ) -> str | None:
        """One `source.failing` notice when a feed has been failing for `broken_after` (at
        once when it is gone), one `source.recovered` when it works again by itself."""
        since = row.failing_since or now
        if error is not None:
            if row.failing_notified_at is not None or (
                not gone and now - since < feed.broken_after
            ):
                return None
            event = "source.failing"
            data = {
                "since": iso_utc(since),
                "error": error,
                "consecutive_failures": row.consecutive_failures + 1,
                "disabled": gone,
            }
        elif row.failing_notified_at is not None:
            event = "source.recovered"
            data = {"since": iso_utc(since), "recovered_at": iso_utc(now)}
        else:
            return None
        url = getattr(feed.source, "url", None)
        key = f"{feed.id}\n{event}\n{data['since']}"
        notice = Notice(
            id="notice_" + hashlib.sha256(key.encode()).hexdigest()[:32],
            event=event,
            source=feed.id,
            created_at=now,
            data={"source": feed.id, "url": url, **data},
        )
        operators = [
            n.name for n in self.settings.notifiers
            if n.operator and n.name in self.deliverer.notifiers
        ]  # fmt: skip
        deliveries = [
            NewDelivery(delivery_id(notice.id, name), notice.id, name) for name in operators
        ]
        self.store.add_notice(notice, deliveries, now, failing=event == "source.failing")
        log.warning(
            "notice event=%s feed=%s since=%s notifiers=%s",
            event, feed.id, data["since"], ",".join(operators) or "-",
        )  # fmt: skip
        return event

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
            return list(await asyncio.gather(*(self._poll_contained(row) for row in rows)))
        finally:
            await fetcher.aclose()
            self.fetcher = None
            self.stop_workers()

    async def _poll_contained(self, row: SourceHealth) -> FeedReport:
        """One feed's failure, whatever it is, is that feed's: the others go on."""
        try:
            return await self.poll_feed(row)
        except Exception as e:  # containment point (one per source poll)
            log.exception("poll crashed feed=%s", row.id)
            return FeedReport(row.id, Outcome.FAILED, None, f"{type(e).__name__}: {e}")

    def _log_skipped_feeds(self) -> None:
        now = self.clock()
        for row in self.store.list_sources():
            if row.kind != "feed" or row.id not in {f.id for f in self.feeds}:
                continue
            if not row.active:
                log.warning("skipped feed=%s reason=%r", row.id, row.disabled_reason)
            elif row.hold_until and row.hold_until > now:
                log.warning(
                    "skipped feed=%s reason=%r until=%s",
                    row.id,
                    "Retry-After in force",
                    row.hold_until.isoformat(timespec="seconds"),
                )

    def prune(self) -> PruneReport:
        """Housekeeping by `[retention]` (the daemon's daily job)."""
        return prune(self.store, self.settings.retention, self.clock())

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
    metrics = Metrics()
    pipeline = Pipeline(
        store, Matcher(settings.watchlist), list(notifiers), metrics, tags=settings.source_tags
    )
    digests = {n.name: n.digest for n in settings.notifiers if n.digest is not None}
    deliverer = Deliverer(
        store, notifiers, settings.delivery, digests=digests, owner=default_owner(),
        metrics=metrics,
    )  # fmt: skip
    return App(settings, store, pipeline, deliverer, now, instance=instance, metrics=metrics)


async def _await(result: Any) -> Any:
    return await result
