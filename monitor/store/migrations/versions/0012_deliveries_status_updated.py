"""An index of deliveries by (status, updated_at, attempts), so that the dashboard's queue
counts (`Outbox.queue_summary`: "sent in 24 h", and pending after a failure) and the daily
prune of old sent deliveries read a range of it instead of every delivery: sent deliveries
are kept forever by default, so the table only grows, and the dashboard reloads itself every
minute. `attempts` makes it covering for "retrying" (pending with attempts > 0).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_status_updated", "deliveries", ["status", "updated_at", "attempts"]
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_status_updated", table_name="deliveries")
