"""stories, story views and close friends

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:13:28.886730
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "close_friends",
        sa.Column("owner_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("friend_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("added_id", sa.BigInteger(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner_id", "friend_id"),
    )
    with op.batch_alter_table("close_friends", schema=None) as batch_op:
        batch_op.create_index("ix_close_friends_recent", ["owner_id", "added_id"], unique=False)

    op.create_table(
        "stories",
        sa.Column("story_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("media_id", sa.BigInteger(), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_friends_only", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("story_id"),
        sa.UniqueConstraint("media_id"),
    )
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.create_index("ix_stories_author_expiry", ["author_id", "expires_at"], unique=False)
        batch_op.create_index("ix_stories_author_recent", ["author_id", "story_id"], unique=False)

    op.create_table(
        "story_views",
        sa.Column("story_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("viewer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("view_id", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("story_id", "viewer_id"),
    )
    with op.batch_alter_table("story_views", schema=None) as batch_op:
        batch_op.create_index("ix_story_views_recent", ["story_id", "view_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("story_views", schema=None) as batch_op:
        batch_op.drop_index("ix_story_views_recent")

    op.drop_table("story_views")
    with op.batch_alter_table("stories", schema=None) as batch_op:
        batch_op.drop_index("ix_stories_author_recent")
        batch_op.drop_index("ix_stories_author_expiry")

    op.drop_table("stories")
    with op.batch_alter_table("close_friends", schema=None) as batch_op:
        batch_op.drop_index("ix_close_friends_recent")

    op.drop_table("close_friends")
