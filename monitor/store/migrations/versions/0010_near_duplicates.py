"""Near-duplicate stories: each article's story, the root it was found to copy and how
similar it was, its MinHash signature; the LSH band keys of story roots; the topics each
story matched. Only adds tables and columns: articles stored before have no signature (each
is its own root, story id derived from its content hash) until a backfill computes one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("story_id", sa.String(40)))
        batch.add_column(sa.Column("near_of", sa.Integer))
        batch.add_column(sa.Column("similarity", sa.Float))
        batch.add_column(sa.Column("signature", sa.LargeBinary))
        batch.add_column(sa.Column("shingles", sa.Integer))
    op.create_index("ix_articles_story_id", "articles", ["story_id"])
    op.create_table(
        "near_bands",
        sa.Column("band_key", sa.Integer, nullable=False),
        sa.Column("article_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("band_key", "article_id", name="pk_near_bands"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "story_topics",
        sa.Column("story_id", sa.String(40), nullable=False),
        sa.Column("topic_id", sa.String(200), nullable=False),
        sa.Column("first_article_id", sa.Integer, nullable=False),
        sa.Column("last_at", sa.DateTime, nullable=False),
        sa.Column("copies", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("story_id", "topic_id", name="pk_story_topics"),
    )


def downgrade() -> None:
    op.drop_table("story_topics")
    op.drop_table("near_bands")
    op.drop_index("ix_articles_story_id", "articles")
    with op.batch_alter_table("articles") as batch:
        for column in ("shingles", "signature", "similarity", "near_of", "story_id"):
            batch.drop_column(column)
