"""Pipeline decisions that need the config and the store: source tags, mutes, alert limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.app import App, make_app
from monitor.config import load_config
from tests.conftest import Clock
from tests.fakes import RecordingNotifier


@pytest.fixture
def recorder() -> RecordingNotifier:
    return RecordingNotifier("rec")


@pytest.fixture
def make(workdir: Path, clock: Clock, recorder: RecordingNotifier) -> Iterator[Callable[[], App]]:
    """Builds an app on `workdir` once the test has written its config and watchlist."""
    apps: list[App] = []

    def build() -> App:
        settings = load_config(workdir / "monitor.toml", env={})
        app = make_app(settings, now=clock, notifiers={"rec": recorder})
        app.start()
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


def watch(workdir: Path, topics: str) -> None:
    (workdir / "watchlist.toml").write_text(topics, encoding="utf-8")


def drop(workdir: Path, name: str, text: str) -> None:
    (workdir / "inbox" / name).write_text(text, encoding="utf-8")


def topics_sent(recorder: RecordingNotifier) -> list[str]:
    return [d.alert.topic.id for d, _ in recorder.sent]


def test_source_tags_from_the_config_reach_the_matcher(
    workdir: Path, make: Callable[[], App], recorder: RecordingNotifier
) -> None:
    text = (
        (workdir / "monitor.toml")
        .read_text()
        .replace('id = "inbox"', 'id = "inbox"\ntags = ["asia"]')
    )
    (workdir / "monitor.toml").write_text(text)
    watch(workdir, '[[topics]]\nid = "asia"\nany = ["北韓"]\ntags = ["asia"]\n'
                   '[[topics]]\nid = "europe"\nany = ["北韓"]\ntags = ["europe"]\n'
                   '[[topics]]\nid = "inbox-only"\nany = ["北韓"]\nsources = ["inbox"]\n')  # fmt: skip
    drop(workdir, "a.txt", "北韓試射導彈。" * 10)
    make().run_once()
    assert sorted(topics_sent(recorder)) == ["asia", "inbox-only"]


def test_a_muted_topic_stores_articles_without_alerting_until_then(
    workdir: Path, make: Callable[[], App], recorder: RecordingNotifier, clock: Clock
) -> None:
    watch(workdir, '[[topics]]\nid = "muted"\nany = ["北韓"]\nmuted_until = "2026-11-24"\n'
                   '[[topics]]\nid = "open"\nany = ["北韓"]\n')  # fmt: skip
    app = make()
    drop(workdir, "a.txt", "北韓試射導彈。" * 10)
    report = app.run_once()
    assert report.ingest.new == 1 and topics_sent(recorder) == ["open"]
    clock.advance(days=1)  # 2026-11-24 08:00: the mute is over
    drop(workdir, "b.txt", "北韓再度試射。" * 10)
    app.run_once()
    assert sorted(topics_sent(recorder)) == ["muted", "open", "open"]


def test_alerts_past_max_per_hour_are_recorded_and_delivered_when_the_hour_ends(
    workdir: Path, make: Callable[[], App], recorder: RecordingNotifier, clock: Clock
) -> None:
    watch(workdir, '[[topics]]\nid = "storm"\nany = ["北韓"]\nmax_alerts_per_hour = 2\n'
                   '[[topics]]\nid = "calm"\nany = ["北韓"]\n')  # fmt: skip
    app = make()
    start = clock.now
    for i in range(4):
        drop(workdir, f"{i}.txt", f"北韓第{i}次試射。" * 10)
        report = app.run_once()
        assert report.ingest.alerts == 2  # every alert is recorded…
        clock.advance(minutes=10)
    # …but only two of the storm topic's went out; the other two wait for the hour to end.
    assert topics_sent(recorder).count("storm") == 2 and topics_sent(recorder).count("calm") == 4
    waiting = app.store.due_deliveries(clock.now, include_waiting=True)
    assert [d.alert.topic.id for d in waiting] == ["storm", "storm"]
    assert {d.next_attempt_at for d in waiting} == {start + timedelta(hours=1)}
    clock.now = start + timedelta(hours=1)
    app.run_once()
    assert topics_sent(recorder).count("storm") == 4
    # A new hour: the window now starts at the 2nd alert (10 min), which holds a 5th one.
    drop(workdir, "5.txt", "北韓第五次試射。" * 10)
    app.run_once()
    assert app.store.queue_summary(clock.now)["pending"] == 1
    (held,) = app.store.due_deliveries(clock.now, include_waiting=True)
    assert held.next_attempt_at == start + timedelta(minutes=70)


def test_reconfigure_swaps_source_tags_with_the_watchlist(
    workdir: Path, make: Callable[[], App]
) -> None:
    app = make()
    assert app.pipeline.tags == {}
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text().replace('id = "inbox"', 'id = "inbox"\ntags = ["asia"]'))
    app.reconfigure(load_config(toml, env={}))
    assert app.pipeline.tags == {"inbox": ("asia",)}


def test_articles_prepared_in_workers_are_neither_folded_nor_matched_again_in_the_writer(
    workdir: Path, make: Callable[[], App], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Folding (NFKC, casefold, OpenCC) and matching are the costliest steps of ingest: a
    parse worker does both and hands the matches on with the article, so the writer's thread
    (one per process) folds and matches nothing, however many polls a group commit holds."""
    import pickle

    from monitor import match, text
    from monitor.models import RawItem
    from monitor.prepare import MatchJob, prepare_batch

    watch(workdir, '[[topics]]\nid = "nk"\nany = ["北韓"]\n')
    app = make()
    items = [
        RawItem(
            source="inbox",
            location=f"n{i}.txt",
            content=f"北韓第{i}次試射導彈，{i * 7919}號。".encode() * 8,
            content_type="text/plain",
            fetched_at=clock.now,
        )
        for i in range(300)
    ]
    matcher = app.pipeline.matcher
    job = MatchJob(matcher.version, {"inbox": ()}, matcher.watchlist)
    # What crosses the process boundary: pickled, so nothing is shared with this process.
    prepared = pickle.loads(pickle.dumps(prepare_batch(items, near=True, job=job)))
    text._MAPPED.clear()
    calls: list[str] = []
    real_fold, real_match = text.fold, match.Matcher.match
    monkeypatch.setattr(text, "fold", lambda s: calls.append("fold") or real_fold(s))
    monkeypatch.setattr(
        match.Matcher, "match", lambda *a, **k: calls.append("match") or real_match(*a, **k)
    )
    report = app.pipeline.ingest_items(items, clock.now, extracted=prepared)
    assert report.new == 300 and report.alerts == 300
    assert calls == []


