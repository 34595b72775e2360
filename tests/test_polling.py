"""The one source lifecycle (claim → poll → ingest → record) driven with a `FakeSource`
injected through `make_app(sources=…)`, on a real SQLite file (and PostgreSQL when
MONITOR_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.app import App, make_app
from monitor.config import SourceSettings, load_config
from monitor.models import Outcome
from tests.conftest import Clock
from tests.fakes import FakeSource, RecordingNotifier

NATO = "普丁週二表示，俄羅斯將加強東翼防務。Leaders met in Vilnius."  # fires "putin"


@pytest.fixture
def build(
    workdir: Path, clock: Clock, database_env: dict[str, str]
) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def make(*sources: SourceSettings, instance: str | None = None, **notifiers: object) -> App:
        settings = load_config(workdir / "monitor.toml", env=database_env)
        app = make_app(
            settings, now=clock, sources=sources, instance=instance,
            notifiers=notifiers or None, rng=random.Random(7),  # type: ignore[arg-type]
        )  # fmt: skip
        app.start()
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


def fake(source: FakeSource, **lifecycle: object) -> SourceSettings:
    return SourceSettings(
        id=source.id, type="fake", source=source,
        interval=lifecycle.pop("interval", timedelta(minutes=5)), **lifecycle,  # type: ignore[arg-type]
    )  # fmt: skip


def row(app: App, source_id: str):  # type: ignore[no-untyped-def]
    return next(r for r in app.store.list_sources() if r.id == source_id)


def test_an_injected_source_alerts_and_gets_its_state_back(
    build: Callable[..., App], clock: Clock
) -> None:
    source = FakeSource("wire")
    source.add("a.txt", NATO)
    recorder = RecordingNotifier("rec")
    app = build(fake(source, tags=("world",)), rec=recorder)
    first = app.run_once()
    assert first.ok and first.ingest.new == 1 and first.ingest.alerts >= 1
    assert [d.alert.topic.id for d, _ in recorder.sent] == ["putin"]
    assert recorder.sent[0][0].alert.article.source == "wire"
    clock.advance(minutes=1)
    second = app.run_once()
    assert second.ingest.new == 0 and source.states == [None, {"count": 1}]
    health = row(app, "wire")
    assert health.kind == "fake" and health.last_result == "ok" and health.consecutive_failures == 0


def test_a_poll_that_found_nothing_new_logs_at_debug_the_others_at_info_or_warning(
    build: Callable[..., App], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    source = FakeSource("wire")
    source.add("a.txt", NATO)
    app = build(fake(source))

    def polled_levels() -> list[str]:
        levels = [r.levelname for r in caplog.records if r.getMessage().startswith("polled ")]
        caplog.clear()
        return levels

    with caplog.at_level(logging.DEBUG, logger="monitor.polling"):
        app.run_once()
        assert polled_levels() == ["INFO"]  # new articles
        clock.advance(minutes=10)
        app.run_once()
        assert polled_levels() == ["DEBUG"]  # nothing new: most polls of a large config
        source.fail_with = "upstream down"
        clock.advance(minutes=10)
        app.run_once()
        assert polled_levels() == ["WARNING"]


def test_a_stored_article_logs_at_info_only_when_it_alerted(
    build: Callable[..., App], caplog: pytest.LogCaptureFixture
) -> None:
    """A new feed's backlog (thousands of articles at a large config's first start) and
    articles no topic matched are DEBUG; an article that alerted is INFO."""
    quiet = "天氣晴朗，氣溫二十五度，適合戶外活動。The weather in the park is fine today." * 2
    backlog, source = FakeSource("backlog"), FakeSource("wire")
    backlog.add("old.txt", NATO)
    source.add("a.txt", NATO + " Later that day.")
    source.add("b.txt", quiet)
    app = build(fake(backlog, first_poll="skip"), fake(source, first_poll="alert"))
    with caplog.at_level(logging.DEBUG, logger="monitor.pipeline"):
        app.run_once()
    stored = {
        r.getMessage().split("location=")[1].split()[0]: r.levelname
        for r in caplog.records
        if r.getMessage().startswith("stored article ")
    }
    assert stored == {"old.txt": "DEBUG", "a.txt": "INFO", "b.txt": "DEBUG"}


def test_first_poll_skip_stores_the_backlog_without_alerting(build: Callable[..., App]) -> None:
    source = FakeSource("wire")
    source.add("a.txt", NATO)
    app = build(fake(source, first_poll="skip"), rec=RecordingNotifier("rec"))
    report = app.run_once()
    assert report.ingest.new == 1 and report.ingest.alerts == 0
    source.add("b.txt", NATO + " Again, with news.")
    assert app.run_once().ingest.alerts >= 1  # after the first success, items alert


def test_a_failing_poll_backs_off_and_notifies_once_after_broken_after(
    build: Callable[..., App], clock: Clock, workdir: Path
) -> None:
    config = workdir / "monitor.toml"
    config.write_text(config.read_text() + "operator = true\n", encoding="utf-8")
    source = FakeSource("wire")
    source.fail_with = "upstream down"
    app = build(fake(source, broken_after=timedelta(minutes=30)))
    reports = [app.run_once()]
    first = row(app, "wire")
    assert not reports[0].ok and reports[0].failed_sources == ["wire"]
    assert first.consecutive_failures == 1 and first.last_error == "upstream down"
    assert first.next_poll_at > clock()
    for _ in range(3):
        clock.advance(minutes=20)
        reports.append(app.run_once())
    notices = [
        json.loads(line)
        for line in (workdir / "var" / "alerts.jsonl").read_text().splitlines()
        if '"source.' in line
    ]
    assert [n["type"] for n in notices] == ["source.failing"]
    source.fail_with = None
    clock.advance(minutes=20)
    assert app.run_once().ok
    lines = (workdir / "var" / "alerts.jsonl").read_text().splitlines()
    assert sum('"source.recovered"' in line for line in lines) == 1
    assert row(app, "wire").consecutive_failures == 0


def test_a_source_of_another_instance_is_left_to_it(build: Callable[..., App]) -> None:
    mine, theirs = FakeSource("mine"), FakeSource("theirs")
    mine.add("a.txt", NATO)
    theirs.add("b.txt", NATO + " Another.")
    app = build(fake(mine), fake(theirs, instance="other"), instance="here")
    app.run_once()
    assert mine.states == [None] and theirs.states == []
    other = build(fake(mine), fake(theirs, instance="other"), instance="other")
    other.run_once()
    assert theirs.states == [None]


def test_a_push_poll_does_not_wait_for_this_process_lease(build: Callable[..., App]) -> None:
    source = FakeSource("wire")
    app = build(fake(source))
    (claimed,) = app.poller.claim(limit=5)  # a scheduled poll holds the lease
    source.add("a.txt", NATO)
    report = asyncio.run(app.poller.poll_now("wire"))
    assert report is not None and report.outcome is Outcome.OK and report.ingest.new == 1
    assert app.poller.claim(limit=5) == []  # the push poll scheduled the next one
    assert claimed.id == "wire"


def test_a_crashing_source_is_contained_to_itself(build: Callable[..., App]) -> None:
    class Crashing(FakeSource):
        def poll(self, state, now):  # type: ignore[no-untyped-def]
            raise RuntimeError("bug in plugin")

    good = FakeSource("good")
    good.add("a.txt", NATO)
    app = build(fake(Crashing("bad")), fake(good))
    report = app.run_once()
    assert report.failed_sources == ["bad"] and report.ingest.new == 1


SHORTHAND = """\
database = "sqlite:///{db}"
watchlist = "watchlist.toml"

