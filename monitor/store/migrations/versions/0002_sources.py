"""Sources table (schedule, leases, health) replaces source_state; feed entry versions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from monitor.store.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.Text),
        sa.Column("state", sa.JSON),
        sa.Column("next_poll_at", UTCDateTime, nullable=False),
        sa.Column("hold_until", UTCDateTime),
        sa.Column("lease_owner", sa.String(200)),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("last_poll_at", UTCDateTime),
        sa.Column("last_result", sa.Text),
        sa.Column("last_success_at", UTCDateTime),
        sa.Column("last_error_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sources"),
    )
    op.create_index("ix_sources_due", "sources", ["active", "next_poll_at"])
    # Folder state recorded by release 0001 carries over, so no file is read again.
    op.execute(
        "INSERT INTO sources (id, kind, active, state, next_poll_at, consecutive_failures, "
        "updated_at) SELECT source, 'folder', TRUE, state, updated_at, 0, updated_at "
        "FROM source_state"
    )
    op.drop_table("source_state")
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("previous_id", sa.Integer))
        batch.create_foreign_key(
            "fk_articles_previous_id_articles", "articles", ["previous_id"], ["id"],
            ondelete="SET NULL",
        )  # fmt: skip
        batch.create_index("ix_articles_source_guid", ["source", "guid"])


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.drop_index("ix_articles_source_guid")
        batch.drop_constraint("fk_articles_previous_id_articles", type_="foreignkey")
        batch.drop_column("previous_id")
    op.create_table(
        "source_state",
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("state", sa.JSON),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_source_state"),
    )
    op.execute(
        "INSERT INTO source_state (source, state, updated_at) "
        "SELECT id, state, updated_at FROM sources WHERE kind = 'folder'"
    )
    op.drop_index("ix_sources_due", table_name="sources")
    op.drop_table("sources")
