"""Rows to models and models to rows, shared by the aggregates; nothing outside the store
sees a row. Also `NewDelivery`, the outbox entry that articles and notices are stored with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from monitor.models import Alert, Article, Delivery, DeliveryStatus, Notice, SourceHealth, TopicRef
from monitor.near import NearCheck, story_id
from monitor.notices import notice_as_alert
from monitor.store.schema import alerts, articles, deliveries, notices


@dataclass(frozen=True)
class NewDelivery:
    """A delivery row to create with its alert: the outbox entry."""

    id: str
    alert_id: str
    notifier: str
    next_attempt_at: datetime | None = None  # None: due at once (the `now` of `add_article`)


@dataclass(frozen=True)
class NewArticle:
    """An article to insert if new: the stored version it updates (a feed entry seen before)
    and, with near-duplicate detection, what placing it in a story needs."""

    article: Article
    previous_id: int | None = None
    near: NearCheck | None = None


# Deliveries of one article sort together, in the order they were made (seq = article id ×
# SEQ_SPAN + position); notices have no article and sort by time alone.
SEQ_SPAN = 4096


def delivery_values(
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


def alert_values(alert: Alert, article_id: int) -> dict[str, Any]:
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


def delivery_query() -> sa.Select[Any]:
    """Deliveries with what they deliver: an alert and its article, or a notice."""
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
            articles.c.story_id,
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


def to_delivery(row: Any) -> Delivery:
    """A row of `delivery_query()` as a Delivery; a notice's carries the notice itself, and
    (as the model requires an alert) its rendering by `monitor.notices`, not by the store."""
    if row.notice_id is not None:
        notice = Notice(
            row.notice_id, row.notice_event, row.notice_source, row.notice_created_at,
            row.notice_data,
        )  # fmt: skip
        alert = notice_as_alert(notice)
    else:
        notice = None
        alert = Alert(
            id=row.alert_id,
            topic=TopicRef(row.topic_id, row.topic_title),
            article=to_article(row),
            matched=tuple(row.matched),
            found=tuple(row.found),
            snippet=row.snippet,
            created_at=row.created_at,
            story_id=row.story_id or story_id(row.content_hash),
        )
    return Delivery(
        id=row.id,
        alert=alert,
        notifier=row.notifier,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        notice=notice,
    )


def to_article(row: Any) -> Article:
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


def to_source(row: Any) -> SourceHealth:
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
        origin=row.origin,
        options=row.options,
    )
