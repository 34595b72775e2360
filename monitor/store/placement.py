"""Placing the new articles of one write in their near-duplicate stories, inside that write's
transaction: the band-key lookup, the root each one copies, the topics its story already
matched, then the band keys of new roots and the story's topics.

Per write, not per article: the roots sharing a band key with any of the write's articles are
read in one statement (and their signatures in a second), the write's own new roots join the
candidates as they are placed, and the rows they add are inserted together at the end
(`flush`). Reads that those rows would change see them in memory first: a copy of a root of
the same write finds it, and a story's topics recorded earlier in the write count.

Race-free: the lookup and the writes it decides run in one transaction. On SQLite that
transaction holds the database's only write lock (`BEGIN IMMEDIATE`); on PostgreSQL it first
takes a transaction advisory lock per band key of the write's articles, in key order, so two
near copies (which share a band key, or could not find each other at all) are placed one after
the other, the second seeing the first's band rows.
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from monitor.models import Article
from monitor.near import NearCheck, NearMatch, Signature, similarity, story_id
from monitor.store.schema import articles, near_bands, stored_utc, story_topics

CANDIDATES = 8  # roots sharing the most band keys that are compared by signature

# Two-key advisory locks (namespace, band key): a key space apart from the one-key locks
# (the migration lock), so a band key can never collide with it.
_LOCK_NAMESPACE = 0x6E656172  # "near"
_LOCK_BANDS = sa.text(
    f"SELECT count(pg_advisory_xact_lock({_LOCK_NAMESPACE}, k)) FROM "
    "(SELECT k FROM unnest(CAST(:keys AS integer[])) AS k ORDER BY k) AS sorted_keys"
)
_SQLITE_INSERT_BANDS = "INSERT INTO near_bands (band_key, article_id) VALUES (?, ?)"
_INSERT_BANDS = sa.text(
    "INSERT INTO near_bands (band_key, article_id) "
    "SELECT unnest(CAST(:keys AS integer[])), unnest(CAST(:ids AS integer[]))"
)
# The roots behind some band keys, first seen within the window: one probe of near_bands'
# primary key per key, then the article by id. The keys (~24 per article, hundreds per write)
# are one parameter, a JSON array on SQLite and an array on PostgreSQL: an expanding IN
# renders a placeholder per key into new SQL text on every write, which cost SQLAlchemy 2–3
# times what the database spent on the lookup.
_KEYS_JSON = sa.func.json_each(sa.bindparam("keys_json", type_=sa.String)).table_valued("value")


@functools.cache
def _key_roots(dialect: str) -> sa.Select[Any]:
    """The statement for `dialect` ("sqlite" or "postgresql"), built on first use: SQLAlchemy's
    PostgreSQL dialect costs ~35 ms to import, which a SQLite process never needs."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        keys = sa.cast(sa.bindparam("keys"), postgresql.ARRAY(sa.Integer))
        keys_in = near_bands.c.band_key == sa.any_(keys)
    else:
        keys_in = near_bands.c.band_key.in_(sa.select(_KEYS_JSON.c.value))
    return (
        sa.select(near_bands.c.band_key, near_bands.c.article_id)
        .select_from(near_bands.join(articles, articles.c.id == near_bands.c.article_id))
        .where(
            keys_in,
            articles.c.first_seen >= sa.bindparam("since", type_=articles.c.first_seen.type),
        )
    )


_ROOTS = sa.select(
    articles.c.id,
    articles.c.content_hash,
    articles.c.story_id,
    articles.c.source,
    articles.c.first_seen,
    articles.c.signature,
    articles.c.shingles,
).where(articles.c.id.in_(sa.bindparam("ids", expanding=True)))
_PREVIOUS = sa.select(articles.c.story_id, articles.c.content_hash).where(
    articles.c.id == sa.bindparam("b_id")
)
_MATCHED_BEFORE = sa.select(story_topics.c.topic_id).where(
    story_topics.c.story_id == sa.bindparam("b_story"),
    story_topics.c.topic_id.in_(sa.bindparam("b_topics", expanding=True)),
    story_topics.c.last_at >= sa.bindparam("b_since", type_=story_topics.c.last_at.type),
)


@dataclass(frozen=True)
class Placement:
    """Where a new article goes, decided before it is inserted."""

    story_id: str
    near: NearMatch | None
    root: bool  # a new story: its band keys go into the index
    suppressed: frozenset[str]
    keys: tuple[int, ...] = ()  # its band keys (distinct)


