"""The public JSON form of an alert (contract/alert-v1.schema.json), apart from the dataclasses.

The jsonl lines and webhook bodies are a versioned contract: changing a field here breaks
receivers, so a breaking change is `version: 2`, never an edit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.models import Alert, Notice

ALERT_VERSION = 1


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, to the second or millisecond as the value has it."""
    moment = moment.astimezone(UTC)
    timespec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=timespec).replace("+00:00", "Z")


def alert_object(alert: Alert) -> dict[str, Any]:
    """The alert as receivers see it (version 1)."""
    article = alert.article
    story = {"story": {"id": alert.story_id}} if alert.story_id else {}
    return {
        "type": "alert",
        "version": ALERT_VERSION,
        "id": alert.id,
        "created_at": iso_utc(alert.created_at),
        "topic": {"id": alert.topic.id, "title": alert.topic.title},
        "article": {
            "title": article.title,
            "url": article.url,
            "source": article.source,
            "location": article.location,
            "published": iso_utc(article.published) if article.published else None,
            "content_hash": article.content_hash,
        },
        "matched": list(alert.matched),
        "found": list(alert.found),
        "snippet": alert.snippet,
        **story,
    }


def by_story(alerts: Sequence[Alert]) -> list[list[Alert]]:
    """Alerts grouped by near-duplicate story, in order of first appearance: the first alert
    of a story leads its group, and the alerts of *other articles* of that story (copies from
    other sources: another topic, or a topic with `near_duplicates = "alert"`) follow it, to
    be shown as one line each. Alerts of the same article for other topics, and alerts
    without a story, stay groups of their own (as every alert was before stories)."""
    groups: dict[str, list[Alert]] = {}
    out: list[list[Alert]] = []
    for alert in alerts:
        group = groups.get(alert.story_id) if alert.story_id else None
        if group is not None and alert.article.content_hash != group[0].article.content_hash:
            group.append(alert)
            continue
        out.append([alert])
        if alert.story_id and group is None:
            groups[alert.story_id] = out[-1]
    return out


def also_line(alert: Alert) -> str:
    """One more alert of a story already shown in a digest."""
    return f"also: {alert.topic.title} — {alert.article.source}: {alert.article.title}"


def digest_id(delivery_ids: Sequence[str]) -> str:
    """`msg_` + 32 hex of SHA-256 of the sorted member ids: a digest's stable delivery id.

    The same members give the same id on every retry, so receivers can drop repeats.
    """
    digest = hashlib.sha256("\n".join(sorted(delivery_ids)).encode()).hexdigest()
    return f"msg_{digest[:32]}"


def notice_object(notice: Notice) -> dict[str, Any]:
    """An operator notice as receivers see it: `source.failing` or `source.recovered`."""
    return {
        "type": notice.event,
        "version": 1,
        "id": notice.id,
        "created_at": iso_utc(notice.created_at),
        **{k: v for k, v in notice.data.items() if k not in ("type", "version", "id")},
    }
