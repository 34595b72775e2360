"""The database: the only module that imports SQLAlchemy and Alembic.

Each public method is one short transaction and returns models, never ORM rows. Inserts are
insert-if-absent (`ON CONFLICT DO NOTHING`): the unique constraints ARE the dedupe, so two
overlapping runs or instances can never both record the same article or alert.
SQLite (default) runs in WAL mode with `synchronous=NORMAL` and `BEGIN IMMEDIATE` writers
(RELIABILITY.md DB-1); PostgreSQL is used as it comes.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError
from monitor.models import (
    Alert,
    Article,
    Delivery,
    DeliveryStatus,
    Notice,
    SourceHealth,
    TopicRef,
)
from monitor.store.schema import (
    alerts,
    articles,
    deliveries,
    instances,
    notices,
    notifier_state,
    sources,
)

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).with_name("migrations")
# Serializes migrations between instances sharing one PostgreSQL database.
_PG_MIGRATION_LOCK = 0x6D6F6E69  # "moni"


@dataclass(frozen=True)
class DisabledNotifier:
    """A notifier whose destination is gone; delivery waits for `monitor notifiers enable`."""

    name: str
    disabled_at: datetime
    reason: str


@dataclass(frozen=True)
class NewDelivery:
    """A delivery row to create with its alert: the outbox entry."""

    id: str
    alert_id: str
    notifier: str
    next_attempt_at: datetime | None = None  # None: due at once (the `now` of `add_article`)


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get their folder created and the pragmas of DB-1."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, connect_args={"timeout": 5.0})
        _configure_sqlite(engine)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    # SQLAlchemy's pysqlite recipe: let SQLAlchemy, not the driver, emit BEGIN, and make every
    # transaction take the write lock up front, so two writers queue on busy_timeout instead
    # of failing with "database is locked" when one upgrades a read lock.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Housekeeping (checkpoint, VACUUM) runs outside any transaction: AUTOCOMMIT.
        if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            connection.exec_driver_sql("BEGIN IMMEDIATE")


class Store:
    """monitor's state in one SQLAlchemy database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        # Both dialects spell insert-if-absent as INSERT … ON CONFLICT DO NOTHING.
        if self._dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self._insert: Any = pg_insert
        elif self._dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self._insert = sqlite_insert
        else:
            raise StoreError(f"unsupported database {self._dialect!r}: use SQLite or PostgreSQL")

    @classmethod
    def open(cls, url: str) -> Store:
        try:
            return cls(make_engine(url))
        except (SQLAlchemyError, OSError, ImportError) as e:
            raise StoreError(f"cannot open database: {e}") from e

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """A round trip to the database (the watchdog's health check); `StoreError` if down."""
        with self._transaction() as connection:
            connection.execute(sa.text("SELECT 1"))

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as e:
            raise StoreError(f"database error: {e.__class__.__name__}: {e}") from e

    # --- schema -------------------------------------------------------------------------

    def _alembic_config(self, connection: Connection) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = connection
        return config

    def migration_status(self) -> tuple[str | None, str]:
        """(current revision or None for an empty database, newest revision this code knows)."""
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        with self._transaction() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            head = ScriptDirectory.from_config(self._alembic_config(connection)).get_current_head()
        assert head is not None
        return current, head

    def upgrade(self, target: str = "head") -> tuple[str | None, str]:
        """Apply pending migrations under a lock; returns (revision before, revision after).

        SQLite: the migration runs in one `BEGIN IMMEDIATE` transaction (DDL is transactional
        there, so an interrupted migration leaves the old schema). PostgreSQL: an advisory
        transaction lock makes concurrent starts wait for the first one's migration.
        """
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        with self._transaction() as connection:
            if self._dialect == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                )
            config = self._alembic_config(connection)
            script = ScriptDirectory.from_config(config)
            before = MigrationContext.configure(connection).get_current_revision()
            head = script.get_current_head()
            assert head is not None
            if before is not None and before != head and not _is_known(script, before):
                raise StoreError(
                    f"database schema {before} is newer than this monitor (knows up to {head}); "
                    "upgrade monitor"
                )
            if target != "head":  # tests build databases of earlier releases
                command.upgrade(config, target)
                return before, target
            if before != head:
                command.upgrade(config, "head")
                log.info("migrated database from=%s to=%s", before or "empty", head)
        return before, head

    # --- articles and the outbox --------------------------------------------------------

    def add_article(
        self,
        article: Article,
        new_alerts: Sequence[Alert],
        new_deliveries: Sequence[NewDelivery],
        now: datetime,
        previous_id: int | None = None,
    ) -> bool:
        """Store the article with its alerts and deliveries in one transaction, if it is new.

        Returns False (and writes nothing) when an article with the same content hash exists.
        """
        with self._transaction() as connection:
            inserted = connection.execute(
                self._insert(articles)
                .values(
                    content_hash=article.content_hash,
                    source=article.source,
                    location=article.location,
                    url=article.url,
                    guid=article.guid,
                    title=article.title,
                    text=article.text,
                    published=article.published,
                    first_seen=now,
                    previous_id=previous_id,
                )
                .on_conflict_do_nothing(index_elements=["content_hash"])
                .returning(articles.c.id)
            ).first()
            if inserted is None:
                return False
            if new_alerts:
                connection.execute(
                    self._insert(alerts).on_conflict_do_nothing(),
                    [_alert_values(alert, inserted.id) for alert in new_alerts],
                )
            if new_deliveries:
                connection.execute(
                    self._insert(deliveries).on_conflict_do_nothing(),
                    [
                        _delivery_values(d, now, seq=inserted.id * _SEQ_SPAN + n)
                        for n, d in enumerate(new_deliveries)
                    ],
                )
            return True

    def count_alerts_since(self, topic_id: str, since: datetime) -> tuple[int, datetime | None]:
        """How many alerts of a topic were created after `since`, and when the first of them was
        (`max_alerts_per_hour`). Scans the topic's alerts: no index on (topic, time) yet."""
        query = sa.select(sa.func.count(), sa.func.min(alerts.c.created_at)).where(
            alerts.c.topic_id == topic_id, alerts.c.created_at > since
        )
        with self._transaction() as connection:
            count, first = connection.execute(query).one()
        return int(count), first

    def due_deliveries(
        self,
        now: datetime,
        *,
        include_waiting: bool = False,
        limit: int = 100,
        exclude_notifiers: Sequence[str] = (),
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=10),
        dead_owners: Collection[str] = (),
    ) -> list[Delivery]:
        """Pending deliveries due at `now`; with `include_waiting`, every pending one.

        With `owner`, the deliveries are also claimed: each gets a lease (a conditional
        UPDATE that only one process can win), so instances sharing a database never send
        the same delivery at once; a dead instance's leases expire and others take over.
        """
        free = sa.or_(
            deliveries.c.lease_until.is_(None),
            deliveries.c.lease_until < now,
            deliveries.c.lease_owner.in_(list(dead_owners)),
        )
        query = _delivery_query().where(deliveries.c.status == DeliveryStatus.PENDING.value, free)
        if exclude_notifiers:
            query = query.where(deliveries.c.notifier.not_in(list(exclude_notifiers)))
        if not include_waiting:
            query = query.where(deliveries.c.next_attempt_at <= now)
        # Oldest first, then in the order articles arrived (seq), so people read alerts in
        # order. Only deliveries' own columns: the index ix_deliveries_due serves the sort,
        # so a large backlog costs a LIMIT, not a join and sort of every pending row.
        query = query.order_by(
            deliveries.c.next_attempt_at, deliveries.c.seq, deliveries.c.id
        ).limit(limit)
        with self._transaction() as connection:
            found = [_delivery(row) for row in connection.execute(query)]
            if owner is None:
                return found
            claimed = []
            for delivery in found:
                won = connection.execute(
                    deliveries.update()
                    .where(
                        deliveries.c.id == delivery.id,
                        deliveries.c.status == DeliveryStatus.PENDING.value,
                        free,
                    )
                    .values(lease_owner=owner, lease_until=now + lease)
                ).rowcount
                if won == 1:
                    claimed.append(delivery)
            return claimed

    def lease_owners(self, now: datetime) -> set[str]:
        """Owners of unexpired leases on deliveries and sources (to spot dead local ones)."""
        with self._transaction() as connection:
            owners = set(
                connection.execute(
                    sa.select(deliveries.c.lease_owner).where(deliveries.c.lease_until >= now)
                ).scalars()
            )
            owners |= set(
                connection.execute(
                    sa.select(sources.c.lease_owner).where(sources.c.lease_until >= now)
                ).scalars()
            )
        return {owner for owner in owners if owner}

    def release(self, delivery_ids: Collection[str], owner: str) -> None:
        """Give back `owner`'s leases on deliveries it will not send now."""
        if delivery_ids:
            with self._transaction() as connection:
                connection.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_(list(delivery_ids)))
                    .where(deliveries.c.lease_owner == owner)
                    .values(lease_owner=None, lease_until=None)
                )

    def mark_sent(self, delivery_id: str, now: datetime) -> None:
        self.mark_sent_many([delivery_id], now)

    def mark_sent_many(self, delivery_ids: Sequence[str], now: datetime) -> None:
        """Record deliveries as sent, in one transaction."""
        with self._transaction() as connection:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(list(delivery_ids)))
                .values(
                    status=DeliveryStatus.SENT.value,
                    attempts=deliveries.c.attempts + 1,
                    last_error=None,
                    updated_at=now,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    def mark_failed(
        self, delivery_id: str, now: datetime, error: str, next_attempt_at: datetime | None
    ) -> None:
        """Record a failed attempt; `next_attempt_at=None` makes the delivery dead."""
        values: dict[str, Any] = {
            "attempts": deliveries.c.attempts + 1,
            "last_error": error[:2000],
            "updated_at": now,
            "lease_owner": None,
            "lease_until": None,
        }
        if next_attempt_at is None:
            values["status"] = DeliveryStatus.DEAD.value
        else:
            values["next_attempt_at"] = next_attempt_at
        with self._transaction() as connection:
            connection.execute(
                deliveries.update().where(deliveries.c.id == delivery_id).values(**values)
            )

    def postpone(self, delivery_ids: Sequence[str], until: datetime, now: datetime) -> None:
        """Move pending deliveries to `until` without counting an attempt (digest periods)."""
        if not delivery_ids:
            return
        with self._transaction() as connection:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(list(delivery_ids)))
                .where(deliveries.c.status == DeliveryStatus.PENDING.value)
                .values(next_attempt_at=until, updated_at=now, lease_owner=None, lease_until=None)
            )

    def list_deliveries(
        self, statuses: Sequence[DeliveryStatus], *, limit: int = 1000
    ) -> list[Delivery]:
        """Deliveries in `statuses`, oldest first (`monitor alerts list`)."""
        query = (
            _delivery_query()
            .where(deliveries.c.status.in_([s.value for s in statuses]))
            .order_by(alerts.c.created_at, deliveries.c.id)
            .limit(limit)
        )
        with self._transaction() as connection:
            return [_delivery(row) for row in connection.execute(query)]

    def requeue(
        self, now: datetime, *, ids: Sequence[str] = (), all_dead: bool = False
    ) -> list[str]:
        """Dead deliveries back to pending, due `now`, attempts kept; returns their ids.

        `ids` may name deliveries (`msg_…`) or alerts (`alert_…`: all their dead deliveries).
        """
        dead = deliveries.c.status == DeliveryStatus.DEAD.value
        if all_dead:
            condition = dead
        else:
            wanted = list(ids)
            condition = dead & (deliveries.c.id.in_(wanted) | deliveries.c.alert_id.in_(wanted))
        with self._transaction() as connection:
            found = [
                row.id for row in connection.execute(sa.select(deliveries.c.id).where(condition))
            ]
            if found:
                connection.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_(found))
                    .values(
                        status=DeliveryStatus.PENDING.value, next_attempt_at=now, updated_at=now
                    )
                )
        return found

    # --- notifier state -----------------------------------------------------------------

    def disable_notifier(self, name: str, now: datetime, reason: str) -> None:
        statement = self._insert(notifier_state).values(
            name=name, disabled_at=now, reason=reason[:2000]
        )
        statement = statement.on_conflict_do_nothing(index_elements=["name"])
        with self._transaction() as connection:
            connection.execute(statement)

    def enable_notifier(self, name: str) -> bool:
        """Re-enable a disabled notifier; False if it was not disabled."""
        with self._transaction() as connection:
            result = connection.execute(
                notifier_state.delete().where(notifier_state.c.name == name)
            )
        return bool(result.rowcount)

    def disabled_notifiers(self) -> dict[str, DisabledNotifier]:
        with self._transaction() as connection:
            rows = connection.execute(sa.select(notifier_state)).all()
        return {r.name: DisabledNotifier(r.name, r.disabled_at, r.reason) for r in rows}

    def delivery_counts(self) -> dict[str, int]:
        """Deliveries by status, for `status` output and tests."""
        query = sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
        with self._transaction() as connection:
            return {status: count for status, count in connection.execute(query)}

    def queue_summary(self, now: datetime) -> dict[str, int]:
        """For `monitor status`: pending, failing (pending after a failure), dead, sent in 24 h."""
        d = deliveries.c
        query = sa.select(
            sa.func.count().filter(d.status == DeliveryStatus.PENDING.value),
            sa.func.count().filter(d.status == DeliveryStatus.PENDING.value, d.attempts > 0),
            sa.func.count().filter(d.status == DeliveryStatus.DEAD.value),
            sa.func.count().filter(
                d.status == DeliveryStatus.SENT.value, d.updated_at >= now - timedelta(days=1)
            ),
        )
        with self._transaction() as connection:
            pending, failing, dead, sent = connection.execute(query).one()
        return {"pending": pending, "failing": failing, "dead": dead, "sent_24h": sent}

    def size_bytes(self) -> int | None:
        """The database's size on disk (SQLite file + WAL, or pg_database_size)."""
        if self._dialect == "sqlite":
            database = self.engine.url.database
            if not database or database == ":memory:":
                return None
            return sum(
                Path(database + suffix).stat().st_size
                for suffix in ("", "-wal")
                if Path(database + suffix).exists()
            )
        with self._transaction() as connection:
            return int(
                connection.execute(
                    sa.text("SELECT pg_database_size(current_database())")
                ).scalar_one()
            )

    def article_count(self) -> int:
        with self._transaction() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(articles)).scalar_one()
            )

    # --- housekeeping (`[retention]`, `monitor db prune`) ------------------------------------

    def prune_article_text(self, before: datetime, *, batch: int = 500) -> int:
        """Blank the text of articles first seen before `before`; returns how many.

        The row stays with its content hash, so the article is still a duplicate when it
        comes again, and its alerts keep their snippet. An article with a delivery still
        pending or dead keeps its text: that alert may yet be sent (or requeued).
        Short batches, so a large prune never holds the write lock for long.
        """
        unsent = (
            sa.select(alerts.c.article_id)
            .join(deliveries, deliveries.c.alert_id == alerts.c.id)
            .where(deliveries.c.status != DeliveryStatus.SENT.value)
        )
        done = 0
        while True:
            with self._transaction() as connection:
                ids = (
                    connection.execute(
                        sa.select(articles.c.id)
                        .where(
                            articles.c.first_seen < before,
                            articles.c.text != "",
                            articles.c.id.not_in(unsent),
                        )
                        .limit(batch)
                    )
                    .scalars()
                    .all()
                )
                if ids:
                    connection.execute(
                        articles.update().where(articles.c.id.in_(ids)).values(text="")
                    )
            done += len(ids)
            if len(ids) < batch:
                return done

    def prune_deliveries(self, before: datetime) -> int:
        """Delete sent deliveries sent before `before` (never pending or dead ones)."""
        with self._transaction() as connection:
            return int(
                connection.execute(
                    deliveries.delete().where(
                        deliveries.c.status == DeliveryStatus.SENT.value,
                        deliveries.c.updated_at < before,
                    )
                ).rowcount
            )

    def checkpoint(self) -> None:
        """SQLite: move the WAL into the database and truncate it (RELIABILITY.md DB-3).

        A no-op on PostgreSQL. Readers still inside an older snapshot keep their part of the
        WAL; the checkpoint then does what it can and the next one finishes.
        """
        if self._dialect != "sqlite":
            return
        try:
            with self.engine.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except SQLAlchemyError as e:
            raise StoreError(f"database error: {e.__class__.__name__}: {e}") from e

    def vacuum(self) -> None:
        """Give the space of deleted rows and blanked texts back to the file system.

        SQLite: `VACUUM` rewrites the whole file (it needs as much free disk again, and holds
        the write lock meanwhile), then the WAL is truncated. PostgreSQL: a plain `VACUUM`
        (space for reuse, no exclusive lock), outside a transaction as it must be.
        """
        try:
            with self.engine.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                if self._dialect == "sqlite":
                    connection.exec_driver_sql("VACUUM")
                else:
                    for table in (articles, alerts, deliveries):
                        connection.exec_driver_sql(f"VACUUM {table.name}")
        except SQLAlchemyError as e:
            raise StoreError(f"database error: {e.__class__.__name__}: {e}") from e
        self.checkpoint()

    # --- stored articles: explain, replay, topics ------------------------------------------

    def find_articles(self, hash_prefix: str, limit: int = 2) -> list[Article]:
        """Articles whose content hash starts with `hash_prefix` (with or without `v1:`)."""
        prefix = hash_prefix if ":" in hash_prefix else f"v1:{hash_prefix}"
        query = (
            sa.select(articles)
            .where(articles.c.content_hash.startswith(prefix, autoescape=True))
            .order_by(articles.c.id)
            .limit(limit)
        )
        with self._transaction() as connection:
            return [_article(row) for row in connection.execute(query)]

    def iter_articles(
        self, since: datetime | None, *, batch: int = 500
    ) -> Iterator[tuple[int, Article, set[str]]]:
        """(id, article, topics already alerted) first seen since `since`, oldest first.

        Keyset pagination in short transactions, so a long replay never holds a lock.
        """
        last_id = 0
        while True:
            query = sa.select(articles).where(articles.c.id > last_id)
            if since is not None:
                query = query.where(articles.c.first_seen >= since)
            query = query.order_by(articles.c.id).limit(batch)
            with self._transaction() as connection:
                rows = connection.execute(query).all()
                if not rows:
                    return
                alerted: dict[int, set[str]] = {}
                for article_id, topic_id in connection.execute(
                    sa.select(alerts.c.article_id, alerts.c.topic_id).where(
                        alerts.c.article_id.in_([r.id for r in rows])
                    )
                ):
                    alerted.setdefault(article_id, set()).add(topic_id)
            for row in rows:
                yield row.id, _article(row), alerted.get(row.id, set())
            last_id = rows[-1].id

    def count_articles(self, since: datetime | None) -> int:
        query = sa.select(sa.func.count()).select_from(articles)
        if since is not None:
            query = query.where(articles.c.first_seen >= since)
        with self._transaction() as connection:
            return int(connection.execute(query).scalar_one())

    def add_alerts(
        self,
        article_id: int,
        new_alerts: Sequence[Alert],
        new_deliveries: Sequence[NewDelivery],
        now: datetime,
    ) -> int:
        """Alerts for an article already stored (replay --send); insert-if-absent. Returns
        how many alerts were new; deliveries are only created for those.
        """
        if not new_alerts:
            return 0
        with self._transaction() as connection:
            inserted = (
                connection.execute(
                    self._insert(alerts)
                    .values([_alert_values(a, article_id) for a in new_alerts])
                    .on_conflict_do_nothing()
                    .returning(alerts.c.id)
                )
                .scalars()
                .all()
            )
            fresh = set(inserted)
            rows = [
                _delivery_values(d, now, seq=article_id * _SEQ_SPAN + n)
                for n, d in enumerate(new_deliveries)
                if d.alert_id in fresh
            ]
            if rows:
                connection.execute(self._insert(deliveries).on_conflict_do_nothing(), rows)
            return len(fresh)

    def topic_counts(self, now: datetime) -> dict[str, tuple[int, int]]:
        """Alerts per topic in the last 24 h and 7 days."""
        query = (
            sa.select(
                alerts.c.topic_id,
                sa.func.count().filter(alerts.c.created_at >= now - timedelta(days=1)),
                sa.func.count(),
            )
            .where(alerts.c.created_at >= now - timedelta(days=7))
            .group_by(alerts.c.topic_id)
        )
        with self._transaction() as connection:
            return {topic: (day, week) for topic, day, week in connection.execute(query)}

    # --- instances ------------------------------------------------------------------------

    def record_instance(
        self,
        name: str,
        now: datetime,
        *,
        started: bool = False,
        reload_result: str | None = None,
    ) -> None:
        """A daemon's heartbeat (and start, and last reload result) for `monitor status`."""
        values: dict[str, Any] = {"heartbeat_at": now}
        if started:
            values.update(started_at=now, reload_at=None, reload_result=None)
        if reload_result is not None:
            values.update(reload_at=now, reload_result=reload_result)
        statement = self._insert(instances).values({"name": name, "started_at": now, **values})
        statement = statement.on_conflict_do_update(index_elements=["name"], set_=values)
        with self._transaction() as connection:
            connection.execute(statement)

    def list_instances(self) -> list[dict[str, Any]]:
        with self._transaction() as connection:
            rows = connection.execute(sa.select(instances).order_by(instances.c.name))
            return [dict(row._mapping) for row in rows]

    def find_version(self, source: str, guid: str) -> tuple[int, set[str]] | None:
        """The newest stored version of a feed entry: (article id, topics it alerted for)."""
        query = (
            sa.select(articles.c.id)
            .where(articles.c.source == source, articles.c.guid == guid)
            .order_by(articles.c.id.desc())
            .limit(1)
        )
        with self._transaction() as connection:
            row = connection.execute(query).first()
            if row is None:
                return None
            topics = connection.execute(
                sa.select(alerts.c.topic_id).where(alerts.c.article_id == row.id)
            ).scalars()
            return row.id, set(topics)

    # --- sources: schedule, leases, health -------------------------------------------------

    def sync_sources(self, configured: Sequence[tuple[str, str, str]], now: datetime) -> None:
        """Make the table match the config: (id, kind, url) rows; others become inactive.

        A source whose URL changed starts fresh (state and health reset); one that comes
        back to the config is active again, unless it was disabled for another reason (410).
        """
        removed = "removed from config"
        with self._transaction() as connection:
            existing = {
                row.id: row
                for row in connection.execute(
                    sa.select(
                        sources.c.id, sources.c.url, sources.c.active, sources.c.disabled_reason
                    )
                )
            }
            for source_id, kind, url in configured:
                row = existing.get(source_id)
                if row is None:
                    connection.execute(
                        self._insert(sources)
                        .values(
                            id=source_id,
                            kind=kind,
                            url=url,
                            active=True,
                            next_poll_at=now,
                            consecutive_failures=0,
                            updated_at=now,
                        )
                        .on_conflict_do_nothing(index_elements=["id"])
                    )
                elif row.url != url and row.url is not None:
                    connection.execute(
                        sources.update()
                        .where(sources.c.id == source_id)
                        .values(
                            kind=kind,
                            url=url,
                            active=True,
                            disabled_reason=None,
                            state=None,
                            next_poll_at=now,
                            hold_until=None,
                            last_result=None,
                            last_success_at=None,
                            last_error_at=None,
                            last_error=None,
                            consecutive_failures=0,
                            updated_at=now,
                        )
                    )
                elif row.url is None or (not row.active and row.disabled_reason == removed):
                    connection.execute(
                        sources.update()
                        .where(sources.c.id == source_id)
                        .values(
                            kind=kind, url=url, active=True, disabled_reason=None, updated_at=now
                        )
                    )
            gone = set(existing) - {source_id for source_id, _, _ in configured}
            if gone:
                connection.execute(
                    sources.update()
                    .where(sources.c.id.in_(gone), sources.c.active.is_(True))
                    .values(active=False, disabled_reason=removed, updated_at=now)
                )

    def claim_sources(
        self,
        kind: str,
        owner: str,
        now: datetime,
        lease: timedelta,
        *,
        limit: int,
        ids: Sequence[str] | None = None,
        ignore_schedule: bool = False,
        dead_owners: Collection[str] = (),
    ) -> list[SourceHealth]:
        """Lease due sources for `owner`: a conditional UPDATE per row, so only one owner wins.

        `ignore_schedule` (`run --once`) takes sources before their next poll time, but never
        an inactive one or one under a Retry-After hold.
        """
        free = sa.or_(
            sources.c.lease_until.is_(None),
            sources.c.lease_until < now,
            sources.c.lease_owner.in_(list(dead_owners)),
        )
        conditions = [
            sources.c.kind == kind,
            sources.c.active.is_(True),
            sa.or_(sources.c.hold_until.is_(None), sources.c.hold_until <= now),
            free,
        ]
        if not ignore_schedule:
            conditions.append(sources.c.next_poll_at <= now)
        if ids is not None:
            conditions.append(sources.c.id.in_(list(ids)))
        claimed: list[SourceHealth] = []
        with self._transaction() as connection:
            candidates = (
                connection.execute(
                    sa.select(sources.c.id)
                    .where(*conditions)
                    .order_by(sources.c.next_poll_at)
                    .limit(limit)
                )
                .scalars()
                .all()
            )
            for source_id in candidates:
                won = connection.execute(
                    sources.update()
                    .where(sources.c.id == source_id, *conditions)
                    .values(lease_owner=owner, lease_until=now + lease)
                ).rowcount
                if won == 1:
                    row = connection.execute(
                        sa.select(sources).where(sources.c.id == source_id)
                    ).one()
                    claimed.append(_source(row))
        return claimed

    def finish_poll(
        self,
        source_id: str,
        owner: str,
        now: datetime,
        *,
        state: Any,
        result: str,
        error: str | None,
        next_poll_at: datetime,
        hold_until: datetime | None = None,
        disable_reason: str | None = None,
    ) -> None:
        """Record a poll's result and release the lease (only the lease holder may)."""
        values: dict[str, Any] = {
            "state": state,
            "last_poll_at": now,
            "last_result": result,
            "next_poll_at": next_poll_at,
            "hold_until": hold_until,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": now,
        }
        if error is None:
            values.update(last_success_at=now, consecutive_failures=0, failing_since=None)
        else:
            values.update(
                last_error_at=now,
                last_error=error[:2000],
                consecutive_failures=sources.c.consecutive_failures + 1,
                failing_since=sa.func.coalesce(sources.c.failing_since, now),
            )
        if disable_reason:
            values.update(active=False, disabled_reason=disable_reason)
        with self._transaction() as connection:
            connection.execute(
                sources.update()
                .where(sources.c.id == source_id, sources.c.lease_owner == owner)
                .values(**values)
            )

    def add_notice(
        self,
        notice: Notice,
        new_deliveries: Sequence[NewDelivery],
        now: datetime,
        *,
        failing: bool,
    ) -> bool:
        """Queue an operator notice (deliveries whose `alert_id` is the notice id) and mark
        the source as notified (or not), in one transaction; False if it already exists."""
        with self._transaction() as connection:
            inserted = connection.execute(
                self._insert(notices)
                .values(
                    id=notice.id,
                    event=notice.event,
                    source=notice.source,
                    created_at=notice.created_at,
                    data=dict(notice.data),
                )
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(notices.c.id)
            ).first()
            connection.execute(
                sources.update()
                .where(sources.c.id == notice.source)
                .values(failing_notified_at=now if failing else None)
            )
            if inserted is None:
                return False
            if new_deliveries:
                connection.execute(
                    self._insert(deliveries).on_conflict_do_nothing(),
                    [
                        {**_delivery_values(d, now), "alert_id": None, "notice_id": notice.id}
                        for d in new_deliveries
                    ],
                )
            return True

    def enable_source(self, source_id: str, now: datetime) -> bool:
        """Re-enable a source disabled by a 410 (or any reason); False if there is no such row."""
        with self._transaction() as connection:
            return (
                connection.execute(
                    sources.update()
                    .where(sources.c.id == source_id)
                    .values(
                        active=True,
                        disabled_reason=None,
                        next_poll_at=now,
                        hold_until=None,
                        updated_at=now,
                    )
                ).rowcount
                == 1
            )

    def list_sources(self) -> list[SourceHealth]:
        with self._transaction() as connection:
            rows = connection.execute(sa.select(sources).order_by(sources.c.kind, sources.c.id))
            return [_source(row) for row in rows]

    def load_state(self, source: str) -> Any:
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(sources.c.state).where(sources.c.id == source)
            ).first()
        return row.state if row else None

    def save_state(self, source: str, state: Any, now: datetime, *, kind: str = "folder") -> None:
        """Folders keep their state here between scans (feeds record it with `finish_poll`)."""
        statement = self._insert(sources).values(
            id=source,
            kind=kind,
            active=True,
            state=state,
            next_poll_at=now,
            consecutive_failures=0,
            updated_at=now,
            last_poll_at=now,
            last_success_at=now,
            last_result="ok",
        )
        statement = statement.on_conflict_do_update(
            index_elements=["id"],
            set_={
                "state": state,
                "updated_at": now,
                "last_poll_at": now,
                "last_success_at": now,
                "last_result": "ok",
                "consecutive_failures": 0,
            },
        )
        with self._transaction() as connection:
            connection.execute(statement)

    def record_source_failure(self, source: str, now: datetime, error: str) -> None:
        """A folder scan failed as a whole (folder missing): keep it visible in `status`."""
        with self._transaction() as connection:
            connection.execute(
                sources.update()
                .where(sources.c.id == source)
                .values(
                    last_poll_at=now,
                    last_result="error",
                    last_error_at=now,
                    last_error=error[:2000],
                    consecutive_failures=sources.c.consecutive_failures + 1,
                    updated_at=now,
                )
            )


