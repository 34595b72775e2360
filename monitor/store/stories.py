"""Near-duplicate stories in the store: placing a new article in a story inside its write
transaction (band-key lookup, the root it copies, the topics its story already matched),
and the reads behind `monitor stories` and explain.

Race-free: the lookup and the writes it decides run in the article's own transaction. On
SQLite that transaction holds the database's only write lock (`BEGIN IMMEDIATE`); on
PostgreSQL it first takes a transaction advisory lock per band key of the new article, in
key order, so two near copies (which share a band key, or could not find each other at all)
are placed one after the other, the second seeing the first's band rows. Inside one group
commit batch the reads see the batch's earlier writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.models import Article
from monitor.near import NearCheck, NearMatch, Signature, signature, similarity, story_id
from monitor.store.base import StoreBase
from monitor.store.schema import alerts, articles, near_bands, story_topics

CANDIDATES = 8  # roots sharing the most band keys that are compared by signature

# Two-key advisory locks (namespace, band key): a key space apart from the one-key locks
# (the migration lock), so a band key can never collide with it.
_LOCK_NAMESPACE = 0x6E656172  # "near"
_LOCK_BANDS = sa.text(
    f"SELECT count(pg_advisory_xact_lock({_LOCK_NAMESPACE}, k)) FROM "
    "(SELECT k FROM unnest(CAST(:keys AS integer[])) AS k ORDER BY k) AS sorted_keys"
)


_INSERT_BANDS = sa.text(
    "INSERT INTO near_bands (band_key, article_id) "
    "SELECT unnest(CAST(:keys AS integer[])), CAST(:id AS integer)"
)


@dataclass(frozen=True)
class Placement:
    """Where a new article goes, decided before it is inserted."""

    story_id: str
    near: NearMatch | None
    root: bool  # a new story: its band keys go into the index
    suppressed: frozenset[str]
    keys: tuple[int, ...] = ()  # its band keys (distinct)


def story_of_row(row: Any) -> str:
    """A stored article's story: its column, or (stored before stories) its own."""
    return str(row.story_id) if row.story_id else story_id(row.content_hash)


def place(
    connection: Connection,
    dialect: str,
    article: Article,
    check: NearCheck | None,
    previous_id: int | None,
) -> Placement:
    """The story of a new article: its predecessor's (a new version of a feed entry), the
    story of the most similar root within the window at or above the threshold, or its own."""
    if previous_id is not None:
        row = connection.execute(
            sa.select(articles.c.story_id, articles.c.content_hash).where(
                articles.c.id == previous_id
            )
        ).one()
        story = story_of_row(row)
        return Placement(story, None, False, _suppressed(connection, story, check))
    own = story_id(article.content_hash)
    if check is None or check.signature is None:
        return Placement(own, None, False, frozenset())
    keys = sorted(set(check.signature.band_keys()))
    if dialect == "postgresql":
        connection.execute(_LOCK_BANDS, {"keys": keys})
    best = _best_root(connection, check.signature, keys, check)
    if best is None:
        return Placement(own, None, True, frozenset(), tuple(keys))
    match, story = best
    return Placement(story, match, False, _suppressed(connection, story, check))


_SHARED = sa.func.count().label("shared")
# The roots sharing the most band keys with a new article, first seen within the window:
# one index probe per key (the primary key of near_bands), then the articles by id.
_CANDIDATES_QUERY = (
    sa.select(
        articles.c.id,
        articles.c.content_hash,
        articles.c.story_id,
        articles.c.source,
        articles.c.first_seen,
        articles.c.signature,
        articles.c.shingles,
        _SHARED,
    )
    .select_from(near_bands.join(articles, articles.c.id == near_bands.c.article_id))
    .where(
        near_bands.c.band_key.in_(sa.bindparam("keys", expanding=True)),
        articles.c.first_seen >= sa.bindparam("since"),
    )
    .group_by(articles.c.id)
    .order_by(_SHARED.desc(), articles.c.id)
    .limit(CANDIDATES)
)


def _best_root(
    connection: Connection, signature: Signature, keys: list[int], check: NearCheck
) -> tuple[NearMatch, str] | None:
    query = _CANDIDATES_QUERY
    rows = connection.execute(query, {"keys": keys, "since": check.since})
    best: tuple[NearMatch, str] | None = None
    for row in rows:
        if row.signature is None:
            continue
        score = similarity(signature, Signature.unpack(row.signature, row.shingles))
        if score >= check.threshold and (best is None or score > best[0].similarity):
            match = NearMatch(row.id, row.content_hash, row.source, row.first_seen, score)
            best = (match, story_of_row(row))
    return best


def _suppressed(connection: Connection, story: str, check: NearCheck | None) -> frozenset[str]:
    """The matched topics this story already matched within the window (and that do not
    ask for near-duplicates to alert)."""
    if check is None:
        return frozenset()
    candidates = check.matched - check.alert_anyway
    if not candidates:
        return frozenset()
    rows = connection.execute(
        _MATCHED_BEFORE, {"b_story": story, "b_topics": sorted(candidates), "b_since": check.since}
    ).scalars()
    return frozenset(rows)


# Built once: `_suppressed` runs for every near-duplicate and every new version of an entry.
_MATCHED_BEFORE = sa.select(story_topics.c.topic_id).where(
    story_topics.c.story_id == sa.bindparam("b_story"),
    story_topics.c.topic_id.in_(sa.bindparam("b_topics", expanding=True)),
    story_topics.c.last_at >= sa.bindparam("b_since", type_=story_topics.c.last_at.type),
)


_UPSERTS: dict[str, Any] = {}


def _story_topics_upsert(dialect: str, insert: Any) -> Any:
    """One upsert for every matched topic (built once per dialect): a new (story, topic)
    starts at 0 copies (it cannot be suppressed), an existing one moves last_at and counts a
    suppressed copy."""
    if dialect not in _UPSERTS:
        statement = insert(story_topics)
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=["story_id", "topic_id"],
            set_={
                "last_at": statement.excluded.last_at,
                "copies": story_topics.c.copies + statement.excluded.copies,
            },
        )
    return _UPSERTS[dialect]


def record(
    connection: Connection,
    insert: Any,
    article_id: int,
    placement: Placement,
    check: NearCheck | None,
    now: datetime,
) -> None:
    """After the article's insert: a root's band keys, and the story's matched topics."""
    if placement.root and placement.keys:
        if connection.dialect.name == "postgresql":  # one statement of one shape: 1 round trip
            connection.execute(_INSERT_BANDS, {"keys": list(placement.keys), "id": article_id})
        else:  # SQLite: executemany loops in C, in process
            connection.execute(
                near_bands.insert(),
                [{"band_key": k, "article_id": article_id} for k in placement.keys],
            )
    if check is None or not check.matched:
        return
    statement = _story_topics_upsert(connection.dialect.name, insert)
    connection.execute(
        statement,
        [
            {
                "story_id": placement.story_id,
                "topic_id": topic,
                "first_article_id": article_id,
                "last_at": now,
                "copies": 1 if topic in placement.suppressed else 0,
            }
            for topic in sorted(check.matched)
        ],
    )


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
            for chunk in _chunks(order, 500):
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
                keys = sorted(set(sig.band_keys()))
                if self._dialect == "postgresql":
                    connection.execute(_LOCK_BANDS, {"keys": keys})
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
        if check.signature is None:
            return None
        keys = sorted(set(check.signature.band_keys()))
        with self._transaction() as connection:
            best = _best_root(connection, check.signature, keys, check)
            if best is None:
                return None
            match, story = best
            return match, story, _suppressed(connection, story, check)


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
