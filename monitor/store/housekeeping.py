"""Housekeeping of the database itself (`[retention]`, `monitor db prune`): pruning old text
and sent deliveries, WAL checkpoints, VACUUM, size on disk. Never touches what may yet be sent.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from monitor.errors import StoreError
from monitor.models import DeliveryStatus
from monitor.store.base import StoreBase
from monitor.store.schema import alerts, articles, deliveries, near_bands

# Band keys are signed 32-bit integers, the leading column of near_bands' primary key: the
# prune deletes slice by slice of that key space, each an index range in its own transaction.
_BAND_SLICES = 64
_BAND_SPAN = (1 << 32) // _BAND_SLICES


class Housekeeping(StoreBase):
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

    def prune_band_keys(self, before: datetime) -> int:
        """Delete the band keys of story roots first seen before `before` (the near-duplicate
        window's start: no lookup returns them any more, so they only grow the index and slow
        its inserts); returns how many rows. The articles, signatures and stories stay.

        The index has no column to find a root's keys by, so the prune walks the key space
        in slices (a range of the primary key each, one short transaction each: the write
        lock is never held for long) and keeps the keys of every article stored since.
        """
        newest_old = (
            sa.select(articles.c.id)
            .where(articles.c.first_seen < before)
            .order_by(articles.c.first_seen.desc())
            .limit(1)
        )
        with self._transaction() as connection:
            cut = connection.execute(newest_old).scalar()
        if cut is None:
            return 0
        recent = (
            sa.select(articles.c.id)
            .where(articles.c.id == near_bands.c.article_id, articles.c.first_seen >= before)
            .exists()
        )
        deleted = 0
        for n in range(_BAND_SLICES):
            low = -(1 << 31) + n * _BAND_SPAN
            in_slice = [near_bands.c.band_key >= low]
            if n < _BAND_SLICES - 1:  # the last one is open: 2³¹ is not a 32-bit integer
                in_slice.append(near_bands.c.band_key < low + _BAND_SPAN)
            with self._transaction() as connection:
                deleted += connection.execute(
                    near_bands.delete().where(*in_slice, near_bands.c.article_id <= cut, ~recent)
                ).rowcount
        return deleted

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
