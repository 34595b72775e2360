"""The database: the only package that imports SQLAlchemy and Alembic.

Each public method is one short transaction and returns models, never ORM rows. Inserts are
insert-if-absent (`ON CONFLICT DO NOTHING`): the unique constraints ARE the dedupe, so two
overlapping runs or instances can never both record the same article or alert.
SQLite (default) runs in WAL mode with `synchronous=NORMAL` and `BEGIN IMMEDIATE` writers
(RELIABILITY.md DB-1); PostgreSQL is used as it comes.

One module per aggregate, composed here into the one `Store` the rest of monitor uses:

    base          engine, transactions, migrations, ping
    leases        the claim-by-conditional-UPDATE shared by deliveries and sources
    articles      articles, versions, alerts, replay iteration
    stories       near-duplicate stories: placing an article, `monitor stories`
    outbox        deliveries, operator notices, disabled notifiers
    sources       source rows: sync, claim, finish_poll, state, health
    instances     daemons' heartbeats and reload results
    views         the web page's reads: keyset pages of alerts and sources, counts
    housekeeping  prune, checkpoint, vacuum, size
    rows          row ↔ model conversions (`schema` holds the tables)
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from monitor.errors import StoreError
from monitor.store.articles import Articles
from monitor.store.base import make_engine
from monitor.store.housekeeping import Housekeeping
from monitor.store.instances import Instances
from monitor.store.leases import Leases
from monitor.store.outbox import DisabledNotifier, Outbox
from monitor.store.rows import NewArticle, NewDelivery
from monitor.store.sources import Sources
from monitor.store.stories import Stories, Story, StoryCopy
from monitor.store.views import SourceCounts, Views

__all__ = [
    "DisabledNotifier", "NewArticle", "NewDelivery", "SourceCounts", "Store", "Story", "StoryCopy",
    "database_exists", "make_engine", "peek_database_sources",
]  # fmt: skip


class Store(Articles, Stories, Outbox, Sources, Instances, Housekeeping, Leases, Views):
    """monitor's state in one SQLAlchemy database: every aggregate's methods on one object,
    sharing one engine (the aggregates are mixins over `StoreBase`, not separate stores)."""


def database_exists(url: str) -> bool:
    """False for an SQLite file that does not exist (opening it would create it); True for
    any other URL (a server database is there or fails to connect)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return False
    if parsed.get_backend_name() != "sqlite":
        return True
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return False
    return Path(database).exists()


def peek_database_sources(url: str) -> frozenset[str] | None:
    """The ids of the active feeds kept in the database at `url`, for checking a config
    against them (`load_config(database_sources=…)`), changing nothing: an SQLite file that
    does not exist has none and is not created, a schema before 0009 has none. None: the
    database cannot be read (unreachable, no driver)."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        local = database not in ("", ":memory:") and not database.startswith("file:")
        if local and not Path(database).exists():
            return frozenset()
    try:
        store = Store.open(url)
    except StoreError:
        return None
    try:
        return store.database_source_ids()
    except StoreError:
        return None
    finally:
        store.close()
