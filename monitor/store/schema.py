"""Table definitions (SQLAlchemy Core). Alembic migrations in `migrations/versions` create them;
this module is what the code queries against and must match the newest migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


def stored_utc(value: datetime) -> datetime:
    """A UTC-aware datetime as the store keeps it: naive UTC (SQLite has no time zones).
    Also for parameters of text statements, which bypass the column types."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the store; pass UTC-aware datetimes")
    return value.astimezone(UTC).replace(tzinfo=None)


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (`stored_utc`), returned UTC-aware everywhere."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else stored_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("content_hash", String(80), nullable=False, unique=True),
    Column("source", String(200), nullable=False),
    Column("location", Text, nullable=False),
    Column("url", Text),
    Column("guid", Text),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("published", UTCDateTime),
    Column("first_seen", UTCDateTime, nullable=False),
    # A feed entry seen again (same source and guid) with another text: the earlier version.
    Column("previous_id", Integer, ForeignKey("articles.id", ondelete="SET NULL")),
    # Near-duplicate stories (0010). NULL story_id: stored before stories, its own root
    # (the story id is derived from the content hash). near_of: the root this article was
    # found to copy, with the estimated similarity. signature: packed MinHash bins, NULL
    # when the text is too short to judge (or not backfilled yet).
    Column("story_id", String(40)),
    Column("near_of", Integer),
    Column("similarity", Float),
    Column("signature", LargeBinary),
    Column("shingles", Integer),
    Index("ix_articles_source_guid", "source", "guid"),
    Index("ix_articles_first_seen", "first_seen"),
    Index("ix_articles_story_id", "story_id"),
)

# LSH band keys of story roots: a near-duplicate lookup is one probe of this primary key per
# band. WITHOUT ROWID on SQLite: the key is the whole row.
near_bands = Table(
    "near_bands",
    metadata,
    Column("band_key", Integer, primary_key=True),
    Column("article_id", Integer, primary_key=True),
    sqlite_with_rowid=False,
)

# The topics a story matched (alerted or not): a later copy does not alert for them within
# the window. last_at moves with every matching copy; copies counts the suppressed ones.
story_topics = Table(
    "story_topics",
    metadata,
    Column("story_id", String(40), primary_key=True),
    Column("topic_id", String(200), primary_key=True),
    Column("first_article_id", Integer, nullable=False),
    Column("last_at", UTCDateTime, nullable=False),
    Column("copies", Integer, nullable=False, default=0, server_default="0"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("article_id", Integer, ForeignKey("articles.id", ondelete="CASCADE"), nullable=False),
    Column("topic_id", String(200), nullable=False),
    Column("topic_title", Text, nullable=False),
    Column("matched", JSON, nullable=False),
    Column("found", JSON, nullable=False),
    Column("snippet", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("article_id", "topic_id", name="uq_alerts_article_topic"),
    Index("ix_alerts_topic_created_id", "topic_id", "created_at", "id"),
    Index("ix_alerts_created_id", "created_at", "id"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("alert_id", String(40), ForeignKey("alerts.id", ondelete="CASCADE")),
    Column("notice_id", String(40), ForeignKey("notices.id", ondelete="CASCADE")),
    Column("notifier", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("lease_owner", String(200)),
    Column("lease_until", UTCDateTime),
    Column("seq", BigInteger),  # the order alerts were made in (article id × 4096 + n)
    UniqueConstraint("alert_id", "notifier", name="uq_deliveries_alert_notifier"),
    Index("ix_deliveries_due", "status", "next_attempt_at", "seq"),
    Index("ix_deliveries_status_updated", "status", "updated_at", "attempts"),
)

sources = Table(
    "sources",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("kind", String(20), nullable=False),  # "feed" | "folder"
    Column("url", Text),  # the configured URL or folder path
    Column("active", Boolean, nullable=False, default=True),
    Column("disabled_reason", Text),  # e.g. "HTTP 410 Gone", "removed from config"
    Column("state", JSON),  # opaque: what the source returned last time
    Column("next_poll_at", UTCDateTime, nullable=False),
    Column("hold_until", UTCDateTime),  # Retry-After in force: even `run --once` waits
    Column("lease_owner", String(200)),
    Column("lease_until", UTCDateTime),
    Column("last_poll_at", UTCDateTime),
    Column("last_result", Text),
    Column("last_success_at", UTCDateTime),
    Column("last_error_at", UTCDateTime),
    Column("last_error", Text),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("failing_since", UTCDateTime),  # first failure of the current streak
    Column("failing_notified_at", UTCDateTime),  # a source.failing notice went out
    Column("instance", String(200)),  # only this instance polls it (local folder); NULL: any
    # "config": a table of monitor.toml (sync_sources keeps it in step with the file);
    # "database": added by `monitor feeds add`, its settings in `options` (the TOML keys).
    Column("origin", String(20), nullable=False, default="config", server_default="config"),
    Column("options", JSON),
    Index("ix_sources_due", "active", "next_poll_at"),
    Index("ix_sources_health", "active", "consecutive_failures"),
)

notifier_state = Table(
    "notifier_state",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("disabled_at", UTCDateTime, nullable=False),
    Column("reason", Text, nullable=False),
)

instances = Table(
    "instances",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("reload_at", UTCDateTime),
    Column("reload_result", Text),
)

notices = Table(
    "notices",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("event", String(40), nullable=False),
    Column("source", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("data", JSON, nullable=False),
)