@dataclass(frozen=True)
class _Root:
    """A candidate root: stored, or placed earlier in this write."""

    match: NearMatch  # similarity 0: filled in per comparison
    story: str
    signature: Signature | None


def story_of_row(row: Any) -> str:
    """A stored article's story: its column, or (stored before stories) its own."""
    return str(row.story_id) if row.story_id else story_id(row.content_hash)


class Placer:
    """Places the new articles of one write, in order (`place`, then `placed` once the
    article is inserted), and writes what they add to the index on `flush`."""

    def __init__(
        self,
        connection: Connection,
        insert: Any,
        checks: Sequence[NearCheck | None],
        *,
        lock: bool = True,
    ) -> None:
        self.connection = connection
        self.insert = insert
        self._postgres = connection.dialect.name == "postgresql"
        self._by_key: dict[int, list[int]] = {}  # band key → root ids
        self._roots: dict[int, _Root] = {}  # root id → what comparing with it needs
        self._unread: set[int] = set()  # root ids whose row is still to be read
        self._new_keys: list[tuple[int, int]] = []  # (band key, root id) to insert
        self._new_topics: dict[tuple[str, str], dict[str, Any]] = {}  # (story, topic) → row
        self._prefetch([c for c in checks if c is not None and c.signature is not None], lock)

    def _prefetch(self, checks: Sequence[NearCheck], lock: bool) -> None:
        """The stored roots sharing a band key with any article of the write (locked first on
        PostgreSQL unless only reading: explain); their rows are read when an article's
        candidates name them."""
        if not checks:
            return
        keys = sorted({k for c in checks for k in _keys(c)})
        if lock:
            lock_band_keys(self.connection, keys)
        since = min(c.since for c in checks)
        if self._postgres:
            rows = self.connection.execute(_key_roots("postgresql"), {"keys": keys, "since": since})
        else:
            params = {"keys_json": json.dumps(keys), "since": since}
            rows = self.connection.execute(_key_roots("sqlite"), params)
        for key, root in rows:
            self._by_key.setdefault(key, []).append(root)
            self._unread.add(root)

    def place(
        self, article: Article, check: NearCheck | None, previous_id: int | None
    ) -> Placement:
        """The story of a new article: its predecessor's (a new version of a feed entry), the
        story of the most similar root within the window at or above the threshold, or its
        own."""
        if previous_id is not None:
            row = self.connection.execute(_PREVIOUS, {"b_id": previous_id}).one()
            story = story_of_row(row)
            return Placement(story, None, False, self.suppressed(story, check))
        own = story_id(article.content_hash)
        if check is None or check.signature is None:
            return Placement(own, None, False, frozenset())
        keys = _keys(check)
        best = self._best_root(check.signature, keys, check)
        if best is None:
            return Placement(own, None, True, frozenset(), keys)
        return Placement(best.story, best.match, False, self.suppressed(best.story, check))

    def best_root(self, check: NearCheck) -> tuple[NearMatch, str] | None:
        """The root an article with `check` copies and its story (None: none is similar
        enough); for explain, which places nothing."""
        if check.signature is None:
            return None
        best = self._best_root(check.signature, _keys(check), check)
        return None if best is None else (best.match, best.story)

    def _best_root(
        self, signature: Signature, keys: Iterable[int], check: NearCheck
    ) -> _Root | None:
        """The most similar of the CANDIDATES roots sharing the most band keys (ties: the
        oldest), if it reaches the threshold."""
        shared = Counter(root for key in keys for root in self._by_key.get(key, ()))
        ranked = heapq.nsmallest(CANDIDATES, shared.items(), key=lambda kv: (-kv[1], kv[0]))
        self._read([root for root, _count in ranked if root in self._unread])
        best: _Root | None = None
        for root_id, _count in ranked:
            root = self._roots.get(root_id)
            if root is None or root.signature is None or root.match.first_seen < check.since:
                continue
            score = similarity(signature, root.signature)
            if score >= check.threshold and (best is None or score > best.match.similarity):
                best = _Root(
                    dataclasses.replace(root.match, similarity=score), root.story, root.signature
                )
        return best

    def _read(self, ids: list[int]) -> None:
        if not ids:
            return
        for row in self.connection.execute(_ROOTS, {"ids": ids}):
            signature = (
                Signature.unpack(row.signature, row.shingles) if row.signature is not None else None
            )
            match = NearMatch(row.id, row.content_hash, row.source, row.first_seen, 0.0)
            self._roots[row.id] = _Root(match, story_of_row(row), signature)
        self._unread.difference_update(ids)

    def suppressed(self, story: str, check: NearCheck | None) -> frozenset[str]:
        """The matched topics this story already matched within the window (and that do not
        ask for near-duplicates to alert): stored, or recorded earlier in this write."""
        if check is None:
            return frozenset()
        candidates = check.matched - check.alert_anyway
        if not candidates:
            return frozenset()
        earlier = {topic for (s, topic) in self._new_topics if s == story and topic in candidates}
        rows = self.connection.execute(
            _MATCHED_BEFORE,
            {"b_story": story, "b_topics": sorted(candidates), "b_since": check.since},
        ).scalars()
        return frozenset(rows) | earlier

    def placed(
        self,
        article: Article,
        article_id: int,
        placement: Placement,
        check: NearCheck | None,
        now: datetime,
    ) -> None:
        """After the article's insert: a new root joins the candidates (and the index, on
        flush); the story's matched topics are recorded."""
        if placement.root and placement.keys and check is not None:
            match = NearMatch(article_id, article.content_hash, article.source, now, 0.0)
            self._roots[article_id] = _Root(match, placement.story_id, check.signature)
            for key in placement.keys:
                self._by_key.setdefault(key, []).append(article_id)
                self._new_keys.append((key, article_id))
        if check is None:
            return
        for topic in sorted(check.matched):
            copies = 1 if topic in placement.suppressed else 0
            row = self._new_topics.get((placement.story_id, topic))
            if row is None:
                self._new_topics[placement.story_id, topic] = {
                    "story_id": placement.story_id,
                    "topic_id": topic,
                    "first_article_id": article_id,
                    "last_at": now,
                    "copies": copies,
                }
            else:  # one row per (story, topic): a statement may not update a row twice
                row["last_at"] = max(row["last_at"], now)
                row["copies"] += copies

    def flush(self) -> None:
        """Insert the band keys of the new roots and upsert the stories' topics."""
        if self._new_keys:
            if self._postgres:  # one statement of one shape: one round trip
                keys, ids = zip(*self._new_keys, strict=True)
                self.connection.execute(_INSERT_BANDS, {"keys": list(keys), "ids": list(ids)})
            else:  # SQLite: executemany loops in C, in process; tuples go to the driver as
                # they are (compiled-insert dict rows cost SQLAlchemy 2.4× the insert itself)
                self.connection.exec_driver_sql(_SQLITE_INSERT_BANDS, self._new_keys)
            self._new_keys = []
        if self._new_topics:
            rows = list(self._new_topics.values())
            if self._postgres:  # one statement, not one execution per row (psycopg's
                # executemany): the rows' columns as arrays
                self.connection.execute(
                    _UPSERT_TOPICS,
                    {
                        "stories": [r["story_id"] for r in rows],
                        "topics": [r["topic_id"] for r in rows],
                        "firsts": [r["first_article_id"] for r in rows],
                        "lasts": [stored_utc(r["last_at"]) for r in rows],
                        "copies": [r["copies"] for r in rows],
                    },
                )
            else:
                statement = _story_topics_upsert(self.connection.dialect.name, self.insert)
                self.connection.execute(statement, rows)
            self._new_topics = {}


