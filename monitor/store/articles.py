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
from monitor.store.base import StoreBase, chunked
from monitor.store.placement import Placement, Placer
from monitor.store.rows import (
    SEQ_SPAN,
    NewArticle,
    NewDelivery,
    alert_values,
    delivery_values,
    to_article,
)
from monitor.store.schema import alerts, articles, deliveries

# An article's outbox: its id, its alerts, and the deliveries of its alerts (others ignored).
Outbox = tuple[int, Sequence[Alert], Sequence[NewDelivery]]


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
        """One article with its alerts and deliveries, in one transaction, if it is new
        (`insert_articles`, then `write_outbox` for the alerts its story did not suppress).

        Returns None (and writes nothing) when an article with the same content hash exists.
        """
        with self.batch():
            [stored] = self.insert_articles([NewArticle(article, previous_id, near)], now)
            if stored is not None:
                kept = [a for a in new_alerts if a.topic.id not in stored.suppressed]
                self.write_outbox([(stored.article_id, kept, new_deliveries)], now)
            return stored

    def insert_articles(self, entries: Sequence[NewArticle], now: datetime) -> list[Stored | None]:
        """Insert the articles that are new, in order, each placed in its story (see
        `placement`): None for one whose content hash is stored already (or earlier in
        `entries`). Their alerts follow with `write_outbox`, in the same transaction (`batch`).

        One write's worth of statements, not one article's: the stored hashes and the stories'
        candidate roots are read for all entries at once, and the band keys and story topics
        they add are written together after the articles.
        """
        results: list[Stored | None] = [None] * len(entries)
        if not entries:
            return results
        with self._transaction() as connection:
            hashes = [e.article.content_hash for e in entries]
            taken = set(connection.execute(_STORED_HASHES, {"b_hashes": hashes}).scalars())
            fresh = [(n, e) for n, e in enumerate(entries) if e.article.content_hash not in taken]
            if not fresh:
                return results
            placer = Placer(connection, self._insert, [e.near for _n, e in fresh])
            insert = _article_insert(self._insert)
            for n, entry in fresh:
                article, near = entry.article, entry.near
                if article.content_hash in taken:
                    continue  # twice in `entries`: the first one is stored
                taken.add(article.content_hash)
                placement = placer.place(article, near, entry.previous_id)
                inserted = connection.execute(
                    insert, _article_values(article, now, entry.previous_id, placement, near)
                ).first()
                if inserted is None:  # another instance stored it since the read above
                    continue
                placer.placed(article, inserted.id, placement, near, now)
                results[n] = Stored(
                    inserted.id, placement.story_id, placement.near, placement.suppressed
                )
            placer.flush()
        return results

    def write_outbox(self, outboxes: Sequence[Outbox], now: datetime) -> None:
        """The alerts of articles just inserted, each (article id, alerts, deliveries), and
        the deliveries of those alerts: insert-if-absent (a retried write adds nothing twice),
        one statement for all alerts and one for all deliveries."""
        alert_rows: list[dict[str, Any]] = []
        delivery_rows: list[dict[str, Any]] = []
        for article_id, new_alerts, new_deliveries in outboxes:
            alert_rows += [alert_values(alert, article_id) for alert in new_alerts]
            kept = {a.id for a in new_alerts}
            delivery_rows += [
                delivery_values(d, now, seq=article_id * SEQ_SPAN + n)
                for n, d in enumerate(d for d in new_deliveries if d.alert_id in kept)
            ]
        if not alert_rows:
            return
        with self._transaction() as connection:
            connection.execute(_insert_if_absent(self._insert, alerts), alert_rows)
            if delivery_rows:
                connection.execute(_insert_if_absent(self._insert, deliveries), delivery_rows)

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

    def find_versions(self, source: str, guids: Sequence[str]) -> dict[str, tuple[int, set[str]]]:
        """The newest stored version of each of a source's entries (by guid): its article id
        and the topics it alerted for; entries never stored are absent. One statement per
        write rather than one per entry."""
        found: dict[str, tuple[int, set[str]]] = {}
        with self._transaction() as connection:
            for chunk in chunked(sorted(set(guids)), 1_000):
                rows = connection.execute(_VERSIONS, {"b_source": source, "b_guids": chunk})
                for row in rows:
                    _id, topics = found.setdefault(row.guid, (row.id, set()))
                    if row.topic_id is not None:
                        topics.add(row.topic_id)
        return found

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

    def topic_counts(
        self, now: datetime, topics: Sequence[str] | None = None
    ) -> dict[str, tuple[int, int]]:
        """Alerts per topic in the last 24 h and 7 days. With `topics` (the watchlist's ids,
        as the API passes them), two ranges of `ix_alerts_topic_created_id` per topic, never
        more than those alerts; without (`monitor topics`, which lists retired topics too),
        every topic alerted in the last 7 days, in one pass over that index."""
        if topics is not None:
            return self._counts_of(now, topics)
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

    def _counts_of(self, now: datetime, topics: Sequence[str]) -> dict[str, tuple[int, int]]:
        a = alerts.c

        def count(topic: str, since: datetime) -> sa.ScalarSelect[int]:
            counted = sa.select(sa.func.count()).select_from(alerts)
            return counted.where(a.topic_id == topic, a.created_at >= since).scalar_subquery()

        found: dict[str, tuple[int, int]] = {}
        day, week = now - timedelta(days=1), now - timedelta(days=7)
        with self._transaction() as connection:
            for chunk in chunked(list(dict.fromkeys(topics)), 200):  # 400 columns a statement
                query = sa.select(*(count(t, since) for t in chunk for since in (day, week)))
                row = connection.execute(query).one()
                for n, topic in enumerate(chunk):
                    if row[2 * n + 1]:
                        found[topic] = (row[2 * n], row[2 * n + 1])
        return found


# Statements of the ingest hot path, built once (per dialect's insert): building SQL per
# article cost more than running it (cache-key generation, coercions; issue 12's profile).


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


# The newest version of each (source, guid) with the topics it alerted for, one row per topic
# (one row with a NULL topic when it alerted for none).
_NEWEST = (
    sa.select(sa.func.max(articles.c.id))
    .where(articles.c.source == sa.bindparam("b_source"))
    .where(articles.c.guid.in_(sa.bindparam("b_guids", expanding=True)))
    .group_by(articles.c.guid)
)
_VERSIONS = (
    sa.select(articles.c.id, articles.c.guid, alerts.c.topic_id)
    .select_from(articles.outerjoin(alerts, alerts.c.article_id == articles.c.id))
    .where(articles.c.id.in_(_NEWEST))
)
_STORED_HASHES = sa.select(articles.c.content_hash).where(
    articles.c.content_hash.in_(sa.bindparam("b_hashes", expanding=True))
)


def _article_values(
    article: Article,
    now: datetime,
    previous_id: int | None,
    placement: Placement,
    near: NearCheck | None,
) -> dict[str, Any]:
    signature = near.signature if near is not None else None
    return {
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
        # 0: judged too short; NULL: never judged (near-duplicate detection off or not there
        # yet), which the backfill picks up.
        "shingles": signature.shingles if signature else (0 if near else None),
    }
