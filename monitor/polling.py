"""The one lifecycle of every source, built-in or plugin:

    claim (lease) → poll → extract (worker processes) → ingest → record state and health

`claim` leases due rows of the sources table (any type; this instance's and unowned ones);
`poll` calls `Source.poll(state, now)`; the pipeline stores articles and alerts; `decider`
turns the outcome into the next poll time, backoff and health notice, which are recorded
with the new state in the same transaction as the articles (group commit: one transaction
carries the polls that finished together, `monitor.groupcommit`), so a crash repeats the
poll instead of losing items. Polls of one source never overlap in this process, and a
push-triggered poll (a folder's inotify event) never waits for a lease this process holds.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from monitor.config import SourceSettings
from monitor.decider import Schedule, alert_window, decide
from monitor.errors import StoreError
from monitor.groupcommit import GroupCommit
from monitor.leases import dead_local_owners
from monitor.metrics import Metrics
from monitor.models import Outcome, Poll, SourceHealth
from monitor.pipeline import IngestReport, Pipeline, delivery_id
from monitor.store import NewDelivery, Store

log = logging.getLogger(__name__)

DEAD_OWNERS_EVERY = timedelta(seconds=10)


@dataclass
class PollReport:
    """One source poll: what the source said and what the pipeline did with it."""

    source: str
    outcome: Outcome
    status: int | None = None
    error: str | None = None
    ingest: IngestReport = field(default_factory=IngestReport)
    notice: str | None = None  # the operator notice this poll queued, if any

    @property
    def failed(self) -> bool:
        return self.outcome in (Outcome.FAILED, Outcome.GONE)


@dataclass(frozen=True)
class Lifecycle:
    """What the lifecycle needs from the config; replaced whole on reload."""

    sources: Mapping[str, SourceSettings]
    operators: tuple[str, ...] = ()  # notifiers that receive source.failing / recovered
    max_backoff: timedelta = timedelta(hours=6)
    lease: timedelta = timedelta(minutes=2)


class SourcePoller:
    """Drives the lifecycle for the sources this instance may poll."""

    def __init__(
        self,
        store: Store,
        pipeline: Pipeline,
        lifecycle: Lifecycle,
        *,
        owner: str,
        instance: str,
        clock: Callable[[], datetime],
        rng: random.Random | None = None,
        metrics: Metrics | None = None,
        resolve: Callable[[SourceHealth], SourceSettings | None] | None = None,
    ) -> None:
        self.store = store
        self.pipeline = pipeline
        self.lifecycle = lifecycle
        self.owner = owner
        self.instance = instance
        self.clock = clock
        self.rng = rng or random.Random()
        self.metrics = metrics or pipeline.metrics
        # Sources the lifecycle does not list (feeds kept in the database, added while this
        # process runs): the app builds their settings from the claimed row (`settings_for`).
        self.resolve = resolve
        self._polling: dict[str, asyncio.Lock] = {}
        self.writer = GroupCommit(store)
        self._dead: list[str] = []
        self._dead_checked: datetime | None = None

    # --- claim ---------------------------------------------------------------------------

    def claim(
        self,
        *,
        limit: int,
        ignore_schedule: bool = False,
        ids: Sequence[str] | None = None,
        own_leases: bool = False,
        check_dead: bool = False,
    ) -> list[SourceHealth]:
        """Lease due sources (blocking: run it in a thread). `own_leases`: leases this
        process holds count as free (a push poll; polls of one source are serialized here).
        Leases of dead processes on this host are free too (a restart after kill -9 takes
        their sources at once instead of waiting for the leases to expire)."""
        now = self.clock()
        dead = self._dead_owners(now, refresh=check_dead)
        return self.store.claim_sources(
            None,
            self.owner,
            now,
            self.lifecycle.lease,
            limit=limit,
            ids=ids,
            ignore_schedule=ignore_schedule,
            dead_owners=[*dead, self.owner] if own_leases else dead,
            instance=self.instance,
        )

    def _dead_owners(self, now: datetime, *, refresh: bool) -> list[str]:
        """Dead local lease owners, looked up at most every DEAD_OWNERS_EVERY (a tick a
        second must not scan the leases each time), and always when asked (`run --once`)."""
        if refresh or self._dead_checked is None or now - self._dead_checked > DEAD_OWNERS_EVERY:
            self._dead = sorted(dead_local_owners(self.store.lease_owners(now)))
            self._dead_checked = now
        return self._dead

    # --- poll → ingest → record ------------------------------------------------------------

    async def poll(self, row: SourceHealth) -> PollReport:
        """Poll one claimed source; any failure is this source's alone (containment point)."""
        try:
            return await self._poll(row)
        except StoreError:
            raise  # the database, not this source: the caller's one-line fault handling
        except Exception as e:  # containment point (one per source poll)
            log.exception("poll crashed source=%s", row.id)
            return PollReport(row.id, Outcome.FAILED, None, f"{type(e).__name__}: {e}")

    async def poll_now(self, source_id: str) -> PollReport | None:
        """A push notice (a file closed in a watched folder): poll at once, after any poll of
        the same source in progress here. None: another process holds the source's lease
        (its poll lists the folder too)."""
        async with self._lock(source_id):
            settings = self.lifecycle.sources.get(source_id)
            sync = settings is not None and not inspect.iscoroutinefunction(settings.source.poll)
            # A plain-def source is claimed and polled in one trip to a worker thread: a
            # push is about latency, and each trip costs a wake-up of the loop.
            claimed = await asyncio.to_thread(self._claim_one, source_id, sync)
            if claimed is None:
                log.debug("push poll skipped source=%s reason=%r", source_id, "leased elsewhere")
                return None
            return await self.poll_locked(*claimed)

    def _claim_one(self, source_id: str, poll: bool) -> tuple[SourceHealth, Poll | None] | None:
        rows = self.claim(limit=1, ignore_schedule=True, ids=[source_id], own_leases=True)
        if not rows:
            return None
        settings = self.lifecycle.sources.get(source_id)
        if not poll or settings is None:
            return rows[0], None
        return rows[0], _poll_sync(settings.source.poll, rows[0].state, self.clock())

    async def run_all(self, extra: int = 0, in_flight: int | None = None) -> list[PollReport]:
        """`run --once`: every active source of this instance, whatever its schedule (not
        a disabled one, nor one under a Retry-After still in force); `extra`: how many more
        than the lifecycle lists (database feeds). A database failure ends the run
        (`StoreError`).

        `in_flight`: at most this many polls between their fetch and their write, as in the
        daemon. Unbounded, fetching outran the parse workers and every fetched body waited
        in memory: 550 MiB for 10,000 feeds of 31 KiB, none of it faster."""
        rows = await asyncio.to_thread(
            self.claim,
            limit=max(len(self.lifecycle.sources) + extra, 1),
            ignore_schedule=True,
            check_dead=True,
        )
        gate = asyncio.Semaphore(in_flight or max(len(rows), 1))

        async def poll(row: SourceHealth) -> PollReport:
            async with gate:
                return await self.poll(row)

        return list(await asyncio.gather(*(poll(row) for row in rows)))

    async def _poll(self, row: SourceHealth) -> PollReport:
        lock = self._lock(row.id)
        if lock.locked():  # a push poll is reading this source: use the state it leaves
            async with lock:
                fresh = await asyncio.to_thread(self.store.load_state, row.id)
                return await self.poll_locked(_with_state(row, fresh))
        async with lock:
            return await self.poll_locked(row)

    async def poll_locked(self, row: SourceHealth, polled: Poll | None = None) -> PollReport:
        """Poll (unless `polled` is the poll already made), ingest, record."""
        settings = self.settings_for(row)
        if settings is None:  # removed from the config since it was claimed
            return PollReport(row.id, Outcome.NOT_MODIFIED)
        started = time.monotonic()
        now = self.clock()
        source = settings.source
        if polled is not None:
            poll = polled
        elif inspect.iscoroutinefunction(source.poll):
            poll = await source.poll(row.state, now)
        else:
            poll = await asyncio.to_thread(_poll_sync, source.poll, row.state, now)
        report = PollReport(row.id, poll.outcome, poll.status, poll.reason)
        self.metrics.poll(row.id, poll.outcome.value)
        if report.failed:
            self.metrics.fetch_error(row.id)
        extracted = None
        if poll.outcome is Outcome.OK and poll.items:
            if isinstance(poll.prepared, list) and len(poll.prepared) == len(poll.items):
                extracted = poll.prepared  # the worker that parsed them prepared them
            else:
                extracted = await self.pipeline.extract_in_workers(poll.items)

        def write() -> tuple[IngestReport, str | None]:
            """Articles first, then the source's new state, in one (shared) transaction."""
            ingest = IngestReport()
            if poll.outcome is Outcome.OK and poll.items:
                silent, after = alert_window(settings.first_poll, settings.max_age, row, now)
                ingest = self.pipeline.ingest_items(
                    poll.items, now, silent=silent, alert_after=after, extracted=extracted
                )
            return ingest, self._record(settings, row, poll, now)

        report.ingest, report.notice = await self.writer.write(write)
        _log_poll(settings, poll, report, (time.monotonic() - started) * 1000)
        return report

    def _record(
        self, settings: SourceSettings, row: SourceHealth, poll: Poll, now: datetime
    ) -> str | None:
        """Record the state and health the decider chose (after the articles: a crash
        before this repeats the poll); returns the notice event queued, if any."""
        schedule = Schedule(settings.interval, self.lifecycle.max_backoff, settings.broken_after)
        target = settings.source.target() or None
        decision = decide(row.id, target, poll, row, schedule, now, self.rng)
        if decision.disable_reason is not None:
            log.error(
                "source disabled source=%s reason=%r hint=%r",
                row.id, decision.disable_reason, f"monitor feeds enable {row.id}",
            )  # fmt: skip
        self.store.finish_poll(
            row.id,
            self.owner,
            now,
            state=poll.state,
            result=poll.outcome.value,
            error=decision.error,
            next_poll_at=decision.next_poll_at,
            hold_until=decision.hold_until,
            disable_reason=decision.disable_reason,
        )
        notice = decision.notice
        if notice is None:
            return None
        operators = self.lifecycle.operators
        deliveries = [NewDelivery(delivery_id(notice.id, n), notice.id, n) for n in operators]
        self.store.add_notice(notice, deliveries, now, failing=notice.event == "source.failing")
        log.warning(
            "notice event=%s source=%s since=%s notifiers=%s",
            notice.event, row.id, notice.data["since"], ",".join(operators) or "-",
        )  # fmt: skip
        return notice.event

    def settings_for(self, row: SourceHealth) -> SourceSettings | None:
        """A claimed row's settings: the lifecycle's, else what `resolve` builds from the row
        (a database feed); None: neither knows it."""
        settings = self.lifecycle.sources.get(row.id)
        if settings is None and self.resolve is not None:
            settings = self.resolve(row)
        return settings

    def _lock(self, source_id: str) -> asyncio.Lock:
        lock = self._polling.get(source_id)
        if lock is None:
            lock = self._polling[source_id] = asyncio.Lock()
        return lock

    def forget(self, keep: Collection[str]) -> None:
        """Drop the locks of sources gone from the config (reload)."""
        for source_id in [s for s in self._polling if s not in keep]:
            if not self._polling[source_id].locked():
                del self._polling[source_id]