def test_a_worker_compiles_each_watchlist_once_and_matches_of_a_replaced_one_are_redone(
    workdir: Path, make: Callable[[], App], clock: Clock, recorder: RecordingNotifier
) -> None:
    """Real worker processes: the first poll after a (re)load sends the watchlist to a
    worker that lacks it; matches a worker made with a watchlist a reload replaced before
    the write are made again with the new one."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from monitor.config.watchlist import load_watchlist
    from monitor.models import RawItem
    from monitor.prepare import MatchJob, prepare_batch

    watch(workdir, '[[topics]]\nid = "nk"\nany = ["北韓"]\n')
    app = make()

    def item(n: int) -> RawItem:
        body = f"北韓與俄羅斯第{n}次會談，{n * 7919}號。".encode() * 8
        return RawItem("inbox", f"{n}.txt", body, "text/plain", clock.now)

    # A worker that has not compiled the named watchlist says so instead of guessing.
    assert prepare_batch([item(0)], job=MatchJob("unknown-version", {})) is None
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        app.pipeline.executor = pool

        async def prepared(n: int) -> list[Any]:
            result = await app.pipeline.extract_in_workers([item(n)])
            assert result is not None
            return result

        import asyncio

        (first,) = asyncio.run(prepared(1))
        assert [m.topic_id for m in first.matches] == ["nk"]
        assert first.version == app.pipeline.matcher.version
        (again,) = asyncio.run(prepared(2))  # compiled already: only the version was sent
        assert [m.topic_id for m in again.matches] == ["nk"]
        watch(workdir, '[[topics]]\nid = "ru"\nany = ["俄羅斯"]\n')
        app.pipeline.set_watchlist(load_watchlist(workdir / "watchlist.toml"))
        report = app.pipeline.ingest_items([item(2)], clock.now, extracted=[again])
        assert report.alerts == 1
        (fresh,) = asyncio.run(prepared(3))
        assert [m.topic_id for m in fresh.matches] == ["ru"]
        app.pipeline.executor = None
    app.deliver()
    assert topics_sent(recorder) == ["ru"]


def test_the_worker_that_parses_a_feed_prepares_its_items_in_the_same_job(
    workdir: Path, make: Callable[[], App], clock: Clock, recorder: RecordingNotifier
) -> None:
    """A real worker process: a new feed body is one job (parse, extract, sign, match) once
    that worker has compiled the watchlist, and what it prepared is what is stored and
    alerted. Before that, the poll comes back unprepared and the pipeline's own trip sends
    the watchlist."""
    import asyncio
    from concurrent.futures import Executor, Future, ProcessPoolExecutor
    from multiprocessing import get_context

    import respx

    from monitor.plugins import SourceResources
    from monitor.sources.feed import FeedSource
    from monitor.sources.http import Fetcher, FetchLimits

    url = "https://feeds.example/rss"

    def rss(n: int) -> bytes:
        items = "".join(
            f"<item><title>T{n}-{k}</title><link>https://feeds.example/{n}/{k}</link>"
            f"<description>北韓與俄羅斯第{n}次會談，{n * 7919 + k}號文件。</description></item>"
            for k in range(3)
        )
        return f'<rss version="2.0"><channel><title>F</title>{items}</channel></rss>'.encode()

    class Counting(Executor):
        def __init__(self, pool: Executor) -> None:
            self.pool, self.jobs = pool, 0

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            self.jobs += 1
            return self.pool.submit(fn, *args, **kwargs)

    watch(workdir, '[[topics]]\nid = "nk"\nany = ["北韓"]\n')
    app = make()
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool, respx.mock:
        counting = Counting(pool)
        app.pipeline.executor = counting
        feed = FeedSource("f", url=url)
        fetcher = Fetcher(FetchLimits(deadline=5), resolver=lambda host, port: ["93.184.216.34"])
        feed.use(SourceResources(fetcher, counting, app.pipeline.worker_preparer))
        respx.get(url).side_effect = [httpx.Response(200, content=rss(n)) for n in (1, 2)]

        async def run() -> tuple[Any, int]:
            try:
                first = await feed.poll(None, clock.now)
                assert counting.jobs == 1 and first.prepared is None  # no watchlist there yet
                assert await app.pipeline.extract_in_workers(first.items) is not None
                assert counting.jobs == 3  # asked, then sent the watchlist
                second = await feed.poll(first.state, clock.now)
                return second, counting.jobs
            finally:
                await fetcher.aclose()

        second, jobs = asyncio.run(run())
        app.pipeline.executor = None
    assert jobs == 4  # the second body: one job
    assert [m.topic_id for p in second.prepared for m in p.matches] == ["nk"] * 3
    assert [p.article.url for p in second.prepared] == [i.meta["url"] for i in second.items]
    report = app.pipeline.ingest_items(second.items, clock.now, extracted=second.prepared)
    assert report.new == 3 and report.alerts == 3
    app.deliver()
    assert sorted(d.alert.article.title for d, _ in recorder.sent) == ["T2-0", "T2-1", "T2-2"]


def _items(clock: Clock, texts: list[tuple[str, str]], guid: bool = True) -> list[Any]:
    """Feed entries of one poll: (guid, text) each, in feed order."""
    from monitor.models import FEED_ENTRY, RawItem

    return [
        RawItem(
            source="inbox",
            location=f"https://news.example/{n}",
            content=text.encode(),
            content_type=FEED_ENTRY,
            fetched_at=clock.now,
            meta={"title": f"第{n}則", **({"guid": entry} if guid else {})},
        )
        for n, (entry, text) in enumerate(texts)
    ]


def test_one_poll_of_many_entries_costs_a_few_statements_per_write_not_per_entry(
    workdir: Path, make: Callable[[], App], clock: Clock
) -> None:
    """The store's work for a poll goes per write: the stored hashes, the entries' stored
    versions, the stories' candidate roots, the alerts and the deliveries are one statement
    each, whatever the number of entries; only the article inserts are one per entry."""
    import sqlalchemy as sa

    watch(workdir, '[[topics]]\nid = "nk"\nany = ["北韓"]\n')
    app = make()
    statements: list[str] = []
    sa.event.listen(app.store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))

    def statements_for(count: int, tag: str) -> int:
        statements.clear()
        texts = [
            (f"{tag}{n}", f"北韓第{n}次試射導彈，{tag}{n * 7919}號。" * 12) for n in range(count)
        ]
        report = app.pipeline.ingest_items(_items(clock, texts), clock.now)
        assert (report.new, report.alerts) == (count, count)
        return len(statements)

    one, forty = statements_for(1, "a"), statements_for(40, "b")
    assert forty - one == 39, statements  # one more INSERT per entry, nothing else


def test_an_entry_listed_twice_in_one_poll_is_stored_as_its_own_update(
    workdir: Path, make: Callable[[], App], clock: Clock, recorder: RecordingNotifier
) -> None:
    """A feed that lists one guid twice with different texts: written in waves, the second
    is a new version of the first and alerts only for what the first did not match."""
    watch(
        workdir, '[[topics]]\nid = "nk"\nany = ["北韓"]\n[[topics]]\nid = "ru"\nany = ["俄羅斯"]\n'
    )
    app = make()
    texts = [
        ("g1", "北韓試射導彈，日本抗議。" * 12),
        ("g2", "南韓總統出訪，討論貿易。" * 12),
        ("g1", "北韓試射導彈，俄羅斯表示關切。" * 12),
    ]
    report = app.pipeline.ingest_items(_items(clock, texts), clock.now)
    assert (report.new, report.updated, report.alerts) == (2, 1, 2)
    app.deliver()
    assert sorted(topics_sent(recorder)) == ["nk", "ru"]


def test_max_alerts_per_hour_counts_the_alerts_of_the_same_poll(
    workdir: Path, make: Callable[[], App], clock: Clock, recorder: RecordingNotifier
) -> None:
    """The alerts of one write are inserted together at its end: the hourly limit still
    counts those made before them in the same poll."""
    watch(workdir, '[[topics]]\nid = "storm"\nany = ["北韓"]\nmax_alerts_per_hour = 2\n')
    app = make()
    texts = [(f"g{n}", f"北韓第{n}次試射，編號{n * 7919}。" * 12) for n in range(5)]
    report = app.pipeline.ingest_items(_items(clock, texts), clock.now)
    assert report.alerts == 5
    app.deliver()
    assert topics_sent(recorder) == ["storm", "storm"]
    held = app.store.due_deliveries(clock.now, include_waiting=True)
    assert [d.next_attempt_at for d in held] == [clock.now + timedelta(hours=1)] * 3
