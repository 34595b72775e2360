"""Alerts by time: the web page's and API's newest-first lists, the Atom feed of every alert,
and their keyset pages (created_at, id) read this index instead of sorting every alert.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_created_id", "alerts", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_created_id", table_name="alerts")
