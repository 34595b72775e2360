"""The engine and what every aggregate shares: opening, one-transaction-per-call, migrations.

Owns no table; the per-aggregate modules (`articles`, `outbox`, `sources`, …) build on it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).with_name("migrations")
# The newest revision in migrations/versions. A start on a database already there reads
# alembic_version and is done, without importing Alembic (~140 ms of every `run --once`);
# tests/test_store.py fails if a new migration is added without moving this.
HEAD = "0012"
# Serializes migrations between instances sharing one PostgreSQL database.
_PG_MIGRATION_LOCK = 0x6D6F6E69  # "moni"
# How long a thread waits for this process's other SQLite transactions: busy_timeout's 5 s.
_SQLITE_LOCK_WAIT = 5.0
_READ_ONLY = "monitor_read_only"  # execution option: a transaction that only reads
_sqlite_locks: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


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
        # Housekeeping (checkpoint, VACUUM) runs outside any transaction: AUTOCOMMIT. A
        # read-only transaction (`StoreBase._reading`) needs no write lock: in WAL mode it
        # reads a snapshot beside the writer.
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        connection.exec_driver_sql("BEGIN" if options.get(_READ_ONLY) else "BEGIN IMMEDIATE")


T = TypeVar("T")


def chunked(values: Sequence[T], size: int) -> Iterator[list[T]]:
    """`values` in lists of at most `size`: bound parameters per statement (SQLite allows
    32,766)."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


class StoreBase:
    """The engine, the dialect's insert-if-absent, and the transaction every method runs in."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name
        self._ambient = threading.local()  # the connection of this thread's `batch`, if any
        self._in_turn: threading.RLock | None = None
        # Both dialects spell insert-if-absent as INSERT … ON CONFLICT DO NOTHING.
        if self._dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            self._insert: Any = pg_insert
        elif self._dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            self._insert = sqlite_insert
            self._in_turn = _sqlite_locks.setdefault(engine, threading.RLock())
        else:
            raise StoreError(f"unsupported database {self._dialect!r}: use SQLite or PostgreSQL")

    @classmethod
    def open(cls, url: str) -> Self:
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
    def batch(self) -> Iterator[None]:
        """Group commit: every store call this thread makes inside the block runs in ONE
        transaction, so the results of many polls (articles, alerts, deliveries, then each
        source's new state) commit together or not at all. Reads inside the block see the
        block's earlier writes (insert-if-new, versions, the hourly alert count). Nested
        blocks join the outer one."""
        if getattr(self._ambient, "connection", None) is not None:
            yield
            return
        with self._transaction() as connection:
            self._ambient.connection = connection
            self._ambient.deferred = {}
            try:
                yield
                # What `_at_batch_end` held back, one executemany per statement.
                for statement, rows in self._ambient.deferred.items():
                    connection.execute(statement, rows)
            finally:
                self._ambient.connection = None
                self._ambient.deferred = {}

    def _at_batch_end(self, statement: Any, params: dict[str, Any]) -> bool:
        """Inside `batch`: run `statement` with `params` at the end of the batch, before it
        commits, together with every other call of the same statement (one executemany
        instead of one round trip each) and return True. Outside: False (run it now). For
        writes that nothing in the batch reads back and whose result nobody waits for."""
        if getattr(self._ambient, "connection", None) is None:
            return False
        self._ambient.deferred.setdefault(statement, []).append(params)
        return True

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        ambient = getattr(self._ambient, "connection", None)
        try:
            if ambient is not None:  # inside `batch`: its transaction, committed by it
                yield ambient
                return
            with self._turn(), self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as e:
            raise StoreError(f"database error: {e.__class__.__name__}: {e}") from e

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A transaction that only reads. On SQLite it neither takes the write lock nor waits
        for this process's writers (`_turn`): the deliverer's and the web pages' reads run
        beside the group commit instead of queueing behind it. A write inside fails."""
        ambient = getattr(self._ambient, "connection", None)
        if ambient is not None or self._in_turn is None:
            with self._transaction() as connection:
                yield connection
            return
        try:
            with self.engine.connect() as connection:
                connection.execution_options(**{_READ_ONLY: True})
                with connection.begin():
                    yield connection
        except SQLAlchemyError as e:
            raise StoreError(f"database error: {e.__class__.__name__}: {e}") from e

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """SQLite: this process's transactions take turns on a lock of their own before
        `BEGIN IMMEDIATE`. Every SQLite transaction holds the database's only write lock, and a
        thread that finds it taken sleeps in SQLite's busy handler, 25–100 ms at a time once it
        has waited a little, however soon the lock is free: the tick's feed claims and the
        deliverer, queued behind the group commit, spent a third of a first poll asleep there.
        A Python lock wakes the next thread at the release. Other processes (a second
        `monitor` command) still meet busy_timeout. Re-entrant, so a nested transaction fails
        on SQLite's lock as it always did instead of waiting here forever."""
        if self._in_turn is None:
            yield
            return
        if not self._in_turn.acquire(timeout=_SQLITE_LOCK_WAIT):
            raise StoreError(
                f"database error: another transaction of this process held the database for "
                f"more than {_SQLITE_LOCK_WAIT:.0f} s"
            )
        try:
            yield
        finally:
            self._in_turn.release()

    # --- schema -------------------------------------------------------------------------

    def _alembic_config(self, connection: Connection) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.attributes["connection"] = connection
        return config

    def _stamped_head(self) -> bool:
        """Whether the database is stamped with `HEAD`, at the cost of one SELECT. False
        when it is anything else or cannot tell (no alembic_version table yet, several rows,
        a database error): the caller then takes the full Alembic path, which decides, and
        raises what it always raised."""
        try:
            with self.engine.begin() as connection:
                rows = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
                return list(rows.scalars()) == [HEAD]
        except SQLAlchemyError:
            return False

    def migration_status(self) -> tuple[str | None, str]:
        """(current revision or None for an empty database, newest revision this code knows)."""
        if self._stamped_head():
            return HEAD, HEAD
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
        A database already at `HEAD` needs neither the lock nor Alembic: nothing to apply.
        """
        if target == "head" and self._stamped_head():
            return HEAD, HEAD
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


def _is_known(script: Any, revision: str) -> bool:
    from alembic.script.revision import ResolutionError
    from alembic.util import CommandError

    try:
        return script.get_revision(revision) is not None
    except (ResolutionError, CommandError):
        return False
