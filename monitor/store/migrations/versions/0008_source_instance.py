"""Sources: the instance a source belongs to (a folder on one host's disk), NULL for any.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("instance", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("instance")
