"""Profile pictures by media key: accounts keep the photo's id and its thumbnail's key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:02:38.584972
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("profile_media_id", sa.BigInteger(), nullable=True))
        # Existing accounts have no picture: the empty key.
        batch_op.add_column(
            sa.Column("profile_pic_key", sa.String(length=300), nullable=False, server_default="")
        )
        batch_op.drop_column("profile_pic_url")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("profile_pic_url", sa.VARCHAR(length=500), nullable=False, server_default="")
        )
        batch_op.drop_column("profile_pic_key")
        batch_op.drop_column("profile_media_id")
