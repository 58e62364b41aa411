"""reels: a kind on posts, reel views once per viewer per day, and Reels tab snapshots

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 08:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        # Every existing post is a feed post.
        batch_op.add_column(
            sa.Column("kind", sa.String(length=8), nullable=False, server_default="post")
        )
        batch_op.create_index("ix_posts_kind", ["kind", "post_id"], unique=False)

    op.create_table(
        "reel_views",
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("viewer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("watched_ms", sa.BigInteger(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("post_id", "viewer_id", "day"),
    )
    with op.batch_alter_table("reel_views", schema=None) as batch_op:
        batch_op.create_index(
            "ix_reel_views_viewer", ["viewer_id", "completed", "post_id"], unique=False
        )

    op.create_table(
        "reel_stats",
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("view_count", sa.BigInteger(), nullable=False),
        sa.Column("completed_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("post_id"),
    )

    op.create_table(
        "reel_feed_snapshots",
        sa.Column("snapshot_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("viewer_id", sa.BigInteger(), nullable=False),
        sa.Column("post_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("snapshot_id"),
    )
    with op.batch_alter_table("reel_feed_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reel_feed_snapshots_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("reel_feed_snapshots")
    op.drop_table("reel_stats")
    op.drop_table("reel_views")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ix_posts_kind")
        batch_op.drop_column("kind")
