"""The reads behind the web page and its API: pages of alerts and sources by keyset (never
OFFSET: the 1,000th page costs what the first does), one alert, and the dashboard's counts.

Keysets: alerts newest first by (created_at, id), on `ix_alerts_created_id` (or the topic's
`ix_alerts_topic_created_id`); sources by id, on the primary key; health on
`ix_sources_health`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from monitor.models import Alert, SourceHealth, TopicRef
from monitor.store.base import StoreBase
from monitor.store.rows import to_article, to_source
from monitor.store.schema import alerts, articles, sources

MAX_PAGE = 500


@dataclass(frozen=True)
class SourceCounts:
    """Sources by health for the dashboard: ok, failing (active, last poll failed), disabled."""

    ok: int
    failing: int
    disabled: int

    @property
    def total(self) -> int:
        return self.ok + self.failing + self.disabled


class Views(StoreBase):
    def alerts_page(
        self,
        *,
        topic: str | None = None,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int = 50,
    ) -> list[Alert]:
        """Alerts newest first; `before` = (created_at, id) of the last one of the page before
        (exclusive). `since` inclusive, `until` exclusive."""
        a = alerts.c
        query = (
            sa.select(alerts, articles)
            .join(articles, articles.c.id == a.article_id)
            .order_by(a.created_at.desc(), a.id.desc())
            .limit(max(1, min(limit, MAX_PAGE)))
        )
        if topic is not None:
            query = query.where(a.topic_id == topic)
        if source is not None:
            query = query.where(articles.c.source == source)
        if since is not None:
            query = query.where(a.created_at >= since)
        if until is not None:
            query = query.where(a.created_at < until)
        if before is not None:  # a row value: both databases read it as one index range
            query = query.where(sa.tuple_(a.created_at, a.id) < sa.tuple_(*before))
        with self._transaction() as connection:
            return [_to_alert(row) for row in connection.execute(query)]

    def alert(self, alert_id: str) -> Alert | None:
        query = (
            sa.select(alerts, articles)
            .join(articles, articles.c.id == alerts.c.article_id)
            .where(alerts.c.id == alert_id)
        )
        with self._transaction() as connection:
            row = connection.execute(query).first()
        return _to_alert(row) if row is not None else None

    def sources_page(
        self, *, after: str | None = None, limit: int = 100, health: str | None = None
    ) -> list[SourceHealth]:
        """Every source (config, database, disabled) by id; `after`: the last id shown.
        `health`: "failing" (active, last poll failed) or "disabled" only, read from their
        range of `ix_sources_health` (a few of all sources; sorted by id after)."""
        s = sources.c
        query = sa.select(sources).order_by(s.id).limit(max(1, min(limit, MAX_PAGE)))
        if after is not None:
            query = query.where(s.id > after)
        if health == "failing":
            query = query.where(s.active.is_(True), s.consecutive_failures > 0)
        elif health == "disabled":
            query = query.where(s.active.is_(False))
        elif health is not None:
            raise ValueError(f"health must be failing or disabled, not {health!r}")
        with self._transaction() as connection:
            return [to_source(row) for row in connection.execute(query)]

    def source_counts(self) -> SourceCounts:
        s = sources.c
        query = sa.select(
            sa.func.count().filter(s.active.is_(True), s.consecutive_failures == 0),
            sa.func.count().filter(s.active.is_(True), s.consecutive_failures > 0),
            sa.func.count().filter(s.active.is_(False)),
        )
        with self._transaction() as connection:
            ok, failing, disabled = connection.execute(query).one()
        return SourceCounts(int(ok), int(failing), int(disabled))

    def failing_sources(self, limit: int = 20) -> list[SourceHealth]:
        """Active sources whose last poll failed, longest failing first."""
        s = sources.c
        query = (
            sa.select(sources)
            .where(s.active.is_(True), s.consecutive_failures > 0)
            .order_by(s.consecutive_failures.desc(), s.id)
            .limit(limit)
        )
        with self._transaction() as connection:
            return [to_source(row) for row in connection.execute(query)]


def _to_alert(row: sa.Row[tuple[object, ...]]) -> Alert:
    m = row._mapping
    return Alert(
        id=m[alerts.c.id],
        topic=TopicRef(m[alerts.c.topic_id], m[alerts.c.topic_title]),
        article=to_article(_ArticleRow(m)),
        matched=tuple(m[alerts.c.matched]),
        found=tuple(m[alerts.c.found]),
        snippet=m[alerts.c.snippet],
        created_at=m[alerts.c.created_at],
    )


class _ArticleRow:
    """The article's columns of a joined row, by attribute (what `to_article` reads)."""

    def __init__(self, mapping: object) -> None:
        self._m = mapping

    def __getattr__(self, name: str) -> object:
        return self._m[articles.c[name]]  # type: ignore[index]
