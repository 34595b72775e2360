"""Feeds through the app: schedule, backoff, 410, Retry-After, first poll, max_age, updates."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import respx

from monitor.app import App, make_app
from monitor.cli import main
from monitor.config import load_config
from tests.conftest import Clock
from tests.fakes import RecordingNotifier

URL = "https://news.example/feed.xml"


def rss(*items: tuple[str, str, str], pub: str = "Mon, 23 Nov 2026 07:00:00 GMT") -> bytes:
    body = "".join(
        f"<item><title>{title}</title><link>https://news.example/{guid}</link><guid>{guid}</guid>"
        f"<pubDate>{pub}</pubDate><description>{text}</description></item>"
        for guid, title, text in items
    )
    return f'<rss version="2.0"><channel><title>N</title>{body}</channel></rss>'.encode()


PUTIN = ("p1", "普丁訪問北韓", "俄羅斯總統普丁抵達平壤。" * 4)
KIM = ("k1", "金正恩會見代表團", "北韓領導人金正恩會見俄羅斯代表團。" * 4)


@pytest.fixture
def feed_app(
    workdir: Path, clock: Clock, database_env: dict[str, str]
) -> Iterator[Callable[..., tuple[App, RecordingNotifier]]]:
    apps: list[App] = []

    def build(extra: str = "") -> tuple[App, RecordingNotifier]:
        toml = workdir / "monitor.toml"
        if "[[feeds]]" not in toml.read_text():
            toml.write_text(
                toml.read_text()
                + f'\n[[feeds]]\nid = "news"\nurl = "{URL}"\ninterval = "10m"\n'
                + f"allow_private_network = true\n{extra}"
            )
        recorder = RecordingNotifier("rec")
        app = make_app(load_config(toml, env=database_env), now=clock, notifiers={"rec": recorder})
        app.start()
        apps.append(app)
        return app, recorder

    yield build
    for app in apps:
        app.close()


def topics(recorder: RecordingNotifier) -> set[tuple[str, str]]:
    # feedparser resolves a permalink guid against the feed URL: compare its last segment.
    return {((d.alert.article.guid or "").rsplit("/", 1)[-1], d.alert.topic.id)
            for d, _ in recorder.sent}  # fmt: skip


@respx.mock
def test_first_poll_stores_the_backlog_silently_then_alerts_new_items(feed_app, clock) -> None:  # type: ignore[no-untyped-def]
    route = respx.get(URL)
    route.respond(200, content=rss(PUTIN))
    app, recorder = feed_app()
    first = app.run_once()
    assert first.ok and first.ingest.new == 1 and first.ingest.alerts == 0
    route.respond(200, content=rss(KIM, PUTIN))
    second = app.run_once()
    assert second.ingest.new == 1 and second.ingest.duplicates == 1
    assert topics(recorder) == {("k1", "russia-north-korea")}


@respx.mock
def test_first_poll_alert_and_max_age(feed_app) -> None:  # type: ignore[no-untyped-def]
    respx.get(URL).respond(200, content=rss(PUTIN) + b"")
    app, recorder = feed_app('first_poll = "alert"\nmax_age = "1d"\n')
    app.run_once()
    assert ("p1", "putin") in topics(recorder)


@respx.mock
def test_entries_older_than_max_age_are_stored_not_alerted(feed_app) -> None:  # type: ignore[no-untyped-def]
    respx.get(URL).respond(200, content=rss(PUTIN, pub="Mon, 02 Nov 2026 07:00:00 GMT"))
    app, recorder = feed_app('first_poll = "alert"\nmax_age = "7d"\n')
    report = app.run_once()
    assert report.ingest.new == 1 and recorder.sent == []


@respx.mock
def test_an_updated_entry_alerts_only_for_new_topics(feed_app) -> None:  # type: ignore[no-untyped-def]
    route = respx.get(URL)
    route.respond(200, content=rss(("g", "普丁", "普丁發表談話。" * 5)))
    app, recorder = feed_app('first_poll = "alert"\n')
    app.run_once()
    assert topics(recorder) == {("g", "putin")}
    route.respond(200, content=rss(("g", "普丁", "普丁發表談話。" * 5 + "他也談到北韓。")))
    report = app.run_once()
    assert report.ingest.updated == 1 and report.ingest.new == 0
    assert topics(recorder) == {("g", "putin"), ("g", "russia-north-korea")}


@respx.mock
def test_a_story_from_a_folder_and_a_feed_alerts_once(feed_app, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    text = "俄羅斯總統普丁抵達平壤，金正恩到機場迎接。" * 4
    (workdir / "inbox" / "story.txt").write_text(text, encoding="utf-8")
    respx.get(URL).respond(200, content=rss(("s", "Putin in Pyongyang", f"<p>{text}</p>")))
    app, recorder = feed_app('first_poll = "alert"\n')
    report = app.run_once()
    assert report.ingest.new == 1 and report.ingest.duplicates == 1
    assert len({d.alert.topic.id for d, _ in recorder.sent}) == len(recorder.sent)


@respx.mock
def test_failures_back_off_and_run_once_still_polls(feed_app, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    route = respx.get(URL)
    route.respond(500)
    app, _ = feed_app()
    delays = []
    for _ in range(4):
        report = app.run_once()
        assert report.failed_sources == ["news"]
        (row,) = [r for r in app.store.list_sources() if r.id == "news"]
        delays.append((row.next_poll_at - clock.now).total_seconds())
    assert row.consecutive_failures == 4 and row.last_error == "HTTP 500"
    for n, delay in enumerate(delays):  # ×2 each time, ±20 % jitter
        assert 0.8 * 600 * 2**n <= delay <= 1.2 * 600 * 2**n
    assert route.call_count == 4
    route.respond(200, content=rss(PUTIN))
    assert app.run_once().ok
    (row,) = [r for r in app.store.list_sources() if r.id == "news"]
    assert row.consecutive_failures == 0 and row.last_success_at == clock.now


@respx.mock
def test_the_daemon_schedule_respects_next_poll(feed_app, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    respx.get(URL).respond(200, content=rss(PUTIN))
    app, _ = feed_app()
    app.run_once()
    assert app.poller.claim(limit=10) == []  # polled just now: due in ~10 min (inbox in 30 s)
    clock.advance(minutes=12)
    assert sorted(r.id for r in app.poller.claim(limit=10)) == ["inbox", "news"]
    other = make_app(app.settings, now=clock, instance="other", notifiers={})
    assert other.poller.claim(limit=10) == []  # leased by the first instance
    clock.advance(minutes=3)  # lease expired (deadline 60 s + 60 s)
    assert sorted(r.id for r in other.poller.claim(limit=10)) == ["inbox", "news"]
    other.close()


@respx.mock
def test_410_disables_until_enabled(
    feed_app, workdir: Path, caplog, database_env, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    for name, value in database_env.items():  # the CLI below reads the same database
        monkeypatch.setenv(name, value)
    route = respx.get(URL)
    route.respond(410)
    app, _ = feed_app()
    assert app.run_once().failed_sources == ["news"]
    caplog.clear()
    assert app.run_once().failed_sources == []
    assert route.call_count == 1
    assert "skipped source=news reason='HTTP 410 Gone'" in caplog.text
    assert main(["--config", str(workdir / "monitor.toml"), "feeds", "enable", "news"]) == 0
    route.respond(200, content=rss(PUTIN))
    assert app.run_once().ok and route.call_count == 2


@respx.mock
def test_retry_after_holds_even_run_once(feed_app, clock: Clock, caplog) -> None:  # type: ignore[no-untyped-def]
    route = respx.get(URL)
    route.respond(429, headers={"Retry-After": "3600"})
    app, _ = feed_app()
    app.run_once()
    caplog.clear()
    app.run_once()
    assert route.call_count == 1
    skipped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
    assert skipped == [
        "skipped source=news reason='Retry-After in force' until=2026-11-23T09:00:00+00:00"
    ]
    clock.advance(minutes=61)
    route.respond(200, content=rss(PUTIN))
    caplog.clear()
    assert app.run_once().ok and route.call_count == 2
    assert "skipped source" not in caplog.text  # the hold is over: nothing is skipped


@respx.mock
def test_a_permanent_redirect_is_remembered(feed_app, caplog) -> None:  # type: ignore[no-untyped-def]
    respx.get(URL).respond(301, headers={"Location": "https://news.example/new.xml"})
    new = respx.get("https://news.example/new.xml")
    new.respond(200, content=rss(PUTIN))
    app, _ = feed_app()
    app.run_once()
    assert "source moved permanently source=news url=https://news.example/new.xml" in caplog.text
    app.run_once()
    assert new.call_count == 2 and respx.calls.call_count == 3


@respx.mock
def test_a_feed_removed_from_the_config_becomes_inactive(feed_app, workdir: Path, clock) -> None:  # type: ignore[no-untyped-def]
    respx.get(URL).respond(200, content=rss(PUTIN))
    app, _ = feed_app()
    app.run_once()
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text().split("[[feeds]]")[0])
    app.reconfigure(load_config(toml, env={}))
    (row,) = [r for r in app.store.list_sources() if r.id == "news"]
    assert not row.active and row.disabled_reason == "removed from config"
    assert row.state is not None  # kept


def test_feeds_cli_list_export_import(workdir: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    toml = workdir / "monitor.toml"
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body><outline text="News">'
        '<outline text="DW 中文" xmlUrl="https://rss.dw.com/rdf/rss-chi-all"/>'
        '<outline text="DW 中文" xmlUrl="https://rss.dw.com/rdf/rss-chi-top"/>'
        "</outline></body></opml>",
        encoding="utf-8",
    )
    assert main(["--config", str(toml), "feeds", "import", str(opml), "--append", str(toml)]) == 0
    settings = load_config(toml, env={})
    assert [(f.id, f.source.url) for f in settings.feeds] == [  # type: ignore[attr-defined]
        ("dw", "https://rss.dw.com/rdf/rss-chi-all"),
        ("dw-2", "https://rss.dw.com/rdf/rss-chi-top"),
    ]
    capsys.readouterr()
    assert main(["--config", str(toml), "feeds", "export"]) == 0
    out = capsys.readouterr().out
    assert 'xmlUrl="https://rss.dw.com/rdf/rss-chi-top"' in out and '<opml version="2.0">' in out
    assert main(["--config", str(toml), "db", "upgrade"]) == 0
    capsys.readouterr()
    assert main(["--config", str(toml), "feeds", "list"]) == 0
    assert "dw-2" in capsys.readouterr().out
    evil = tmp_path / "evil.opml"
    evil.write_text('<!DOCTYPE x [<!ENTITY a "b">]><opml/>')
    assert main(["--config", str(toml), "feeds", "import", str(evil)]) == 2


@respx.mock
def test_feeds_test_shows_entries_and_matches_and_stores_nothing(workdir: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    respx.get(URL).respond(200, content=rss(PUTIN, KIM))
    toml = workdir / "monitor.toml"
    code = main(["--config", str(toml), "feeds", "test", URL, "--allow-private-network"])
    out = capsys.readouterr().out
    assert code == 0
    assert "* 普丁訪問北韓" in out and "putin" in out and "2 entries" in out
    assert not (workdir / "var").exists()
    respx.get(URL).mock(side_effect=httpx.ConnectError("refused"))
    assert main(["--config", str(toml), "feeds", "test", URL, "--allow-private-network"]) == 1


def test_status_table(workdir: Path, capsys, copy_seeds) -> None:  # type: ignore[no-untyped-def]
    copy_seeds(workdir / "inbox")
    toml = workdir / "monitor.toml"
    assert main(["--config", str(toml), "status"]) == 1  # schema not there yet: says so
    assert "monitor db upgrade" in capsys.readouterr().err
    assert main(["--config", str(toml), "run", "--once"]) == 0
    capsys.readouterr()
    assert main(["--config", str(toml), "status"]) == 0
    out = capsys.readouterr().out
    assert "folder  inbox" in out and "delivered 24h" in out
    assert timedelta  # keeps the import used for readers adding time-based cases


@respx.mock
def test_a_feed_failing_for_broken_after_sends_one_notice_then_recovered(
    workdir: Path, clock: Clock
) -> None:
    toml = workdir / "monitor.toml"
    toml.write_text(
        toml.read_text().replace('type = "jsonl"', 'type = "jsonl"\noperator = true')
        + f'\n[[feeds]]\nid = "news"\nurl = "{URL}"\ninterval = "10m"\nbroken_after = "1h"\n'
        + "allow_private_network = true\n"
    )
    route = respx.get(URL)
    route.respond(200, content=rss(PUTIN))
    app = make_app(load_config(toml, env={}), now=clock)
    app.start()
    jsonl = workdir / "var" / "alerts.jsonl"

    def notices() -> list[dict[str, object]]:
        if not jsonl.exists():
            return []
        lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
        return [line for line in lines if str(line["type"]).startswith("source.")]

    app.run_once()  # healthy
    route.respond(500)
    for _ in range(3):  # failing, but for less than an hour
        clock.advance(minutes=20)
        app.run_once()
    assert notices() == []
    clock.advance(minutes=20)
    app.run_once()
    clock.advance(minutes=20)
    app.run_once()  # still failing: no second notice
    (failing,) = notices()
    assert failing["type"] == "source.failing" and failing["source"] == "news"
    assert failing["error"] == "HTTP 500" and failing["consecutive_failures"] == 4
    assert failing["id"].startswith("notice_")  # type: ignore[union-attr]
    route.respond(200, content=rss(PUTIN))
    clock.advance(hours=3)
    app.run_once()
    assert [n["type"] for n in notices()] == ["source.failing", "source.recovered"]
    app.close()


@respx.mock
def test_notices_go_to_operator_notifiers_only_and_gone_notifies_at_once(
    workdir: Path, clock: Clock
) -> None:
    toml = workdir / "monitor.toml"
    toml.write_text(
        toml.read_text()
        + '\n[[notifiers]]\nname = "ops"\ntype = "jsonl"\npath = "var/ops.jsonl"\noperator = true\n'
        + f'\n[[feeds]]\nid = "news"\nurl = "{URL}"\nallow_private_network = true\n'
    )
    respx.get(URL).respond(410)
    app = make_app(load_config(toml, env={}), now=clock)
    app.start()
    app.run_once()
    app.close()
    ops = [json.loads(x) for x in (workdir / "var" / "ops.jsonl").read_text().splitlines()]
    assert [(n["type"], n["disabled"]) for n in ops] == [("source.failing", True)]
    assert not (workdir / "var" / "alerts.jsonl").exists()