def _is_known(script: Any, revision: str) -> bool:
    from alembic.script.revision import ResolutionError
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except (ResolutionError, CommandError):
        return False


def _delivery_query() -> sa.Select[Any]:
    return (
        sa.select(
            deliveries,
            alerts.c.topic_id,
            alerts.c.topic_title,
            alerts.c.matched,
            alerts.c.found,
            alerts.c.snippet,
            alerts.c.created_at,
            articles.c.content_hash,
            articles.c.source,
            articles.c.location,
            articles.c.url,
            articles.c.guid,
            articles.c.title,
            articles.c.text,
            articles.c.published,
            notices.c.event.label("notice_event"),
            notices.c.source.label("notice_source"),
            notices.c.created_at.label("notice_created_at"),
            notices.c.data.label("notice_data"),
        )
        .outerjoin(alerts, alerts.c.id == deliveries.c.alert_id)
        .outerjoin(articles, articles.c.id == alerts.c.article_id)
        .outerjoin(notices, notices.c.id == deliveries.c.notice_id)
    )


def _delivery(row: Any) -> Delivery:
    if row.notice_id is not None:
        notice = Notice(
            row.notice_id, row.notice_event, row.notice_source, row.notice_created_at,
            row.notice_data,
        )  # fmt: skip
        return Delivery(
            id=row.id,
            alert=notice_as_alert(notice),
            notifier=row.notifier,
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_error=row.last_error,
            notice=notice,
        )
    article = _article(row)
    alert = Alert(
        id=row.alert_id,
        topic=TopicRef(row.topic_id, row.topic_title),
        article=article,
        matched=tuple(row.matched),
        found=tuple(row.found),
        snippet=row.snippet,
        created_at=row.created_at,
    )
    return Delivery(
        id=row.id,
        alert=alert,
        notifier=row.notifier,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
    )