[[folders]]
id = "inbox"
path = "inbox"
end_markers = ["參考新聞來源", "編輯推薦"]

[[feeds]]
id = "wire"
url = "{url}"
allow_private_network = true
first_poll = "alert"

[[notifiers]]
name = "archive"
type = "jsonl"
path = "{out}"
"""
GENERIC = """\
database = "sqlite:///{db}"
watchlist = "watchlist.toml"

[[sources]]
id = "inbox"
type = "folder"
path = "inbox"
end_markers = ["參考新聞來源", "編輯推薦"]

[[sources]]
id = "wire"
type = "feed"
url = "{url}"
allow_private_network = true
first_poll = "alert"

[[notifiers]]
name = "archive"
type = "jsonl"
path = "{out}"
"""


def test_sources_tables_behave_exactly_like_folders_and_feeds(
    workdir: Path, clock: Clock, copy_seeds: Callable[[Path], list[Path]]
) -> None:
    from tests.hostile.server import HostileServer, Route

    copy_seeds(workdir / "inbox")
    server = HostileServer()
    server.routes["/feed.xml"] = Route(
        (
            '<?xml version="1.0"?><rss version="2.0"><channel><title>w</title>'
            "<item><title>t</title><link>http://127.0.0.1/x</link><guid>x</guid>"
            "<description>普丁與金正恩在平壤會談，俄羅斯與北韓簽署協議。</description>"
            "</item></channel></rss>"
        ).encode(),
        headers={"Content-Type": "application/rss+xml", "ETag": '"1"'},
    )
    results = []
    try:
        for name, template in (("short", SHORTHAND), ("generic", GENERIC)):
            config = workdir / f"{name}.toml"
            config.write_text(
                template.format(db=f"{name}.db", url=server.url("/feed.xml"), out=f"{name}.jsonl"),
                encoding="utf-8",
            )
            app = make_app(load_config(config, env={}), now=clock, rng=random.Random(1))
            app.start()
            try:
                report = app.run_once()
                rows = {
                    r.id: (r.kind, r.url, r.state, r.last_result) for r in app.store.list_sources()
                }
            finally:
                app.close()
            lines = (workdir / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
            alerts = sorted((a["id"], a["topic"]["id"]) for a in map(json.loads, lines))
            results.append((report.ingest.new, report.ingest.alerts, alerts, rows))
    finally:
        server.close()
    short, generic = results
    assert short[0] == 6 and short[1] > 5  # five seeds and one feed entry, all alerted
    assert short == generic
