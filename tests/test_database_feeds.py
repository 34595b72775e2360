"""Feeds kept in the database (`monitor feeds add|remove`, `feeds import --db`): the store's
rows, the checks they share with [[feeds]] tables, the CLI, and a running daemon picking them
up. Real SQLite files; PostgreSQL too when MONITOR_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import asyncio
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import respx

from monitor.app import make_app
from monitor.cli import main
from monitor.config import feed_id_for, load_config, load_database_feed
from monitor.daemon import Daemon
from monitor.errors import ConfigError
from monitor.store import Store, peek_database_sources
from tests.conftest import Clock
from tests.test_feeds import PUTIN, rss

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
URL = "https://wire.example/feed.xml"
OTHER = "https://other.example/rss"
FEEDS_TOML = '\n[[feeds]]\nid = "news"\nurl = "https://news.example/feed.xml"\n'


@pytest.fixture
def cli(workdir: Path, database_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The workdir's config with a schema in place, on SQLite and on PostgreSQL."""
    for name, value in database_env.items():
        monkeypatch.setenv(name, value)
    assert run(workdir, "db", "upgrade") == 0
    return workdir


def run(workdir: Path, *args: str) -> int:
    return main(["--config", str(workdir / "monitor.toml"), *args])


def rows_of(store: Store) -> dict[str, tuple[bool, str | None, str]]:
    return {r.id: (r.active, r.disabled_reason, r.origin) for r in store.list_sources()}


# --- store ---------------------------------------------------------------------------------


def test_a_config_sync_never_deactivates_database_feeds(store: Store) -> None:
    store.add_database_sources([("wire", "feed", URL, {"url": URL})], NOW)
    store.sync_sources([("inbox", "folder", "/srv/in", None)], NOW)
    store.sync_sources([], NOW + timedelta(minutes=1))
    assert rows_of(store) == {
        "inbox": (False, "removed from config", "config"),
        "wire": (True, None, "database"),
    }


def test_remove_keeps_the_state_and_add_resumes_it(store: Store) -> None:
    assert store.add_database_sources([("wire", "feed", URL, {"url": URL})], NOW) == {
        "wire": "added"
    }
    (row,) = store.claim_sources(None, "h:1", NOW, LEASE, limit=10)
    assert (row.origin, row.options) == ("database", {"url": URL})
    assert store.finish_poll(
        "wire", "h:1", NOW, state={"etag": "e1"}, result="ok", error=None, next_poll_at=NOW
    )
    assert store.remove_database_source("wire", NOW) == "removed"
    assert store.remove_database_source("wire", NOW) == "missing"
    assert store.claim_sources(None, "h:2", NOW, LEASE, limit=10, ignore_schedule=True) == []
    assert store.database_sources() == [] and store.database_source_ids() == frozenset()
    assert store.load_state("wire") == {"etag": "e1"}
    later = NOW + timedelta(hours=1)
    options = {"url": URL, "interval": "5m"}
    assert store.add_database_sources([("wire", "feed", URL, options)], later) == {
        "wire": "resumed"
    }
    (row,) = store.claim_sources(None, "h:3", later, LEASE, limit=10)
    assert (row.state, row.options, row.last_result) == ({"etag": "e1"}, options, "ok")
    assert store.add_database_sources([("wire", "feed", OTHER, {"url": OTHER})], later) == {
        "wire": "reset"
    }
    assert store.load_state("wire") is None


def test_an_id_in_both_places_is_reported_and_nothing_is_written(store: Store) -> None:
    store.add_database_sources([("wire", "feed", URL, {"url": URL})], NOW)
    assert store.sync_sources(
        [("inbox", "folder", "/srv/in", None), ("wire", "feed", URL, None)], NOW
    ) == ["wire"]
    assert rows_of(store) == {"wire": (True, None, "database")}
    assert store.remove_database_source("inbox", NOW) == "missing"
    # Once removed from the database, the config may take the id over (state kept).
    store.remove_database_source("wire", NOW)
    assert store.sync_sources([("wire", "feed", URL, None)], NOW) == []
    assert rows_of(store) == {"wire": (True, None, "config")}
    assert store.remove_database_source("wire", NOW) == "config"