def _poll_sync(poll: Callable[[Any, datetime], Any], state: Any, now: datetime) -> Poll:
    result = poll(state, now)
    if inspect.isawaitable(result):  # a plain def that returns an awaitable
        return asyncio.run(_await(result))
    assert isinstance(result, Poll), f"Source.poll returned {type(result).__name__}, not Poll"
    return result


async def _await(result: Any) -> Poll:
    value = await result
    assert isinstance(value, Poll)
    return value


def _with_state(row: SourceHealth, state: Any) -> SourceHealth:
    return replace(row, state=state)


def _poll_level(report: PollReport) -> int:
    """WARNING for a failure, INFO for a poll that changed something, DEBUG for one that found
    nothing new (a 304, or the same items again). Those are nearly every poll of a large
    config: at 10,000 feeds every 5 minutes, 33 lines a second that say nothing, a twentieth of
    the CPU of a 304 poll, and at 100,000 feeds more than journald's default rate limit
    (10,000 messages per 30 s) lets through, so it would drop the lines that matter."""
    if report.failed:
        return logging.WARNING
    ingest = report.ingest
    if ingest.new or ingest.updated or ingest.skipped or ingest.alerts or report.notice:
        return logging.INFO
    return logging.DEBUG


def _log_poll(settings: SourceSettings, poll: Poll, report: PollReport, ms: float) -> None:
    log.log(
        _poll_level(report),
        "polled source=%s type=%s status=%s result=%s new=%d updated=%d unchanged=%d "
        "skipped=%d alerts=%d ms=%d%s",
        settings.id,
        settings.type,
        poll.status or "-",
        poll.outcome.value,
        report.ingest.new,
        report.ingest.updated,
        report.ingest.duplicates,
        report.ingest.skipped,
        report.ingest.alerts,
        ms,
        f" reason={poll.reason!r}" if poll.reason else "",
    )
    if poll.moved_to:
        log.warning(
            "source moved permanently source=%s url=%s hint=%r",
            settings.id, poll.moved_to, "update url in the config",
        )  # fmt: skip