def lock_band_keys(connection: Connection, keys: Sequence[int]) -> None:
    """PostgreSQL: take the transaction advisory lock of each band key, in key order (so two
    writers never wait for each other in a cycle over one set of keys); SQLite's write lock
    already serializes writers."""
    if connection.dialect.name == "postgresql":
        connection.execute(_LOCK_BANDS, {"keys": sorted(keys)})


def _keys(check: NearCheck) -> tuple[int, ...]:
    assert check.signature is not None
    return check.signature.distinct_band_keys


_UPSERTS: dict[str, Any] = {}
# PostgreSQL: `_story_topics_upsert` over arrays, in one statement.
_UPSERT_TOPICS = sa.text(
    "INSERT INTO story_topics (story_id, topic_id, first_article_id, last_at, copies) "
    "SELECT * FROM unnest(CAST(:stories AS varchar[]), CAST(:topics AS varchar[]), "
    "CAST(:firsts AS integer[]), CAST(:lasts AS timestamp[]), CAST(:copies AS integer[])) "
    "ON CONFLICT (story_id, topic_id) DO UPDATE SET last_at = excluded.last_at, "
    "copies = story_topics.copies + excluded.copies"
)


def _story_topics_upsert(dialect: str, insert: Any) -> Any:
    """One upsert for every matched topic (built once per dialect): a new (story, topic)
    starts at its copies of this write (0 for the first article), an existing one moves
    last_at and adds them."""
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
