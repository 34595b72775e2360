"""Composition root: builds store, sources, notifiers, pipeline, delivery and the source
lifecycle from settings, and swaps them on reload. Decides nothing itself.

Sources come from two places: the config's tables (`settings.sources`, in the lifecycle) and
the feeds kept in the database (`monitor feeds add`), whose settings are built from their
rows when claimed (`resolve`), so a running daemon polls a feed added at the next tick.

The only module that knows every class, and (with `daemon`) the only one that reads the real
clock: everything below receives `now`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor.config import (
    DedupeSettings,
    FeedSettings,
    FetchSettings,
    FolderSettings,
    Settings,
    SourceSettings,
    load_database_feed,
)
from monitor.delivery import Deliverer, DeliveryReport
from monitor.errors import ConfigError, MonitorError, Problem
from monitor.housekeeping import PruneReport, backfill, prune
from monitor.leases import default_owner
from monitor.match import Matcher
from monitor.metrics import Metrics
from monitor.models import SourceHealth
from monitor.pipeline import IngestReport, Pipeline
from monitor.plugins import Notifier, SourceResources
from monitor.polling import Lifecycle, PollReport, SourcePoller
from monitor.sources.http import USER_AGENT, Fetcher, FetchLimits
from monitor.store import Store
from monitor.workers import WorkerPool

log = logging.getLogger(__name__)

DELIVER_WHILE_POLLING = 0.5  # seconds between delivery passes while `run --once` polls


def fetch_limits(fetch: FetchSettings) -> FetchLimits:
    """`[fetch]` as the fetcher's limits: the daemon's feeds, and a URL the web page explains."""
    return FetchLimits(
        connect_timeout=fetch.connect_timeout.total_seconds(),
        read_timeout=fetch.read_timeout.total_seconds(),
        deadline=fetch.deadline.total_seconds(),
        max_body=fetch.max_body,
        max_redirects=fetch.max_redirects,
        concurrency=fetch.concurrency,
        per_host=fetch.per_host,
        user_agent=fetch.user_agent or USER_AGENT,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


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
        sources: Sequence[SourceSettings] | None = None,
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
        self.fetcher: Fetcher | None = None
        self.executor: WorkerPool | None = None
        self._injected = tuple(sources) if sources is not None else None
        # Database feeds built so far: id → (their options as canonical JSON, settings).
        self._database: dict[str, tuple[str, SourceSettings]] = {}
        self.poller = SourcePoller(
            store,
            pipeline,
            self._lifecycle(),
            owner=self.owner,
            instance=self.instance,
            clock=clock,
            rng=rng,
            metrics=self.metrics,
            resolve=self.resolve,
        )

    @property
    def all_sources(self) -> tuple[SourceSettings, ...]:
        """Every configured source, this instance's or not (the sources table holds all)."""
        return self._injected if self._injected is not None else self.settings.sources

    @property
    def sources(self) -> tuple[SourceSettings, ...]:
        """The sources this instance polls: those without `instance`, and its own."""
        return tuple(
            s for s in self.all_sources if s.instance is None or s.instance == self.instance
        )

    @property
    def folders(self) -> tuple[FolderSettings, ...]:
        return tuple(s for s in self.sources if s.type == "folder")

    @property
    def feeds(self) -> tuple[FeedSettings, ...]:
        return tuple(s for s in self.sources if s.type == "feed")

    @property
    def database_feeds(self) -> tuple[SourceSettings, ...]:
        """The database feeds built so far (`refresh_database_sources`, `resolve`)."""
        return tuple(settings for _, settings in self._database.values())

    @property
    def lease(self) -> timedelta:
        """Long enough for any poll to finish; a dead instance's sources are free after it."""
        return self.settings.fetch.deadline + timedelta(seconds=60)

    def _lifecycle(self) -> Lifecycle:
        operators = tuple(
            n.name for n in self.settings.notifiers
            if n.operator and n.name in self.deliverer.notifiers
        )  # fmt: skip
        return Lifecycle(
            sources={s.id: s for s in self.sources},
            operators=operators,
            max_backoff=self.settings.defaults.max_backoff,
            lease=self.lease,
        )

    def start(self) -> None:
        """Apply pending migrations (under the store's lock), then align sources with config.
        `ConfigError` if an id is both a table of the config and a database feed."""
        self.store.upgrade()
        conflicts = self._sync_sources()
        if conflicts:
            raise ConfigError([_conflict(self.settings, source_id) for source_id in conflicts])
        self.refresh_database_sources()

    def _sync_sources(self) -> list[str]:
        """The config's rows follow the config; returns the ids that are database feeds
        too (then nothing was written)."""
        configured = [(s.id, s.type, s.source.target(), s.instance) for s in self.all_sources]
        return self.store.sync_sources(configured, self.clock())

    # --- database feeds ----------------------------------------------------------------------

    def resolve(self, row: SourceHealth) -> SourceSettings | None:
        """The settings of a claimed database feed, built from its row's options (and the
        config's `[defaults]`), once per (id, options): `SourcePoller`'s hook for ids its
        lifecycle does not list. None for any other row (a config source gone since)."""
        if row.origin != "database" or row.options is None:
            return None
        key = json.dumps(row.options, sort_keys=True)
        cached = self._database.get(row.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            settings = load_database_feed(
                row.id,
                row.options,
                self.settings.defaults.poll_interval,
                self.settings.defaults.broken_after,
            )
        except ConfigError as e:  # stored by an older monitor, or edited by hand
            log.error("database feed invalid source=%s problem=%r", row.id, str(e.problems[0]))
            return None
        settings.source.use(self._resources(self.fetcher))
        self._database[row.id] = (key, settings)
        if settings.tags:
            self.pipeline.tags[row.id] = settings.tags
        else:
            self.pipeline.tags.pop(row.id, None)
        return settings

    def refresh_database_sources(self) -> None:
        """Build every database feed now (their tags reach the pipeline before any poll, and
        `replay` sees them); forget those removed."""
        rows = [r for r in self.store.database_sources() if r.id not in self._config_ids]
        for source_id in set(self._database) - {r.id for r in rows}:
            del self._database[source_id]
            self.pipeline.tags.pop(source_id, None)
        for row in rows:
            self.resolve(row)

    @property
    def _config_ids(self) -> set[str]:
        return {s.id for s in self.all_sources}

    def reconfigure(self, settings: Settings) -> None:
        """Swap in a validated new config: watchlist first (atomic), then sources and notifiers
        (the old notifiers are closed once the delivery pass using them ends)."""
        if settings.http.listen != self.settings.http.listen:
            # The socket is bound once; the rest of [http] follows the reload (monitor.web).
            log.warning(
                "reload restart needed key=[http].listen value=%r: takes effect at restart "
                "(serving %r until then)", settings.http.listen, self.settings.http.listen,
            )  # fmt: skip
        self.pipeline.set_watchlist(settings.watchlist)
        notifiers = {n.name: n.notifier for n in settings.notifiers}
        digests = {n.name: n.digest for n in settings.notifiers if n.digest is not None}
        self.pipeline.notifiers = tuple(notifiers)
        self.pipeline.tags = settings.source_tags
        self.pipeline.near = near_settings(settings)
        self.deliverer.replace_notifiers(notifiers, digests)
        self.settings = settings
        self.poller.lifecycle = self._lifecycle()
        self.poller.forget(self.poller.lifecycle.sources)
        self._database.clear()  # built with the old [defaults]
        if self.fetcher is not None:
            self.use_fetcher(self.fetcher)
        conflicts = self._sync_sources()
        for source_id in conflicts:  # a `feeds add` since the config was checked
            log.error("source in both places source=%s problem=%r",
                      source_id, str(_conflict(settings, source_id)))  # fmt: skip
        self.refresh_database_sources()

    # --- shared resources ------------------------------------------------------------------

    def use_fetcher(self, fetcher: Fetcher | None) -> None:
        """Share one HTTP client (and its concurrency limits) between all sources, and the
        worker processes (started when a source wants them, so a folder-only config never
        starts them)."""
        self.fetcher = fetcher
        wants_pool = any(s.source.parses_in_workers for s in (*self.sources, *self.database_feeds))
        if self.executor is None and wants_pool and self.settings.fetch.workers != 1:
            workers = self.settings.fetch.workers or min(os.cpu_count() or 1, 4)
            idle = self.settings.fetch.workers_idle.total_seconds()
            self.executor = WorkerPool(workers, idle)
        self.pipeline.executor = self.executor
        resources = self._resources(fetcher)
        for settings in (*self.sources, *self.database_feeds):
            settings.source.use(resources)

    def _resources(self, fetcher: Fetcher | None) -> SourceResources:
        """With worker processes, sources may prepare their items where they parse them."""
        return SourceResources(
            fetcher=fetcher, executor=self.executor, preparer=self.pipeline.worker_preparer
        )

    def stop_workers(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None
            self.pipeline.executor = None

    @property
    def polls_in_flight(self) -> int:
        """How many polls may be between their claim and their write at once, in the daemon
        and in `run --once`: twice the fetch concurrency, so the parse workers and the writer
        always have the next feed waiting while fetched bodies held in memory stay bounded."""
        return self.settings.fetch.concurrency * 2

    def make_fetcher(self) -> Fetcher:
        return Fetcher(fetch_limits(self.settings.fetch))

    # --- one-shot runs -------------------------------------------------------------------

    def deliver(self, *, retry_now: bool = False) -> DeliveryReport:
        return self.deliverer.deliver_due(self.clock(), retry_now=retry_now)

    def run_once(self, *, retry_now: bool = False) -> RunReport:
        """Poll every active source once, then deliver what is due.

        Sources are polled whatever their schedule or backoff, but not when disabled (410) or
        under a Retry-After still in force; leases make this safe beside a running daemon.
        """
        report = RunReport()
        self.refresh_database_sources()
        if self.sources or self._database:
            with self._delivering_meanwhile(report.delivery):
                polls = asyncio.run(self._poll_all())
            for poll in polls:
                report.ingest.add(poll.ingest)
                if poll.failed:
                    log.error("poll failed source=%s reason=%r", poll.source, poll.error)
                    report.failed_sources.append(poll.source)
            self._log_skipped_sources()
        report.delivery.add(self.deliver(retry_now=retry_now))
        return report

    @contextmanager
    def _delivering_meanwhile(self, total: DeliveryReport) -> Iterator[None]:
        """Deliver what the polls queue while they run, a pass every DELIVER_WHILE_POLLING
        seconds in a thread, as the daemon does: a first run's thousands of alerts then go
        out while the parse workers and the writer work, not all after the last poll (they
        were a fifth of a first run). Never `retry_now`: that is the last pass's, so a failing
        notifier is not retried at every pass. The last pass after the polls stays: it sends
        what the last polls queued, and a store error here is left for it to report."""
        stop = threading.Event()

        def deliver_until_stopped() -> None:
            while not stop.wait(DELIVER_WHILE_POLLING):
                try:
                    total.add(self.deliver())
                except MonitorError as e:
                    log.warning("delivery during the polls stopped reason=%r", str(e))
                    return

        thread = threading.Thread(target=deliver_until_stopped, name="deliver", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    async def _poll_all(self) -> list[PollReport]:
        fetcher = self.make_fetcher()
        self.use_fetcher(fetcher)
        try:
            return await self.poller.run_all(
                extra=len(self._database), in_flight=self.polls_in_flight
            )
        finally:
            await fetcher.aclose()
            self.use_fetcher(None)
            self.stop_workers()

    def _log_skipped_sources(self) -> None:
        now = self.clock()
        mine = {s.id for s in self.sources} | set(self._database)
        for row in self.store.list_sources(skipped_at=now):
            if row.id not in mine:
                continue
            if not row.active:
                log.warning("skipped source=%s reason=%r", row.id, row.disabled_reason)
            elif row.hold_until and row.hold_until > now:
                log.warning(
                    "skipped source=%s reason=%r until=%s",
                    row.id,
                    "Retry-After in force",
                    row.hold_until.isoformat(timespec="seconds"),
                )

    def backfill(self, batches: int | None = None) -> int:
        """Near-duplicate signatures of articles stored before the upgrade (the daemon's
        background job, `batches` at a time); 0: nothing (left) to do."""
        if self.pipeline.near is None:
            return 0
        return backfill(self.store, self.pipeline.near, self.clock(), batches=batches)

    def prune(self) -> PruneReport:
        """Housekeeping by `[retention]` and the near-duplicate window (the daemon's daily
        job)."""
        near = self.pipeline.near
        window = near.window if near is not None else None
        return prune(self.store, self.settings.retention, self.clock(), near_window=window)

    def close(self) -> None:
        self.deliverer.close()
        self.store.close()


def _conflict(settings: Settings, source_id: str) -> Problem:
    """An id defined both in the config and in the database: one problem naming both."""
    return Problem(
        str(settings.path),
        "",
        f"source id {source_id!r} is defined both in this file and in the database (monitor "
        f"feeds add): delete its table here, or run `monitor feeds remove {source_id}`",
    )


def near_settings(settings: Settings) -> DedupeSettings | None:
    """The pipeline's near-duplicate settings: None when `[dedupe] near = false`."""
    return settings.dedupe if settings.dedupe.near else None


def make_app(
    settings: Settings,
    *,
    now: Callable[[], datetime] = utc_now,
    notifiers: Mapping[str, Notifier] | None = None,
    store: Store | None = None,
    instance: str | None = None,
    sources: Sequence[SourceSettings] | None = None,
    rng: random.Random | None = None,
) -> App:
    """Build an `App`; tests pass their own clock, notifiers, store or sources (a
    `FakeSource` in a `SourceSettings`: then the config's sources are not used)."""
    if notifiers is None:
        notifiers = {n.name: n.notifier for n in settings.notifiers}
    store = store or Store.open(settings.database)
    metrics = Metrics()
    tags = dict(settings.source_tags)
    if sources is not None:
        tags = {s.id: s.tags for s in sources if s.tags}
    pipeline = Pipeline(
        store, Matcher(settings.watchlist), list(notifiers), metrics, tags=tags,
        near=near_settings(settings),
    )  # fmt: skip
    digests = {n.name: n.digest for n in settings.notifiers if n.digest is not None}
    deliverer = Deliverer(
        store, notifiers, settings.delivery, digests=digests, owner=default_owner(),
        metrics=metrics,
    )  # fmt: skip
    return App(
        settings, store, pipeline, deliverer, now,
        instance=instance, metrics=metrics, sources=sources, rng=rng,
    )  # fmt: skip
