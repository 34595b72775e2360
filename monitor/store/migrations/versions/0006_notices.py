"""Operator notices (source.failing / source.recovered) in the same outbox as alerts.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notices"),
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("alert_id", existing_type=sa.String(40), nullable=True)
        batch.add_column(sa.Column("notice_id", sa.String(40)))
        batch.create_foreign_key(
            "fk_deliveries_notice_id_notices", "notices", ["notice_id"], ["id"],
            ondelete="CASCADE",
        )  # fmt: skip
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("failing_since", UTCDateTime))
        batch.add_column(sa.Column("failing_notified_at", UTCDateTime))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("failing_notified_at")
        batch.drop_column("failing_since")
    op.execute("DELETE FROM deliveries WHERE notice_id IS NOT NULL")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint("fk_deliveries_notice_id_notices", type_="foreignkey")
        batch.drop_column("notice_id")
        batch.alter_column("alert_id", existing_type=sa.String(40), nullable=False)
    op.drop_table("notices")
