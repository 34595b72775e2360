"""Near-duplicate stories in the store: the reads behind `monitor stories`, explain and the
backfill. Placing a new article in its story is `placement`'s, inside the article's write.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.near import NearCheck, NearMatch, signature, story_id
from monitor.store.base import StoreBase, chunked
from monitor.store.placement import Placer, lock_band_keys, story_of_row
from monitor.store.schema import alerts, articles, near_bands, story_topics

# What `monitor stories` shows of each copy.
_COPY_COLUMNS = (
    articles.c.id,
    articles.c.content_hash,
    articles.c.source,
    articles.c.title,
    articles.c.first_seen,
    articles.c.similarity,
)


@dataclass(frozen=True)
class StoryCopy:
    """One article of a story, for `monitor stories` (oldest first: the root leads)."""

    article_id: int
    content_hash: str
    source: str
    title: str
    first_seen: datetime
    similarity: float | None
    topics: tuple[str, ...]  # topics it alerted for


@dataclass(frozen=True)
class Story:
    id: str
    copies: tuple[StoryCopy, ...]
    topics: tuple[str, ...]  # topics the story matched (alerted or not)


class Stories(StoreBase):
    def stories(self, since: datetime, *, topic: str | None = None, limit: int = 50) -> list[Story]:
        """Stories with an article first seen since `since`, newest first; `topic`: only
        stories that matched it."""
        with self._transaction() as connection:
            recent = (
                sa.select(articles.c.id, articles.c.content_hash, articles.c.story_id)
                .where(articles.c.first_seen >= since)
                .order_by(articles.c.id.desc())
            )
            order: list[str] = []
            for row in connection.execute(recent):
                story = story_of_row(row)
                if story not in order:
                    order.append(story)
            matched: dict[str, set[str]] = {}
            for chunk in chunked(order, 500):
                for story, topic_id in connection.execute(
                    sa.select(story_topics.c.story_id, story_topics.c.topic_id).where(
                        story_topics.c.story_id.in_(chunk)
                    )
                ):
                    matched.setdefault(story, set()).add(topic_id)
            if topic is not None:
                order = [s for s in order if topic in matched.get(s, set())]
            result: list[Story] = []
            for story in order[:limit]:
                copies = self._copies(connection, story)
                topics = set(matched.get(story, set()))
                for copy in copies:
                    topics.update(copy.topics)
                result.append(Story(story, tuple(copies), tuple(sorted(topics))))
            return result

    def _copies(self, connection: Connection, story: str) -> list[StoryCopy]:
        rows: list[Any] = list(
            connection.execute(
                sa.select(*_COPY_COLUMNS)
                .where(articles.c.story_id == story)
                .order_by(articles.c.id)
            )
        )
        if not rows:  # stored before stories: the story is one article, found by its hash
            rows = [
                row
                for row in connection.execute(
                    sa.select(*_COPY_COLUMNS, articles.c.story_id)
                    .where(articles.c.story_id.is_(None))
                    .order_by(articles.c.id.desc())
                    .limit(1000)
                )
                if story_id(row.content_hash) == story
            ]
        alerted: dict[int, list[str]] = {}
        ids = [r.id for r in rows]
        if ids:
            for article_id, topic_id in connection.execute(
                sa.select(alerts.c.article_id, alerts.c.topic_id).where(
                    alerts.c.article_id.in_(ids)
                )
            ):
                alerted.setdefault(article_id, []).append(topic_id)
        return [
            StoryCopy(
                r.id,
                r.content_hash,
                r.source,
                r.title,
                r.first_seen,
                r.similarity,
                tuple(sorted(alerted.get(r.id, []))),
            )
            for r in rows
        ]

    def near_match_of(self, content_hash: str) -> tuple[str, NearMatch | None] | None:
        """A stored article's story and the root it was found to copy (explain --article)."""
        with self._transaction() as connection:
            row = connection.execute(
                sa.select(
                    articles.c.story_id,
                    articles.c.content_hash,
                    articles.c.near_of,
                    articles.c.similarity,
                ).where(articles.c.content_hash == content_hash)
            ).first()
            if row is None:
                return None
            if row.near_of is None:
                return story_of_row(row), None
            root = connection.execute(
                sa.select(articles.c.content_hash, articles.c.source, articles.c.first_seen).where(
                    articles.c.id == row.near_of
                )
            ).one()
            match = NearMatch(
                row.near_of, root.content_hash, root.source, root.first_seen,
                float(row.similarity or 0.0),
            )  # fmt: skip
            return story_of_row(row), match

    def backfill_signatures(self, since: datetime, *, limit: int = 200) -> int:
        """One batch of the upgrade's backfill: articles first seen since `since` that were
        never judged (stored before near-duplicate detection, or with it off) get their
        signature and, each as the root of its own story, band keys and the story's topics
        (the topics they alerted for). Blanked texts (`[retention]`) are skipped. Returns
        how many articles it judged: 0 when there is nothing left (resumable: it picks up
        where the last batch ended, whoever ran it)."""
        query = (
            sa.select(articles.c.id, articles.c.content_hash, articles.c.story_id, articles.c.text)
            .where(
                articles.c.shingles.is_(None),
                articles.c.first_seen >= since,
                articles.c.text != "",
            )
            .order_by(articles.c.id)
            .limit(limit)
        )
        with self._transaction() as connection:
            rows = connection.execute(query).all()
        if not rows:
            return 0
        judged = [(row, signature(row.text)) for row in rows]  # outside any transaction
        with self._transaction() as connection:
            for row, sig in judged:
                story = story_of_row(row)
                done = connection.execute(
                    articles.update()
                    .where(articles.c.id == row.id, articles.c.shingles.is_(None))
                    .values(
                        story_id=story,
                        signature=sig.pack() if sig else None,
                        shingles=sig.shingles if sig else 0,
                    )
                ).rowcount
                if not done or sig is None:
                    continue  # another instance judged it meanwhile, or too short
                keys = list(sig.distinct_band_keys)
                lock_band_keys(connection, keys)
                connection.execute(
                    self._insert(near_bands).on_conflict_do_nothing(),
                    [{"band_key": k, "article_id": row.id} for k in keys],
                )
                topics = connection.execute(
                    sa.select(alerts.c.topic_id, alerts.c.created_at).where(
                        alerts.c.article_id == row.id
                    )
                ).all()
                if topics:
                    connection.execute(
                        self._insert(story_topics).on_conflict_do_nothing(),
                        [
                            {
                                "story_id": story,
                                "topic_id": topic,
                                "first_article_id": row.id,
                                "last_at": created,
                                "copies": 0,
                            }
                            for topic, created in topics
                        ],
                    )
        return len(rows)

    def story_of(self, article_id: int) -> str:
        """A stored article's story id."""
        query = sa.select(articles.c.story_id, articles.c.content_hash).where(
            articles.c.id == article_id
        )
        with self._transaction() as connection:
            return story_of_row(connection.execute(query).one())

    def story_topics_since(
        self, story: str, topics: set[str], since: datetime, *, before: int
    ) -> set[str]:
        """Which of `topics` the story matched (recorded at ingest) since `since`, first by
        an article other than `before` (replay: the article itself does not count)."""
        if not topics:
            return set()
        query = sa.select(story_topics.c.topic_id).where(
            story_topics.c.story_id == story,
            story_topics.c.topic_id.in_(sorted(topics)),
            story_topics.c.last_at >= since,
            story_topics.c.first_article_id != before,
        )
        with self._transaction() as connection:
            return set(connection.execute(query).scalars())

    def alerted_topics(self, content_hash: str) -> frozenset[str]:
        """The topics a stored article alerted for."""
        query = (
            sa.select(alerts.c.topic_id)
            .select_from(alerts.join(articles, articles.c.id == alerts.c.article_id))
            .where(articles.c.content_hash == content_hash)
        )
        with self._transaction() as connection:
            return frozenset(connection.execute(query).scalars())

    def find_near(self, check: NearCheck) -> tuple[NearMatch, str, frozenset[str]] | None:
        """What storing an article with `check` now would decide (explain, changing
        nothing): the root it copies, its story, and the matched topics it would not alert
        for. None: no stored root is similar enough."""
        return self.find_near_many([check])[0]

    def find_near_many(
        self, checks: Sequence[NearCheck]
    ) -> list[tuple[NearMatch, str, frozenset[str]] | None]:
        """`find_near` for several articles with one read of their candidate roots, as a
        write reads them (`bench/near.py` times the lookup this way)."""
        with self._transaction() as connection:
            placer = Placer(connection, self._insert, checks, lock=False)
            found: list[tuple[NearMatch, str, frozenset[str]] | None] = []
            for check in checks:
                best = placer.best_root(check)
                if best is None:
                    found.append(None)
                    continue
                match, story = best
                found.append((match, story, placer.suppressed(story, check)))
            return found
