"""Delivery order without a join: deliveries.seq, and the due index covers the sort.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger))
    # Existing deliveries: their article's id, as new ones get (article id × 4096 + n).
    op.execute(
        "UPDATE deliveries SET seq = (SELECT alerts.article_id * 4096 FROM alerts "
        "WHERE alerts.id = deliveries.alert_id) WHERE alert_id IS NOT NULL"
    )
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at", "seq"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_due", table_name="deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["status", "next_attempt_at"])
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("seq")
