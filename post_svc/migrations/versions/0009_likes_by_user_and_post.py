"""likes by user and post: ix_likes_user on (user_id, post_id)

An account's likes from a post id up (BatchGetViewersFlags' since_post_id) are one range of the
index; finding an account's likes when it is deleted still uses its first column.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 13:30:00.000000
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("likes", schema=None) as batch_op:
        batch_op.drop_index("ix_likes_user")
        batch_op.create_index("ix_likes_user", ["user_id", "post_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("likes", schema=None) as batch_op:
        batch_op.drop_index("ix_likes_user")
        batch_op.create_index("ix_likes_user", ["user_id"], unique=False)
