"""The long-running process: APScheduler ticks over a schedule that lives in the database.

    sources tick (1 s)    claim due sources of every type (leases) up to the concurrency
                          budget, poll each through the one lifecycle (`monitor.polling`);
                          a folder's scan on its interval is the safety net for missed events
    push notices          a source's `watch()` (a folder's inotify: a file closed after
                          writing or moved in) triggers a poll of that source at once
    config files          watched too: a save (in place or by rename) reloads like SIGHUP
    delivery loop         woken at once when new alerts are stored, else every second
    housekeeping (daily)  `[retention]`: blank old article texts, delete old sent deliveries
    backfill (5 s)        after READY, until done: near-duplicate signatures of articles
                          stored before the upgrade (one batch of 200 at a time)
    SIGHUP                reload config + watchlist: validate first, keep the old on error
    SIGTERM / SIGINT      stop taking work, let in-flight work finish for `shutdown_timeout`,
                          then abandon it (leases expire, deliveries stay pending), exit 0
    sd_notify             READY=1 once everything above runs; STATUS= every few seconds;
                          WATCHDOG=1 only while ticks run AND the database answers
    [http] listen         the web page and API (`monitor.web`), /healthz (the same two
                          signals) and /metrics, served by uvicorn on this loop

Signal handlers only set flags or start tasks; no work happens inside them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.app import App
from monitor.config import Settings
from monitor.errors import ConfigError, MonitorError, SourceError
from monitor.heap import building_heap
from monitor.metrics import Health
from monitor.models import SourceHealth
from monitor.plugins import Source
from monitor.polling import PollReport
from monitor.systemd import SystemdNotifier, WatchdogGate

if TYPE_CHECKING:
    from monitor.web import WebServer

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
CATCH_UP_AGAIN = 2.0  # s after a watch starts: files that were still settling then
CLAIM_WITHIN_TICK = 0.8  # share of a tick in which claims follow finished polls
CLAIM_GATHER = 0.005  # s: let a few more polls finish before the next claim
RELOAD_DEBOUNCE = 0.3  # editors write several times per save: wait for this much quiet
RELOAD_MAX_WAIT = 5.0  # …but a file rewritten without pause still reloads this often
HOUSEKEEPING_EVERY = timedelta(days=1)
HOUSEKEEPING_DELAY = timedelta(minutes=1)  # the first run: after start-up, not during it
BACKFILL_EVERY = 5  # seconds between two batches of the near-duplicate backfill
DB_PING_SECONDS = 10.0  # /healthz wants a ping that succeeded within the last 30 s


class Daemon:
    def __init__(self, app: App, reload_config: Callable[[], Settings] | None = None) -> None:
        self.app = app
        self.reload_config = reload_config
        self.stopping = asyncio.Event()
        self.wake_delivery = asyncio.Event()
        self.in_flight: set[asyncio.Task[object]] = set()
        self.polls: set[asyncio.Task[object]] = set()  # scheduled polls in flight
        self.scheduler: AsyncIOScheduler | None = None
        self.reload_result = "not reloaded"
        self.reload_lock = asyncio.Lock()
        self.watchers: dict[str, asyncio.Task[None]] = {}
        self.watched: dict[str, Source] = {}  # the source instance each watch serves
        self.database = DatabaseFaults()
        self.systemd = SystemdNotifier()
        self.watchdog = WatchdogGate(self.systemd)
        self.health = Health(TICK_SECONDS)
        self.http: WebServer | None = None  # [http] listen: the web page, API, health

    def run(self) -> int:
        """Run until SIGINT or SIGTERM; returns the exit status."""
        return asyncio.run(self.main())

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        fetcher = None
        try:
            with building_heap():
                await asyncio.to_thread(self.app.start)
            await asyncio.to_thread(
                self.app.store.record_instance, self.app.instance, self.app.clock(), started=True
            )
            self.health.db_ok()  # the migrations just ran: the database answers
            if self.app.settings.http.listen:
                # Imported only when served: a daemon without a page loads no web stack.
                from monitor.web import Web, WebServer

                self.http = WebServer(
                    Web(
                        self.app, self.health, reload=self.reload,
                        reload_result=lambda: self.reload_result,
                    )
                )  # fmt: skip
                await self.http.start()
            fetcher = self.app.make_fetcher()
            self.app.use_fetcher(fetcher)
            self.scheduler = AsyncIOScheduler(event_loop=loop, timezone=UTC)
            self.scheduler.add_job(
                self.sources_tick, "interval", seconds=TICK_SECONDS, id="sources",
                max_instances=1, coalesce=True, next_run_time=datetime.now(UTC),
            )  # fmt: skip
            self._watch_sources()
            self.scheduler.add_job(self.report_status, "interval", seconds=5, id="status",
                                   max_instances=1, coalesce=True)  # fmt: skip
            self.scheduler.add_job(self.db_ping, "interval", seconds=DB_PING_SECONDS,
                                   id="db_ping", max_instances=1, coalesce=True)  # fmt: skip
            self.scheduler.add_job(
                self.housekeeping, "interval", seconds=HOUSEKEEPING_EVERY.total_seconds(),
                id="housekeeping", max_instances=1, coalesce=True,
                next_run_time=datetime.now(UTC) + HOUSEKEEPING_DELAY,
            )  # fmt: skip
            # After READY: signatures of articles stored before near-duplicate detection,
            # one short batch every few seconds until none is left.
            self.scheduler.add_job(
                self.backfill, "interval", seconds=BACKFILL_EVERY, id="backfill",
                max_instances=1, coalesce=True,
                next_run_time=datetime.now(UTC) + timedelta(seconds=BACKFILL_EVERY),
            )  # fmt: skip
            if self.watchdog.interval:
                self.scheduler.add_job(
                    self.watchdog_check, "interval", seconds=self.watchdog.interval,
                    id="watchdog", max_instances=1, coalesce=True,
                )  # fmt: skip
            self.scheduler.start()
            delivery = asyncio.create_task(self.delivery_loop())
            config_watch = asyncio.create_task(self.watch_config_files())
            self.systemd.ready(status=await self._status_line())
            log.info(
                "started instance=%s sources=%d feeds=%d folders=%d notifiers=%d topics=%d",
                self.app.instance, len(self.app.sources), len(self.app.feeds),
                len(self.app.folders),
                len(self.app.deliverer.notifiers), len(self.app.settings.watchlist.topics),
            )  # fmt: skip
            await self.stopping.wait()
            self.systemd.stopping()
            self.scheduler.shutdown(wait=False)
            if self.http is not None:
                self.http.stop()
            config_watch.cancel()
            for watcher in self.watchers.values():
                watcher.cancel()
            await self._drain(delivery)
            if self.http is not None:
                await self.http.wait()
            log.info("stopped instance=%s", self.app.instance)
            return 0
        finally:
            if self.http is not None:  # a start-up that failed after the page came up
                self.http.stop()
                await self.http.wait()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if fetcher is not None:
                await fetcher.aclose()
            self.app.stop_workers()
            self.app.close()

    # --- signals ---------------------------------------------------------------------------

    def request_stop(self, signum: int) -> None:
        if not self.stopping.is_set():
            log.info("stopping signal=%s", signal.Signals(signum).name)
        self.stopping.set()
        self.wake_delivery.set()

    def request_reload(self) -> None:
        task = asyncio.get_running_loop().create_task(self.reload())
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def reload(self) -> bool:
        """Validate the files first; an invalid edit keeps the running config (and says why).
        One at a time: a save from the web editor reloads, and so does the file watch."""
        if self.reload_config is None:
            return False
        async with self.reload_lock:
            return await self._reload()

    async def _reload(self) -> bool:
        assert self.reload_config is not None
        self.systemd.reloading()
        try:
            with building_heap():
                settings = await asyncio.to_thread(self.reload_config)
                await asyncio.to_thread(self.app.reconfigure, settings)
                self._watch_sources()
        except ConfigError as e:
            # The first line only: a query error adds the query and a caret below it.
            self.reload_result = f"rejected: {str(e.problems[0]).splitlines()[0]}" + (
                f" (+{len(e.problems) - 1} more)" if len(e.problems) > 1 else ""
            )
            self.app.metrics.reloaded(False)
            for problem in e.problems:
                log.error("reload rejected problem=%r", str(problem))
            await self._record_reload()
            self.systemd.ready(status=f"reload rejected; {await self._status_line()}")
            return False
        self.reload_result = "ok"
        self.app.metrics.reloaded(True)
        await self._record_reload()
        log.info(
            "reloaded sources=%d feeds=%d folders=%d topics=%d",
            len(settings.sources), len(settings.feeds), len(settings.folders),
            len(settings.watchlist.topics),
        )  # fmt: skip
        self.systemd.ready(status=await self._status_line())
        return True

    # --- health --------------------------------------------------------------------------

    async def _status_line(self) -> str:
        counts = await asyncio.to_thread(self.app.store.delivery_counts)
        self.app.metrics.queue(counts.get("pending", 0), counts.get("dead", 0))
        return (
            f"sources={len(self.app.sources)} "
            f"pending={counts.get('pending', 0)} dead={counts.get('dead', 0)} "
            f"in_flight={len(self.in_flight)}"
        )

    async def _record_reload(self) -> None:
        try:
            await asyncio.to_thread(
                self.app.store.record_instance, self.app.instance, self.app.clock(),
                reload_result=self.reload_result,
            )  # fmt: skip
        except MonitorError as e:
            log.warning("status failed reason=%r", str(e))

    async def report_status(self) -> None:
        if self.app.executor is not None:  # idle parse workers give their memory back
            self.app.executor.stop_if_idle()
        try:
            await asyncio.to_thread(
                self.app.store.record_instance, self.app.instance, self.app.clock()
            )
            self.systemd.status(await self._status_line())
        except MonitorError as e:
            self.database.failed("status", e)
        else:
            self.database.ok()

    async def watchdog_check(self) -> None:
        """WATCHDOG=1 only if the loop ticked and the database answered since the last ping."""
        if await self.db_ping():
            self.watchdog.db_ok()
        self.watchdog.maybe_ping()

    async def db_ping(self) -> bool:
        try:
            await asyncio.to_thread(self.app.store.ping)
        except MonitorError as e:
            self.database.failed("ping", e)
            self.health.db_failed(str(e))
            return False
        self.database.ok()
        self.health.db_ok()
        return True

    async def backfill(self) -> None:
        try:
            judged = await asyncio.to_thread(self.app.backfill, 1)
        except MonitorError as e:
            self.database.failed("backfill", e)
            return
        if judged == 0 and self.scheduler is not None:
            self.scheduler.remove_job("backfill")  # done (a reload does not add new work)

    async def housekeeping(self) -> None:
        try:
            await asyncio.to_thread(self.app.prune)
        except MonitorError as e:
            self.database.failed("prune", e)

    # --- work ----------------------------------------------------------------------------

    def _watch_sources(self) -> None:
        """A watch per push-capable source; a reload keeps the watches its sources can carry
        over (a new watch has a gap), and stops those of sources gone or changed."""
        current = {s.id: s.source for s in self.app.sources if s.source.pushes}
        for source_id in list(self.watchers):
            new = current.get(source_id)
            old = self.watched[source_id]
            if new is not None and (new is old or new.carry_over(old)):
                self.watched[source_id] = new
                continue
            self.watchers.pop(source_id).cancel()
            del self.watched[source_id]
        for source_id, source in current.items():
            if source_id not in self.watchers:
                self.watched[source_id] = source
                self.watchers[source_id] = asyncio.get_running_loop().create_task(
                    self.watch_source(source_id, source)
                )

    async def sources_tick(self) -> None:
        """Claim due sources up to the free concurrency budget and poll each in its own task;
        while every slot is busy and more are due, claim again as polls finish, for most of
        the tick: the poll rate is bounded by the concurrency and the polls' own speed, not
        by the tick (100,000 feeds due every 5 minutes need 333 polls a second)."""
        self.watchdog.progress()
        self.health.tick()
        capacity = self.app.polls_in_flight
        deadline = time.monotonic() + TICK_SECONDS * CLAIM_WITHIN_TICK
        # Even without configured sources: a feed added to the database is due at once.
        while not self.stopping.is_set():
            budget = capacity - len(self.polls)
            if budget > 0:
                try:
                    rows = await asyncio.to_thread(self.app.poller.claim, limit=budget)
                except MonitorError as e:
                    self.database.failed("claim", e)
                    return
                self.database.ok()
                for row in rows:
                    self._start(self._poll_claimed(row), poll=True)
                if len(rows) < budget:
                    return  # nothing more is due now
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.polls:
                return
            await asyncio.wait(
                set(self.polls), timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            await asyncio.sleep(CLAIM_GATHER)  # a few more finish: fewer, larger claims

    async def poll_now(self, source_id: str) -> None:
        """A push notice: poll the source at once (never waiting for a scheduled poll's
        lease held here; `SourcePoller.poll_now`)."""
        if not self.stopping.is_set():
            await self._poll(source_id, self.app.poller.poll_now(source_id))

    async def _poll_claimed(self, row: SourceHealth) -> None:
        """A scheduled poll of a claimed row: `poller.poll` is called in here, not by the
        tick, so a task cancelled before it began leaves no inner coroutine unstarted."""
        due = max(row.next_poll_at, row.hold_until) if row.hold_until else row.next_poll_at
        self.app.metrics.poll_started(due, self.app.clock())
        await self._poll(row.id, self.app.poller.poll(row))

    async def _poll(self, source_id: str, poll: Awaitable[PollReport | None]) -> None:
        try:
            report = await poll
        except MonitorError as e:  # the store failed; the lease expires and someone retries
            self.database.failed("poll", e, source=source_id)
            return
        except Exception:  # containment point (one per source poll): a bug never stops the rest
            log.exception("poll crashed source=%s", source_id)
            return
        self.database.ok()
        if report is not None and (report.ingest.alerts or report.notice):
            self.wake_delivery.set()

    def _start(
        self, work: Coroutine[Any, Any, None], delay: float = 0.0, *, poll: bool = False
    ) -> None:
        async def run() -> None:
            if delay:
                await asyncio.sleep(delay)
            await work

        task = asyncio.get_running_loop().create_task(run())
        # Cancelled before `work` began (during the delay, or before the task first ran: then
        # not even `run` starts): close it, or it is a coroutine never awaited. Closing one that
        # ran to its end does nothing.
        task.add_done_callback(lambda _task: work.close())
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)
        if poll:  # a scheduled poll: counts against the concurrency budget of the tick
            self.polls.add(task)
            task.add_done_callback(self.polls.discard)

    async def watch_source(self, source_id: str, source: Source) -> None:
        """Poll at once for each push notice of a source (a folder: inotify reports files
        closed after writing or moved in); sources without `watch()` are only scheduled."""
        try:
            events = source.watch()
        except SourceError as e:
            log.warning("events off source=%s reason=%r (rescans continue)", source_id, e.reason)
            return
        if events is None:
            return
        try:
            # What arrived while no watch was in place (start, a changed folder) has no event
            # to come: poll now, and again once what was still being written has settled.
            await self.poll_now(source_id)
            self._start(self.poll_now(source_id), delay=CATCH_UP_AGAIN)
            async for _notice in events:
                await self.poll_now(source_id)
        except SourceError as e:
            log.warning("events off source=%s reason=%r (rescans continue)", source_id, e.reason)

    async def watch_config_files(self) -> None:
        """Reload when the config or the watchlist file is saved, in place or by rename.

        Debounced on quiet: the reload waits until no write came for RELOAD_DEBOUNCE (at
        most RELOAD_MAX_WAIT), so an editor's several writes, or a file caught between its
        truncation and its new content, are never read half-saved.
        """
        while not self.stopping.is_set():
            paths = {self.app.settings.path.resolve(), self.app.settings.watchlist_path.resolve()}
            changes = _config_changes(paths)
            try:
                async for first in changes:
                    changed = {first}
                    deadline = time.monotonic() + RELOAD_MAX_WAIT
                    while time.monotonic() < deadline:
                        try:
                            changed.add(await asyncio.wait_for(anext(changes), RELOAD_DEBOUNCE))
                        except TimeoutError:
                            break
                    log.info("config changed files=%s", ",".join(sorted(p.name for p in changed)))
                    await self.reload()
                    now_paths = {
                        self.app.settings.path.resolve(),
                        self.app.settings.watchlist_path.resolve(),
                    }
                    if now_paths != paths:
                        break  # the watchlist moved: watch the new place
            except OSError as e:
                log.warning("config watch off reason=%r (SIGHUP still reloads)", str(e))
                return
            finally:
                await changes.aclose()

    async def delivery_loop(self) -> None:
        """Deliver as soon as alerts are stored, and every second for retries that fall due."""
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake_delivery.wait(), TICK_SECONDS)
            self.wake_delivery.clear()
            if self.stopping.is_set():
                break
            try:
                await asyncio.to_thread(self.app.deliver)
            except MonitorError as e:
                self.database.failed("delivery", e)
            else:
                self.database.ok()

    async def _drain(self, delivery: asyncio.Task[None]) -> None:
        timeout = self.app.settings.daemon.shutdown_timeout.total_seconds()
        pending = {*self.in_flight, delivery}
        _done, still = await asyncio.wait(pending, timeout=timeout)
        for task in still:
            task.cancel()
        if still:
            log.warning(
                "abandoned work tasks=%d after=%gs (leases expire; deliveries stay pending)",
                len(still), timeout,
            )  # fmt: skip
        await asyncio.gather(*still, return_exceptions=True)


async def _config_changes(paths: set[Path]) -> AsyncGenerator[Path, None]:
    """Each write or replacement of one of `paths`: inotify on their folders (so a save by
    rename is seen), else mtime polling every second."""
    try:
        import asyncinotify
    except ImportError:
        async for path in _poll_for_changes(paths):
            yield path
        return
    mask = asyncinotify.Mask.CLOSE_WRITE | asyncinotify.Mask.MOVED_TO | asyncinotify.Mask.CREATE
    with asyncinotify.Inotify() as inotify:
        for folder in {p.parent for p in paths}:
            inotify.add_watch(folder, mask)
        async for event in inotify:
            if event.path is not None and event.path.resolve() in paths:
                yield event.path.resolve()


async def _poll_for_changes(paths: set[Path]) -> AsyncIterator[Path]:
    def stamp(path: Path) -> tuple[int, int, int] | None:
        try:
            info = path.stat()
        except OSError:
            return None
        return info.st_mtime_ns, info.st_ino, info.st_size

    before = {p: stamp(p) for p in paths}
    while True:
        await asyncio.sleep(1.0)
        for path in paths:
            now = stamp(path)
            if now != before[path]:
                before[path] = now
                yield path


class DatabaseFaults:
    """A fault that repeats (the database down) logs one line per failure, without a
    traceback, and one line when the database answers again."""

    def __init__(self) -> None:
        self.failures = 0
        self.since = 0.0

    def failed(self, job: str, error: Exception, *, source: str | None = None) -> None:
        if not self.failures:
            self.since = time.monotonic()
        self.failures += 1
        where = f" source={source}" if source else ""
        log.error("database failed job=%s%s reason=%r", job, where, str(error))

    def ok(self) -> None:
        if self.failures:
            log.warning(
                "database recovered failures=%d after=%.1fs",
                self.failures, time.monotonic() - self.since,
            )  # fmt: skip
            self.failures = 0
