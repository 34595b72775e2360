"""Indexes of the web page's lists (issue 15), so that every one reads an index, not a table:

- alerts newest first, and their keyset pages by (created_at, id): `ix_alerts_created_id`;
- a topic's alerts the same way: `ix_alerts_topic_created_id` (topic_id, created_at, id)
  replaces `ix_alerts_topic_created` (topic_id, created_at), whose queries it also serves;
- sources by health (the dashboard's counts and its failing sources, longest failing first):
  `ix_sources_health` (active, consecutive_failures).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_created_id", "alerts", ["created_at", "id"])
    op.create_index("ix_alerts_topic_created_id", "alerts", ["topic_id", "created_at", "id"])
    op.drop_index("ix_alerts_topic_created", table_name="alerts")
    op.create_index("ix_sources_health", "sources", ["active", "consecutive_failures"])


def downgrade() -> None:
    op.drop_index("ix_sources_health", table_name="sources")
    op.create_index("ix_alerts_topic_created", "alerts", ["topic_id", "created_at"])
    op.drop_index("ix_alerts_topic_created_id", table_name="alerts")
    op.drop_index("ix_alerts_created_id", table_name="alerts")
