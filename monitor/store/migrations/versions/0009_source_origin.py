"""Sources: where each one is defined (`origin`: "config", the TOML file, or "database",
`monitor feeds add`), and a database feed's own settings (`options`, JSON).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        # Every row so far came from the config file.
        batch.add_column(
            sa.Column("origin", sa.String(20), nullable=False, server_default="config")
        )
        batch.add_column(sa.Column("options", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("options")
        batch.drop_column("origin")
