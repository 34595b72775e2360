"""The store on a real SQLite file (and PostgreSQL when MONITOR_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import statistics
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from monitor.errors import StoreError
from monitor.models import Alert, Article, TopicRef
from monitor.pipeline import alert_id, delivery_id
from monitor.store import NewDelivery, Store

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def article(text: str = "正文" * 40, location: str = "a.txt") -> Article:
    from monitor.text import content_hash

    return Article("src", location, None, None, "Title", text, None, content_hash(text))


def alert_for(a: Article, topic: str = "t") -> Alert:
    return Alert(alert_id(a.content_hash, topic), TopicRef(topic, "T"), a, ("x",), ("x",), "s", NOW)


def test_sqlite_pragmas(tmp_path: Path) -> None:
    s = Store.open(f"sqlite:///{tmp_path}/m.db")
    with s.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    s.close()


def test_migrations_apply_once_and_report_status(tmp_path: Path) -> None:
    s = Store.open(f"sqlite:///{tmp_path}/m.db")
    assert s.migration_status() == (None, "0012")
    assert s.upgrade() == (None, "0012")
    assert s.upgrade() == ("0012", "0012")
    assert s.migration_status() == ("0012", "0012")
    s.close()


def test_a_database_of_release_0001_upgrades_and_keeps_folder_state(tmp_path: Path) -> None:
    s = Store.open(f"sqlite:///{tmp_path}/m.db")
    s.upgrade("0001")
    with s.engine.begin() as c:
        c.execute(
            sa.text("INSERT INTO source_state (source, state, updated_at) VALUES (:s, :st, :u)"),
            {"s": "inbox", "st": '{"files": {"a.txt": [1, 2, "h"]}}', "u": "2026-11-01 00:00:00"},
        )
    assert s.upgrade() == ("0001", "0012")
    assert s.load_state("inbox") == {"files": {"a.txt": [1, 2, "h"]}}
    (row,) = s.list_sources()
    assert (row.id, row.kind, row.active) == ("inbox", "folder", True)
    s.close()


def test_a_schema_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    s = Store.open(f"sqlite:///{tmp_path}/m.db")
    s.upgrade()
    with s.engine.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="newer than this monitor"):
        s.upgrade()
    s.close()


def test_head_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from monitor.store import base

    config = Config()
    config.set_main_option("script_location", str(base._MIGRATIONS))
    newest = ScriptDirectory.from_config(config).get_current_head()
    assert newest == base.HEAD, (
        f"monitor/store/base.py HEAD is {base.HEAD!r} but the newest migration is {newest!r}: "
        "set HEAD to the new revision (a database at head is recognised by it without Alembic)"
    )


def test_a_database_at_head_is_recognised_with_one_select(store: Store) -> None:
    statements: list[str] = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def _record(_c: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    assert store.upgrade() == ("0012", "0012")
    assert store.migration_status() == ("0012", "0012")
    # (SQLite's transactions open with BEGIN IMMEDIATE: monitor/store/base.py, DB-1)
    queries = [s for s in statements if s != "BEGIN IMMEDIATE"]
    assert queries == ["SELECT version_num FROM alembic_version"] * 2


def test_an_unknown_revision_is_still_refused_by_status_and_upgrade(store: Store) -> None:
    with store.engine.begin() as c:
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    assert store.migration_status() == ("9999", "0012")
    with pytest.raises(StoreError, match="newer than this monitor"):
        store.upgrade()


def test_an_older_database_is_migrated_through_alembic(tmp_path: Path) -> None:
    s = Store.open(f"sqlite:///{tmp_path}/m.db")
    s.upgrade("0010")
    assert s.migration_status() == ("0010", "0012")
    assert s.upgrade("0010") == ("0010", "0010")  # an explicit target never takes the shortcut
    assert s.upgrade() == ("0010", "0012")
    s.close()


def test_insert_if_absent_records_an_article_and_its_alerts_once(store: Store) -> None:
    a = article()
    alerts = [alert_for(a, "t1"), alert_for(a, "t2")]
    deliveries = [NewDelivery(delivery_id(x.id, "n"), x.id, "n") for x in alerts]
    assert store.add_article(a, alerts, deliveries, NOW) is True
    assert store.add_article(a, alerts, deliveries, NOW) is False
    same_text_other_file = article(location="b.txt")
    assert store.add_article(same_text_other_file, [], [], NOW) is False
    assert store.article_count() == 1
    assert store.delivery_counts() == {"pending": 2}
    due = store.due_deliveries(NOW)
    assert {d.alert.topic.id for d in due} == {"t1", "t2"}
    assert due[0].alert.article.text == a.text
    assert due[0].alert.created_at == NOW


def test_concurrent_writers_record_one_article(store: Store) -> None:
    a = article("同一篇文章" * 20)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def add() -> None:
        barrier.wait()
        results.append(store.add_article(a, [alert_for(a)], [], NOW))

    threads = [threading.Thread(target=add) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]


def _holding_a_write(store: Store, seconds: float, committed: list[float]) -> threading.Thread:
    """A thread that writes an article inside `batch`, keeps the transaction open for
    `seconds`, and appends the time it committed to `committed`."""
    held = threading.Event()

    def hold() -> None:
        with store.batch():
            store.add_article(article(f"未提交的文章{len(committed)}" * 20), [], [], NOW)
            held.set()
            time.sleep(seconds)
        committed.append(time.monotonic())

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(5)
    return thread


def test_a_read_does_not_wait_for_a_writer_and_sees_only_what_is_committed(
    store: Store,
) -> None:
    """`status`, the dashboard and the deliverer's checks read while the group commit holds
    the write lock (on SQLite, the database's only one)."""
    alert = alert_for(article())
    store.add_article(article(), [alert], [NewDelivery("d1", alert.id, "n")], NOW)
    writer = _holding_a_write(store, 1.5, [])
    started = time.monotonic()
    assert store.delivery_counts() == {"pending": 1}
    assert store.disabled_notifiers() == {}
    assert store.lease_owners(NOW) == set()
    waited = time.monotonic() - started
    writer.join()
    assert waited < 1.0, f"reads waited {waited:.2f} s for the writer"
    assert store.article_count() == 2


def test_a_writer_queued_behind_another_thread_starts_as_soon_as_it_commits(
    tmp_path: Path,
) -> None:
    """SQLite's busy handler sleeps 25–100 ms at a time once a thread has waited a little;
    this process's writers queue on a lock of their own instead, woken at the release."""
    store = Store.open(f"sqlite:///{tmp_path}/monitor.db")
    store.upgrade()
    delays, committed = [], []
    for n in range(5):
        writer = _holding_a_write(store, 0.4, committed)
        store.add_article(article(f"排隊的文章{n}" * 20), [], [], NOW)  # waits for the batch
        done = time.monotonic()
        writer.join()
        delays.append(done - committed[-1])
    store.close()
    assert statistics.median(delays) < 0.02, delays


def test_failed_and_dead_deliveries(store: Store) -> None:
    a = article()
    al = alert_for(a)
    d = NewDelivery(delivery_id(al.id, "n"), al.id, "n")
    store.add_article(a, [al], [d], NOW)
    later = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    store.mark_failed(d.id, NOW, "boom", later)
    assert store.due_deliveries(NOW) == []
    (waiting,) = store.due_deliveries(NOW, include_waiting=True)
    assert (waiting.attempts, waiting.last_error, waiting.next_attempt_at) == (1, "boom", later)
    (due,) = store.due_deliveries(later)
    assert due.id == d.id
    store.mark_failed(d.id, later, "fatal", None)
    assert store.due_deliveries(later, include_waiting=True) == []
    assert store.delivery_counts() == {"dead": 1}


def record_state(store: Store, source: str, state: object, now: datetime) -> None:
    """One poll of `source` through the lifecycle's store calls: claim, then finish."""
    (_claimed,) = store.claim_sources(
        None, "h:1", now, LEASE, limit=1, ids=[source], ignore_schedule=True
    )
    assert store.finish_poll(
        source, "h:1", now, state=state, result="ok", error=None, next_poll_at=now
    )


def test_source_state_round_trip(store: Store) -> None:
    assert store.load_state("inbox") is None
    store.sync_sources([("inbox", "folder", "/srv/in", None)], NOW)
    record_state(store, "inbox", {"files": {"a.txt": [1, 2, "h"]}}, NOW)
    record_state(store, "inbox", {"files": {"b.txt": [3, 4, "i"]}}, NOW)
    assert store.load_state("inbox") == {"files": {"b.txt": [3, 4, "i"]}}


def test_instances_record_start_heartbeat_and_reload(store: Store) -> None:
    later = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    store.record_instance("a", NOW, started=True)
    store.record_instance("a", later, reload_result="ok")
    (row,) = store.list_instances()
    assert (row["started_at"], row["heartbeat_at"], row["reload_result"]) == (NOW, later, "ok")
    store.record_instance("a", later, started=True)
    assert store.list_instances()[0]["reload_result"] is None


def test_delivery_leases_let_one_owner_at_a_time_claim(store: Store) -> None:
    a = article()
    al = alert_for(a)
    d = NewDelivery(delivery_id(al.id, "n"), al.id, "n")
    store.add_article(a, [al], [d], NOW)
    assert [x.id for x in store.due_deliveries(NOW, owner="host:1")] == [d.id]
    assert store.due_deliveries(NOW, owner="host:2") == []  # leased
    assert [x.id for x in store.due_deliveries(NOW, owner="host:2", dead_owners={"host:1"})] == [
        d.id
    ]
    later = NOW + timedelta(minutes=11)  # the lease (10 min) expired
    assert [x.id for x in store.due_deliveries(later, owner="host:3")] == [d.id]
    store.mark_sent_many([d.id], later)
    assert store.due_deliveries(later + timedelta(hours=1), owner="host:4") == []


LEASE = timedelta(minutes=5)


def instances_of(store: Store) -> dict[str, str | None]:
    from monitor.store.schema import sources

    with store.engine.connect() as c:
        return {row.id: row.instance for row in c.execute(sa.select(sources))}


def test_sync_sources_records_the_instance_and_a_change_keeps_the_state(store: Store) -> None:
    store.sync_sources(
        [("inbox", "folder", "/srv/in", "host-a"), ("dw", "feed", "https://dw/rss", None)], NOW
    )
    assert instances_of(store) == {"inbox": "host-a", "dw": None}
    record_state(store, "inbox", {"files": {}}, NOW)
    later = NOW + timedelta(hours=1)
    store.sync_sources(
        [("inbox", "folder", "/srv/in", "host-b"), ("dw", "feed", "https://dw/rss", None)], later
    )
    assert instances_of(store) == {"inbox": "host-b", "dw": None}
    assert store.load_state("inbox") == {"files": {}}  # same path: state kept
    store.sync_sources([("inbox", "folder", "/srv/in", None)], later)
    assert instances_of(store) == {"inbox": None, "dw": None}
    assert {s.id: s.active for s in store.list_sources()} == {"inbox": True, "dw": False}


def test_claim_sources_takes_only_this_instances_or_unbound_ones(store: Store) -> None:
    store.sync_sources(
        [
            ("any", "folder", "/srv/any", None),
            ("mine", "folder", "/srv/mine", "a"),
            ("theirs", "folder", "/srv/theirs", "b"),
        ],
        NOW,
    )
    claimed = store.claim_sources("folder", "a:1", NOW, LEASE, limit=10, instance="a")
    assert sorted(s.id for s in claimed) == ["any", "mine"]
    # No instance given: no filter, so the one left is taken.
    claimed = store.claim_sources("folder", "x:1", NOW, LEASE, limit=10)
    assert [s.id for s in claimed] == ["theirs"]


def test_claim_sources_of_every_kind_due_first_within_the_limit(store: Store) -> None:
    store.sync_sources(
        [("inbox", "folder", "/srv/in", None), ("dw", "feed", "https://dw/rss", None)], NOW
    )
    assert [s.id for s in store.claim_sources("feed", "h:1", NOW, LEASE, limit=10)] == ["dw"]
    assert store.finish_poll(
        "dw", "h:1", NOW, state=None, result="ok", error=None, next_poll_at=NOW - timedelta(hours=1)
    )
    (first,) = store.claim_sources(None, "h:2", NOW, LEASE, limit=1)
    assert first.id == "dw"  # due the earliest
    (second,) = store.claim_sources(None, "h:2", NOW, LEASE, limit=10)
    assert (second.id, second.kind) == ("inbox", "folder")
    assert store.claim_sources(None, "h:3", NOW, LEASE, limit=10) == []  # all leased


def test_in_a_batch_the_polls_are_recorded_together_at_its_end_or_not_at_all(
    store: Store,
) -> None:
    """Group commit: the finished polls of a batch are one executemany, run after
    everything else in it (a source's state never commits before its articles); a batch that
    fails records none of them, so the polls are repeated."""
    import sqlalchemy as sa

    ids = [f"f{n}" for n in range(20)]
    store.sync_sources([(i, "feed", f"https://news.example/{i}", None) for i in ids], NOW)
    assert len(store.claim_sources("feed", "h:1", NOW, LEASE, limit=50)) == 20
    later = NOW + timedelta(minutes=5)
    updates: list[tuple[str, bool]] = []
    sa.event.listen(
        store.engine,
        "before_cursor_execute",
        lambda _c, _cur, sql, _p, _ctx, many: updates.append((sql.split()[0], many)),
    )

    def finish(source: str) -> None:
        store.finish_poll(
            source, "h:1", NOW, state={"etag": source}, result="ok", error=None,
            next_poll_at=later,
        )  # fmt: skip

    with pytest.raises(RuntimeError), store.batch():
        for source in ids[:10]:
            finish(source)
        raise RuntimeError("the batch fails")
    assert {s.id for s in store.claim_sources("feed", "h:2", later, LEASE, limit=50)} == set()
    updates.clear()
    with store.batch():
        for source in ids:
            finish(source)
        store.ping()  # anything else in the batch runs first
    assert [u for u in updates if u[0] in ("SELECT", "UPDATE")] == [
        ("SELECT", False),
        ("UPDATE", True),
    ]
    assert {s.id: s.state for s in store.list_sources()} == {i: {"etag": i} for i in ids}
    assert len(store.claim_sources("feed", "h:2", later, LEASE, limit=50)) == 20  # released


def test_finish_poll_records_a_folder_poll_and_its_failure(store: Store) -> None:
    store.sync_sources([("inbox", "folder", "/srv/in", None)], NOW)
    (row,) = store.claim_sources("folder", "h:1", NOW, LEASE, limit=1)
    state = {"files": {"a.txt": [1, 2, "h"]}}
    assert not store.finish_poll(  # not the lease holder: nothing written
        "inbox", "h:2", NOW, state={}, result="ok", error=None, next_poll_at=NOW
    )
    later = NOW + timedelta(minutes=10)
    assert store.finish_poll(
        "inbox", "h:1", NOW, state=state, result="ok", error=None, next_poll_at=later
    )
    (done,) = store.list_sources()
    assert (done.state, done.last_result, done.last_poll_at, done.last_success_at) == (
        state,
        "ok",
        NOW,
        NOW,
    )
    assert (done.next_poll_at, done.consecutive_failures, done.failing_since) == (later, 0, None)
    assert store.claim_sources("folder", "h:1", NOW, LEASE, limit=1) == []  # not due yet
    (row,) = store.claim_sources("folder", "h:2", later, LEASE, limit=1)  # lease released
    assert row.state == state
    assert store.finish_poll(
        "inbox", "h:2", later, state=row.state, result="failed", error="folder missing",
        next_poll_at=later + timedelta(minutes=20),
    )  # fmt: skip
    (failed,) = store.list_sources()
    assert (failed.state, failed.last_result, failed.last_error) == (
        state,
        "failed",
        "folder missing",
    )
    assert (failed.consecutive_failures, failed.failing_since, failed.last_error_at) == (
        1,
        later,
        later,
    )
    assert failed.last_success_at == NOW


def test_dead_local_owners() -> None:
    import os
    import socket
    import subprocess
    import sys

    from monitor.leases import dead_local_owners

    host = socket.gethostname()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    owners = {f"{host}:{os.getpid()}", f"{host}:{child.pid}", f"other-host:{child.pid}", "odd"}
    assert dead_local_owners(owners) == {f"{host}:{child.pid}"}


def test_prune_article_text_keeps_hashes_snippets_and_unsent_texts(store: Store) -> None:
    old_sent, old_pending, old_bare, fresh = (
        article(f"舊文{i}" * 40, location=f"{i}.txt") for i in range(4)
    )
    alerts = {a.location: alert_for(a) for a in (old_sent, old_pending)}
    rows = {k: NewDelivery(delivery_id(al.id, "n"), al.id, "n") for k, al in alerts.items()}
    store.add_article(old_sent, [alerts["0.txt"]], [rows["0.txt"]], NOW)
    store.add_article(old_pending, [alerts["1.txt"]], [rows["1.txt"]], NOW)
    store.add_article(old_bare, [], [], NOW)
    store.add_article(fresh, [], [], NOW + timedelta(days=60))
    store.mark_sent_many([rows["0.txt"].id], NOW)

    assert store.prune_article_text(NOW + timedelta(days=1), batch=1) == 2
    texts = {a.location: a.text for _, a, _ in store.iter_articles(None)}
    assert texts == {"0.txt": "", "1.txt": old_pending.text, "2.txt": "", "3.txt": fresh.text}
    assert store.prune_article_text(NOW + timedelta(days=1)) == 0  # idempotent
    # Dedupe still works on the hash; the alert of a pruned article keeps its snippet.
    assert store.add_article(old_sent, [], [], NOW + timedelta(days=90)) is False
    assert store.find_articles(old_sent.content_hash)[0].text == ""
    with store.engine.connect() as c:
        assert c.execute(sa.text("SELECT snippet FROM alerts WHERE id = :i"),
                         {"i": alerts["0.txt"].id}).scalar_one() == "s"  # fmt: skip


def test_prune_deliveries_deletes_only_old_sent_ones(store: Store) -> None:
    made = []
    for i in range(4):
        a = article(f"投遞{i}" * 40, location=f"{i}.txt")
        al = alert_for(a)
        d = NewDelivery(delivery_id(al.id, "n"), al.id, "n")
        store.add_article(a, [al], [d], NOW)
        made.append(d.id)
    store.mark_sent_many([made[0]], NOW)  # old, sent: deleted
    store.mark_sent_many([made[1]], NOW + timedelta(days=40))  # recently sent: kept
    store.mark_failed(made[2], NOW, "gone", None)  # dead: kept however old
    # made[3] stays pending: kept however old
    assert store.prune_deliveries(NOW + timedelta(days=30)) == 1
    assert store.delivery_counts() == {"sent": 1, "dead": 1, "pending": 1}
    store.checkpoint()
    store.vacuum()
    assert store.delivery_counts() == {"sent": 1, "dead": 1, "pending": 1}


def test_checkpoint_truncates_the_wal(tmp_path: Path) -> None:
    s = Store.open(f"sqlite:///{tmp_path}/m.db")
    s.upgrade()
    for i in range(50):
        a = article(f"文章{i}" * 200, location=f"{i}.txt")
        s.add_article(a, [], [], NOW)
    wal = tmp_path / "m.db-wal"
    assert wal.stat().st_size > 0
    s.checkpoint()
    assert wal.stat().st_size == 0
    s.vacuum()
    assert s.article_count() == 50
    s.close()
