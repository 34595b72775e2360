"""Notifier state: a notifier disabled because its destination is gone (HTTP 410).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notifier_state",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("disabled_at", UTCDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_notifier_state"),
    )


def downgrade() -> None:
    op.drop_table("notifier_state")
