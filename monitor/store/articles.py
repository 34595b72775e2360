"""Articles, their versions and their alerts: insert-if-new with the outbox rows, and the
reads behind explain, replay and `topics`. The unique content hash IS the dedupe.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from monitor.models import Alert, Article
from monitor.near import NearCheck, Stored
from monitor.store.base import StoreBase
from monitor.store.rows import SEQ_SPAN, NewDelivery, alert_values, delivery_values, to_article
from monitor.store.schema import alerts, articles, deliveries
from monitor.store.stories import place, record


class Articles(StoreBase):
    def add_article(
        self,
        article: Article,
        new_alerts: Sequence[Alert],
        new_deliveries: Sequence[NewDelivery],
        now: datetime,
        previous_id: int | None = None,
    ) -> bool:
        """`store_article` without near-duplicate detection: True if the article was new."""
        stored = self.store_article(article, new_alerts, new_deliveries, now, previous_id)
        return stored is not None

    def store_article(
        self,
        article: Article,
        new_alerts: Sequence[Alert],
        new_deliveries: Sequence[NewDelivery],
        now: datetime,
        previous_id: int | None = None,
        near: NearCheck | None = None,
    ) -> Stored | None:
        """Store the article with its alerts and deliveries in one transaction, if it is new,
        placed in its story (see `stories`): with `near`, the alerts (and their deliveries)
        of topics its story already matched within the window are left out.

        Returns None (and writes nothing) when an article with the same content hash exists.
        """
        with self._transaction() as connection:
            if (
                near is not None
                and connection.execute(_EXACT_COPY, {"b_hash": article.content_hash}).first()
            ):
                return None  # an exact copy: no story lookup (nor its locks) needed
            placement = place(connection, self._dialect, article, near, previous_id)
            signature = near.signature if near is not None else None
            inserted = connection.execute(
                _article_insert(self._insert),
                {
                    "content_hash": article.content_hash,
                    "source": article.source,
                    "location": article.location,
                    "url": article.url,
                    "guid": article.guid,
                    "title": article.title,
                    "text": article.text,
                    "published": article.published,
                    "first_seen": now,
                    "previous_id": previous_id,
                    "story_id": placement.story_id,
                    "near_of": placement.near.article_id if placement.near else None,
                    "similarity": placement.near.similarity if placement.near else None,
                    "signature": signature.pack() if signature else None,
                    # 0: judged too short; NULL: never judged (near-duplicate detection off
                    # or not there yet), which the backfill picks up.
                    "shingles": signature.shingles if signature else (0 if near else None),
                },
            ).first()
            if inserted is None:
                return None
            record(connection, self._insert, inserted.id, placement, near, now)
            kept = [a for a in new_alerts if a.topic.id not in placement.suppressed]
            kept_ids = {a.id for a in kept}
            if kept:
                connection.execute(
                    _insert_if_absent(self._insert, alerts),
                    [alert_values(alert, inserted.id) for alert in kept],
                )
            rows = [
                delivery_values(d, now, seq=inserted.id * SEQ_SPAN + n)
                for n, d in enumerate(new_deliveries)
                if d.alert_id in kept_ids
            ]
            if rows:
                connection.execute(_insert_if_absent(self._insert, deliveries), rows)
            return Stored(inserted.id, placement.story_id, placement.near, placement.suppressed)

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
                    .values([alert_values(a, article_id) for a in new_alerts])
                    .on_conflict_do_nothing()
                    .returning(alerts.c.id)
                )
                .scalars()
                .all()
            )
            fresh = set(inserted)
            rows = [
                delivery_values(d, now, seq=article_id * SEQ_SPAN + n)
                for n, d in enumerate(new_deliveries)
                if d.alert_id in fresh
            ]
            if rows:
                connection.execute(self._insert(deliveries).on_conflict_do_nothing(), rows)
            return len(fresh)

    def find_version(self, source: str, guid: str) -> tuple[int, set[str]] | None:
        """The newest stored version of a feed entry: (article id, topics it alerted for)."""
        with self._transaction() as connection:
            rows = connection.execute(_version_query(), {"b_source": source, "b_guid": guid}).all()
        if not rows:
            return None
        return rows[0].id, {row.topic_id for row in rows if row.topic_id is not None}

    def count_alerts_since(self, topic_id: str, since: datetime) -> tuple[int, datetime | None]:
        """How many alerts of a topic were created after `since`, and when the first of them was
        (`max_alerts_per_hour`). Scans the topic's alerts: no index on (topic, time) yet."""
        query = sa.select(sa.func.count(), sa.func.min(alerts.c.created_at)).where(
            alerts.c.topic_id == topic_id, alerts.c.created_at > since
        )
        with self._transaction() as connection:
            count, first = connection.execute(query).one()
        return int(count), first

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
            return [to_article(row) for row in connection.execute(query)]

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
                yield row.id, to_article(row), alerted.get(row.id, set())
            last_id = rows[-1].id

    def count_articles(self, since: datetime | None) -> int:
        query = sa.select(sa.func.count()).select_from(articles)
        if since is not None:
            query = query.where(articles.c.first_seen >= since)
        with self._transaction() as connection:
            return int(connection.execute(query).scalar_one())

    def article_count(self) -> int:
        with self._transaction() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(articles)).scalar_one()
            )

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


# Statements of the ingest hot path, built once (per dialect's insert): building SQL per
# article cost more than running it (cache-key generation, coercions; issue 12's profile).


_EXACT_COPY = sa.select(articles.c.id).where(articles.c.content_hash == sa.bindparam("b_hash"))


@functools.cache
def _article_insert(insert: Any) -> Any:
    return (
        insert(articles)
        .on_conflict_do_nothing(index_elements=["content_hash"])
        .returning(articles.c.id)
    )


@functools.cache
def _insert_if_absent(insert: Any, table: sa.Table) -> Any:
    return insert(table).on_conflict_do_nothing()


@functools.cache
def _version_query() -> sa.Select[Any]:
    """The newest version of (source, guid) with the topics it alerted for, one row per topic
    (one row with a NULL topic when it alerted for none): one statement, not two."""
    newest = (
        sa.select(articles.c.id)
        .where(articles.c.source == sa.bindparam("b_source"))
        .where(articles.c.guid == sa.bindparam("b_guid"))
        .order_by(articles.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        sa.select(articles.c.id, alerts.c.topic_id)
        .select_from(articles.outerjoin(alerts, alerts.c.article_id == articles.c.id))
        .where(articles.c.id == newest)
    )