def test_peek_reads_without_creating_or_migrating(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/var/monitor.db"
    assert peek_database_sources(url) == frozenset()
    assert not (tmp_path / "var").exists()
    s = Store.open(url)
    s.upgrade("0008")
    assert peek_database_sources(url) == frozenset()  # before 0009: none can exist
    s.upgrade()
    s.add_database_sources([("wire", "feed", URL, {"url": URL})], NOW)
    s.close()
    assert peek_database_sources(url) == {"wire"}
    assert peek_database_sources("nonsense") is None


# --- the checks a database feed shares with a [[feeds]] table ------------------------------


def problems(options: dict[str, object], source_id: str = "wire") -> dict[str, str]:
    with pytest.raises(ConfigError) as e:
        load_database_feed(source_id, options, timedelta(minutes=10), timedelta(days=1))
    return {p.key: p.message for p in e.value.problems}


def test_database_feeds_are_checked_like_tables(workdir: Path) -> None:
    assert problems({"url": URL, "interval": "5x", "first_poll": "maybe"}) == {
        "interval": "invalid duration '5x': use a number and ms, s, m, h, d or w",
        "first_poll": 'must be "skip" (store the backlog silently) or "alert"',
    }
    assert problems({"url": "ftp://x"}, "Bad_Id") == {
        "id": "required: letters a-z, digits and '-'",
        "url": "url: must be an http(s) URL, got 'ftp://x'",
    }
    assert problems({"url": URL, "headers": {}}) == {"headers": "unknown key"}
    # The same values in a table give the same messages.
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text() + FEEDS_TOML + 'interval = "5x"\n')
    with pytest.raises(ConfigError) as e:
        load_config(toml, env={})
    assert e.value.problems[0].message == problems({"url": URL, "interval": "5x"})["interval"]
    feed = load_database_feed("wire", {"url": URL, "tags": ["a"]}, timedelta(minutes=7), NOW - NOW)
    assert (feed.interval, feed.first_poll, feed.tags) == (timedelta(minutes=7), "skip", ("a",))


def test_feed_ids_from_urls() -> None:
    assert feed_id_for("https://rss.dw.com/rdf/rss-chi-all") == "rss-dw-com-rdf-rss-chi-all"
    assert feed_id_for("https://www.Example.org/News/?q=1") == "example-org-news"
    assert feed_id_for("https://x.example/" + "a" * 100) == "x-example-" + "a" * 50


