"""Daemon jobs without the process around them: what the scheduler's jobs do when the
database fails, and what a reload does with the notifiers it replaces."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.app import App, make_app
from monitor.config import SourceSettings, load_config
from monitor.daemon import Daemon
from monitor.errors import StoreError
from monitor.models import Delivery
from tests.conftest import Clock
from tests.fakes import FakeSource, RecordingNotifier


@pytest.fixture
def app(workdir: Path, clock: Clock) -> Iterator[App]:
    built = make_app(load_config(workdir / "monitor.toml", env={}), now=clock)
    built.start()
    yield built
    built.close()


class Outage:
    """Makes chosen store methods raise StoreError while `down`, as a stopped server does."""

    def __init__(self, app: App, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
        self.down = True
        for name in names:
            real = getattr(app.store, name)
            monkeypatch.setattr(app.store, name, self._wrap(real))

    def _wrap(self, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise StoreError("database unavailable: connection refused")
            return real(*args, **kwargs)

        return call


def test_a_database_outage_logs_one_line_per_failure_and_one_on_recovery(
    app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, workdir: Path
) -> None:
    outage = Outage(app, monkeypatch, "claim_sources", "due_deliveries")
    (workdir / "inbox" / "a.txt").write_text("普丁訪問平壤。", encoding="utf-8")
    daemon = Daemon(app)

    async def scenario() -> None:
        daemon.wake_delivery = asyncio.Event()
        for _ in range(3):
            await daemon.sources_tick()  # the scheduler's job: must not raise
            await daemon.poll_now("inbox")  # a push notice during the outage
        outage.down = False
        await daemon.sources_tick()
        await asyncio.gather(*daemon.in_flight)

    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    failed = [r for r in caplog.records if r.getMessage().startswith("database failed")]
    assert len(failed) == 6 and all(r.exc_info is None for r in failed)
    assert {r.getMessage().split(" reason=")[0] for r in failed} == {
        "database failed job=claim",
        "database failed job=poll source=inbox",
    }
    recovered = [r.getMessage() for r in caplog.records if "database recovered" in r.getMessage()]
    assert len(recovered) == 1 and "failures=6" in recovered[0]
    assert "Traceback" not in caplog.text
    assert any("polled source=inbox" in r.getMessage() for r in caplog.records)  # back at work


class SlowNotifier(RecordingNotifier):
    """Blocks in `send` until released, and counts `close` calls."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.sending = threading.Event()
        self.release = threading.Event()
        self.closed = 0

    def send(self, deliveries: Sequence[Delivery], now: datetime) -> None:
        self.sending.set()
        assert self.release.wait(10)
        super().send(deliveries, now)

    def close(self) -> None:
        self.closed += 1


def test_a_reload_closes_the_old_notifiers_after_the_pass_using_them(
    workdir: Path, clock: Clock
) -> None:
    old = SlowNotifier("archive")
    app = make_app(load_config(workdir / "monitor.toml", env={}), now=clock,
                   notifiers={"archive": old})  # fmt: skip
    app.start()
    try:
        (workdir / "inbox" / "a.txt").write_text("普丁訪問平壤。", encoding="utf-8")
        asyncio.run(app.poller.run_all())
        passing = threading.Thread(target=app.deliver)
        passing.start()
        assert old.sending.wait(10)  # a delivery pass is sending through the old notifier
        app.reconfigure(load_config(workdir / "monitor.toml", env={}))
        assert old.closed == 0  # still in use
        old.release.set()
        passing.join(10)
        assert old.closed == 1 and len(old.sent) == 1
        new = app.deliverer.notifiers["archive"]
        assert new is not old
        app.reconfigure(load_config(workdir / "monitor.toml", env={}))  # no pass: at once
        assert old.closed == 1
    finally:
        app.close()
    assert old.closed == 1  # never twice


def one_tick(daemon: Daemon) -> None:
    """One sources tick, and every poll it started run to its end."""

    async def tick() -> None:
        await daemon.sources_tick()
        await asyncio.gather(*daemon.in_flight)

    asyncio.run(tick())


class SlowSource(FakeSource):
    """A source whose poll takes 20 ms (in a worker thread, as a blocking poll does)."""

    def poll(self, state, now):  # type: ignore[no-untyped-def]
        time.sleep(0.02)
        return super().poll(state, now)


