"""Instances: each daemon's start, heartbeat and last reload result, for `monitor status`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.Column("reload_at", UTCDateTime),
        sa.Column("reload_result", sa.Text),
        sa.PrimaryKeyConstraint("name", name="pk_instances"),
    )
    # Replay, `topics` and retention read articles by arrival time.
    op.create_index("ix_articles_first_seen", "articles", ["first_seen"])
    op.create_index("ix_alerts_topic_created", "alerts", ["topic_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_alerts_topic_created", table_name="alerts")
    op.drop_index("ix_articles_first_seen", table_name="articles")
    op.drop_table("instances")
