"""posts and their media, hashtags, places, post counts, saves, likes, comments, counters

Revision ID: 0001
Revises:
Create Date: 2026-11-21 08:12:48.157604
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("comment_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_comment_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("comment_id"),
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_comments_thread", ["post_id", "parent_comment_id", "comment_id"], unique=False
        )

    op.create_table(
        "hashtags",
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("post_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tag"),
    )
    with op.batch_alter_table("hashtags", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hashtags_tag_prefix",
            ["tag"],
            unique=False,
            postgresql_ops={"tag": "varchar_pattern_ops"},
        )

    op.create_table(
        "likes",
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("like_id", sa.BigInteger(), nullable=False),
        sa.Column("liked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("post_id", "user_id"),
    )
    with op.batch_alter_table("likes", schema=None) as batch_op:
        batch_op.create_index("ix_likes_post_recent", ["post_id", "like_id"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("event_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("aggregate_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_unpublished", ["published_at", "event_id"], unique=False)

    op.create_table(
        "places",
        sa.Column("place_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("lat_e4", sa.BigInteger(), nullable=False),
        sa.Column("lng_e4", sa.BigInteger(), nullable=False),
        sa.Column("lat", sa.Double(), nullable=False),
        sa.Column("lng", sa.Double(), nullable=False),
        sa.Column("post_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("place_id"),
    )
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.create_index(
            "ix_places_name_prefix",
            ["name_key"],
            unique=False,
            postgresql_ops={"name_key": "varchar_pattern_ops"},
        )
        batch_op.create_index("ux_places_spot", ["name_key", "lat_e4", "lng_e4"], unique=True)

    op.create_table(
        "post_counters",
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("shard", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("like_count", sa.BigInteger(), nullable=False),
        sa.Column("comment_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("post_id", "shard"),
    )
    op.create_table(
        "post_hashtags",
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("tag", "post_id"),
    )
    with op.batch_alter_table("post_hashtags", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_hashtags_post_id"), ["post_id"], unique=False)

    op.create_table(
        "post_media",
        sa.Column("media_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("media_id"),
    )
    with op.batch_alter_table("post_media", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_media_post_id"), ["post_id"], unique=False)

    op.create_table(
        "posts",
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("caption", sa.Text(), nullable=False),
        sa.Column("hashtags", sa.JSON(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("media_ids", sa.JSON(), nullable=False),
        sa.Column("place_id", sa.BigInteger(), nullable=True),
        sa.Column("location_name", sa.String(length=100), nullable=True),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lng", sa.Double(), nullable=True),
        sa.Column("cell_fine", sa.BigInteger(), nullable=True),
        sa.Column("cell_coarse", sa.BigInteger(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("post_id"),
    )
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.create_index("ix_posts_author", ["author_id", "post_id"], unique=False)
        batch_op.create_index("ix_posts_cell_coarse", ["cell_coarse", "post_id"], unique=False)
        batch_op.create_index("ix_posts_cell_fine", ["cell_fine", "post_id"], unique=False)
        batch_op.create_index("ix_posts_place", ["place_id", "post_id"], unique=False)
        batch_op.create_index("ux_posts_idempotency", ["author_id", "idempotency_key"], unique=True)

    op.create_table(
        "saves",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("save_id", sa.BigInteger(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "post_id"),
    )
    with op.batch_alter_table("saves", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_saves_post_id"), ["post_id"], unique=False)
        batch_op.create_index("ix_saves_user_recent", ["user_id", "save_id"], unique=False)

    op.create_table(
        "user_post_counts",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("post_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("user_post_counts")
    with op.batch_alter_table("saves", schema=None) as batch_op:
        batch_op.drop_index("ix_saves_user_recent")
        batch_op.drop_index(batch_op.f("ix_saves_post_id"))

    op.drop_table("saves")
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_index("ux_posts_idempotency")
        batch_op.drop_index("ix_posts_place")
        batch_op.drop_index("ix_posts_cell_fine")
        batch_op.drop_index("ix_posts_cell_coarse")
        batch_op.drop_index("ix_posts_author")

    op.drop_table("posts")
    with op.batch_alter_table("post_media", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_media_post_id"))

    op.drop_table("post_media")
    with op.batch_alter_table("post_hashtags", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_hashtags_post_id"))

    op.drop_table("post_hashtags")
    op.drop_table("post_counters")
    with op.batch_alter_table("places", schema=None) as batch_op:
        batch_op.drop_index("ux_places_spot")
        batch_op.drop_index(
            "ix_places_name_prefix", postgresql_ops={"name_key": "varchar_pattern_ops"}
        )

    op.drop_table("places")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_unpublished")

    op.drop_table("outbox")
    with op.batch_alter_table("likes", schema=None) as batch_op:
        batch_op.drop_index("ix_likes_post_recent")

    op.drop_table("likes")
    with op.batch_alter_table("hashtags", schema=None) as batch_op:
        batch_op.drop_index("ix_hashtags_tag_prefix", postgresql_ops={"tag": "varchar_pattern_ops"})

    op.drop_table("hashtags")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_thread")

    op.drop_table("comments")