def test_load_config_names_both_places_and_topics_may_name_database_feeds(
    workdir: Path,
) -> None:
    toml = workdir / "monitor.toml"
    toml.write_text(toml.read_text() + FEEDS_TOML)
    with (workdir / "watchlist.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[topics]]\nid = "wire-only"\nany = ["x"]\nsources = ["wire"]\n')
    with pytest.raises(ConfigError, match="no source with id 'wire'"):
        load_config(toml, env={})
    settings = load_config(toml, env={}, database_sources=lambda url: frozenset({"wire"}))
    assert settings.database_sources == {"wire"}
    with pytest.raises(ConfigError) as e:
        load_config(toml, env={}, database_sources=lambda url: frozenset({"wire", "news"}))
    (problem,) = e.value.problems
    assert problem.key == "feeds[0].id" and problem.line is not None
    assert "'news' is also a feed in the database" in problem.message
    assert "monitor feeds remove news" in problem.message
    # The database cannot be read: topics' sources are not checked rather than refused.
    assert load_config(toml, env={}, database_sources=lambda url: None).database_sources is None


# --- command line -------------------------------------------------------------------------


def test_add_list_export_remove_and_resume(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = cli / "monitor.toml"
    toml.write_text(toml.read_text() + FEEDS_TOML)
    assert run(cli, "feeds", "add", URL, "--interval", "5m", "--tags", "a, b") == 0
    assert "feed wire-example-feed-xml added" in capsys.readouterr().out
    assert run(cli, "feeds", "list") == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split()[:3] == ["feed", "from", "health"]
    assert [line.split()[:2] for line in listing[2:]] == [
        ["news", "toml"],
        ["wire-example-feed-xml", "db"],
    ]
    assert run(cli, "feeds", "export") == 0
    out = capsys.readouterr().out
    assert 'title="news" xmlUrl="https://news.example/feed.xml" monitor:from="toml"' in out
    assert f'xmlUrl="{URL}" category="a,b" monitor:from="db"' in out
    assert run(cli, "status") == 0
    status = [line.split()[:3] for line in capsys.readouterr().out.splitlines()]
    assert ["feed", "wire-example-feed-xml", "db"] in status
    assert run(cli, "feeds", "remove", "wire-example-feed-xml") == 0
    assert "state, articles and alerts are kept" in capsys.readouterr().out
    assert run(cli, "feeds", "list") == 0
    assert "wire-example" not in capsys.readouterr().out
    assert run(cli, "feeds", "remove", "wire-example-feed-xml") == 2
    assert run(cli, "feeds", "remove", "news") == 2
    assert "is defined in" in capsys.readouterr().err
    assert run(cli, "feeds", "add", URL) == 0  # the same URL → the same id: resumed
    assert "feed wire-example-feed-xml resumed" in capsys.readouterr().out
    assert run(cli, "feeds", "add", OTHER, "--id", "wire-example-feed-xml") == 0
    assert "starts afresh" in capsys.readouterr().out
    assert run(cli, "feeds", "add", URL) == 0  # its id now has another URL: a suffix
    assert "feed wire-example-feed-xml-2 added" in capsys.readouterr().out


def test_invalid_values_name_the_option(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cli, "feeds", "add", URL, "--interval", "5x", "--first-poll", "maybe") == 2
    err = capsys.readouterr().err
    assert "monitor: --interval: invalid duration '5x'" in err
    assert 'monitor: --first-poll: must be "skip" (store the backlog silently) or "alert"' in err
    assert run(cli, "feeds", "add", "ftp://x", "--id", "Bad", "--max-age", "7") == 2
    err = capsys.readouterr().err
    assert "monitor: --id: required: letters a-z, digits and '-'" in err
    assert "monitor: URL: must be an http(s) URL, got 'ftp://x'" in err
    assert "monitor: --max-age: invalid duration '7'" in err
    assert run(cli, "feeds", "add", URL, "--tags", "a,,b") == 2
    assert "--tags: must be a list of non-empty strings" in capsys.readouterr().err
    with closing(Store.open(load_config(cli / "monitor.toml").database)) as store:
        assert store.list_sources() == []  # nothing written


def test_an_id_in_both_places_is_an_error_naming_both(
    cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = cli / "monitor.toml"
    toml.write_text(toml.read_text() + FEEDS_TOML)
    assert run(cli, "feeds", "add", URL, "--id", "news") == 2
    err = capsys.readouterr().err
    assert "'news' is defined in" in err and "monitor.toml" in err and "database" in err
    assert run(cli, "feeds", "add", URL, "--id", "wire") == 0
    toml.write_text(toml.read_text() + f'\n[[feeds]]\nid = "wire"\nurl = "{URL}"\n')
    for command in (("check",), ("run", "--once"), ("feeds", "list")):
        assert run(cli, *command) == 2
        err = capsys.readouterr().err
        assert "[feeds[1].id] source id 'wire' is also a feed in the database" in err
    # A process given the config without the check (an App built directly) refuses to start.
    app = make_app(load_config(toml))
    with pytest.raises(ConfigError, match="defined both in this file and in the database"):
        app.start()
    app.close()


def test_a_reload_that_reuses_a_database_feeds_id_is_rejected(
    cli: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = cli / "monitor.toml"
    app = make_app(load_config(toml), now=clock)
    app.start()
    assert run(cli, "feeds", "add", URL, "--id", "wire") == 0
    toml.write_text(toml.read_text() + f'\n[[feeds]]\nid = "wire"\nurl = "{URL}"\n')
    from monitor.store import peek_database_sources as peek

    daemon = Daemon(app, reload_config=lambda: load_config(toml, database_sources=peek))
    assert asyncio.run(daemon.reload()) is False
    assert "source id 'wire' is also a feed in the database" in daemon.reload_result
    assert {r.id: r.origin for r in app.store.list_sources()}["wire"] == "database"
    app.close()


def test_remove_is_refused_while_a_topic_names_the_feed(
    cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(cli, "feeds", "add", URL, "--id", "wire") == 0
    with (cli / "watchlist.toml").open("a", encoding="utf-8") as f:
        f.write('\n[[topics]]\nid = "wire-only"\nany = ["x"]\nsources = ["wire"]\n')
    assert run(cli, "check") == 0  # topics may name database feeds
    assert "0 in the config, 1 in the database" in capsys.readouterr().out
    assert run(cli, "feeds", "remove", "wire") == 2
    assert "topic wire-only" in capsys.readouterr().err
    assert run(cli, "feeds", "list") == 0
    assert "wire" in capsys.readouterr().out


def test_import_db(cli: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = cli / "monitor.toml"
    toml.write_text(toml.read_text() + '\n[[feeds]]\nid = "dw"\nurl = "https://dw.example/x"\n')
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="2.0"><body>'
        '<outline text="DW" xmlUrl="https://rss.dw.com/rdf/rss-chi-all"/>'
        '<outline text="DW" xmlUrl="https://rss.dw.com/rdf/rss-chi-top"/>'
        "</body></opml>",
        encoding="utf-8",
    )
    assert run(cli, "feeds", "import", str(opml), "--db") == 0
    assert "2 feeds in the database" in capsys.readouterr().out
    assert run(cli, "feeds", "import", str(opml), "--db") == 0
    assert "(2 updated)" in capsys.readouterr().out
    settings = load_config(toml)
    with closing(Store.open(settings.database)) as store:
        kept = {r.id: r.url for r in store.database_sources()}
    # "dw" is the config's: the outlines get the next free ids.
    assert kept == {
        "dw-2": "https://rss.dw.com/rdf/rss-chi-all",
        "dw-3": "https://rss.dw.com/rdf/rss-chi-top",
    }
    assert toml.read_text().count("[[feeds]]") == 1  # the config is not touched
    bad = tmp_path / "bad.opml"
    bad.write_text('<opml version="2.0"><body><outline text="x" xmlUrl="ftp://x"/></body></opml>')
    assert run(cli, "feeds", "import", str(bad), "--db") == 2
    assert "URL: must be an http(s) URL" in capsys.readouterr().err


# --- a running daemon ----------------------------------------------------------------------


@respx.mock
def test_a_feed_added_while_the_daemon_runs_is_polled_at_the_next_tick(
    workdir: Path, clock: Clock, capsys: pytest.CaptureFixture[str]
) -> None:
    route = respx.get(URL).respond(200, content=rss(PUTIN))
    toml = workdir / "monitor.toml"
    assert run(workdir, "db", "upgrade") == 0
    clock.now = datetime.now(UTC) + timedelta(minutes=1)  # `feeds add` uses the real clock
    app = make_app(load_config(toml), now=clock)
    app.start()
    daemon = Daemon(app)

    async def tick() -> None:
        await daemon.sources_tick()
        await asyncio.gather(*daemon.in_flight)

    async def scenario() -> None:
        app.use_fetcher(app.make_fetcher())
        await tick()  # the folder only
        assert not route.called
        args = ("feeds", "add", URL, "--id", "wire", "--tags", "wires", "--first-poll", "alert")
        assert run(workdir, *args, "--allow-private-network") == 0
        await tick()
        assert route.call_count == 1
        assert app.pipeline.tags["wire"] == ("wires",)
        assert run(workdir, "feeds", "remove", "wire") == 0
        clock.advance(hours=2)
        await tick()
        assert route.call_count == 1  # removed: inactive, never claimed
        assert app.fetcher is not None
        await app.fetcher.aclose()

    asyncio.run(scenario())
    (row,) = [r for r in app.store.list_sources() if r.id == "wire"]
    assert (row.last_result, row.active, row.origin) == ("ok", False, "database")
    assert app.store.article_count() == 1
    app.close()