def slow_sources_app(
    workdir: Path, clock: Clock, sources: Sequence[FakeSource], *, concurrency: int
) -> App:
    """A started app polling `sources` every 5 minutes under `[fetch] concurrency`."""
    config = workdir / "monitor.toml"
    config.write_text(
        config.read_text() + f"\n[fetch]\nconcurrency = {concurrency}\n", encoding="utf-8"
    )
    settings = [
        SourceSettings(id=s.id, type="fake", source=s, interval=timedelta(minutes=5))
        for s in sources
    ]
    app = make_app(load_config(config, env={}), now=clock, sources=settings)
    app.start()
    return app


def test_one_tick_keeps_claiming_as_polls_finish(
    workdir: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """The tick claims up to the concurrency budget, then more as polls finish: the poll
    rate is not capped at `concurrency × 2` per second."""
    sources = [SlowSource(f"s{n}") for n in range(10)]
    app = slow_sources_app(workdir, clock, sources, concurrency=1)
    try:
        daemon = Daemon(app)

        one_tick(daemon)
        polled = [s for s in sources if s.states]
        assert len(polled) == 10  # budget 2 (concurrency 1 × 2), yet all ten in one tick
        assert all(r.last_result == "ok" for r in app.store.list_sources() if r.id != "inbox")
    finally:
        app.close()


def test_run_once_keeps_at_most_twice_the_fetch_concurrency_of_polls_in_flight(
    workdir: Path, clock: Clock
) -> None:
    """`run --once` polls every source, but like the daemon never more than `concurrency × 2`
    at once: unbounded, 10,000 fetched bodies waited in memory for the parse workers."""
    lock, running, most = threading.Lock(), [0], [0]

    class CountingSource(SlowSource):
        def poll(self, state, now):  # type: ignore[no-untyped-def]
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            try:
                return super().poll(state, now)
            finally:
                with lock:
                    running[0] -= 1

    sources = [CountingSource(f"s{n}") for n in range(12)]
    app = slow_sources_app(workdir, clock, sources, concurrency=2)
    try:
        report = app.run_once()
    finally:
        app.close()
    assert all(s.states for s in sources)
    assert not report.failed_sources
    assert most[0] == 4  # concurrency 2 × 2: the budget is used, and never exceeded


def test_a_scheduled_poll_records_how_late_it_started(workdir: Path, clock: Clock) -> None:
    """`monitor_poll_lateness_seconds`: from a poll's due time (or its Retry-After hold, if
    later) to the tick that starts it; the figure that says a daemon falls behind."""
    from datetime import timedelta

    from monitor.config import SourceSettings
    from tests.fakes import FakeSource

    sources = [
        SourceSettings(id=f"s{n}", type="fake", source=FakeSource(f"s{n}"),
                       interval=timedelta(minutes=5))
        for n in range(3)
    ]  # fmt: skip
    app = make_app(load_config(workdir / "monitor.toml", env={}), now=clock, sources=sources)
    app.start()
    try:
        daemon = Daemon(app)

        def observed(le: str) -> float:
            value = app.metrics.registry.get_sample_value(
                "monitor_poll_lateness_seconds_bucket", {"le": le}
            )
            return value or 0.0

        one_tick(daemon)  # the first round: due now, not late
        first = observed("+Inf")
        assert first >= 3 and observed("0.25") == first
        clock.advance(minutes=10)  # every source came due (jittered) 4–6 minutes ago
        due = {r.id: r.next_poll_at for r in app.store.list_sources() if r.id in ("s0", "s1")}
        late = sum((clock.now - at).total_seconds() for at in due.values())
        one_tick(daemon)
        assert observed("+Inf") == first + 3
        assert observed("60.0") == first and observed("900.0") == first + 3
        total = app.metrics.registry.get_sample_value("monitor_poll_lateness_seconds_sum")
        assert total is not None and total >= late + 60
    finally:
        app.close()


def test_a_reload_freezes_what_it_built_and_a_rejected_one_leaves_the_collector_its_garbage(
    workdir: Path, clock: Clock
) -> None:
    """What a reload builds is moved out of the cyclic collector's reach (no full collection
    walks 10,000 feeds' settings while holding the GIL); the collector is on again after, and a
    rejected reload freezes nothing."""
    import gc

    config = workdir / "monitor.toml"
    app = make_app(load_config(config, env={}), now=clock)
    app.start()
    daemon = Daemon(app, reload_config=lambda: load_config(config, env={}))
    gc.unfreeze()
    try:
        assert asyncio.run(daemon.reload()), daemon.reload_result
        assert gc.isenabled() and gc.get_freeze_count() > 0, gc.get_freeze_count()
        gc.unfreeze()
        (workdir / "watchlist.toml").write_text('[[topics]\nid = "x"\n', "utf-8")
        assert not asyncio.run(daemon.reload())
        assert daemon.reload_result.startswith("rejected")
        assert gc.isenabled(), "the collector is on again"
        assert gc.get_freeze_count() == 0, gc.get_freeze_count()
    finally:
        gc.unfreeze()
        app.close()


def test_a_reload_says_a_new_listen_address_takes_a_restart(
    workdir: Path, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """The web page's socket is bound once: a reload that changes [http] listen says that it
    takes effect at restart (the rest of [http] follows the reload; tests/test_web.py)."""
    config = workdir / "monitor.toml"
    base = config.read_text()
    config.write_text(base + '\n[http]\nlisten = "127.0.0.1:9464"\n')
    app = make_app(load_config(config, env={}), now=clock)
    app.start()
    daemon = Daemon(app, reload_config=lambda: load_config(config, env={}))
    try:
        with caplog.at_level(logging.INFO):
            assert asyncio.run(daemon.reload()), daemon.reload_result
            assert "restart" not in caplog.text
            config.write_text(base + '\n[http]\nlisten = "127.0.0.1:9465"\n')
            assert asyncio.run(daemon.reload()), daemon.reload_result
        lines = [r.getMessage() for r in caplog.records if "restart" in r.getMessage()]
        assert lines == [
            "reload restart needed key=[http].listen value='127.0.0.1:9465': takes effect at "
            "restart (serving '127.0.0.1:9464' until then)"
        ]
    finally:
        app.close()


@pytest.mark.parametrize("delay", [0.0, 30.0])
def test_work_cancelled_before_it_began_is_closed_not_left_unawaited(
    app: App, delay: float
) -> None:
    """A stop (or the end of a test's event loop) can cancel a started task before its first
    step, when not even the wrapper has run: the poll it carried must still be closed, or
    Python reports a coroutine that was never awaited."""
    import gc
    import warnings

    daemon = Daemon(app)

    async def cancelled_at_once() -> None:
        daemon._start(daemon.poll_now("inbox"), delay=delay)
        for task in list(daemon.in_flight):
            task.cancel()
        await asyncio.sleep(0)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(cancelled_at_once())
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)], caught