def notice_as_alert(notice: Notice) -> Alert:
    """A plain-text rendering of a notice in the shape of an alert, for notifiers that only
    render alerts (console, email, chat): title and text say what happened and since when."""
    data = notice.data
    if notice.event == "source.failing":
        title = f"Source {notice.source} failing since {data.get('since', '?')}"
        text = (
            f"{data.get('consecutive_failures', '?')} consecutive failures; last error: "
            f"{data.get('error', '?')}"
        )
    else:
        title = f"Source {notice.source} recovered"
        text = f"Polled successfully again after failing since {data.get('since', '?')}."
    url = data.get("url")
    article = Article(
        source=notice.source,
        location=str(url or notice.source),
        url=url if isinstance(url, str) and url.startswith(("http://", "https://")) else None,
        guid=None,
        title=title,
        text=text,
        published=None,
        content_hash="v1:" + "0" * 64,
    )
    topic = TopicRef(notice.event.replace(".", "-"), notice.event)
    return Alert(notice.id, topic, article, (), (), text, notice.created_at)


def _source(row: Any) -> SourceHealth:
    return SourceHealth(
        id=row.id,
        kind=row.kind,
        url=row.url,
        active=bool(row.active),
        disabled_reason=row.disabled_reason,
        state=row.state,
        next_poll_at=row.next_poll_at,
        hold_until=row.hold_until,
        last_poll_at=row.last_poll_at,
        last_result=row.last_result,
        last_success_at=row.last_success_at,
        last_error_at=row.last_error_at,
        last_error=row.last_error,
        consecutive_failures=row.consecutive_failures,
        failing_since=row.failing_since,
        failing_notified_at=row.failing_notified_at,
    )


def _alert_values(alert: Alert, article_id: int) -> dict[str, Any]:
    return {
        "id": alert.id,
        "article_id": article_id,
        "topic_id": alert.topic.id,
        "topic_title": alert.topic.title,
        "matched": list(alert.matched),
        "found": list(alert.found),
        "snippet": alert.snippet,
        "created_at": alert.created_at,
    }


# Deliveries of one article sort together, in the order they were made (seq = article id ×
# _SEQ_SPAN + position); notices have no article and sort by time alone.
_SEQ_SPAN = 4096


def _delivery_values(
    delivery: NewDelivery, now: datetime, *, seq: int | None = None
) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "alert_id": delivery.alert_id,
        "notifier": delivery.notifier,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": delivery.next_attempt_at or now,
        "updated_at": now,
        "seq": seq,
    }


def _article(row: Any) -> Article:
    return Article(
        source=row.source,
        location=row.location,
        url=row.url,
        guid=row.guid,
        title=row.title,
        text=row.text,
        published=row.published,
        content_hash=row.content_hash,
    )