def test_only_sources_that_push_get_a_watch(workdir: Path, clock: Clock) -> None:
    """Feeds are only scheduled: with many of them, a watch task each (at start and again on
    every reload) would be tens of thousands of tasks for nothing."""
    config = workdir / "monitor.toml"
    feeds = "".join(
        f'\n[[feeds]]\nid = "f{n}"\nurl = "https://news.example/{n}.xml"\n' for n in range(50)
    )
    config.write_text(config.read_text() + feeds, encoding="utf-8")
    app = make_app(load_config(config, env={}), now=clock)
    app.start()
    daemon = Daemon(app)

    async def watched() -> set[str]:
        daemon._watch_sources()
        ids = set(daemon.watchers)
        for task in daemon.watchers.values():
            task.cancel()
        return ids

    try:
        assert asyncio.run(watched()) == {"inbox"}
    finally:
        app.close()


def test_the_backfill_job_works_in_batches_and_stops_when_done(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After READY the daemon signs the articles stored before near-duplicate detection, a
    batch per run, and removes its job once a run finds nothing left."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from monitor.store.schema import articles

    text = (
        "普丁時隔24年再訪北韓，北約關切獨裁聯盟。俄羅斯總統普丁18日及19日應金正恩的邀請前往北韓。"
    )
    for n in range(3):
        app.store.add_article(_article(f"{n}.txt", f"第{n}篇：{text}" * 2), [], [], app.clock())
    calls: list[int] = []
    real = app.store.backfill_signatures

    def one_at_a_time(since: datetime, *, limit: int = 200) -> int:
        calls.append(limit)
        return real(since, limit=1)

    monkeypatch.setattr(app.store, "backfill_signatures", one_at_a_time)
    daemon = Daemon(app)

    async def scenario() -> None:
        daemon.scheduler = AsyncIOScheduler()
        daemon.scheduler.add_job(daemon.backfill, "interval", seconds=60, id="backfill")
        for _ in range(3):
            await daemon.backfill()
            assert daemon.scheduler.get_job("backfill") is not None
        await daemon.backfill()  # nothing left: the job is removed
        assert daemon.scheduler.get_job("backfill") is None

    asyncio.run(scenario())
    assert len(calls) == 4
    with app.store.engine.begin() as c:
        shingles = c.execute(articles.select().with_only_columns(articles.c.shingles)).scalars()
        assert all(s is not None and s > 0 for s in shingles)


def _article(name: str, text: str) -> Any:
    from monitor.models import Article
    from monitor.text import content_hash

    return Article("inbox", name, None, None, name, text, None, content_hash(text))
